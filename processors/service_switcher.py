"""Pipecat's ServiceSwitcher with each frame carried to the active service's branch only.

Pipecat's ``ServiceSwitcher`` is a parallel pipeline that hands every frame to
every service's branch, where a filter before the service and one after it let
through only what the active service should see or say. Each frame of a call
thus crossed three processors per service held (for our TTS: Deepgram, Piper,
the prompts) to reach the one that takes it, and each branch's two filters were
two more processors per service for the garbage collector to walk: 14 of a
cloud call's 65 processors (docs/load.md).

Here a frame goes to the active service's branch alone, and the branches hold
the service and nothing else. What the filters decided is decided as the frame
is routed: the lifecycle frames (start, end, cancel) still go to every service,
in step, as the parallel pipeline synchronizes them, and everything else reaches
only the active service, so an inactive one has nothing to answer. What comes
out of the branches goes through ``ServiceSwitcher.push_frame`` as before: only
the active service's metadata and errors travel on.

The switcher itself runs in direct mode: a frame is routed in the task that
pushed it, straight into the service's queue, rather than waiting in a queue of
the switcher's own first (one task switch less for every frame, for each of a
call's three switchers). Pipecat's parallel pipeline keeps its queues to pause
its input while a lifecycle frame crosses every branch, so that no branch sees
a frame before its start; here a frame only ever reaches the active service,
behind that lifecycle frame in the same queue, and what the branches let out
meanwhile is still held back until every branch is through.
"""

from __future__ import annotations

from pipecat.frames.frames import CancelFrame, EndFrame, Frame, StartFrame
from pipecat.pipeline.parallel_pipeline import ParallelPipeline
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategy
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

LIFECYCLE_FRAMES = (StartFrame, EndFrame, CancelFrame)


class _ActiveBranchRouting(ParallelPipeline):
    """The parallel pipeline's routing, narrowed to the active service's branch (see the module)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, LIFECYCLE_FRAMES):
            await super().process_frame(frame, direction)  # every branch, in step
            return
        await FrameProcessor.process_frame(self, frame, direction)
        await self._branches[self.strategy.active_service].queue_frame(frame, direction)


class ActiveServiceSwitcher(ServiceSwitcher, _ActiveBranchRouting):
    """A ``ServiceSwitcher`` whose branches are the bare services, and whose frames go to the active one."""

    def __init__(self, services: list[FrameProcessor], strategy_type: type[ServiceSwitcherStrategy]):
        super().__init__(services, strategy_type=strategy_type)
        self._enable_direct_mode = True  # Pipecat's switcher takes no such argument (see the module)
        self._branches = dict(zip(services, self._pipelines, strict=True))

    @staticmethod
    def _make_pipeline_definitions(services: list[FrameProcessor], strategy: ServiceSwitcherStrategy) -> list:
        return [[service] for service in services]
