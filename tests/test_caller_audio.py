"""The caller's audio goes past the processors that do not read it, reaches the recorder and ends there (processors/caller_audio.py)."""

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    TextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from processors.caller_audio import CallerAudioBypass


class Seen(FrameProcessor):
    """Stands for the LLM, TTS and output transport between the two ends: notes what it is given."""

    def __init__(self):
        super().__init__()
        self.frames: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, (InputAudioRawFrame, OutputAudioRawFrame, TextFrame)):
            self.frames.append(frame)
        await self.push_frame(frame, direction)


async def test_caller_audio_skips_the_middle_and_everything_else_takes_the_pipeline():
    bypass, middle = CallerAudioBypass(), Seen()
    caller = [InputAudioRawFrame(bytes([n]) * 960, 8000, 1) for n in range(3)]
    bot = OutputAudioRawFrame(b"\x01" * 640, 8000, 1)
    down, _ = await run_test(
        Pipeline([bypass.leave, middle, bypass.rejoin]),
        frames_to_send=[caller[0], TextFrame("Hello"), caller[1], bot, caller[2]],
    )
    assert [type(f) for f in middle.frames] == [TextFrame, OutputAudioRawFrame]  # no caller audio in the middle
    received = [f for f in down if isinstance(f, (InputAudioRawFrame, OutputAudioRawFrame, TextFrame))]
    # All of it past the end, the caller's audio whole and in its order.
    assert [f.audio for f in received if isinstance(f, InputAudioRawFrame)] == [f.audio for f in caller]
    assert sum(isinstance(f, TextFrame) for f in received) == 1 and bot in received


async def test_past_the_recorder_no_audio_goes_on_and_everything_else_does():
    bypass, recorder = CallerAudioBypass(), Seen()
    caller = InputAudioRawFrame(b"\x02" * 960, 8000, 1)
    bot = OutputAudioRawFrame(b"\x01" * 640, 8000, 1)
    down, _ = await run_test(
        Pipeline([bypass.leave, bypass.rejoin, recorder, bypass.end]),
        frames_to_send=[caller, TextFrame("Hello"), bot],
    )
    assert [type(f) for f in recorder.frames] == [InputAudioRawFrame, TextFrame, OutputAudioRawFrame]
    assert not [f for f in down if isinstance(f, (InputAudioRawFrame, OutputAudioRawFrame))]
    assert sum(isinstance(f, TextFrame) for f in down) == 1
