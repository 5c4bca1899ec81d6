"""When speech-to-text stalls or none works, the call goes on (processors/keypad.py).

Real calls through the real server: a simulated Twilio caller speaks a
recording, or presses keys (Twilio ``dtmf`` events), and the call report says
what the bot heard and said, what it booked and which fallback fired.
"""

import asyncio
import contextlib
import datetime as dt
import time

import pytest

from bot.audio import load_phone_audio
from bot.booking.business import LineWords
from bot.replay.caller import TwilioCaller
from bot.replay.runner import (
    in_process_server,
    replay_scenario,
    replay_settings,
    store_reports,
)
from bot.replay.scenario import load_scenario
from bot.services.whisper_stt import LocalWhisperSTTService
from bot.settings import Provider
from bot.standins.deepgram import DeepgramStandin
from processors.keypad import keypad_words
from tests.conftest import NOW, PROJECT

SCENARIO = load_scenario(PROJECT / "recordings" / "one-sentence")
KEY = "test-key"
WORDS = LineWords()


@contextlib.asynccontextmanager
async def server(tmp, **overrides):
    settings = replay_settings(db_path=tmp / "bookings.db", recordings_dir=tmp / "calls", **overrides)
    async with in_process_server(settings) as (url, store):
        yield url, store


async def report_when_ended(store, call_sid):
    for _ in range(100):
        report = store.call_report(call_sid)
        if report and report["call"].get("ended_at"):
            return report
        await asyncio.sleep(0.1)
    raise AssertionError("the call never ended")


def bot_lines(report) -> str:
    return " | ".join(t["bot_said"] or "" for t in report["turns"])


async def press_and_wait(caller: TwilioCaller, keys: str) -> None:
    pressed = time.monotonic()
    await caller.press(keys)
    await caller.wait_for_bot(pressed, timeout=15)


async def press_and_go_on(caller: TwilioCaller, keys: str) -> None:
    """Press ``keys`` and go on as soon as the bot starts replying, as a keypad caller who knows the drill would."""
    pressed = time.monotonic()
    await caller.press(keys)
    for _ in range(300):
        if any(onset > pressed for onset in caller.bot.onsets):
            return
        await asyncio.sleep(0.05)


def test_a_stalled_deepgram_hands_the_turn_to_whisper_and_the_caller_is_still_answered(tmp_path):
    async def call():
        async with DeepgramStandin(api_key=KEY, fault="hang") as dg:
            async with server(
                tmp_path, deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, tts=Provider.LOCAL, stt_stall_secs=1.0
            ) as (url, store):
                return await replay_scenario(SCENARIO, url, store_reports(store))

    result = asyncio.run(call())
    # The first sentence, never transcribed by Deepgram, was transcribed again by Whisper: no repeat was needed.
    assert result.expect_met, (result.error, result.booking, [(t.caller_heard, t.bot_said) for t in result.turns])
    assert [(f["job"], f["provider"], f["reason"], f["fallback"]) for f in result.faults] == [
        ("stt", "deepgram", "no transcript within 1 s", "whisper")
    ]


def test_with_no_speech_to_text_the_caller_books_with_the_keypad(tmp_path, monkeypatch):
    def broken(self, samples):
        raise RuntimeError("the model is gone")

    monkeypatch.setattr(LocalWhisperSTTService, "_decode", broken)

    async def call():
        async with DeepgramStandin(api_key=KEY, fault="refuse") as dg:
            async with server(
                tmp_path, deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, tts=Provider.LOCAL, stt_stall_secs=1.0
            ) as (url, store):
                async with TwilioCaller(url, caller=SCENARIO.caller, custom_parameters={"now": NOW.isoformat()}) as caller:
                    await caller.wait_for_bot(0.0, timeout=15)
                    spoken = await caller.say(load_phone_audio(SCENARIO.turns[0].audio))
                    await caller.wait_for_bot(spoken, timeout=15)  # the keypad instructions, heard in full
                    for keys in ("4#", "99999#"):  # replies heard in full, so the report has them
                        await press_and_wait(caller, keys)
                    for keys in ("1125#", "1900#", "#", "1#"):  # each entry cuts the bot short
                        await press_and_go_on(caller, keys)
                return await report_when_ended(store, caller.call_sid)

    report = asyncio.run(call())
    lines = bot_lines(report)
    assert f"{WORDS.keypad_start} {WORDS.keypad_asks['party_size']}" in lines
    assert WORDS.keypad_asks["date"] in lines
    assert WORDS.keypad_invalid in lines  # 99999 is no date: said so, and asked again
    assert [(b["party_size"], b["date"], b["time"], b["name"], b["status"]) for b in report["bookings"]] == [
        (4, "2026-11-25", "19:00", WORDS.number_name, "confirmed")
    ]
    assert [(f["job"], f["provider"], f["fallback"]) for f in report["faults"]] == [
        ("stt", "deepgram", "whisper"),
        ("stt", "whisper", "keypad"),
    ]


@pytest.mark.parametrize(
    ("entry", "asked", "meaning"),
    [
        ("4#", "party_size", "4 people"),
        ("4#", None, None),  # nothing keyable asked, and the caller can be heard: ignored
        ("0#", "party_size", None),
        ("1125#", "date", "2026-11-25"),
        ("0105#", "date", "2027-01-05"),  # MMDD is the next such day
        ("1399#", "date", None),
        ("112#", "date", None),
        ("1900#", "time", "19:00"),
        ("2460#", "time", None),
        ("1#", "yes_no", "yes"),
        ("2#", "yes_no", "no"),
        ("3#", "yes_no", None),
        ("*#", "time", None),
        ("#", "name", WORDS.number_name),
    ],
)
def test_keypad_entries_mean_the_value_asked_for_or_nothing(entry, asked, meaning):
    assert keypad_words(entry, asked, dt.date(2026, 11, 24), WORDS, keypad_mode=False) == meaning


def test_in_keypad_mode_an_entry_at_the_greeting_starts_a_booking():
    assert keypad_words("4#", None, dt.date(2026, 11, 24), WORDS, keypad_mode=True) == "4 people"
