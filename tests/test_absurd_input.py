"""Absurd caller input is handled: answered sensibly, never a crash, never a booking.

Real calls through the real server with a simulated Twilio caller; the call
report says what the bot said and what it booked.
"""

import asyncio
import time

from bot.audio import load_phone_audio
from bot.booking.business import LineWords
from bot.replay.caller import TwilioCaller
from bot.replay.scenario import load_scenario
from tests.conftest import NOW, PROJECT
from tests.test_keypad import bot_lines, report_when_ended, server

SCENARIO = load_scenario(PROJECT / "recordings" / "one-sentence")
WORDS = LineWords()


def test_a_silent_caller_is_asked_once_then_politely_hung_up_on(tmp_path):
    async def call():
        async with server(tmp_path, idle_secs=1.5) as (url, store):
            async with TwilioCaller(url, caller=SCENARIO.caller, custom_parameters={"now": NOW.isoformat()}) as caller:
                hung_up = await caller.wait_for_hang_up(30)
            return hung_up, await report_when_ended(store, caller.call_sid)

    hung_up, report = asyncio.run(call())
    assert hung_up  # the bot ended the call, not the caller
    assert [t["bot_said"] for t in report["turns"]][1:] == [WORDS.still_there, WORDS.no_answer]
    assert report["bookings"] == []


def test_keypad_garbage_is_ignored_and_never_books(tmp_path):
    async def call():
        async with server(tmp_path) as (url, store):
            async with TwilioCaller(url, caller=SCENARIO.caller, custom_parameters={"now": NOW.isoformat()}) as caller:
                await caller.wait_for_bot(0.0, timeout=15)
                await caller.press("*9#0")  # at the greeting nothing keyable is asked
                spoken = await caller.say(load_phone_audio(SCENARIO.turns[0].audio))
                await caller.wait_for_bot(spoken, timeout=15)  # the read-back
                pressed = time.monotonic()
                await caller.press("7*#")  # not a yes or a no
                await asyncio.sleep(3)
                replied = any(onset > pressed for onset in caller.bot.onsets)
            return replied, await report_when_ended(store, caller.call_sid)

    replied, report = asyncio.run(call())
    assert not replied
    lines = bot_lines(report)
    assert "Shall I book it?" in lines and WORDS.keypad_invalid not in lines
    assert len(report["turns"]) == 2  # the greeting and the read-back: the keys made no turns
    assert report["bookings"] == []


MONOLOGUE = (
    "Well, the thing is, my cousin is coming from out of town and she never knows what she wants to eat, "
    "and last time we went somewhere the soup was cold and the waiter forgot the bread, so I told her "
    "we should try somewhere new, and my neighbour said your place is lovely, especially in the winter. "
)


def test_a_ninety_second_monologue_is_transcribed_whole_without_failing(tmp_path):
    """Whisper past its 30 s window: one transcript of the whole turn, not a crash or an empty turn."""
    from pipecat.frames.frames import ErrorFrame, TranscriptionFrame

    from bot.desk.caller_voice import render_caller_audio
    from bot.services.whisper_stt import LocalWhisperSTTService

    wav = render_caller_audio(MONOLOGUE * 7, tmp_path / "monologue.wav")
    pcm = load_phone_audio(wav)
    assert len(pcm) / 8000 > 75  # minutes of speech, as a caller who will not stop

    async def transcribe():
        stt = LocalWhisperSTTService(early=False)
        stt._sample_rate = 8000  # what the pipeline's StartFrame would set
        stt._load()
        return [frame async for frame in stt.run_stt(pcm.tobytes())]

    frames = asyncio.run(transcribe())
    assert not any(isinstance(f, ErrorFrame) for f in frames)
    (transcript,) = [f for f in frames if isinstance(f, TranscriptionFrame)]
    words = transcript.text.lower()
    # Whisper read it all, start to end (not just its first 30 s window).
    assert words.startswith("well, the thing is") and words.rstrip(". ").endswith("in the winter")
    assert words.count("neighbo") >= 3 and len(words.split()) > 150  # 30 s of it is ~75 words
