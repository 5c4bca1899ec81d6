"""When the flow cannot finish, the caller leaves a voicemail (processors/voicemail.py, flows' voicemail node).

Real calls through the real server: the caller is misunderstood three times
(``recordings/misunderstood``, from its first nonsense answer), hears the
voicemail line and a tone, and leaves a message — then waits for the bot's
goodbye, or hangs up straight away. Either way the caller's own audio is in a
WAV next to the call's recording, a message row points at it, and nothing is
booked. The two calls run at once, so the module takes about as long as one.
"""

import asyncio
import dataclasses
import wave

import numpy as np
import pytest

from bot.audio import load_phone_audio, rms
from bot.replay.caller import TwilioCaller
from bot.replay.runner import (
    in_process_server,
    replay_scenario,
    replay_settings,
    store_reports,
)
from bot.replay.scenario import load_scenario
from bot.settings import Provider
from processors.voicemail import tone
from tests.conftest import PROJECT, share_heard

MISUNDERSTOOD = load_scenario(PROJECT / "recordings" / "misunderstood")
# Three nonsense answers at the greeting, then the message itself.
SCENARIO = dataclasses.replace(MISUNDERSTOOD, turns=MISUNDERSTOOD.turns[1:])
MESSAGE = load_phone_audio(SCENARIO.turns[-1].audio)


async def waits_for_goodbye(url, store):
    result = await replay_scenario(SCENARIO, url, store_reports(store), recordings_dir=store.path.parent / "calls")
    return result.call_sid, result.recording, result.completed


async def hangs_up_after_the_message(url, store):
    caller = TwilioCaller(url, caller=SCENARIO.caller, custom_parameters={"now": SCENARIO.now.isoformat()})
    async with caller:
        await caller.wait_for_bot(since=0.0)
        for turn in SCENARIO.turns[:-1]:
            await caller.wait_for_bot(since=await caller.say(load_phone_audio(turn.audio)))
        # The message up to its last word, and the hang-up at once: no pause for the turn to end on.
        voiced = [i for i in range(0, len(MESSAGE), 160) if rms(MESSAGE[i : i + 160]) >= 300]
        await caller.say(MESSAGE[: voiced[-1] + 160])
    for _ in range(100):  # the server closes the call once it notices the hang-up
        if (report := store.call_report(caller.call_sid)) and report["call"].get("ended_at"):
            break
        await asyncio.sleep(0.1)
    return caller.call_sid, None, True


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    async def run_all():
        tmp = tmp_path_factory.mktemp("voicemail")
        # The bot's lines as short tones (what it said is in the call report): each call takes seconds, not a minute.
        settings = replay_settings(db_path=tmp / "bookings.db", recordings_dir=tmp / "calls", tts=Provider.NULL)
        async with in_process_server(settings) as (url, store):
            done = await asyncio.gather(waits_for_goodbye(url, store), hangs_up_after_the_message(url, store))
            return {
                name: (store.call_report(call_sid), store.bookings_made(call_sid), recording, completed)
                for name, (call_sid, recording, completed) in zip(("goodbye", "hang-up"), done, strict=True)
            }

    return asyncio.run(run_all())


def _voiced_frames(pcm: np.ndarray) -> int:
    return sum(rms(pcm[i : i + 160]) >= 300 for i in range(0, len(pcm), 160))


@pytest.mark.parametrize("case", ["goodbye", "hang-up"])
def test_the_voicemail_holds_the_callers_message_and_nothing_is_booked(calls, case):
    report, made, _, completed = calls[case]
    assert completed and made == 0 and report["bookings"] == []
    said = [t["bot_said"] for t in report["turns"]]
    assert any("leave a message after the tone" in line for line in said), said
    ((message,),) = [report["messages"]]
    assert message["callback_number"] == SCENARIO.caller
    with wave.open(message["audio_path"], "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 1)
        kept = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    # About as long as what the caller said (plus the pauses around it), and not silence.
    assert len(MESSAGE) * 0.8 <= len(kept) <= len(MESSAGE) + 8000 * 5
    assert _voiced_frames(kept) >= _voiced_frames(MESSAGE) * 0.8


def test_after_the_message_the_bot_thanks_the_caller_and_hangs_up(calls):
    report, _, recording, _ = calls["goodbye"]
    assert "got your message" in report["turns"][-1]["bot_said"] and "Goodbye!" in report["turns"][-1]["bot_said"]
    assert "party" in report["messages"][0]["reason"].lower()  # the transcript goes with the audio
    # The caller heard the tone before the recording began: it is in the bot's channel of the call recording.
    with wave.open(recording, "rb") as wav:
        bot = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)[:, 1].tobytes()
    assert share_heard(tone(8000), bot) >= 0.8


def test_a_caller_who_hangs_up_after_the_message_still_leaves_it(calls):
    report, *_ = calls["hang-up"]
    assert report["call"]["outcome"] == "voicemail" and "hung up" in report["messages"][0]["reason"]
