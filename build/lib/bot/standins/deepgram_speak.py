"""Deepgram text-to-speech sessions: websocket ``/v1/speak`` and its HTTP form.

Audio is a synthetic speech-like signal whose length follows the text, so
whatever plays or measures it downstream sees audio of a sensible duration.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from bot.standins.audio import bytes_per_sample, encoded_speech
from bot.standins.faults import Fault

GARBAGE_TEXT = '{"type": "Flushed", "sequence_id": '  # not valid JSON
GARBAGE_FLUSHED = {"type": 7, "sequence_id": "zero"}  # valid JSON, wrong types


@dataclass
class SpeakConfig:
    """How the TTS stand-in speaks (changeable while it runs)."""

    first_audio_ms: int = 200  # from the first text after idle to its first audio
    chunk_ms: int = 20  # audio per binary message
    ms_per_char: int = 60  # audio length per character of text
    max_speech_ms: int = 20_000  # cap on the audio for one text
    realtime_factor: float = 1.0  # audio is sent this many times faster than real time


@dataclass
class SpeakRecord:
    """What one /v1/speak connection or request received and sent."""

    transport: Literal["websocket", "http"]
    query: dict[str, str]
    texts: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)  # Flush / Clear / Close, in order
    audio_bytes: int = 0  # audio bytes sent
    audio_messages: int = 0
    closed: bool = False


class AudioStreamer:
    """Turns text into paced chunks of encoded audio."""

    def __init__(self, *, config: SpeakConfig, encoding: str, sample_rate: int):
        self._config = config
        self._encoding = encoding
        self._sample_rate = sample_rate

    async def chunks(self, text: str, *, first: bool) -> AsyncIterator[bytes]:
        """Yield ``text``'s audio in ``chunk_ms`` pieces, after ``first_audio_ms`` when ``first``."""
        cfg = self._config
        if first:
            await asyncio.sleep(cfg.first_audio_ms / 1000)
        audio = encoded_speech(
            text, self._sample_rate, self._encoding, ms_per_char=cfg.ms_per_char, max_ms=cfg.max_speech_ms
        )
        chunk_bytes = self._sample_rate * cfg.chunk_ms // 1000 * bytes_per_sample(self._encoding)
        interval = cfg.chunk_ms / 1000 / cfg.realtime_factor
        # Pace against a fixed schedule so sleep overshoot does not add up.
        due = time.monotonic()
        for offset in range(0, len(audio), chunk_bytes):
            yield audio[offset : offset + chunk_bytes]
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))


class SpeakSession:
    """Serves one accepted /v1/speak websocket until it closes.

    Text is synthesised in arrival order by a worker task, so a Flush is
    answered only after the audio of every text before it, and a Clear can
    throw away whatever is queued or playing.
    """

    def __init__(
        self,
        *,
        ws: web.WebSocketResponse,
        request: web.Request,
        record: SpeakRecord,
        streamer: AudioStreamer,
        fault: Callable[[], Fault],
    ):
        self._ws = ws
        self._request = request
        self._record = record
        self._streamer = streamer
        self._fault = fault
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()  # text, or None for a Flush
        self._worker: asyncio.Task | None = None
        self._sequence_id = 0
        self._payloads_sent = 0
        self._cut = False

    async def run(self) -> None:
        self._start_worker()
        try:
            async for msg in self._ws:
                if msg.type == WSMsgType.TEXT and await self._on_message(msg.data):
                    break
                if self._cut:
                    break
        finally:
            self._stop_worker()
            self._record.closed = True

    async def _on_message(self, text: str) -> bool:
        """Handle one client message; True when the session should end."""
        try:
            message = json.loads(text)
            kind = str(message.get("type"))
        except (ValueError, AttributeError):
            return False
        if kind == "Speak":
            self._record.texts.append(str(message.get("text", "")))
            if self._fault().mode == "drop" and self._fault().drop_after == 0:
                self._cut_connection()
            else:
                await self._queue.put(self._record.texts[-1])
            return False
        self._record.controls.append(kind)
        if kind == "Flush":
            await self._queue.put(None)
        elif kind == "Clear":
            self._stop_worker()
            self._start_worker()
            await self._send_json({"type": "Cleared", "sequence_id": self._sequence_id})
        elif kind == "Close":
            self._stop_worker()
            await self._ws.close()
            return True
        return False

    def _start_worker(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._speak_queued())

    def _stop_worker(self) -> None:
        if self._worker:
            self._worker.cancel()
            self._worker = None

    async def _speak_queued(self) -> None:
        idle = True
        while True:
            text = await self._queue.get()
            if text is None:
                await self._send_json({"type": "Flushed", "sequence_id": self._sequence_id})
                self._sequence_id += 1
                idle = True
                continue
            if self._fault().mode == "garbage":
                await self._send_garbage()
                continue
            async for chunk in self._streamer.chunks(text, first=idle):
                idle = False
                await self._send_audio(chunk)

    def _silenced(self) -> bool:
        return self._cut or self._fault().mode == "hang" or self._ws.closed

    async def _send_audio(self, chunk: bytes) -> None:
        if self._silenced() or not await self._send(chunk):
            return
        self._record.audio_bytes += len(chunk)
        self._record.audio_messages += 1
        if self._fault().mode == "drop":
            self._payloads_sent += 1
            if self._payloads_sent >= self._fault().drop_after:
                self._cut_connection()

    async def _send_json(self, message: dict[str, Any]) -> None:
        if not self._silenced():
            await self._send(json.dumps(GARBAGE_FLUSHED if self._fault().mode == "garbage" else message))

    async def _send_garbage(self) -> None:
        """Instead of audio: text that is not JSON and a chunk that is not whole samples."""
        if not self._silenced():
            await self._send(GARBAGE_TEXT)
            await self._send(b"\x01\x02\x03")

    async def _send(self, data: str | bytes) -> bool:
        """Send one message; False if the client had gone away."""
        try:
            if isinstance(data, bytes):
                await self._ws.send_bytes(data)
            else:
                await self._ws.send_str(data)
        except ConnectionResetError:
            self._cut = True
            return False
        return True

    def _cut_connection(self) -> None:
        """Drop the TCP connection without a websocket close, as a network failure would."""
        self._cut = True
        self._stop_worker()
        if self._request.transport is not None:
            self._request.transport.close()


async def speak_over_http(
    *,
    request: web.Request,
    record: SpeakRecord,
    streamer: AudioStreamer,
    fault: Fault,
    content_type: str,
    stopping: asyncio.Event,
) -> web.StreamResponse:
    """Answer ``POST /v1/speak`` with the text's audio as a streamed body."""
    try:
        text = str((await request.json()).get("text", ""))
    except (ValueError, AttributeError):
        return web.json_response(
            {"err_code": "INVALID_JSON", "err_msg": "Body must be JSON with text."}, status=400
        )
    record.texts.append(text)
    if fault.mode == "hang":
        await stopping.wait()
        return web.Response(status=503)
    if fault.mode == "garbage":
        return web.Response(body=GARBAGE_TEXT.encode(), content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    try:
        async for chunk in streamer.chunks(text, first=True):
            if fault.mode == "drop" and record.audio_messages >= fault.drop_after:
                request.transport.close()  # mid-body, as a network failure would
                break
            await response.write(chunk)
            record.audio_bytes += len(chunk)
            record.audio_messages += 1
        else:
            await response.write_eof()
    except ConnectionResetError:
        pass  # the client stopped reading
    record.closed = True
    return response
