"""A live call through the real server: barge-in, a caller pausing mid-answer, and garbage on the media stream."""

import asyncio
import json

from bot.audio import PHONE_RATE, load_phone_audio
from bot.replay.caller import TwilioCaller
from bot.replay.runner import in_process_server, replay_settings
from bot.replay.scenario import load_scenario
from bot.telephony.media_stream import MAX_MESSAGE_BYTES
from tests.conftest import NOW, PROJECT, said_with_a_pause

SLOT_BY_SLOT = load_scenario(PROJECT / "recordings" / "slot-by-slot")
REQUEST = PROJECT / "recordings" / "one-sentence" / "01-request.wav"
GARBAGE = [
    "not json at all",
    json.dumps({"event": "media", "media": {"payload": "!!not-base64!!"}}),
    json.dumps({"event": "media", "media": "a string"}),
    json.dumps({"event": "dance"}),
    json.dumps(["media"]),
    # Far more audio than a media message carries, though under the size that ends a call
    # (MAX_MESSAGE_BYTES: a larger one is an attack, refused in tests/test_security.py).
    json.dumps({"event": "media", "media": {"payload": "A" * (MAX_MESSAGE_BYTES - 1024)}}),
    json.dumps({"event": "dtmf", "dtmf": {"digit": "Z"}}),
]


async def test_caller_talking_over_the_bot_clears_twilios_buffer_and_the_call_goes_on(tmp_path):
    settings = replay_settings(tmp_path / "b.db")
    async with in_process_server(settings) as (url, store):
        async with TwilioCaller(url, caller="+15550001", custom_parameters={"now": NOW.isoformat()}) as caller:
            # Wait until the greeting is playing, then send junk and talk over it.
            for _ in range(200):
                if caller.bot.onsets:
                    break
                await asyncio.sleep(0.05)
            assert caller.bot.onsets, "the bot never greeted"
            for message in GARBAGE:
                await caller._ws.send(message)
            speech_end = await caller.say(load_phone_audio(REQUEST))
            assert caller.bot.clears >= 1, "barge-in should send Twilio a 'clear'"
            answered = await caller.wait_for_bot(since=speech_end, timeout=30)
            still_on = not caller.closed.is_set()
        report = await asyncio.to_thread(store.call_report, caller.call_sid)
    assert answered is not None and still_on, report  # what the call heard and said, if it ended
    heard = [t["caller_heard"] for t in report["turns"] if t["caller_heard"]]
    assert any("Sarah Johnson" in h for h in heard)
    assert "read that back" in report["turns"][-1]["bot_said"]


async def test_the_bots_audio_reaches_twilio_in_messages_of_the_configured_length(tmp_path, monkeypatch):
    settings = replay_settings(tmp_path / "b.db", audio_out_ms=200)
    lengths: list[int] = []
    heard = TwilioCaller._heard
    monkeypatch.setattr(TwilioCaller, "_heard", lambda self, now, pcm: (lengths.append(len(pcm)), heard(self, now, pcm)))
    async with in_process_server(settings) as (url, _store):
        async with TwilioCaller(url, caller="+15550001", custom_parameters={"now": NOW.isoformat()}) as caller:
            for _ in range(200):  # the greeting, well under way
                if len(caller.bot.onsets) and len(lengths) >= 10:
                    break
                await asyncio.sleep(0.05)
            await caller.hang_up()
    assert len(lengths) >= 10, "the bot never greeted"
    assert set(lengths[:10]) == {PHONE_RATE * 200 // 1000}


async def test_a_caller_who_pauses_mid_answer_is_heard_in_one_turn(tmp_path):
    # "Two people. [pause] This Friday." to "How many people?": the pause outlasts the VAD's stop (0.2 s) but not
    # the speech timeout after it (0.3 s more). The caller is speaking again before the turn would end, though
    # the VAD calls it speech only 0.2 s later: the turn waits for that, rather than end on "Two people." and
    # have the rest start a turn of its own, cutting off the bot's next question.
    request, party, date, *_ = SLOT_BY_SLOT.turns
    settings = replay_settings(tmp_path / "b.db", recordings_dir=tmp_path / "calls")

    async def call(pause_secs: float):
        answer = said_with_a_pause(party.audio, date.audio, pause_secs, tmp_path / f"paused-{pause_secs}.wav")
        now = {"now": SLOT_BY_SLOT.now.isoformat()}
        async with TwilioCaller(url, caller=SLOT_BY_SLOT.caller, custom_parameters=now) as caller:
            await caller.wait_for_bot(since=0.0)
            await caller.wait_for_bot(since=await caller.say(load_phone_audio(request.audio)))
            clears_before = caller.bot.clears
            await caller.wait_for_bot(since=await caller.say(load_phone_audio(answer)))
            turns_begun = caller.bot.clears - clears_before  # each turn's start clears Twilio's buffer
        return turns_begun, await asyncio.to_thread(store.call_report, caller.call_sid)

    async with in_process_server(settings) as (url, store):
        calls = await asyncio.gather(*(call(pause) for pause in (0.3, 0.38)))
    for turns_begun, report in calls:
        said = [(turn["caller_heard"], turn["bot_said"]) for turn in report["turns"]]
        assert turns_begun == 1, said
        assert said[-1][1] == "And what time would you like?", said  # both values taken, in one answer
