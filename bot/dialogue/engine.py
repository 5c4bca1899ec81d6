"""The offline dialogue engine: an LLM service that is driven by the flow, not a model.

It plugs in where the LLM goes and reads the same context a cloud LLM gets:
the node's task messages, its tools and their JSON schemas, the tool results
and the caller's words. On entering a node it speaks the node's
``Say: "..."`` line; on a caller turn it picks a tool call with
:func:`~bot.dialogue.understanding.choose_tool_call`, and when nothing fits it
says the flow's "did not understand" line and repeats the question.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import FunctionCallFromLLM, LLMService

from bot.services import unsampled_llm_settings
from bot.dialogue.understanding import ToolCall, choose_tool_call, tool_for_intent

_SAY = re.compile(r'\bSay:\s*"([^"]+)"')
_REPROMPT = re.compile(r'did not understand[^"]*?say:\s*"([^"]+)"', re.IGNORECASE)
_DEFAULT_REPROMPT = "Sorry, I didn't catch that."
# Failed tries at the same question before the caller is handed to a person.
MAX_MISUNDERSTANDINGS = 3


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


class DialogueEngineLLMService(LLMService):
    """A deterministic stand-in for the LLM that follows the flow file."""

    def __init__(self, *, clock: Callable[[], dt.datetime] = dt.datetime.now, **kwargs):
        super().__init__(
            settings=unsampled_llm_settings("dialogue-engine"),
            **kwargs,
        )
        self._clock = clock
        self._misunderstandings = 0

    def can_generate_metrics(self) -> bool:
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            await self.start_processing_metrics()
            await self.start_ttfb_metrics()
            try:
                await self._respond(frame.context)
            finally:
                await self.stop_ttfb_metrics()
                await self.stop_processing_metrics()
                await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)

    async def _respond(self, context: LLMContext) -> None:
        messages = [m for m in context.get_messages() if isinstance(m, dict)]
        caller_words = self._pending_caller_words(messages)
        if caller_words is None:
            await self._say(self._node_line(messages))
            return
        tools = getattr(context.tools, "standard_tools", None) or []
        call = choose_tool_call(
            caller_words, tools, today=self._clock().date(), expecting=self._expecting(messages)
        )
        if call is None:
            self._misunderstandings += 1
            human = tool_for_intent(tools, "human")
            if self._misunderstandings < MAX_MISUNDERSTANDINGS or human is None:
                logger.info(f"{self}: no tool fits {caller_words!r}; asking again")
                await self._say(f"{self._reprompt()} {self._node_line(messages)}")
                return
            logger.info(f"{self}: {MAX_MISUNDERSTANDINGS} failed tries; handing over to {human.name}")
            call = ToolCall(human.name, {})
        self._misunderstandings = 0
        logger.info(f"{self}: {caller_words!r} -> {call.name}({call.arguments})")
        await self.run_function_calls(
            [
                FunctionCallFromLLM(
                    context=context,
                    tool_call_id=f"call_{uuid.uuid4().hex[:12]}",
                    function_name=call.name,
                    arguments=call.arguments,
                )
            ]
        )

    async def _say(self, text: str) -> None:
        await self.stop_ttfb_metrics()
        await self._push_llm_text(text)

    @staticmethod
    def _pending_caller_words(messages: list[dict[str, Any]]) -> str | None:
        """What the caller said since the bot last acted, or None if it is the bot's move."""
        words: list[str] = []
        for message in reversed(messages):
            if message.get("role") != "user":
                break
            words.insert(0, _text_of(message))
        return (" ".join(words).strip() or None) if words else None

    @staticmethod
    def _node_line(messages: list[dict[str, Any]]) -> str:
        """The ``Say:`` line of the newest task message that has one."""
        for message in reversed(messages):
            if message.get("role") in ("system", "developer"):
                if found := _SAY.findall(_text_of(message)):
                    return found[-1]
        return ""

    @staticmethod
    def _expecting(messages: list[dict[str, Any]]) -> str | None:
        """The value the last tool result says the bot is now asking for."""
        for message in reversed(messages):
            if message.get("role") == "tool":
                try:
                    result = json.loads(_text_of(message))
                except ValueError:
                    return None
                return result.get("expecting") if isinstance(result, dict) else None
        return None

    def _reprompt(self) -> str:
        instruction = self._settings.system_instruction
        found = _REPROMPT.search(instruction) if isinstance(instruction, str) else None
        return found.group(1) if found else _DEFAULT_REPROMPT
