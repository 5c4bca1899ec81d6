"""The bot's audio to Twilio, sent a little ahead of Twilio's playback of it.

Twilio queues the media messages it is sent and plays them in order. Pipecat's
websocket transport sends them in real time, each when the one before has
played out, so Twilio's queue holds nothing more: a worker that is late by a
few tens of milliseconds (a busy event loop, a model run, another call's
turn) leaves a silence in the middle of a word. :class:`AheadOfPlayback`
keeps up to ``lead_secs`` of audio queued at Twilio instead. A caller who
talks over the bot loses nothing by it: the interruption sends Twilio a
``clear``, which empties its queue. The lead stays under the 0.35 s of quiet
after which Pipecat tells the pipeline the bot has stopped speaking, so that
moment still comes after Twilio has played the last word.

The lead can only be as long as the audio in hand. A streaming TTS that
delivers a reply in real time (as the Deepgram stand-in does) leaves none: each
chunk is ready just as Twilio finishes the one before, and any lateness is heard.
So when Twilio has played everything it was sent and a new stretch of speech
begins, its first message waits (up to ``cushion_secs``) until that much more of
it is queued behind, or its end is: a jitter buffer, paid only when the audio is
not already there (the embedded TTS hands on whole sentences, so it never
waits).
"""

from __future__ import annotations

import asyncio
import time

from fastapi import WebSocket
from pipecat.frames.frames import OutputAudioRawFrame
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

LEAD_SECS = 0.3
CUSHION_SECS = 0.1
CUSHION_POLL_SECS = 0.01


def _audio_secs(frame: OutputAudioRawFrame) -> float:
    return len(frame.audio) / 2 / frame.sample_rate / frame.num_channels


class AheadOfPlayback(FastAPIWebsocketOutputTransport):
    def __init__(self, *args, lead_secs: float = LEAD_SECS, cushion_secs: float = CUSHION_SECS, **kwargs):
        # Direct mode: what the TTS hands on goes into the sender's queue in the TTS's own task. Two queue
        # hops fewer between the provider's socket and Twilio's, each of which, with a worker's loop busy,
        # waited a turn of it: with 20 calls or more, the delays added up past the cushion (docs/load.md).
        super().__init__(*args, enable_direct_mode=True, **kwargs)
        self._lead_secs = lead_secs
        self._cushion_secs = cushion_secs
        self._sent_secs = 0.0  # the audio in the message just sent

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        self._sent_secs = _audio_secs(frame)
        if self._cushion_secs and time.monotonic() >= self._next_send_time:  # Twilio has nothing left to play
            await self._gather_cushion(frame)
        return await super().write_audio_frame(frame)

    async def _gather_cushion(self, frame: OutputAudioRawFrame) -> None:
        sender = self._media_senders.get(frame.transport_destination)
        queue = getattr(sender, "_audio_queue", None)
        deadline = time.monotonic() + self._cushion_secs
        while queue is not None and time.monotonic() < deadline and not self._cushion_ready(queue):
            await asyncio.sleep(CUSHION_POLL_SECS)

    def _cushion_ready(self, queue) -> bool:
        """Enough audio queued behind the message about to go, or the end of what is to be said."""
        queued = 0.0
        for item in list(queue._queue):  # FrameQueue's own has_frame reads it the same way
            if not isinstance(item, OutputAudioRawFrame):
                return True
            queued += _audio_secs(item)
            if queued >= self._cushion_secs:
                return True
        return False

    async def _write_audio_sleep(self):
        # Pipecat's own clock, read as the moment Twilio finishes playing what it was sent (an interruption
        # resets it to 0: nothing queued). Pipecat's 2 s of silence after the goodbye is one message, so
        # the call ends once Twilio has played the goodbye and most of that silence, not its first 100 ms.
        now = time.monotonic()
        self._next_send_time = max(now, self._next_send_time) + self._sent_secs
        await asyncio.sleep(max(0.0, self._next_send_time - self._lead_secs - now))


class TwilioMediaTransport(FastAPIWebsocketTransport):
    """Pipecat's FastAPI websocket transport, its output sending ahead of playback."""

    def __init__(
        self, websocket: WebSocket, params: FastAPIWebsocketParams, *, lead_secs: float = LEAD_SECS,
        cushion_secs: float = CUSHION_SECS,
    ):
        super().__init__(websocket, params)
        self._output = AheadOfPlayback(
            self, self._client, self._params, name=self._output_name, lead_secs=lead_secs, cushion_secs=cushion_secs
        )
