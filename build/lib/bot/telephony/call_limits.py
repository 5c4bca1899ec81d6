"""How often one caller number, or one network address, may reach the line (per process, in memory).

A sliding window: at most ``limit`` events per key in any ``window_secs``.
Bookings per number are limited in the store instead (they must hold across
processes and restarts: see :meth:`BookingStore.create_booking`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# Past this many keys, the ones whose events have all aged out are dropped (a flood of addresses).
_SWEEP_AT_KEYS = 10_000


class SlidingWindowLimit:
    def __init__(self, limit: int, window_secs: float, clock: Callable[[], float] = time.monotonic):
        """``limit`` 0: no limit."""
        self.limit = limit
        self.window_secs = window_secs
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Whether one more event for ``key`` fits; if it does, it is counted."""
        if not self.limit:
            return True
        now = self._clock()
        if len(self._events) > _SWEEP_AT_KEYS:
            self._events = {k: e for k, e in self._events.items() if e and now - e[-1] < self.window_secs}
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window_secs:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True
