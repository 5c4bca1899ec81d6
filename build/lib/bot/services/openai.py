"""OpenAI's LLM for a flow-driven phone line: the flow's fixed lines without a request, and guarded.

On the bot's own move (a call's start, or after a tool's result moved the flow
to its next node) the words are the flow file's: the node's ``Say:`` line, or
the answer to a caller's question, exactly as the dialogue engine would say
them (:func:`bot.dialogue.engine.bot_line`). Asking the model to say them
again would cost a second round trip per caller turn (first token ~350 ms)
for words that are already known, so they are spoken straight away; the model
is asked only on the caller's move, where it chooses the tool, or phrases a
reply when nothing fits, in one completion.

The guarded service has no client retries, a first-output budget per turn,
and garbage detection: any error it reports leaves it unusable for the rest
of the call, so the failover switcher (processors/fallbacks.py) moves the
turn to the dialogue engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pipecat.frames.frames import Frame, LLMTextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import FunctionCallFromLLM
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.utils.http import connection_limits

from bot.dialogue.engine import bot_line
from bot.services.errors import GiveUpOnError, LLMTurnFailed
from bot.services.http_client import per_event_loop


def _http_client() -> DefaultAsyncHttpxClient:
    # Pipecat's own pool limits for its OpenAI client: many streams at once, connections kept.
    limits = connection_limits(max_keepalive_connections=100, max_connections=1000, keepalive_expiry=None)
    return DefaultAsyncHttpxClient(limits=limits)


class FlowOpenAILLMService(OpenAILLMService):
    """OpenAI that speaks the flow's fixed lines itself and is asked only on the caller's move, over
    the worker's one HTTP client (bot/services/http_client.py)."""

    def create_client(self, api_key=None, base_url=None, organization=None, project=None, default_headers=None, **kwargs):
        return AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            http_client=per_event_loop("openai", _http_client),
            default_headers=default_headers,
        )

    async def _process_context(self, context: LLMContext):
        if line := bot_line([m for m in context.get_messages() if isinstance(m, dict)]):
            await self.start_ttfb_metrics()
            await self.stop_ttfb_metrics()
            await self._push_llm_text(line)
            return
        await super()._process_context(context)


class GuardedOpenAILLMService(GiveUpOnError, FlowOpenAILLMService):
    """OpenAI with no client retries, a first-output budget per turn, and garbage detection."""

    def __init__(self, *, turn_budget_secs: float, **kwargs):
        super().__init__(**kwargs)
        self._turn_budget_secs = turn_budget_secs
        self._deadline: asyncio.Timeout | None = None
        self._answered = False

    def create_client(self, *args, **kwargs):
        # Retrying a dead server is the caller's silence: the fallback answers instead.
        return super().create_client(*args, **kwargs).with_options(max_retries=0)

    def _got_output(self) -> None:
        self._answered = True
        if self._deadline is not None:
            self._deadline.reschedule(None)

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        if isinstance(frame, LLMTextFrame) and frame.text:
            self._got_output()
        await super().push_frame(frame, direction)

    async def run_function_calls(self, function_calls: Sequence[FunctionCallFromLLM]):
        unknown = [c.function_name for c in function_calls if not self.has_function(c.function_name)]
        if unknown:
            raise LLMTurnFailed(f"garbage tool call: unknown function {unknown[0]!r}")
        if function_calls:
            self._got_output()
        await super().run_function_calls(function_calls)

    async def _process_context(self, context: LLMContext):
        self._answered = False
        budget = self._turn_budget_secs
        try:
            async with asyncio.timeout(budget) as deadline:
                self._deadline = deadline
                await super()._process_context(context)
        except TimeoutError:
            if not self._answered:
                raise LLMTurnFailed(f"no answer within {budget:g} s") from None
            raise
        finally:
            self._deadline = None
        if not self._answered:
            # Invalid JSON arguments are dropped by Pipecat with a warning: nothing is left.
            raise LLMTurnFailed("garbage reply: no text and no valid tool call")


__all__ = ["FlowOpenAILLMService", "GuardedOpenAILLMService", "OpenAILLMService"]
