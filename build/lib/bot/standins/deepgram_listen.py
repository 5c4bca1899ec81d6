"""One Deepgram live-transcription session (websocket ``/v1/listen``).

The stand-in cannot recognise speech: it finds utterances in the audio by
energy and answers each with the next transcript from a shared script.
"""

import asyncio
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from aiohttp import WSMsgType, web

from bot.standins.audio import Utterance, UtteranceDetector, decode
from bot.standins.faults import Fault

# What Deepgram sends instead of a transcript in "garbage" mode: first a
# Results message with the wrong types, then text that is not JSON at all.
GARBAGE_MESSAGES = (
    json.dumps(
        {"type": "Results", "channel": {"alternatives": "none"}, "is_final": "maybe", "start": "zero"}
    ),
    '{"type": "Results", "channel": {"alternatives": [{"transcript": ',
)


@dataclass
class ListenConfig:
    """How the STT stand-in hears and answers (changeable while it runs)."""

    speech_threshold: float = 500.0  # RMS of a 20 ms int16 frame above which it is speech
    end_silence_ms: int = 300  # quiet audio that ends an utterance
    final_delay_ms: int = 150  # wall-clock wait from utterance end to its final result
    interim_after_ms: int = 300  # speech before the one interim result (interim_results=true)


@dataclass
class ListenRecord:
    """What one /v1/listen connection received and sent."""

    query: dict[str, str]
    raw_query: str
    audio_bytes: int = 0
    audio_messages: int = 0
    controls: list[str] = field(default_factory=list)  # "type" of each JSON message, in order
    transcripts: list[str] = field(default_factory=list)  # final transcripts sent
    sent: list[dict[str, Any] | str] = field(default_factory=list)  # every text message sent
    closed: bool = False


def _is_true(value: str | None) -> bool:
    return (value or "").lower() == "true"


class ListenSession:
    """Serves one accepted /v1/listen websocket until it closes."""

    def __init__(
        self,
        *,
        ws: web.WebSocketResponse,
        request: web.Request,
        record: ListenRecord,
        script: deque[str],
        config: ListenConfig,
        fault: Callable[[], Fault],
        request_id: str,
    ):
        self._ws = ws
        self._request = request
        self._record = record
        self._script = script
        self._config = config
        self._fault = fault
        self._request_id = request_id
        query = record.query
        self._encoding = query.get("encoding", "linear16")
        self._channels = int(query.get("channels", "1"))
        self._model = query.get("model", "nova-3")
        self._interim_results = _is_true(query.get("interim_results"))
        self._vad_events = _is_true(query.get("vad_events"))
        self._utterance_end = "utterance_end_ms" in query
        self._detector = UtteranceDetector(
            sample_rate=int(query.get("sample_rate", "16000")),
            channels=self._channels,
            threshold=config.speech_threshold,
            end_silence_ms=config.end_silence_ms,
        )
        self._digest = sha256()
        self._interim_sent = False
        self._awaiting_final: list[Utterance] = []  # ended, final not yet sent
        self._timers: set[asyncio.Task] = set()
        self._send_lock = asyncio.Lock()
        self._payloads_sent = 0
        self._cut = False
        # Audio time a Finalize cut an utterance short at, and whether the speech now going on resumes
        # that utterance (within end_silence_ms of the cut): its words were all sent at the Finalize.
        self._finalized_mid_speech_at: float | None = None
        self._resuming = False

    async def run(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type == WSMsgType.BINARY:
                    await self._on_audio(msg.data)
                elif msg.type == WSMsgType.TEXT and await self._on_control(msg.data):
                    break
                if self._cut:
                    break
        finally:
            for timer in list(self._timers):
                timer.cancel()
            self._record.closed = True

    async def _on_audio(self, data: bytes) -> None:
        self._record.audio_bytes += len(data)
        self._record.audio_messages += 1
        self._digest.update(data)
        if self._fault().mode == "drop" and self._fault().drop_after == 0:
            self._cut_connection()
            return
        for kind, value in self._detector.feed(decode(data, self._encoding)):
            if kind == "start":
                self._interim_sent = False
                cut_at = self._finalized_mid_speech_at
                self._resuming = cut_at is not None and value - cut_at < self._config.end_silence_ms / 1000
                self._finalized_mid_speech_at = None
                if self._vad_events:
                    await self._send(
                        {"type": "SpeechStarted", "channel": [0, self._channels], "timestamp": value}
                    )
            else:
                self._awaiting_final.append(value)
                self._start_timer(value)
        await self._maybe_send_interim()

    async def _on_control(self, text: str) -> bool:
        """Handle a JSON control message; True when the stream should end."""
        try:
            kind = str(json.loads(text).get("type"))
        except (ValueError, AttributeError):
            kind = "<invalid>"
        self._record.controls.append(kind)
        if kind == "Finalize":
            await self._finalize()
        elif kind == "CloseStream":
            # Deepgram answers whatever audio is left, reports on the stream, then closes.
            await self._finalize(from_finalize=False, answer_empty=False)
            await self._send(self._metadata())
            if self._fault().mode != "hang":
                await self._ws.close()
                return True
        return False

    def _start_timer(self, utterance: Utterance) -> None:
        async def send_when_due() -> None:
            await asyncio.sleep(self._config.final_delay_ms / 1000)
            if utterance in self._awaiting_final:  # else a Finalize already sent it
                self._awaiting_final.remove(utterance)
                await self._send_final(utterance, speech_final=True, from_finalize=False)

        timer = asyncio.create_task(send_when_due())
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _finalize(self, *, from_finalize: bool = True, answer_empty: bool = True) -> None:
        """Send at once every final still owed, including speech still in progress."""
        owed, self._awaiting_final = self._awaiting_final, []
        for utterance in owed:
            await self._send_final(utterance, speech_final=True, from_finalize=from_finalize)
        if self._detector.in_speech:
            owed.append(self._detector.take_utterance())
            await self._send_final(owed[-1], speech_final=False, from_finalize=from_finalize)
            self._finalized_mid_speech_at = owed[-1].end
        if not owed and answer_empty:
            # Deepgram confirms a Finalize even when nothing was pending.
            now = self._detector.audio_seconds
            await self._send_results(
                "", Utterance(now, now), is_final=True, speech_final=False, from_finalize=True
            )

    async def _send_final(self, utterance: Utterance, *, speech_final: bool, from_finalize: bool) -> None:
        # A transcript is used up only when it is delivered, so a fault doesn't shift the script. The rest
        # of an utterance a Finalize cut short has no words of its own: the script gives one per utterance.
        delivered = self._fault().mode in ("ok", "drop")
        resumed, self._resuming = self._resuming, False
        if resumed:
            transcript = ""
        else:
            transcript = (self._script.popleft() if delivered else self._script[0]) if self._script else ""
        if delivered:
            self._record.transcripts.append(transcript)
        await self._send_results(
            transcript, utterance, is_final=True, speech_final=speech_final, from_finalize=from_finalize
        )
        if self._utterance_end:
            await self._send(
                {"type": "UtteranceEnd", "channel": [0, self._channels], "last_word_end": utterance.end}
            )

    async def _maybe_send_interim(self) -> None:
        start = self._detector.speech_start
        if not self._interim_results or self._interim_sent or self._resuming or start is None or not self._script:
            return
        if (self._detector.audio_seconds - start) * 1000 < self._config.interim_after_ms:
            return
        self._interim_sent = True
        words = self._script[0].split()
        partial = " ".join(words[: max(1, len(words) // 2)])
        await self._send_results(
            partial, Utterance(start, self._detector.audio_seconds), is_final=False, speech_final=False
        )

    async def _send_results(
        self,
        transcript: str,
        utterance: Utterance,
        *,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool = False,
    ) -> None:
        message = {
            "type": "Results",
            "channel_index": [0, self._channels],
            "duration": round(utterance.end - utterance.start, 3),
            "start": round(utterance.start, 3),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {
                        "transcript": transcript,
                        "confidence": 0.99 if transcript else 0.0,
                        "words": _words(transcript, utterance),
                    }
                ]
            },
            "metadata": {
                "request_id": self._request_id,
                "model_info": {"name": self._model, "version": "standin", "arch": "standin"},
                "model_uuid": "00000000-0000-4000-8000-000000000000",
            },
        }
        await self._send(message, payload=True)

    def _metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self._request_id,
            "sha256": self._digest.hexdigest(),
            "created": datetime.now(UTC).isoformat(),
            "duration": self._detector.audio_seconds,
            "channels": self._channels,
        }

    async def _send(self, message: dict[str, Any], *, payload: bool = False) -> None:
        """Send a message as the current fault mode allows; payloads are what faults act on."""
        fault = self._fault()
        if self._cut or fault.mode == "hang" or self._ws.closed:
            return
        texts = GARBAGE_MESSAGES if payload and fault.mode == "garbage" else (message,)
        async with self._send_lock:
            try:
                for text in texts:
                    await self._ws.send_str(text if isinstance(text, str) else json.dumps(text))
                    self._record.sent.append(text)
            except ConnectionResetError:
                self._cut = True  # the client went away mid-send
                return
            if payload and fault.mode == "drop":
                self._payloads_sent += 1
                if self._payloads_sent >= fault.drop_after:
                    self._cut_connection()

    def _cut_connection(self) -> None:
        """Drop the TCP connection without a websocket close, as a network failure would."""
        self._cut = True
        if self._request.transport is not None:
            self._request.transport.close()


def _words(transcript: str, utterance: Utterance) -> list[dict[str, Any]]:
    """Word timings spread evenly over the utterance."""
    tokens = transcript.split()
    if not tokens:
        return []
    step = (utterance.end - utterance.start) / len(tokens)
    return [
        {
            "word": re.sub(r"[^\w']", "", token).lower() or token,
            "start": round(utterance.start + i * step, 3),
            "end": round(utterance.start + (i + 1) * step, 3),
            "confidence": 0.99,
            "punctuated_word": token,
        }
        for i, token in enumerate(tokens)
    ]
