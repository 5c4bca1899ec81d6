"""Transcribe a caller's utterance at its first pause, before the VAD has called it over.

A segmented STT (Whisper here) only starts when the VAD reports the end of
speech, and the VAD waits ``stop_secs`` of silence (0.2 s) to report it. On a
2-core machine a Whisper decode takes 0.2-0.6 s, so the transcript arrives
well after the VAD stop. This starts the same decode as soon as the audio
has been quiet for ``quiet_secs``: when the VAD then stops, and the audio that
will be transcribed is exactly the audio the early decode got (compared
sample for sample, after the service's own resampling and trimming), the
early result is used; if the caller went on speaking, it is thrown away.
Transcripts are therefore identical to decoding at the VAD stop; only their
timing changes. A thrown-away decode costs CPU, so at most ``MAX_RUNNING``
run at once and a later pause waits for one to finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
from loguru import logger

from bot.services.decode_queue import Speculation

QUIET_SECS = 0.1
MAX_RUNNING = 2  # a pause mid-sentence must not hold up the decode of the real end
FLOOR = 0.01  # the same loudness floor as bot.audio.trim_silence: below it a 20 ms frame is quiet


class EarlyTranscription:
    """Speculative decodes of one call's STT service.

    ``prepare`` turns segment bytes (int16 at the pipeline's rate) into the
    model's input; ``transcribe`` decodes that input (a coroutine: the service
    queues it as the given speculation, bot/services/decode_queue.py), and
    ``wanted`` tells the queue when a caller waits for it. ``prepare`` and the
    decode must be deterministic for the result to be reused.
    """

    def __init__(
        self,
        prepare: Callable[[bytes], np.ndarray],
        transcribe: Callable[[np.ndarray, Speculation], Awaitable[str]],
        *,
        wanted: Callable[[Speculation], None],
        quiet_secs: float = QUIET_SECS,
    ):
        self._prepare = prepare
        self._transcribe = transcribe
        self._wanted = wanted
        self._quiet_secs = quiet_secs
        self._quiet = 0.0
        self._voiced = False
        self._triggered = False  # a decode was asked for during this pause
        self._running: list[asyncio.Task] = []
        self._waiting: bytes | None = None  # the latest pause's audio, for when the running decode ends
        self._done: list[tuple[np.ndarray, Speculation, asyncio.Task]] = []
        self.used = self.wasted = 0

    def on_audio(self, chunk: bytes, segment: bytearray, sample_rate: int) -> None:
        """A chunk of caller audio has been added to ``segment`` while the caller is speaking."""
        samples = np.frombuffer(chunk, dtype=np.int16).astype(np.float32) / 32768.0
        frame = max(1, sample_rate // 50)
        for i in range(0, len(samples), frame):
            block = samples[i : i + frame]
            if len(block) and float(np.sqrt(np.mean(block**2))) >= FLOOR:
                self._voiced, self._quiet, self._triggered = True, 0.0, False
            else:
                self._quiet += len(block) / sample_rate
        if self._voiced and not self._triggered and self._quiet >= self._quiet_secs:
            self._triggered = True
            self._start(bytes(segment))

    def _start(self, audio: bytes) -> None:
        self._running = [t for t in self._running if not t.done()]
        if len(self._running) >= MAX_RUNNING:
            self._waiting = audio
            return
        prepared, speculation = self._prepare(audio), Speculation()
        task = asyncio.get_running_loop().create_task(self._transcribe(prepared, speculation))
        task.add_done_callback(self._finished)
        self._running.append(task)
        self._done = [*self._done[-(MAX_RUNNING - 1) :], (prepared, speculation, task)]

    def _finished(self, _task: asyncio.Task) -> None:
        if self._waiting is not None:
            audio, self._waiting = self._waiting, None
            self._start(audio)

    async def result_for(self, prepared: np.ndarray) -> str | None:
        """The early transcript of exactly ``prepared``, if one was started; then forget this utterance."""
        match = next(((s, task) for p, s, task in reversed(self._done) if np.array_equal(p, prepared)), None)
        wasted = len(self._done) - (match is not None)
        self.wasted += wasted
        self._done, self._waiting = [], None
        self._voiced, self._quiet, self._triggered = False, 0.0, False
        if match is None:
            return None
        speculation, task = match
        self._wanted(speculation)  # still queued behind other calls' turns, it now goes as this one's
        try:
            text = await task
        except Exception:
            logger.exception("early transcription failed; decoding again")
            return None
        self.used += 1
        return text
