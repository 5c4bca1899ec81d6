"""A worker's warm-up imports what a call's first LLM request would (bot/serving/readiness.py): the first
call on a fresh worker does not stall every call on it while some 170 modules load."""

import subprocess
import sys
import textwrap

FIRST_REQUEST = textwrap.dedent(
    """
    import asyncio, socket, sys
    import openai
    from bot.serving.readiness import import_first_request_modules

    import_first_request_modules()
    before = set(sys.modules)
    with socket.socket() as closed:  # a port nothing listens on: the request fails after loading its stack
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    async def first_request():
        client = openai.AsyncOpenAI(api_key="k", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
        try:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        except openai.APIConnectionError:
            pass

    asyncio.run(first_request())
    print(" ".join(sorted(set(sys.modules) - before)))
    """
)


def test_the_first_llm_request_imports_nothing_more():
    done = subprocess.run([sys.executable, "-c", FIRST_REQUEST], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
