"""When no text-to-speech works: pre-rendered prompts, and the confirmation by SMS (bot/services/prompt_tts.py, bot/telephony/sms.py).

A real call (``recordings/one-sentence``) through the real server with
Deepgram TTS refusing and Piper's voice file missing: the caller hears the
rendered prompts, the booking is still made once, and its confirmation is
texted through a loopback stand-in for Twilio's REST API.
"""

import asyncio
import wave

import numpy as np
import pytest
from pipecat.frames.frames import EndWorkerFrame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.tests.utils import SleepFrame, run_test

from bot.replay.runner import (
    in_process_server,
    replay_scenario,
    replay_settings,
    store_reports,
)
from bot.replay.scenario import load_scenario
from bot.services import piper_tts
from bot.services.piper_tts import GuardedPiperTTSService
from bot.services.prompt_tts import PromptTTSService, load_prompts, stale_prompts
from bot.settings import Provider
from bot.standins.deepgram import DeepgramStandin
from processors.fallbacks import FallbackSwitcher, FaultLog
from tests.conftest import PROJECT, share_heard

SCENARIO = load_scenario(PROJECT / "recordings" / "one-sentence")
FLOW = PROJECT / "flows" / "booking.yaml"
KEY = "test-key"
SMS_FROM = "+15550007777"


@pytest.fixture
def no_piper_voice(monkeypatch, tmp_path):
    """Piper's voice file is missing, so Piper cannot even start."""
    monkeypatch.setattr(piper_tts, "bundled_voice_path", lambda: tmp_path / "missing-voice.onnx")


def _bot_channel(recording: str) -> np.ndarray:
    with wave.open(recording, "rb") as wav:
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)
    return stereo[:, 1]


def test_with_no_voice_the_caller_hears_the_prompts_and_gets_the_confirmation_by_sms(
    tmp_path, twilio_api, no_piper_voice, business
):
    api_url, received = twilio_api

    async def call():
        async with DeepgramStandin(api_key=KEY, fault="refuse") as dg:
            settings = replay_settings(
                db_path=tmp_path / "bookings.db", recordings_dir=tmp_path / "calls",
                deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, stt=Provider.LOCAL,
                twilio_account_sid="AC123", twilio_auth_token="secret", twilio_api_base_url=api_url,
                sms_from=SMS_FROM,
            )
            async with in_process_server(settings) as (url, store):
                result = await replay_scenario(SCENARIO, url, store_reports(store), recordings_dir=tmp_path / "calls",
                                               twilio_auth_token="secret")
                return result, store.bookings_made(result.call_sid), store.call_faults(result.call_sid)

    result, made, faults = asyncio.run(call())

    assert result.expect_met, (result.error, result.booking, [(t.caller_heard, t.bot_said) for t in result.turns])
    assert made == 1
    # The caller heard the rendered prompts, sample for sample: "trouble on the line" first, then "please go on".
    prompts = load_prompts(FLOW, business)
    heard = _bot_channel(result.recording).tobytes()
    assert share_heard(prompts["will_text"], heard) >= 0.9 and share_heard(prompts["go_on"], heard) >= 0.9
    assert heard.index(prompts["will_text"][:320]) < heard.index(prompts["go_on"][:320])
    # The confirmation went by SMS to the caller, with the booking's code.
    texts = [form for path, form, _ in received if path == "/2010-04-01/Accounts/AC123/Messages.json"]
    assert len(texts) == 1
    assert texts[0]["To"] == [SCENARIO.caller] and texts[0]["From"] == [SMS_FROM]
    assert result.booking["code"] in texts[0]["Body"][0]
    assert [(f["job"], f["provider"], f["fallback"]) for f in faults] == [
        ("tts", "piper", "prompts"),
        ("tts", "deepgram", "prompts"),
        ("confirmation", "voice", f"sms CA1 to {SCENARIO.caller}"),
    ]


def test_without_sms_the_prompt_asks_the_caller_to_call_back_and_the_call_ends(business):
    prompts = load_prompts(FLOW, business)
    tts = PromptTTSService(prompts=prompts, can_text=False)
    down, up = asyncio.run(
        run_test(
            tts,
            frames_to_send=[TTSSpeakFrame("How can I help you today?")],
            expected_down_frames=None,
            expected_up_frames=None,
        )
    )
    spoken = b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame))
    assert spoken == prompts["call_back"]
    assert any(isinstance(f, EndWorkerFrame) for f in up)


def test_the_committed_prompts_say_the_business_files_words(business):
    assert stale_prompts(FLOW, business) == []
    assert stale_prompts(PROJECT / "flows" / "salon.yaml", business.model_copy(
        update={"line_trouble_prompts": business.line_trouble_prompts.model_copy(update={"go_on": "Carry on."})}
    )) == ["go_on"]


def test_piper_failing_mid_call_gives_way_to_the_prompts(monkeypatch, business):
    async def broken_voice(self, parts, *, trim):
        raise RuntimeError("onnxruntime: bad model")
        yield b""  # an async generator, as Piper's is

    monkeypatch.setattr(GuardedPiperTTSService, "_synthesize", broken_voice)
    faults = FaultLog("CAtest")
    prompts = load_prompts(FLOW, business)
    tts = FallbackSwitcher(
        "tts", [GuardedPiperTTSService(), PromptTTSService(prompts=prompts, can_text=True)], ["piper", "prompts"], faults
    )
    down, _ = asyncio.run(
        run_test(
            tts,
            frames_to_send=[TTSSpeakFrame("What day would you like to come in?"), SleepFrame(0.2),
                            TTSSpeakFrame("And what time would you like?")],
        )
    )
    spoken = b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame))
    assert spoken == prompts["will_text"]  # the failed reply is lost; the next is the prompt
    assert [(f.job, f.provider, f.fallback) for f in faults.faults] == [("tts", "piper", "prompts")]
    assert "bad model" in faults.faults[0].reason
