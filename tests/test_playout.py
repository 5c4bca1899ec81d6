"""The bot's audio is sent to Twilio a little ahead of its playback (bot/telephony/playout.py)."""

import types

import pytest
from pipecat.frames.frames import OutputAudioRawFrame, TTSStoppedFrame
from pipecat.transports.websocket.fastapi import FastAPIWebsocketOutputTransport
from pipecat.utils.frame_queue import FrameQueue

from bot.telephony import playout
from bot.telephony.playout import CUSHION_SECS, LEAD_SECS, AheadOfPlayback


class Clock:
    """time.monotonic and asyncio.sleep, with the sleeps passing at once."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, secs: float):
        assert secs >= 0
        self.now += secs


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(playout.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(playout.asyncio, "sleep", clock.sleep)
    return clock


async def send(sender: AheadOfPlayback, clock: Clock, secs: float) -> float:
    """Pace one message of ``secs`` of audio as the transport does after sending it; when it was sent."""
    sent_at = clock.now
    sender._sent_secs = secs
    await sender._write_audio_sleep()
    return sent_at


@pytest.fixture
def ahead() -> AheadOfPlayback:
    # Only the transport's clock is exercised here: it needs no websocket.
    sender = AheadOfPlayback.__new__(AheadOfPlayback)
    sender._lead_secs, sender._next_send_time, sender._cushion_secs = LEAD_SECS, 0, CUSHION_SECS
    sender._media_senders = {None: types.SimpleNamespace(_audio_queue=FrameQueue())}
    return sender


def audio(secs: float) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(bytes(2 * round(8000 * secs)), sample_rate=8000, num_channels=1)


@pytest.fixture
def written(monkeypatch) -> list[float]:
    """Pipecat's own write (the websocket send), replaced: the time each message went."""
    times = []

    async def write(self, frame):
        times.append(playout.time.monotonic())
        return True

    monkeypatch.setattr(FastAPIWebsocketOutputTransport, "write_audio_frame", write)
    return times


async def test_the_first_messages_go_at_once_then_one_per_message_played(ahead, clock):
    start = clock.now
    sent = [await send(ahead, clock, 0.1) - start for _ in range(10)]
    burst = round(LEAD_SECS / 0.1)
    assert sent[: burst + 1] == pytest.approx([0.0] * (burst + 1))
    assert sent[burst + 1 :] == pytest.approx([0.1 * n for n in range(1, 10 - burst)])


async def test_once_the_lead_is_sent_twilio_always_has_it_queued_while_the_bot_speaks(ahead, clock):
    for _ in range(round(LEAD_SECS / 0.1)):
        await send(ahead, clock, 0.1)
    for _ in range(20):
        await send(ahead, clock, 0.1)
        # Twilio finishes what it was sent at _next_send_time: the next message goes with that much queued.
        assert ahead._next_send_time - clock.now == pytest.approx(LEAD_SECS)


async def test_a_late_worker_starts_the_clock_again_from_now(ahead, clock):
    await send(ahead, clock, 0.1)
    clock.now += 5.0  # nothing sent for a while: Twilio's queue ran dry
    await send(ahead, clock, 0.1)
    assert ahead._next_send_time == pytest.approx(clock.now + 0.1)  # only the message just sent is queued


async def test_the_long_silence_after_the_goodbye_is_mostly_played_before_the_call_ends(ahead, clock):
    await send(ahead, clock, 0.1)
    before = clock.now
    await send(ahead, clock, 2.0)  # Pipecat's end silence, one message
    assert clock.now - before == pytest.approx(2.0 + 0.1 - LEAD_SECS)


async def test_speech_arriving_in_real_time_starts_once_a_cushion_of_it_is_in_hand(ahead, clock, written, monkeypatch):
    queue = ahead._media_senders[None]._audio_queue
    real_sleep = clock.sleep

    async def sleep_while_the_tts_streams(secs):
        await real_sleep(secs)
        if clock.now - start >= 0.05 and queue.empty():
            queue.put_nowait(audio(0.1))  # the next chunk, 50 ms into the wait

    start = clock.now
    monkeypatch.setattr(playout.asyncio, "sleep", sleep_while_the_tts_streams)
    assert await ahead.write_audio_frame(audio(0.1))
    assert written[0] - start == pytest.approx(0.05, abs=0.011)  # went as soon as the next chunk was there


async def test_a_cushion_is_waited_for_no_longer_than_its_length(ahead, clock, written):
    start = clock.now
    await ahead.write_audio_frame(audio(0.1))  # the reply's last chunk: nothing comes behind it
    assert written[0] - start == pytest.approx(CUSHION_SECS, abs=0.011)


@pytest.mark.parametrize("behind", [[audio(0.1)], [audio(0.05), audio(0.05)], [TTSStoppedFrame()]],
                         ids=["a chunk", "two halves", "the reply's end"])
async def test_speech_already_in_hand_or_ending_goes_at_once(ahead, clock, written, behind):
    for frame in behind:
        ahead._media_senders[None]._audio_queue.put_nowait(frame)
    start = clock.now
    await ahead.write_audio_frame(audio(0.1))
    assert written == [start]


async def test_no_cushion_mid_speech_while_twilio_still_has_audio_queued(ahead, clock, written):
    await ahead.write_audio_frame(audio(0.1))  # the stretch's start: waits for its cushion
    ahead._next_send_time = clock.now + 0.2  # Twilio is playing what it was sent
    before = clock.now
    await ahead.write_audio_frame(audio(0.1))
    assert written[-1] == before


async def test_no_cushion_when_it_is_set_to_zero(ahead, clock, written):
    ahead._cushion_secs = 0
    start = clock.now
    await ahead.write_audio_frame(audio(0.1))
    assert written == [start]
