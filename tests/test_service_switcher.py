"""Frames reach the active service alone, lifecycle frames reach them all, and each comes out once
(processors/service_switcher.py)."""

import asyncio

from pipecat.frames.frames import EndFrame, Frame, ManuallySwitchServiceFrame, StartFrame, TextFrame
from pipecat.pipeline.service_switcher import ServiceSwitcherStrategyManual
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from processors.service_switcher import ActiveServiceSwitcher


class Service(FrameProcessor):
    """Stands for an STT, LLM or TTS: notes what it is given and passes it on."""

    def __init__(self, name: str):
        super().__init__(name=name)
        self.seen: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        self.seen.append(frame)
        await self.push_frame(frame, direction)


def texts(frames) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


async def test_frames_go_to_the_active_service_and_follow_a_switch():
    first, second, third = Service("first"), Service("second"), Service("third")
    switcher = ActiveServiceSwitcher([first, second, third], ServiceSwitcherStrategyManual)
    down, _ = await run_test(
        switcher,
        frames_to_send=[TextFrame("one"), TextFrame("two"), ManuallySwitchServiceFrame(service=second), TextFrame("three")],
        ignore_start=False,
    )
    assert texts(first.seen) == ["one", "two"]
    assert texts(second.seen) == ["three"]
    assert texts(third.seen) == []
    assert texts(down) == ["one", "two", "three"]  # each once, in order
    for service in (first, second, third):  # every service started and ended, active or not
        assert any(isinstance(f, StartFrame) for f in service.seen)
        assert any(isinstance(f, EndFrame) for f in service.seen)
    assert sum(isinstance(f, StartFrame) for f in down) == 1


async def test_frames_going_upstream_reach_the_active_service_alone():
    first, second = Service("first"), Service("second")
    switcher = ActiveServiceSwitcher([first, second], ServiceSwitcherStrategyManual)
    _, up = await run_test(
        switcher, frames_to_send=[TextFrame("back")], frames_to_send_direction=FrameDirection.UPSTREAM
    )
    assert texts(first.seen) == ["back"] and texts(second.seen) == []
    assert texts(up) == ["back"]


class SlowToStart(Service):
    """A service that takes a while over its start (a socket being opened)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, StartFrame):
            await asyncio.sleep(0.2)
        await super().process_frame(frame, direction)


async def test_nothing_leaves_before_every_service_has_started():
    # The switcher routes in the pusher's task, with no queue of its own to pause: the frames sent
    # meanwhile must still come out after the start, which waits for the slowest service.
    active, reserve = Service("active"), SlowToStart("reserve")
    switcher = ActiveServiceSwitcher([active, reserve], ServiceSwitcherStrategyManual)
    down, _ = await run_test(switcher, frames_to_send=[TextFrame("one"), TextFrame("two")], ignore_start=False)
    assert isinstance(down[0], StartFrame)
    assert texts(down) == ["one", "two"]
    assert isinstance(active.seen[0], StartFrame) and texts(active.seen) == ["one", "two"]
    assert texts(reserve.seen) == []
