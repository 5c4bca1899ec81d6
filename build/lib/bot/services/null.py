"""Instant stand-ins for STT, LLM and TTS, to measure the pipeline's own overhead.

``BOT_STT=null``, ``BOT_LLM=null``, ``BOT_TTS=null`` (or ``python -m bot bench
--null``) replace a provider with one that does no work but still produces
the frames the real one would, so a call runs end to end:

- :class:`NullSTTService` transcribes every VAD segment as a fixed text, the
  moment the VAD says the caller stopped;
- :class:`NullLLMService` answers every request with a fixed reply (it calls no
  tools, so the flow never moves on: the caller hangs up when its turns run out);
- :class:`NullTTSService` "speaks" any text as a short tone, at once.

What is left of voice to voice is the settings (VAD stop, speech timeout) and
the pipeline: frame hops, aggregators, the flow manager, the transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import numpy as np
from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import STTSettings, TTSSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.services.tts_service import TTSService
from pipecat.utils.time import time_now_iso8601

from bot.services import unsampled_llm_settings

NULL_TRANSCRIPT = "Yes."
NULL_REPLY = "Okay. Is there anything else?"
TONE_HZ = 440.0
TONE_SECS = 0.3


class NullSTTService(SegmentedSTTService):
    """A final transcript at every VAD stop, without looking at the audio."""

    def __init__(self, *, text: str = NULL_TRANSCRIPT, **kwargs):
        super().__init__(
            settings=STTSettings(model="null", language="en"),
            trailing_silence_secs=0.0,
            ttfs_p99_latency=0.3,  # a safety net only: every transcript is final at once
            **kwargs,
        )
        self._text = text

    @property
    def wants_wav_segments(self) -> bool:
        return False

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        # One tick, so the VAD's stop frame is seen downstream before the transcript it caused.
        await asyncio.sleep(0.001)
        yield TranscriptionFrame(self._text, self._user_id, time_now_iso8601(), "en", finalized=True)


class NullLLMService(LLMService):
    """Answers every context with the same text, as one chunk."""

    def __init__(self, *, reply: str = NULL_REPLY, **kwargs):
        super().__init__(
            settings=unsampled_llm_settings("null"),
            **kwargs,
        )
        self._reply = reply

    def can_generate_metrics(self) -> bool:
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            await self.start_ttfb_metrics()
            await self.stop_ttfb_metrics()
            await self._push_llm_text(self._reply)
            await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)


class NullTTSService(TTSService):
    """A short tone for any text (loud enough to be heard as speech), produced at once."""

    def __init__(self, **kwargs):
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model="null", voice="tone", language=None),
            **kwargs,
        )

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        rate = self.sample_rate
        t = np.arange(int(rate * TONE_SECS)) / rate
        tone = (0.3 * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
        await self.stop_ttfb_metrics()
        yield TTSAudioRawFrame(tone.tobytes(), rate, 1, context_id=context_id)
