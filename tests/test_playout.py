"""The bot's audio is sent to Twilio a little ahead of its playback (bot/telephony/playout.py)."""

import pytest

from bot.telephony import playout
from bot.telephony.playout import LEAD_SECS, AheadOfPlayback


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
    sender._lead_secs, sender._next_send_time = LEAD_SECS, 0
    return sender


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
