"""The base of the call's own processors that do a few lines of work per frame.

Every processor Pipecat queues a frame for has a task that wakes up to take it:
with 17 frames of caller audio a second through each of them, for every call,
those queues and task switches were a good part of a worker's CPU. A processor
whose work per frame is quick (it looks at the frame, keeps a little state,
passes it on) runs in direct mode instead, in the task of the processor that
pushed the frame, as Pipecat's own filters in its service switcher do. Frames
keep their order; anything slow such a processor starts goes on a task of its
own.
"""

from pipecat.processors.frame_processor import FrameProcessor


class DirectProcessor(FrameProcessor):
    def __init__(self, **kwargs):
        super().__init__(enable_direct_mode=True, **kwargs)
