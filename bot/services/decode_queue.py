"""One process's speech-to-text decodes, every call's, in one queue: a long one never holds up the rest.

All the calls of a worker process share one Whisper model (bot/services/whisper_stt.py), which decodes
``lanes`` utterances at once. Handed straight to threads, decodes start in the order they come, so at
many calls a caller's turn could wait behind a monologue on the 30-second path (a second or more) or
behind another call's speculative decode at a pause (bot/services/early_stt.py), which may be thrown
away. Here, when a lane comes free:

- a decode a caller is waiting for goes before a speculative one, and a shorter before a longer;
- *background* decodes (speculative, or longer than :data:`LONG_SECS`) take at most ``lanes - 1``
  lanes together, so one lane is always left for a caller's turn of ordinary length;
- a speculative decode the caller turns out to be waiting for (the pause it heard was the end of the
  turn: :meth:`DecodeQueue.wanted`) goes from then on as their turn would, not behind every other call's.

The transcripts are the same whatever the order: only when each decode runs changes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
LONG_SECS = 10.0  # past Whisper's short window (BOT_WHISPER_WINDOW_SECS): the 30-second path, several times the work


@dataclass(eq=False)
class Speculation:
    """A decode started before anyone waits for it; ``wanted`` once a caller does."""

    wanted: bool = False


@dataclass(order=True)
class _Decode:
    priority: tuple[bool, float, int]  # (speculative, seconds of audio, arrival)
    work: Callable[[], Any] = field(compare=False)
    done: asyncio.Future = field(compare=False)
    background: bool = field(compare=False)
    speculation: Speculation | None = field(compare=False)

    def as_wanted(self) -> None:
        _, seconds, arrival = self.priority
        self.priority = (False, seconds, arrival)
        self.background = seconds > LONG_SECS


class DecodeQueue:
    def __init__(self, lanes: int = 2):
        self.lanes = lanes
        self._executor = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="stt-decode")
        self._waiting: list[_Decode] = []
        self._arrivals = itertools.count()
        self._running = 0
        self._background = 0

    async def run(self, work: Callable[[], T], *, seconds: float, speculation: Speculation | None = None) -> T:
        """``work()`` (a blocking decode of ``seconds`` of audio) in its turn, off the event loop."""
        done = asyncio.get_running_loop().create_future()
        speculative = speculation is not None and not speculation.wanted
        background = speculative or seconds > LONG_SECS
        decode = _Decode((speculative, seconds, next(self._arrivals)), work, done, background, speculation)
        heapq.heappush(self._waiting, decode)
        self._start_what_fits()
        return await done  # cancelled (the call ended): it is skipped if it has not started

    def wanted(self, speculation: Speculation) -> None:
        """A caller now waits for this speculative decode: if it has not started, it goes as their turn."""
        speculation.wanted = True
        for decode in self._waiting:
            if decode.speculation is speculation:
                decode.as_wanted()
        heapq.heapify(self._waiting)
        self._start_what_fits()

    def _start_what_fits(self) -> None:
        held_back: list[_Decode] = []
        while self._waiting and self._running < self.lanes:
            decode = heapq.heappop(self._waiting)
            if decode.done.cancelled():
                continue
            if decode.background and self._background >= max(1, self.lanes - 1):
                held_back.append(decode)  # the last lane stays free for a caller's turn
                continue
            self._running += 1
            self._background += decode.background
            running = asyncio.get_running_loop().run_in_executor(self._executor, decode.work)
            running.add_done_callback(lambda result, decode=decode: self._finished(decode, result))
        for decode in held_back:
            heapq.heappush(self._waiting, decode)

    def _finished(self, decode: _Decode, result: asyncio.Future) -> None:
        self._running -= 1
        self._background -= decode.background
        if decode.done.cancelled():
            pass
        elif result.cancelled():
            decode.done.cancel()
        elif result.exception() is not None:
            decode.done.set_exception(result.exception())
        else:
            decode.done.set_result(result.result())
        self._start_what_fits()


_QUEUES: dict[asyncio.AbstractEventLoop, DecodeQueue] = {}


def decode_queue() -> DecodeQueue:
    """The queue of this event loop's calls (one per worker process; tests may run several loops)."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _QUEUES if other.is_closed()]:
        _QUEUES.pop(other)._executor.shutdown(wait=False)
    if loop not in _QUEUES:
        _QUEUES[loop] = DecodeQueue()
    return _QUEUES[loop]
