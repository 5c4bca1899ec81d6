"""Twilio Media Streams: the call's opening handshake and a serializer that survives bad input.

Twilio opens the media websocket with a ``connected`` message and then a
``start`` message carrying the stream and call SIDs and the custom parameters
our TwiML asked for. Anything else first is a protocol error for that
connection only.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from fastapi import WebSocket
from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

# A 20 ms media message is ~250 bytes; anything far larger is not Twilio.
MAX_MESSAGE_BYTES = 64 * 1024
HANDSHAKE_TIMEOUT_SECS = 10.0
# The close code of a media stream the server has no room for (BOT_MAX_CALLS): "try again later".
TRY_AGAIN_LATER = 1013


class HandshakeError(Exception):
    """The websocket did not open like a Twilio media stream."""


@dataclass(frozen=True)
class StreamStart:
    stream_sid: str
    call_sid: str
    account_sid: str | None
    custom_parameters: dict[str, str] = field(default_factory=dict)


def _parse_start(message: dict) -> StreamStart:
    start = message.get("start")
    if not isinstance(start, dict):
        raise HandshakeError("'start' message has no start object")
    stream_sid = message.get("streamSid") or start.get("streamSid")
    call_sid = start.get("callSid")
    if not isinstance(stream_sid, str) or not stream_sid:
        raise HandshakeError("'start' message has no streamSid")
    if not isinstance(call_sid, str) or not call_sid:
        raise HandshakeError("'start' message has no callSid")
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise HandshakeError("customParameters is not an object")
    return StreamStart(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=start.get("accountSid") if isinstance(start.get("accountSid"), str) else None,
        custom_parameters={str(k): str(v) for k, v in params.items()},
    )


async def read_stream_start(websocket: WebSocket, timeout: float = HANDSHAKE_TIMEOUT_SECS) -> StreamStart:
    """Read messages until ``start``; ``connected`` may come first, nothing else may."""

    async def read() -> StreamStart:
        while True:
            text = await websocket.receive_text()
            if len(text) > MAX_MESSAGE_BYTES:
                raise HandshakeError("handshake message too large")
            try:
                message = json.loads(text)
            except ValueError:
                raise HandshakeError("handshake message is not JSON") from None
            event = message.get("event") if isinstance(message, dict) else None
            if event == "connected":
                continue
            if event == "start":
                return _parse_start(message)
            raise HandshakeError(f"expected 'connected' or 'start', got {str(event)[:40]!r}")

    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise HandshakeError(f"no 'start' message within {timeout:.0f}s") from None


class SafeTwilioFrameSerializer(TwilioFrameSerializer):
    """Twilio's serializer, except that a malformed message is logged and dropped.

    Pipecat's deserializer assumes well-formed JSON objects with valid base64;
    one bad message must cost one message, not the call. It also notes
    Twilio's ``stop``: a stream that closes without one was cut, not hung up.
    """

    stopped = False

    def __init__(self, *args, inbound_frames: int = 1, **kwargs):
        """``inbound_frames``: Twilio's 20 ms media messages joined into one audio frame.

        Every frame costs the same to carry through the pipeline whatever its
        length, so joining a few divides most of a call's CPU (see docs/load.md's
        load figures) for at most ``20 * (inbound_frames - 1)`` ms of delay.
        """
        super().__init__(*args, **kwargs)
        self._inbound_frames = inbound_frames
        self._pending_audio: list[bytes] = []

    async def deserialize(self, data: str | bytes) -> Frame | None:
        frame = await self._deserialize(data)
        if not isinstance(frame, InputAudioRawFrame) or self._inbound_frames == 1:
            return frame
        self._pending_audio.append(frame.audio)
        if len(self._pending_audio) < self._inbound_frames:
            return None
        audio, self._pending_audio = b"".join(self._pending_audio), []
        return InputAudioRawFrame(audio=audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels)

    async def _deserialize(self, data: str | bytes) -> Frame | None:
        if len(data) > MAX_MESSAGE_BYTES:
            logger.warning(f"Dropped an oversized websocket message ({len(data)} bytes)")
            return None
        try:
            message = json.loads(data)
        except ValueError:
            logger.warning(f"Dropped a websocket message that is not JSON: {str(data)[:80]!r}")
            return None
        if not isinstance(message, dict) or not isinstance(message.get("media", {}), dict):
            logger.warning(f"Dropped a malformed Twilio message: {str(data)[:80]!r}")
            return None
        if message.get("event") == "stop":
            self.stopped = True
        try:
            return await super().deserialize(data)
        except Exception as e:  # bad base64, bad audio: this message only
            logger.warning(f"Dropped an undecodable Twilio {message.get('event')!r} message: {e}")
            return None
