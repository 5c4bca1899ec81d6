"""Who is on the line right now: this process's calls in progress, for the staff dashboard's live view.

One registry per server process (``ON_THE_LINE``), like :data:`bot.metrics.METRICS`:
:func:`bot.call.pipeline.run_call` tells it when a call's media stream starts and
ends, and it hears every completed turn from the call transcripts
(:data:`processors.transcript.live_listeners`). It keeps only what the live view
shows (caller, start time, flow node, the turns of the current stream); everything
lasting is in the store. Listeners (the dashboard's server-sent events feed,
:mod:`bot.dashboard.live`) get each change as a small dict, on the event loop
they subscribed from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from processors.transcript import TurnRecord, live_listeners

# A live call's turns kept in memory for a browser that connects mid-call (the store has them all).
TURNS_KEPT = 50


@dataclass
class LiveCall:
    call_sid: str
    caller: str | None
    started_at: float  # unix time
    node_of: Callable[[], str | None] = field(repr=False, default=lambda: None)
    turns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def node(self) -> str | None:
        try:
            return self.node_of()
        except Exception:  # noqa: BLE001 - a flow manager half torn down has no node to show
            return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "caller": self.caller,
            "started_at": self.started_at,
            "node": self.node,
            "turns": list(self.turns),
        }


class LiveCalls:
    """The calls in progress in this process, and who wants to hear about them."""

    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}
        self._listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []

    # What the call pipeline reports

    def started(self, call_sid: str, caller: str | None, node_of: Callable[[], str | None]) -> None:
        call = LiveCall(call_sid, caller, time.time(), node_of)
        self._calls[call_sid] = call
        self._tell({"event": "started", "call": call.as_dict()})

    def turn(self, record: TurnRecord) -> None:
        call = self._calls.get(record.call_sid)
        if call is None:
            return
        turn = {"turn": record.turn, "caller_heard": record.caller_heard, "bot_said": record.bot_said}
        call.turns = [*call.turns, turn][-TURNS_KEPT:]
        self._tell({"event": "turn", "call_sid": record.call_sid, "node": call.node, "turn": turn})

    def ended(self, call_sid: str, outcome: str) -> None:
        if self._calls.pop(call_sid, None) is not None:
            self._tell({"event": "ended", "call_sid": call_sid, "outcome": outcome})

    # What the dashboard reads

    def snapshot(self) -> list[dict[str, Any]]:
        """Every call in progress, longest first."""
        return [c.as_dict() for c in sorted(self._calls.values(), key=lambda c: c.started_at)]

    def nodes(self) -> dict[str, str | None]:
        return {sid: call.node for sid, call in self._calls.items()}

    def __len__(self) -> int:
        return len(self._calls)

    def subscribe(self) -> asyncio.Queue:
        """A queue of this registry's events, delivered on the running event loop."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._listeners.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._listeners = [(loop, q) for loop, q in self._listeners if q is not queue]

    def _tell(self, event: dict[str, Any]) -> None:
        for loop, queue in list(self._listeners):
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # that loop has closed: its listener is gone
                self.unsubscribe(queue)


def _offer(queue: asyncio.Queue, event: dict[str, Any]) -> None:
    try:
        queue.put_nowait(event)
    except asyncio.QueueFull:  # a browser that stopped reading misses events; it reloads the snapshot
        pass


ON_THE_LINE = LiveCalls()
live_listeners.append(ON_THE_LINE.turn)
