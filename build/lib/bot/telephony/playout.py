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


class AheadOfPlayback(FastAPIWebsocketOutputTransport):
    def __init__(self, *args, lead_secs: float = LEAD_SECS, **kwargs):
        super().__init__(*args, **kwargs)
        self._lead_secs = lead_secs
        self._sent_secs = 0.0  # the audio in the message just sent

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        self._sent_secs = len(frame.audio) / 2 / frame.sample_rate / frame.num_channels
        return await super().write_audio_frame(frame)

    async def _write_audio_sleep(self):
        # Pipecat's own clock, read as the moment Twilio finishes playing what it was sent (an interruption
        # resets it to 0: nothing queued). Pipecat's 2 s of silence after the goodbye is one message, so
        # the call ends once Twilio has played the goodbye and most of that silence, not its first 100 ms.
        now = time.monotonic()
        self._next_send_time = max(now, self._next_send_time) + self._sent_secs
        await asyncio.sleep(max(0.0, self._next_send_time - self._lead_secs - now))


class TwilioMediaTransport(FastAPIWebsocketTransport):
    """Pipecat's FastAPI websocket transport, its output sending ahead of playback."""

    def __init__(self, websocket: WebSocket, params: FastAPIWebsocketParams, *, lead_secs: float = LEAD_SECS):
        super().__init__(websocket, params)
        self._output = AheadOfPlayback(self, self._client, self._params, name=self._output_name, lead_secs=lead_secs)
