"""Twilio Media Streams: the call's opening handshake and a serializer that survives bad input.

Twilio opens the media websocket with a ``connected`` message and then a
``start`` message carrying the stream and call SIDs and the custom parameters
our TwiML asked for. Anything else first is a protocol error for that
connection only. A message far larger than Twilio's closes the stream, during
the handshake and during the call (:class:`SizeLimitedSocket`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from fastapi import WebSocket
from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.serializers.twilio import TwilioFrameSerializer
from starlette.websockets import WebSocketDisconnect

from bot.metrics import METRICS

# A 20 ms media message is ~250 bytes; anything far larger is not Twilio.
MAX_MESSAGE_BYTES = 64 * 1024
HANDSHAKE_TIMEOUT_SECS = 10.0
# Websocket close codes: a policy violation, a message too big, and "try again later" for a
# media stream the server has no room for (BOT_MAX_CALLS).
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013


class HandshakeError(Exception):
    """The websocket did not open like a Twilio media stream; ``reason`` is its metric label."""

    def __init__(self, detail: str, *, reason: str = "stream_handshake", code: int = POLICY_VIOLATION):
        super().__init__(detail)
        self.reason = reason
        self.code = code


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


def _too_big(message: dict) -> HandshakeError | None:
    size = len(message.get("text") or message.get("bytes") or "")
    if size <= MAX_MESSAGE_BYTES:
        return None
    return HandshakeError(f"a {size}-byte message (at most {MAX_MESSAGE_BYTES})", reason="stream_oversized",
                          code=MESSAGE_TOO_BIG)


async def read_stream_start(websocket: WebSocket, timeout: float | None = None) -> StreamStart:
    """Read messages until ``start``: one ``connected`` may come first, nothing else may."""
    timeout = HANDSHAKE_TIMEOUT_SECS if timeout is None else timeout

    async def read() -> StreamStart:
        connected = False
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if too_big := _too_big(message):
                raise too_big
            if message.get("text") is None:
                raise HandshakeError("a binary handshake message")
            try:
                parsed = json.loads(message["text"])
            except ValueError:
                raise HandshakeError("handshake message is not JSON") from None
            event = parsed.get("event") if isinstance(parsed, dict) else None
            if event == "connected" and not connected:  # Twilio says it once: more is a stream that never starts
                connected = True
                continue
            if event == "start":
                return _parse_start(parsed)
            raise HandshakeError(f"expected 'connected' or 'start', got {str(event)[:40]!r}")

    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise HandshakeError(f"no 'start' message within {timeout:g}s") from None


class SizeLimitedSocket:
    """The call's websocket as the Pipecat transport reads it, closed at the first message far larger than Twilio's.

    ``refused`` names why it was closed (None: it was not): a stream the server
    closed is not a dropped line, so the call is not kept for resuming.
    """

    def __init__(self, websocket: WebSocket, call_sid: str):
        self._websocket = websocket
        self._call_sid = call_sid
        self.refused: str | None = None

    def __getattr__(self, name: str):
        return getattr(self._websocket, name)

    async def receive(self) -> dict:
        message = await self._websocket.receive()
        if message["type"] == "websocket.receive" and (too_big := _too_big(message)):
            self.refused = too_big.reason
            METRICS.refused.labels(reason=too_big.reason).inc()
            logger.warning(f"{self._call_sid}: closed its media stream ({too_big.reason}): {too_big}")
            await self._websocket.close(code=too_big.code)
            return {"type": "websocket.disconnect", "code": too_big.code}
        return message


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
