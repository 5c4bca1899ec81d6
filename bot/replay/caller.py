"""A simulated Twilio caller: speaks the Media Streams protocol exactly as Twilio does.

It sends ``connected`` and ``start`` (stream SID, call SID, custom
parameters), then one 20 ms base64 mu-law ``media`` message every 20 ms for the
whole call, speech when it has some and line silence otherwise, and ``stop``
when it hangs up. It listens to the bot's media to know when the bot starts
and stops talking, which gives the voice-to-voice latency the caller lived.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bot.audio import FRAME_SAMPLES, decode_mulaw, encode_mulaw, rms
from bot.telephony.media_stream import TRY_AGAIN_LATER

FRAME_SECS = 0.02
SPEECH_RMS = 300.0  # int16 RMS above which a 20 ms frame is speech
# A pause this long in the bot's media while it is mid-word is a stutter the
# caller hears (Twilio plays what arrives; it has nothing to fill a gap with).
AUDIO_GAP_SECS = 0.06
# Quiet this long after the bot spoke means its turn is over: the caller may talk.
TURN_QUIET_SECS = 1.2
SILENT_FRAME = encode_mulaw(np.zeros(FRAME_SAMPLES, dtype=np.int16))


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class BotAudio:
    """What the caller has heard of the bot so far."""

    onsets: list[float] = field(default_factory=list)  # when the bot started talking
    last_voice: float = 0.0
    frames: int = 0
    clears: int = 0
    gaps: list[float] = field(default_factory=list)  # seconds of each pause over AUDIO_GAP_SECS mid-speech
    last_frame: float = 0.0
    last_frame_voiced: bool = False


class TwilioCaller:
    def __init__(
        self,
        url: str,
        *,
        caller: str | None = None,
        custom_parameters: dict[str, str] | None = None,
        call_sid: str | None = None,
    ):
        self.url = url
        self.call_sid = call_sid or new_sid("CA")
        self.stream_sid = new_sid("MZ")
        self.account_sid = new_sid("AC")
        self.parameters = {"caller": caller or ""} | (custom_parameters or {})
        self.bot = BotAudio()
        self.closed = asyncio.Event()
        self.turned_away = False  # the server had no room for the call (it closed the stream with 1013)
        self._ws: ClientConnection | None = None
        self._outbox: deque[bytes] = deque()
        self._sent_frames = 0
        self._sequence = 0
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> TwilioCaller:
        # Twilio does not offer permessage-deflate on its media streams.
        self._ws = await connect(self.url, max_size=2**20, open_timeout=10, compression=None)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": self.parameters,
                },
                "streamSid": self.stream_sid,
            }
        )
        self._tasks = [asyncio.create_task(self._send_media()), asyncio.create_task(self._receive())]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.hang_up()

    async def _send(self, message: dict) -> None:
        self._sequence += 1
        await self._ws.send(json.dumps({**message, "sequenceNumber": str(self._sequence)}))

    async def _send_media(self) -> None:
        """One frame per 20 ms tick, on a schedule that does not drift."""
        tick = time.monotonic()
        try:
            while not self.closed.is_set():
                payload = self._outbox.popleft() if self._outbox else SILENT_FRAME
                await self._send(
                    {
                        "event": "media",
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(self._sent_frames + 1),
                            "timestamp": str(int(self._sent_frames * FRAME_SECS * 1000)),
                            "payload": base64.b64encode(payload).decode(),
                        },
                    }
                )
                self._sent_frames += 1
                tick += FRAME_SECS
                delay = tick - time.monotonic()
                if delay < -0.1:  # fell far behind (a busy machine): start a new schedule
                    tick = time.monotonic()
                await asyncio.sleep(max(0.0, delay))
        except ConnectionClosed:
            self.closed.set()

    async def _receive(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "clear":  # the bot was cut off on purpose: not a gap
                    self.bot.clears += 1
                    self.bot.last_frame_voiced = False
                elif event == "media":
                    self._heard(time.monotonic(), decode_mulaw(base64.b64decode(message["media"]["payload"])))
        except ConnectionClosed:
            pass
        finally:
            self.turned_away = self._ws.close_code == TRY_AGAIN_LATER
            self.closed.set()

    def _heard(self, now: float, pcm: np.ndarray) -> None:
        bot = self.bot
        voiced = rms(pcm) >= SPEECH_RMS
        # A gap is a pause after voiced audio and shorter than a turn's end (by then the caller talks).
        if bot.last_frame_voiced and AUDIO_GAP_SECS < now - bot.last_frame < TURN_QUIET_SECS:
            bot.gaps.append(now - bot.last_frame)
        bot.frames += 1
        bot.last_frame, bot.last_frame_voiced = now, voiced
        if voiced:
            if now - bot.last_voice > 0.25 or not bot.onsets:
                bot.onsets.append(now)
            bot.last_voice = now

    async def say(self, pcm: np.ndarray) -> float:
        """Speak ``pcm`` (8 kHz int16); return when it has been sent, with the moment speech ended."""
        frames = [pcm[i : i + FRAME_SAMPLES] for i in range(0, len(pcm), FRAME_SAMPLES)]
        frames[-1] = np.pad(frames[-1], (0, FRAME_SAMPLES - len(frames[-1])))
        voiced = [i for i, f in enumerate(frames) if rms(f) >= SPEECH_RMS]
        last_voiced = voiced[-1] if voiced else len(frames) - 1
        first_frame = self._sent_frames + len(self._outbox)
        self._outbox.extend(encode_mulaw(f) for f in frames)
        speech_end = 0.0
        while not self.closed.is_set() and self._sent_frames < first_frame + len(frames):
            if not speech_end and self._sent_frames > first_frame + last_voiced:
                speech_end = time.monotonic()
            await asyncio.sleep(FRAME_SECS / 2)
        return speech_end or time.monotonic()

    async def wait_for_bot(self, since: float, *, quiet_secs: float = TURN_QUIET_SECS, timeout: float = 30.0) -> float | None:
        """Wait until the bot has spoken after ``since`` and gone quiet; return when it started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed.is_set():
            started = next((t for t in self.bot.onsets if t > since), None)
            if started and time.monotonic() - self.bot.last_voice >= quiet_secs:
                return started
            await asyncio.sleep(0.05)
        started = next((t for t in self.bot.onsets if t > since), None)
        if started is None and not self.closed.is_set():
            logger.warning(f"{self.call_sid}: the bot said nothing within {timeout:.0f}s")
        return started

    async def wait_for_hang_up(self, timeout: float) -> bool:
        """Whether the bot ended the call within ``timeout``."""
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def press(self, keys: str) -> None:
        """Press keypad ``keys`` one after another, as Twilio reports them: one ``dtmf`` event per key."""
        for key in keys:
            await self._send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": key}})
            await asyncio.sleep(0.1)

    async def hang_up(self) -> None:
        if self._ws is None:
            return
        if not self.closed.is_set():
            try:
                await self._send(
                    {
                        "event": "stop",
                        "streamSid": self.stream_sid,
                        "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                    }
                )
            except ConnectionClosed:
                pass
        await self.cut()

    async def cut(self) -> None:
        """Drop the connection without ``stop``, as a network failure does (Twilio then reconnects the call)."""
        self.closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._ws.close()
