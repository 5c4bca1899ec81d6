"""The pipeline worker of one phone call, with less per-frame bookkeeping than Pipecat's default.

A call carries 50 audio frames a second each way through about twenty
processors, so whatever Pipecat does per frame and per processor is most of
a call's CPU (docs/load.md, "Where the CPU goes"). Three of its defaults cost a
phone line without serving it:

- the RTVI processor and observer (a phone has no RTVI client);
- the turn-tracking observer (turns are measured by ``processors/latency.py``), unless
  ``BOT_TRACING`` is on: Pipecat's turn spans need it;
- the report every processor makes of every frame it processes
  (``on_process_frame``), queued to every observer, whose task wakes up to
  ignore it: none of a call's observers reads those reports, only pushes;
- the report of every push of every frame of the caller's audio, the same:
  none of Pipecat's observers (latency, idle, turn tracking) nor ours reads
  caller audio, and an observer added to a call must not expect it.
"""

from __future__ import annotations

import functools

from pipecat.frames.frames import InputAudioRawFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed, FrameProcessed
from pipecat.pipeline.worker import PipelineWorker
from pipecat.pipeline.worker_observer import WorkerObserver


@functools.cache
def _reads_processed_frames(observer_type: type[BaseObserver]) -> bool:
    return observer_type.on_process_frame is not BaseObserver.on_process_frame


class _CallObserverProxy(WorkerObserver):
    """Pipecat's observer proxy, passing processing reports only to observers that read them, and nothing
    of the caller's audio."""

    async def on_push_frame(self, data: FramePushed):
        if not isinstance(data.frame, InputAudioRawFrame):
            await super().on_push_frame(data)

    async def on_process_frame(self, data: FrameProcessed):
        if isinstance(data.frame, InputAudioRawFrame):
            return
        for observer, proxy in (self._proxies or {}).items():
            if _reads_processed_frames(type(observer)):
                await proxy.queue.put(data)


class CallWorker(PipelineWorker):
    def __init__(self, *args, tracing: bool = False, **kwargs):
        # Pipecat's tracing (BOT_TRACING) hangs its turn spans off its turn tracking: on only with it.
        super().__init__(
            *args, enable_rtvi=False, enable_turn_tracking=tracing, enable_tracing=tracing, **kwargs
        )
        # Pipecat builds its proxy inside __init__ with no say in its class; the subclass adds no state.
        self._observer.__class__ = _CallObserverProxy
