"""When a cloud provider fails, the call goes on (processors/fallbacks.py).

Each case replays a real call (``recordings/one-sentence``) through the real
server with one cloud provider broken — a closed loopback port, or a local
stand-in (bot/standins/) in a fault mode — and checks that the call still
meets the scenario's expectations and that its failure report names the
fallback that took over. The calls run four at a time, as a busy line would:
this machine's local engines keep up with about that many (docs/load.md, "Many calls
at once"); past that, turns queue behind each other and a caller's last word
can arrive after the call's idle timeout.
"""

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest

from bot.replay.runner import (
    in_process_server,
    replay_scenario,
    replay_settings,
    store_reports,
)
from bot.replay.scenario import load_scenario
from bot.services.errors import LLMTurnFailed, describe
from bot.services.factory import build_services
from bot.services.openai import GuardedOpenAILLMService
from bot.settings import Provider, load_settings
from bot.standins.deepgram import DeepgramStandin
from bot.standins.openai import OpenAIStandin
from bot.standins.openai_chat import Reply, ToolCall
from processors.fallbacks import FallbackLLMSwitcher
from tests.conftest import NOW, PROJECT

SCENARIO = load_scenario(PROJECT / "recordings" / "one-sentence")
KEY = "test-key"


@contextlib.contextmanager
def dead_port():
    """A loopback port where nothing listens: bound but not listening, so no one else takes it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


async def _call(tmp: Path, **overrides):
    settings = replay_settings(db_path=tmp / "bookings.db", recordings_dir=tmp / "calls", **overrides)
    for attempt in (1, 2):
        try:
            server = in_process_server(settings)
            url, store = await server.__aenter__()
            break
        except SystemExit:  # uvicorn could not bind: another server here took the same free port first
            if attempt == 2:
                raise
    try:
        result = await replay_scenario(SCENARIO, url, store_reports(store))
        return result, store.call_faults(result.call_sid)
    finally:
        await server.__aexit__(None, None, None)


async def llm_refused(tmp):
    with dead_port() as port:
        return await _call(tmp, openai_api_key=KEY, openai_base_url=f"http://127.0.0.1:{port}/v1")


async def llm_hanging(tmp):
    async with OpenAIStandin(api_key=KEY, fault="hang") as oa:
        return await _call(tmp, openai_api_key=KEY, openai_base_url=oa.api_base, llm_timeout_secs=1.0)


async def llm_garbage(tmp):
    async with OpenAIStandin(api_key=KEY, fault="garbage", garbage="bad_arguments") as oa:
        return await _call(tmp, openai_api_key=KEY, openai_base_url=oa.api_base)


async def stt_refused(tmp):
    async with DeepgramStandin(api_key=KEY, fault="refuse") as dg:
        return await _call(tmp, deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, tts=Provider.LOCAL)


async def stt_dropped_mid_utterance(tmp):
    """Deepgram's socket is cut 0.3 s into the caller's first sentence, just after its interim result."""
    says = [turn.say for turn in SCENARIO.turns]
    async with DeepgramStandin(api_key=KEY, transcripts=says, fault="drop", drop_after=1) as dg:
        outcome = await _call(tmp, deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, tts=Provider.LOCAL)
        assert dg.listens[0].sent and dg.listens[0].transcripts == []  # an interim went out, no final
        return outcome


async def tts_refused(tmp):
    async with DeepgramStandin(api_key=KEY, fault="refuse") as dg:
        return await _call(tmp, deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, stt=Provider.LOCAL)


def booking_host(request: dict) -> Reply:
    """A well-behaved cloud LLM for recordings/one-sentence: tool calls on caller turns, text otherwise."""
    offered = {t["function"]["name"] for t in request.get("tools", [])}
    if request["messages"][-1]["role"] == "user":
        if "confirm_booking" in offered:
            return Reply.calling("confirm_booking", confirmed=True)
        if "collect_booking" in offered:
            slots = {"party_size": 4, "date": "2026-11-25", "time": "19:00", "name": "Sarah Johnson"}
            return Reply(tool_calls=(ToolCall("collect_booking", slots),))
    return Reply(text="Certainly.")


async def llm_healthy(tmp):
    async with OpenAIStandin(api_key=KEY, responder=booking_host) as oa:
        outcome = await _call(tmp, openai_api_key=KEY, openai_base_url=oa.api_base)
        return outcome + (len(oa.requests),)


async def llm_fails_mid_call(tmp):
    """The cloud LLM collects the booking, then fails: the engine confirms it from the flow's state."""
    async with OpenAIStandin(api_key=KEY) as oa:

        def host_then_fail(request):
            reply = booking_host(request)
            if reply.tool_calls and reply.tool_calls[0].name == "collect_booking":
                oa.set_fault("error")  # every later request gets HTTP 500
            return reply

        oa.responder = host_then_fail
        return await _call(tmp, openai_api_key=KEY, openai_base_url=oa.api_base)


CASES = {
    "llm-healthy": (llm_healthy, None, None),
    "llm-fails-mid-call": (llm_fails_mid_call, ("llm", "openai", "dialogue engine"), "500"),
    "llm-refused": (llm_refused, ("llm", "openai", "dialogue engine"), "connection refused"),
    "llm-hanging": (llm_hanging, ("llm", "openai", "dialogue engine"), "no answer within 1 s"),
    "llm-garbage": (llm_garbage, ("llm", "openai", "dialogue engine"), "garbage"),
    "stt-refused": (stt_refused, ("stt", "deepgram", "whisper"), None),
    "stt-dropped-mid-utterance": (stt_dropped_mid_utterance, ("stt", "deepgram", "whisper"), None),
    "tts-refused": (tts_refused, ("tts", "deepgram", "piper"), None),
}


AT_ONCE = 4


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    async def run_all():
        names = list(CASES)
        line = asyncio.Semaphore(AT_ONCE)

        async def run(name):
            async with line:
                return await CASES[name][0](tmp_path_factory.mktemp(name))

        done = await asyncio.gather(*(run(name) for name in names), return_exceptions=True)
        return dict(zip(names, done))

    return asyncio.run(run_all())


@pytest.mark.parametrize("case", list(CASES))
def test_the_call_goes_on_and_the_report_names_the_fallback(calls, case):
    outcome = calls[case]
    if isinstance(outcome, BaseException):
        raise outcome
    result, faults, *requests = outcome
    _, fell_back, reason = CASES[case]
    assert result.expect_met, (result.error, result.booking, [(t.caller_heard, t.bot_said) for t in result.turns])
    if fell_back is None:  # a healthy provider answers the whole call: no false failover
        assert faults == [] and result.faults == [] and requests[0] >= len(SCENARIO.turns)
        return
    job, provider, fallback = fell_back
    assert [(f["job"], f["provider"], f["fallback"]) for f in faults] == [(job, provider, fallback)]
    assert result.faults == [{k: f[k] for k in ("job", "provider", "reason", "fallback")} for f in faults]
    if reason:
        assert reason in faults[0]["reason"]


# ------------------------------------------------------------------ without a call


def test_a_cloud_llm_is_a_switcher_with_the_dialogue_engine_behind_it():
    settings = load_settings(openai_api_key=KEY, stt=Provider.NULL, tts=Provider.NULL)
    stt, llm, tts = build_services(settings, lambda: NOW)
    assert isinstance(llm, FallbackLLMSwitcher)
    assert [type(s).__name__ for s in llm.llms] == ["GuardedOpenAILLMService", "DialogueEngineLLMService"]
    assert isinstance(llm.llms[0], GuardedOpenAILLMService) and llm.llms[0]._turn_budget_secs == 2.0


def test_fallbacks_can_be_turned_off_and_local_jobs_are_not_wrapped():
    off = load_settings(openai_api_key=KEY, fallbacks=False, stt=Provider.NULL, tts=Provider.NULL)
    assert type(build_services(off, lambda: NOW)[1]).__name__ == "FlowOpenAILLMService"
    local = load_settings(llm=Provider.LOCAL, stt=Provider.NULL, tts=Provider.NULL)
    assert type(build_services(local, lambda: NOW)[1]).__name__ == "DialogueEngineLLMService"


def test_failure_reasons_are_short_and_plain():
    refused = ConnectionError("Connection error.")
    refused.__cause__ = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
    assert describe(refused) == "connection refused"
    assert describe(LLMTurnFailed("no answer within 2 s")) == "no answer within 2 s"
    assert describe("server said no\nmore detail") == "server said no"
