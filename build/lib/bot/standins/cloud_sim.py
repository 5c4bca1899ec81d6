"""The cloud, simulated: Deepgram and OpenAI stand-ins with production-like timing, in one process.

``python -m bot.standins.cloud_sim`` serves both on loopback ports and prints
one JSON line with the environment a server needs to use them
(``DEEPGRAM_BASE_URL``, ``OPENAI_BASE_URL``, keys, providers) and the URL to
give each call its caller's words (``PUT {scripts_url}/{call_sid}``). The load
test runs it as its own process, so neither its CPU nor the load generator's
is charged to the server. Timing: STT final 150 ms after speech ends, LLM
first token 350 ms then 15 ms per token, TTS first audio 200 ms then real time.
"""

import asyncio
import contextlib
import json

import uvloop

from bot.standins.deepgram import DeepgramStandin
from bot.standins.flow_host import flow_host
from bot.standins.openai import OpenAIStandin

API_KEY = "cloud-sim-key"


def standins() -> tuple[DeepgramStandin, OpenAIStandin]:
    deepgram = DeepgramStandin(
        api_key=API_KEY, final_delay_ms=150, first_audio_ms=200, realtime_factor=1.0, end_silence_ms=500
    )
    openai = OpenAIStandin(api_key=API_KEY, responder=flow_host, first_token_ms=350, token_delay_ms=15)
    return deepgram, openai


def server_env(deepgram: DeepgramStandin, openai: OpenAIStandin) -> dict[str, str]:
    return {
        "DEEPGRAM_API_KEY": API_KEY,
        "DEEPGRAM_BASE_URL": deepgram.ws_url,
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": openai.api_base,
        "BOT_STT": "cloud",
        "BOT_LLM": "cloud",
        "BOT_TTS": "cloud",
    }


async def serve() -> None:
    deepgram, openai = standins()
    async with deepgram, openai:
        line = {"env": server_env(deepgram, openai), "scripts_url": f"{deepgram.base_url}/standin/scripts"}
        print(json.dumps(line), flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve())  # as the workers' loop: the load's stand-ins take less of the cores they share
