"""A caller who says nothing: asked once whether they are still there, then politely hung up on.

Pipecat's user aggregator reports ``on_user_turn_idle`` when the caller has
said nothing for ``user_idle_timeout`` after the bot stopped speaking
(``BOT_IDLE_SECS``); the timer starts again after each bot reply, so the
hang-up comes one more timeout after the prompt. Anything the caller says or
keys in starts the count again. The words are the business's (``line:`` in
``flows/*.business.yaml``).
"""

from __future__ import annotations

from loguru import logger
from pipecat.frames.frames import EndFrame, TTSSpeakFrame
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
)

from bot.booking.business import LineWords


class IdleCaller:
    def __init__(self, call_sid: str, words: LineWords, worker: PipelineWorker):
        self._call_sid = call_sid
        self._words = words
        self._worker = worker
        self._prompted = False

    def attach(self, aggregators: LLMContextAggregatorPair) -> None:
        @aggregators.user().event_handler("on_user_turn_started")
        async def on_user_turn_started(_aggregator, _strategy):
            self._prompted = False

        @aggregators.user().event_handler("on_user_turn_idle")
        async def on_user_turn_idle(_aggregator):
            if not self._prompted:
                self._prompted = True
                logger.info(f"{self._call_sid}: the caller is silent; asking if they are still there")
                await self._worker.queue_frame(TTSSpeakFrame(self._words.still_there))
                return
            logger.info(f"{self._call_sid}: the caller is still silent; ending the call")
            await self._worker.queue_frames([TTSSpeakFrame(self._words.no_answer), EndFrame()])
