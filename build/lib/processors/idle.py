"""A caller who says nothing: asked once whether they are still there, then politely hung up on.

Pipecat's user aggregator reports ``on_user_turn_idle`` when the caller has
said nothing for ``user_idle_timeout`` after the bot stopped speaking
(``BOT_IDLE_SECS``); the timer starts again after each bot reply, so the
hang-up comes one more timeout after the prompt. Anything the caller says or
keys in starts the count again. A caller who last asked the line to wait
("Hold on, let me check with my wife") is given one more timeout before the
prompt, as a host would. The words are the business's (``line:`` in
``flows/*.business.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable

from loguru import logger
from pipecat.frames.frames import EndFrame, TTSSpeakFrame, UserIdleTimeoutUpdateFrame
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
)

from bot.booking.business import LineWords


class IdleCaller:
    def __init__(
        self,
        call_sid: str,
        words: LineWords,
        worker: PipelineWorker,
        *,
        idle_secs: float,
        on_hold: Callable[[], bool] = lambda: False,
    ):
        self._call_sid = call_sid
        self._idle_secs = idle_secs
        self._words = words
        self._worker = worker
        self._on_hold = on_hold  # the caller's last turn asked the line to wait
        self._prompted = False
        self._waited = False

    def attach(self, aggregators: LLMContextAggregatorPair) -> None:
        @aggregators.user().event_handler("on_user_turn_started")
        async def on_user_turn_started(_aggregator, _strategy):
            self._prompted = self._waited = False

        @aggregators.user().event_handler("on_user_turn_idle")
        async def on_user_turn_idle(_aggregator):
            await self.on_idle()

    async def on_idle(self) -> None:
        """The caller has been silent for one more timeout."""
        if not self._waited and self._on_hold():
            self._waited = True
            logger.info(f"{self._call_sid}: the caller asked to wait; waiting one more timeout")
            # Pipecat's idle timer runs once per bot reply; this arms it again with no reply.
            await self._worker.queue_frame(UserIdleTimeoutUpdateFrame(timeout=self._idle_secs))
            return
        if not self._prompted:
            self._prompted = True
            logger.info(f"{self._call_sid}: the caller is silent; asking if they are still there")
            await self._worker.queue_frame(TTSSpeakFrame(self._words.still_there))
            return
        logger.info(f"{self._call_sid}: the caller is still silent; ending the call")
        await self._worker.queue_frames([TTSSpeakFrame(self._words.no_answer), EndFrame()])
