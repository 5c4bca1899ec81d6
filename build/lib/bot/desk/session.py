"""A call made at the developer's desk (``python -m bot chat`` and ``local``).

What the two share: the call's set-up (its clock, caller and booking store),
the terminal view of the conversation, Ctrl-C as hanging up, and what the
call did in the end, read back from the store the way a replay reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipecat.flows import FlowManager
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSSpeakFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from bot.booking.store import BookingStore
from bot.call.context import CallContext, fixed_clock
from bot.call.pipeline import call_outcome
from bot.settings import Settings

# After the last tool result, how long a node that does not speak at once
# (`respond_immediately: false`) may stay quiet before it is the caller's turn.
QUIET_NODE_SECS = 1.0
CALLER_PROMPT = "you> "


def open_desk_call(settings: Settings, *, kind: str, now: dt.datetime | None, caller: str | None) -> CallContext:
    """A call on the configured store, its clock starting at ``now`` (or the real time)."""
    call = CallContext(
        call_sid=f"{kind}-{uuid.uuid4().hex[:12]}",
        caller=caller,
        store=BookingStore(settings.db_path, settings.business),
        clock=fixed_clock(now) if now else dt.datetime.now,
        caller_verified=caller is not None,  # the person at the desk says whose phone it is
        bookings_per_number=settings.bookings_per_number_per_day,
    )
    call.store.call_started(call.call_sid, caller)
    return call


@dataclass(frozen=True)
class CallOutcome:
    """What a desk call did: the facts a scenario's ``expect`` (and ``given``) are written from."""

    call_sid: str
    started: dt.datetime  # the call's clock when it began: a saved scenario's `now`
    caller: str | None
    node: str | None  # where the flow stopped
    db_path: Path
    booking: dict[str, Any] | None = None  # the booking made or changed (with its code)
    booking_changed: bool = False  # the booking existed before the call
    cancelled: list[str] = field(default_factory=list)  # codes of bookings cancelled
    message: bool = False  # whether a message was left for staff
    # Bookings this call changed or cancelled, as they were before it.
    given_bookings: list[dict[str, Any]] = field(default_factory=list)


async def close_desk_call(call: CallContext, flow_manager: FlowManager, started: dt.datetime) -> CallOutcome:
    """Record the call's end (after the records still queued) and read back what it did."""
    store = call.store
    await store.run(store.call_ended, call.call_sid, call_outcome(flow_manager))
    report = store.call_report(call.call_sid) or {}
    touched = report.get("bookings", [])
    made = [b for b in touched if b["status"] == "confirmed" and b["action"] in ("created", "changed")]
    first_change: dict[int, dict] = {}
    for row in store.db.query(
        "select booking_id, action, before from booking_history where call_sid = ? order by id", [call.call_sid]
    ):
        first_change.setdefault(row["booking_id"], row)
    given = [
        {k: before[k] for k in ("name", "party_size", "date", "time", "caller")}
        for row in first_change.values()
        if row["action"] != "created" and (before := json.loads(row["before"] or "null"))
    ]
    return CallOutcome(
        call_sid=call.call_sid,
        started=started,
        caller=call.caller,
        node=flow_manager.current_node,
        db_path=store.path,
        booking={k: made[-1][k] for k in ("party_size", "date", "time", "name", "code")} if made else None,
        booking_changed=bool(made) and made[-1]["action"] == "changed",
        cancelled=[b["code"] for b in touched if b["action"] == "cancelled"],
        message=bool(report.get("messages")),
        given_bookings=given,
    )


def describe_outcome(outcome: CallOutcome) -> str:
    """One line for the end of the session."""
    done = []
    if booking := outcome.booking:
        done.append(
            f"{'changed to' if outcome.booking_changed else 'booked'} {booking['party_size']} on {booking['date']}"
            f" at {booking['time']} for {booking['name']} (code {booking['code']})"
        )
    if outcome.cancelled:
        done.append(f"cancelled {', '.join(outcome.cancelled)}")
    if outcome.message:
        done.append("left a message for staff")
    what = "; ".join(done) or "no booking made"
    return f"call over at node {outcome.node or '-'}: {what} (store: {outcome.db_path})"


@contextlib.contextmanager
def ctrl_c_hangs_up(hang_up: Callable[[], None]) -> Iterator[None]:
    """While the call runs, Ctrl-C hangs up (and the session still ends normally) instead of aborting."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, hang_up)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _format_call(name: str, arguments: Any) -> str:
    if not isinstance(arguments, dict):
        return f"{name}({arguments!r})"
    return f"{name}({', '.join(f'{k}={json.dumps(v)}' for k, v in arguments.items())})"


class ConversationView(FrameProcessor):
    """Prints a desk call as it passes after the LLM: the bot's replies, the tool calls it made
    (what it extracted from the caller) and their results, and the flow node each bot turn ends on.

    A bot turn is over when a response ends without calling a tool: a response that calls one
    is followed by the next node's response once the tool's result has moved the flow on.
    """

    def __init__(self, out: TextIO):
        super().__init__()
        self._out = out
        self._dim = ("\033[2m", "\033[0m") if out.isatty() else ("", "")
        self._flow_manager: FlowManager | None = None
        self._reply: list[str] = []
        self._response_called_tools = False
        self._calls_pending = 0
        self._quiet_node: asyncio.TimerHandle | None = None
        self.bot_turn_over = asyncio.Event()

    def follow(self, flow_manager: FlowManager) -> None:
        self._flow_manager = flow_manager

    def show_caller(self, text: str, *, heard: bool = False) -> None:
        self._line("you", f"(heard) {text}" if heard else text)

    def _line(self, speaker: str, text: str) -> None:
        print(f"{speaker}> {text}", file=self._out, flush=True)

    def _detail(self, label: str, text: str) -> None:
        start, end = self._dim
        print(f"{start}{' ' * len(CALLER_PROMPT)}{label}: {text}{end}", file=self._out, flush=True)

    def _end_bot_turn(self) -> None:
        self._quiet_node = None
        node = self._flow_manager.current_node if self._flow_manager else None
        self._detail("node", node or "-")
        self.bot_turn_over.set()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self._watch(frame)
        await self.push_frame(frame, direction)

    def _watch(self, frame: Frame) -> None:
        if isinstance(frame, LLMFullResponseStartFrame) and self._quiet_node:
            self._quiet_node.cancel()
            self._quiet_node = None
        elif isinstance(frame, LLMTextFrame):
            self._reply.append(frame.text)
        elif isinstance(frame, TTSSpeakFrame):  # a flow action speaking directly
            self._line("bot", frame.text)
        elif isinstance(frame, FunctionCallsStartedFrame):
            self._response_called_tools = True
            self._calls_pending += len(frame.function_calls)
            for call in frame.function_calls:
                self._detail("extracted", _format_call(call.function_name, call.arguments))
        elif isinstance(frame, FunctionCallResultFrame):
            self._calls_pending = max(0, self._calls_pending - 1)
            self._detail("result", json.dumps(frame.result, default=str))
            if isinstance(frame.result, dict) and "answer" in frame.result:
                self._detail("answered from", frame.result.get("fact") or "no fact: the line does not know")
            if self._calls_pending == 0 and self._quiet_node is None:
                self._quiet_node = asyncio.get_running_loop().call_later(QUIET_NODE_SECS, self._end_bot_turn)
        elif isinstance(frame, LLMFullResponseEndFrame):
            if reply := "".join(self._reply).strip():
                self._line("bot", reply)
            self._reply.clear()
            if not self._response_called_tools:
                self._end_bot_turn()
            self._response_called_tools = False
        elif isinstance(frame, InterruptionFrame):
            self._reply.clear()
        elif isinstance(frame, (EndFrame, CancelFrame)) and self._quiet_node:
            self._quiet_node.cancel()
