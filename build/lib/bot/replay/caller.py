"""A simulated Twilio caller: speaks the Media Streams protocol exactly as Twilio does.

It sends ``connected`` and ``start`` (stream SID, call SID, custom
parameters), then one 20 ms base64 mu-law ``media`` message every 20 ms for the
whole call, speech when it has some and line silence otherwise, and ``stop``
when it hangs up. It listens to the bot's media to know when the bot starts
and stops talking, which gives the voice-to-voice latency the caller lived.

Against a server without ``TWILIO_AUTH_TOKEN`` (on loopback) it opens the
stream straight away and says who is calling in the stream's own ``caller`` and
``StirVerstat`` parameters. Given the server's auth token it dials as Twilio
does: the signed voice webhook first, then the stream its TwiML names, with the
TwiML's parameters and the upgrade request signed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import ssl as ssl_module
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import numpy as np
from loguru import logger
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bot.audio import FRAME_SAMPLES, PHONE_RATE, decode_mulaw, encode_mulaw, rms
from bot.telephony.media_stream import TRY_AGAIN_LATER

FRAME_SECS = 0.02
SPEECH_RMS = 300.0  # int16 RMS above which a 20 ms frame is speech
# Silence this long while the bot is mid-word is a stutter the caller hears. Twilio
# queues the media it is sent and plays it in order, so it is heard when its
# queue runs dry, not when one message is late: Pipecat sends at twice real time
# and gets ahead of the play-out wherever its audio source allows.
AUDIO_GAP_SECS = 0.06
# Quiet this long after the bot spoke means its turn is over: the caller may talk.
TURN_QUIET_SECS = 1.2
SILENT_FRAME = encode_mulaw(np.zeros(FRAME_SAMPLES, dtype=np.int16))
_SILENT_PAYLOAD = base64.b64encode(SILENT_FRAME).decode()
# The line's own number, as Twilio's webhook names it in "To".
LINE_NUMBER = "+15550000000"


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class BotAudio:
    """What the caller has heard of the bot so far."""

    onsets: list[float] = field(default_factory=list)  # when the bot started talking
    last_voice: float = 0.0
    frames: int = 0
    clears: int = 0
    gaps: list[float] = field(default_factory=list)  # seconds heard of each silence over AUDIO_GAP_SECS mid-speech
    gap_ends: list[float] = field(default_factory=list)  # when each of them ended (time.monotonic)
    # Pauses over AUDIO_GAP_SECS between two media messages mid-speech, heard or covered by Twilio's queue.
    late_messages: list[float] = field(default_factory=list)
    last_frame: float = 0.0
    last_frame_voiced: bool = False
    heard_until: float = 0.0  # when Twilio would finish playing the media that has arrived


class TwilioCaller:
    def __init__(
        self,
        url: str,
        *,
        caller: str | None = None,
        custom_parameters: dict[str, str] | None = None,
        call_sid: str | None = None,
        stir_verstat: str | None = None,
        twilio_auth_token: str | None = None,
        stream_parameters: dict[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ):
        """``custom_parameters`` go in the stream's ``start`` (``now``); ``twilio_auth_token``: dial like Twilio.

        ``stream_parameters``: the ``<Parameter>``s of TwiML someone else got from the webhook
        (bot/replay/twilio_call.py): the stream at ``url`` opens with exactly those. ``ssl``: for a
        ``wss://`` server whose certificate the system does not trust (a local one, in tests).
        """
        self.url = url
        self.stream_parameters = stream_parameters
        self.ssl = ssl
        self.caller = caller
        self.stir_verstat = stir_verstat
        self.twilio_auth_token = twilio_auth_token
        self.call_sid = call_sid or new_sid("CA")
        self.stream_sid = new_sid("MZ")
        self.account_sid = new_sid("AC")
        self.custom_parameters = custom_parameters or {}
        self.bot = BotAudio()
        self.closed = asyncio.Event()
        self.turned_away = False  # the server had no room for the call (it closed the stream with 1013)
        self._ws: ClientConnection | None = None
        self._outbox: deque[bytes] = deque()
        self._sent_frames = 0
        self._sequence = 0
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> TwilioCaller:
        if self.twilio_auth_token:
            url, headers, parameters = await self._through_the_webhook()
        elif self.stream_parameters is not None:
            url, headers, parameters = self.url, {}, self.stream_parameters | self.custom_parameters
        else:
            url, headers = self.url, {}
            verstat = {"StirVerstat": self.stir_verstat} if self.stir_verstat else {}
            parameters = {"caller": self.caller or ""} | verstat | self.custom_parameters
        # Twilio does not offer permessage-deflate on its media streams.
        tls = {"ssl": self.ssl} if self.ssl is not None else {}
        self._ws = await connect(
            url, additional_headers=headers, max_size=2**20, open_timeout=10, compression=None, **tls
        )
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
                    "customParameters": parameters,
                },
                "streamSid": self.stream_sid,
            }
        )
        self._tasks = [asyncio.create_task(self._send_media()), asyncio.create_task(self._receive())]
        return self

    async def _through_the_webhook(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """Ring the voice webhook as Twilio does; the stream URL, signed headers and parameters its TwiML gives."""
        validator = RequestValidator(self.twilio_auth_token)
        scheme, netloc, *_ = urlsplit(self.url)
        voice_url = urlunsplit(("https" if scheme == "wss" else "http", netloc, "/twilio/voice", "", ""))
        form = {
            "CallSid": self.call_sid, "AccountSid": self.account_sid, "From": self.caller or "anonymous",
            "To": LINE_NUMBER, "Direction": "inbound", "CallStatus": "ringing",
        } | ({"StirVerstat": self.stir_verstat} if self.stir_verstat else {})
        headers = {SIGNATURE_HEADER: validator.compute_signature(voice_url, form)}
        async with aiohttp.ClientSession() as session, session.post(voice_url, data=form, headers=headers) as answer:
            answer.raise_for_status()
            twiml = ET.fromstring(await answer.text())
        stream = twiml.find("./Connect/Stream")
        if stream is None:  # turned away (BOT_MAX_CALLS), rejected, or hung up
            self.turned_away = True
            raise ConnectionRefusedError(f"the voice webhook did not connect the call: {[c.tag for c in twiml]}")
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        signed = {SIGNATURE_HEADER: validator.compute_signature(stream.get("url"), {})}
        return stream.get("url"), signed, parameters | self.custom_parameters

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
                payload = self._outbox.popleft() if self._outbox else _SILENT_PAYLOAD
                await self._send(
                    {
                        "event": "media",
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(self._sent_frames + 1),
                            "timestamp": str(int(self._sent_frames * FRAME_SECS * 1000)),
                            "payload": payload,
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
                if event == "clear":  # the bot was cut off on purpose: not a gap; Twilio empties its queue
                    self.bot.clears += 1
                    self.bot.last_frame_voiced = False
                    self.bot.heard_until = time.monotonic()
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
        # A gap is a silence after voiced audio and shorter than a turn's end (by then the caller talks).
        if bot.last_frame_voiced and now - bot.last_frame < TURN_QUIET_SECS:
            if now - bot.last_frame > AUDIO_GAP_SECS:
                bot.late_messages.append(now - bot.last_frame)
            if now - bot.heard_until > AUDIO_GAP_SECS:
                bot.gaps.append(now - bot.heard_until)
                bot.gap_ends.append(now)
        bot.heard_until = max(now, bot.heard_until) + len(pcm) / PHONE_RATE
        bot.frames += 1
        bot.last_frame, bot.last_frame_voiced = now, voiced
        if voiced:
            if now - bot.last_voice > 0.25 or not bot.onsets:
                bot.onsets.append(now)
            bot.last_voice = now

    async def say(self, pcm: np.ndarray) -> float:
        """Speak ``pcm`` (8 kHz int16); return when it has been sent, with the moment speech ended."""
        # Encoded and measured whole, then cut into Twilio's frames: the load runs many callers at once.
        padded = np.pad(pcm, (0, -len(pcm) % FRAME_SAMPLES))
        frames = padded.reshape(-1, FRAME_SAMPLES).astype(np.float64)
        voiced = np.flatnonzero(np.sqrt(np.mean(frames * frames, axis=1)) >= SPEECH_RMS)
        last_voiced = int(voiced[-1]) if len(voiced) else len(frames) - 1
        first_frame = self._sent_frames + len(self._outbox)
        encoded = encode_mulaw(padded)
        self._outbox.extend(
            base64.b64encode(encoded[i : i + FRAME_SAMPLES]).decode() for i in range(0, len(encoded), FRAME_SAMPLES)
        )
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
