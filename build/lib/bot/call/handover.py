"""Handing a call in progress to another server, when this one must stop (bot/serving/drain.py).

The call is checkpointed exactly as when its line drops (bot/call/resume.py),
marked interrupted, and only then is its media stream closed: Twilio goes on to
the TwiML's ``<Redirect>``, the load balancer brings the webhook to a server
that is ready, and that server resumes the call from the store, the caller
hearing the business's ``line_restored`` words and the question again.

It waits for a quiet moment first: the bot has answered the caller's last turn
and finished saying so, nobody is speaking or starting to, no tool is running
(a booking half written must not be asked for twice) and no voicemail is being
recorded. A call that has no quiet moment within :data:`QUIET_WAIT_SECS` is
handed over anyway, from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from loguru import logger
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
)

from bot.booking.store import BookingStore
from bot.call.resume import CallCheckpoints
from bot.metrics import METRICS
from bot.services.vad import InlineSileroVADAnalyzer

QUIET_WAIT_SECS = 20.0  # a caller's turn and the bot's answer rarely take longer
POLL_SECS = 0.05


class Handover:
    """One call's way to another server; awaiting it hands the call over (once)."""

    def __init__(
        self,
        call_sid: str,
        store: BookingStore,
        checkpoints: CallCheckpoints,
        worker: PipelineWorker,
        *,
        resumable: bool,
        node_of: Callable[[], str | None],
        recording_voicemail: Callable[[], bool] = lambda: False,
    ):
        self.call_sid = call_sid
        self.resumable = resumable  # BOT_RESUME_GRACE_SECS > 0: another server can pick it up
        self.handed_over = False
        self.over = False  # the call ended by itself
        self._store = store
        self._checkpoints = checkpoints
        self._worker = worker
        self._node_of = node_of
        self._recording_voicemail = recording_voicemail
        self._assistant = None
        self._vad: InlineSileroVADAnalyzer | None = None
        self._caller_turn_at = 0.0
        self._bot_turn_at = 0.0

    def attach(self, aggregators: LLMContextAggregatorPair, vad: InlineSileroVADAnalyzer) -> None:
        self._assistant = aggregators.assistant()
        self._vad = vad

        @aggregators.user().event_handler("on_user_turn_stopped")
        async def on_user_turn_stopped(*_args):
            self._caller_turn_at = time.monotonic()

        @aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def on_assistant_turn_stopped(*_args):
            self._bot_turn_at = time.monotonic()

    def quiet(self) -> bool:
        """Whether the call is waiting for the caller, with nothing half done."""
        assistant = self._assistant
        return bool(
            assistant is not None
            and self._node_of() is not None
            and self._bot_turn_at > 0  # the greeting is over
            and self._bot_turn_at >= self._caller_turn_at  # the caller's last turn has its answer
            # Pipecat 1.14's assistant aggregator (pinned) tracks who is speaking and the turn in progress.
            and not assistant._bot_speaking
            and not assistant._user_speaking
            and not self._vad.hearing_voice  # nor starting to: the VAD calls it speech only after start_secs
            and not assistant._assistant_turn_start_timestamp
            and not assistant.has_function_calls_in_progress
            and not self._recording_voicemail()
        )

    async def __call__(self) -> None:
        if self.handed_over or self.over:
            return
        deadline = time.monotonic() + QUIET_WAIT_SECS
        while not self.quiet() and time.monotonic() < deadline and not self.over:
            await asyncio.sleep(POLL_SECS)
        if self.over or self.handed_over:
            return
        self.handed_over = True
        if self.resumable:
            # Written before the stream closes: the server Twilio comes back to must find it.
            self._checkpoints.save()
            await self._store.run(self._store.call_interrupted, self.call_sid)
            METRICS.calls_handed_over.labels(outcome="resumable").inc()
            logger.info(f"{self.call_sid}: handed over to another server at {self._node_of()}")
        else:
            METRICS.calls_handed_over.labels(outcome="cut").inc()
            logger.warning(f"{self.call_sid}: cut by the restart (BOT_RESUME_GRACE_SECS=0: no server can resume it)")
        await self._worker.cancel()
