"""Stopping a server without dropping a call: what happens between SIGTERM and exit.

1. **Notice** (``BOT_DRAIN_NOTICE_SECS``, 2 s): ``/readyz`` and ``/healthz``
   answer 503 "draining", so a load balancer's health checks move new calls to
   the other servers; calls that still arrive meanwhile are taken.
2. **Draining** (up to ``BOT_DRAIN_SECS``, 90 s): the webhook turns new calls
   away (to ``BOT_OVERFLOW_URL``, or the business's ``lines_busy`` words) and a
   media stream the webhook did not let in is closed with 1013; a call coming
   back after a dropped line is still let in. The calls in progress go on.
3. **Hand-over**: the calls still going when the time is up are handed to
   another server at their next quiet moment (bot/call/handover.py): each is
   checkpointed and its stream closed, Twilio follows the TwiML's
   ``<Redirect>`` to the webhook, and a ready server resumes it. With
   ``BOT_RESUME_GRACE_SECS=0`` nothing can resume them and they are cut.
4. The process exits (0) once no call is left.

A second SIGTERM (or Ctrl-C) skips what is left of the waiting and hands the
calls over at once; a third exits at once. systemd's ``TimeoutStopSec`` must
exceed notice + drain + 30 s of hand-over (deploy/systemd/).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from loguru import logger

from bot.metrics import METRICS

# How long the hand-over of the last calls may take: a quiet moment (bot/call/handover.py, up to 20 s) and the close.
HANDOVER_SECS = 30.0
POLL_SECS = 0.1


class DrainState(StrEnum):
    SERVING = "serving"
    NOTICE = "notice"  # not ready, still taking calls while the load balancer moves on
    DRAINING = "draining"  # turning new calls away, letting the calls in progress finish
    STOPPED = "stopped"  # every call finished or handed over: the process may exit


@dataclass(frozen=True)
class DrainReport:
    finished: int  # calls that ended by themselves during the drain
    handed_over: int  # calls handed to another server (or cut, when none can resume them)
    left: int  # calls still in progress at exit (the hand-over ran out of time)
    secs: float


class Drain:
    """One server process's drain; the server asks it whether to take a call, the calls register with it."""

    def __init__(
        self,
        *,
        notice_secs: float,
        limit_secs: float,
        calls_in_progress: Callable[[], int],
    ):
        self.notice_secs = notice_secs
        self.limit_secs = limit_secs
        self._calls_in_progress = calls_in_progress
        self.state = DrainState.SERVING
        self._handovers: dict[str, Callable[[], Awaitable[None]]] = {}
        self._finished = 0
        self._handed_over: set[str] = set()
        self._hurry: asyncio.Event | None = None
        self._hurried = False

    @property
    def taking_calls(self) -> bool:
        """Whether a new call is let in (a call coming back after a dropped line always is)."""
        return self.state in (DrainState.SERVING, DrainState.NOTICE)

    @property
    def draining(self) -> bool:
        return self.state is not DrainState.SERVING

    def register(self, call_sid: str, hand_over: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """A call in progress, and how to hand it over; returns what to call when the call ends."""
        self._handovers[call_sid] = hand_over

        def ended() -> None:
            if self._handovers.pop(call_sid, None) is not None and self.draining and call_sid not in self._handed_over:
                self._finished += 1

        return ended

    def hurry(self) -> None:
        """Skip what is left of the waiting: hand the calls over now (a second SIGTERM)."""
        self._hurried = True
        if self._hurry is not None:
            self._hurry.set()

    async def _wait(self, secs: float, done: Callable[[], bool] = lambda: False) -> None:
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline and not done() and not self._hurry.is_set():
            await asyncio.sleep(min(POLL_SECS, max(0.0, deadline - time.monotonic())))

    async def run(self) -> DrainReport:
        """Drain: notice, then finish or hand over every call; returns once none is left (or time is up)."""
        self._hurry = asyncio.Event()
        if self._hurried:
            self._hurry.set()
        started = time.monotonic()
        self.state = DrainState.NOTICE
        METRICS.draining.set(1)
        logger.warning(
            f"Draining for a restart: not ready; still taking calls for {self.notice_secs:g} s while the load "
            f"balancer moves on; {self._calls_in_progress()} in progress"
        )
        await self._wait(self.notice_secs)
        self.state = DrainState.DRAINING
        if self._calls_in_progress():
            logger.warning(
                f"Draining: new calls are turned away; {self._calls_in_progress()} in progress may go on for "
                f"{self.limit_secs:g} s, then are handed to another server"
            )
        await self._wait(self.limit_secs, lambda: not self._calls_in_progress())
        handovers = dict(self._handovers)
        if handovers:
            logger.warning(f"Draining: handing {len(handovers)} calls still in progress to another server")
            self._handed_over.update(handovers)
            await asyncio.gather(*(hand_over() for hand_over in handovers.values()), return_exceptions=True)
        deadline = time.monotonic() + HANDOVER_SECS
        while self._calls_in_progress() and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECS)
        self.state = DrainState.STOPPED
        report = DrainReport(
            finished=self._finished, handed_over=len(handovers), left=self._calls_in_progress(),
            secs=round(time.monotonic() - started, 1),
        )
        (logger.error if report.left else logger.info)(
            f"Drained in {report.secs:g} s: {report.finished} calls finished, {report.handed_over} handed over"
            + (f", {report.left} still in progress (cut by the exit)" if report.left else "")
        )
        return report
