"""The caller's audio, carried past the processors that have no use for it.

Past the user aggregator, only the call recorder reads the caller's audio; yet
every frame of it (17 a second with 60 ms frames) would go through the LLM's
failover switcher, the keypad prompts, the hang-up watch, the TTS's switcher
and the output transport, a dozen queue hops each, to reach it. A frame's hop
costs the same whatever it carries, so that was a good part of a call's CPU
(docs/load.md, "Where the CPU goes"). :class:`CallerAudioBypass` hands each
frame of caller audio from just after the user aggregator straight to just
before the recorder. Everything else takes the pipeline's way. After the
recorder no processor reads audio either way, so :class:`CallerAudioBypass`'s
``end`` drops it there, and the assistant aggregator's queue never sees it.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection

from processors.direct import DirectProcessor


class _Rejoin(DirectProcessor):
    """Where the caller's audio rejoins the pipeline (and everything else passes)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class _Leave(DirectProcessor):
    def __init__(self, rejoin: _Rejoin):
        super().__init__()
        self._rejoin = rejoin

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and direction is FrameDirection.DOWNSTREAM:
            await self._rejoin.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)


class _End(DirectProcessor):
    """Where the audio of both sides leaves the pipeline (everything else passes)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if not isinstance(frame, (InputAudioRawFrame, OutputAudioRawFrame)):
            await self.push_frame(frame, direction)


class CallerAudioBypass:
    """``leave`` goes right after the user aggregator, ``rejoin`` right before the processor reading the audio,
    ``end`` right after it."""

    def __init__(self) -> None:
        self.rejoin = _Rejoin()
        self.leave = _Leave(self.rejoin)
        self.end = _End()
