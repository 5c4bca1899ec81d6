"""Hang up after the goodbye has been heard, not while it is being synthesized.

The flow ends a call by queuing an ``EndFrame`` right behind the bot's last
reply. A Pipecat ``ServiceSwitcher`` (our TTS failover) is a parallel
pipeline, and a parallel pipeline holds every frame its branches produce
until an ``EndFrame`` has passed through all of them; the TTS lets its
``EndFrame`` through only when its last audio has been received. So the whole
goodbye reached the caller in one burst, after it was all synthesized: with a
streaming cloud TTS, seconds of silence before the confirmation code.

This processor sits in front of the TTS and keeps the ``EndFrame`` until the
bot has stopped speaking (the output transport's ``BotStoppedSpeakingFrame``),
so the TTS ends with nothing left to play.
"""

from __future__ import annotations

import asyncio

from loguru import logger
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMTextFrame,
    TTSSpeakFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from processors.direct import DirectProcessor

# The longest a goodbye may take to be spoken before the call is ended anyway.
MAX_GOODBYE_SECS = 30.0


class EndAfterSpeech(DirectProcessor):
    def __init__(self, *, max_wait_secs: float = MAX_GOODBYE_SECS, **kwargs):
        super().__init__(**kwargs)
        self._max_wait_secs = max_wait_secs
        self._speech_pending = False  # words went to the TTS and the bot has not finished saying them
        self._spoken = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, (LLMTextFrame, TTSSpeakFrame)) and direction is FrameDirection.DOWNSTREAM:
            self._speech_pending = True
            self._spoken.clear()
        elif isinstance(frame, (BotStoppedSpeakingFrame, InterruptionFrame)):
            self._speech_pending = False
            self._spoken.set()
        if isinstance(frame, EndFrame) and self._speech_pending:
            self.create_task(self._end_when_spoken(frame, direction))
            return
        await self.push_frame(frame, direction)

    async def _end_when_spoken(self, frame: EndFrame, direction: FrameDirection):
        try:
            await asyncio.wait_for(self._spoken.wait(), self._max_wait_secs)
        except TimeoutError:
            logger.warning(f"{self}: the goodbye was not heard within {self._max_wait_secs:g} s; ending anyway")
        await self.push_frame(frame, direction)
