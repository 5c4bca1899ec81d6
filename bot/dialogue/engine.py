"""The offline dialogue engine: an LLM service that is driven by the flow, not a model.

It plugs in where the LLM goes and reads the same context a cloud LLM gets:
the node's task messages, its tools and their JSON schemas, the tool results
and the caller's words. On entering a node it speaks the node's
``Say: "..."`` line; on a caller turn it picks a tool call with
:func:`~bot.dialogue.understanding.choose_tool_call`, and when nothing fits it
says the flow's "did not understand" line and repeats the question. A caller
who asks it to wait ("Hold on") hears the flow's words for that and nothing
more: the question still stands for their next turn.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from pipecat.turns.empty_user_turn import DEFAULT_EMPTY_USER_TURN_INTERRUPTED_PROMPT

from bot.dialogue.holding import is_back, is_hold_request
from bot.dialogue.questions import is_presence_check, is_repeat_request
from bot.dialogue.understanding import ToolCall, choose_tool_call, tool_for_intent
from bot.flowfile.syntax import AGAIN_LINE, SAY_LINE
from bot.services import unsampled_llm_settings

# The cases the flow's role message gives words for (after 'say:'), and the words used without them.
_REPROMPT = (re.compile(r'did not understand[^"]*?say:\s*"([^"]+)"', re.IGNORECASE), "Sorry, I didn't catch that.")
_STILL_HERE = (
    re.compile(r'checks you are there[^"]*?(?:"[^"]*"[^"]*?)*?say:\s*"([^"]+)"', re.IGNORECASE),
    "Yes, I'm here.",
)
_TAKE_YOUR_TIME = (
    re.compile(r'asks you to wait[^"]*?(?:"[^"]*"[^"]*?)*?say:\s*"([^"]+)"', re.IGNORECASE),
    "Of course, take your time.",
)
# Failed tries at the same question before the caller is handed to a person.
MAX_MISUNDERSTANDINGS = 3
# Requests to wait at one question that are granted without counting as a failed try ("Hold on", then "just
# one more second"); later ones count, so a line that only ever hears "wait" still ends in a hand-off.
FREE_HOLDS = 2


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


@dataclass(frozen=True)
class Move:
    """The engine's answer to a context: words to say, or a tool to call."""

    say: str | None = None
    call: ToolCall | None = None


def next_move(
    messages: list[dict[str, Any]], tools: Sequence[Any], *, today: dt.date, instruction: str | None
) -> Move:
    """What the flow-driven engine does next, from the context alone (no state of its own).

    On the bot's move it says the node's ``Say:`` line. On the caller's it
    calls the tool that fits their words; when none fits it asks again, and
    after :data:`MAX_MISUNDERSTANDINGS` failed tries in a row it calls the
    node's hand-off tool. The failed tries are counted from the context, so a
    cloud LLM stand-in can answer exactly as the engine would
    (:mod:`bot.standins.flow_host`).
    """
    caller_words = _pending_caller_words(messages)
    if caller_words is None:
        return Move(say=bot_line(messages))
    # "Sorry?": the caller did not hear the bot, who says it again word for word (no failed try).
    if is_repeat_request(caller_words) and (last := _last_said(messages)):
        logger.info(f"dialogue engine: {caller_words!r} asks to hear it again; repeating")
        return Move(say=last)
    # Told apart first: the words of a request to wait read as values ("Wait." as eight, "one moment" as one).
    holding = is_hold_request(caller_words)
    call = None if holding else choose_tool_call(caller_words, tools, today=today, expecting=asked_for(messages))
    if call is not None:
        logger.debug(f"dialogue engine: {caller_words!r} -> {call.name}({call.arguments})")
        return Move(call=call)
    # A voicemail, where the flow offers one, needs nothing more understood from the caller.
    handoff = tool_for_intent(tools, "voicemail") or tool_for_intent(tools, "human")
    free = _free_turn(messages)
    if failed_tries(messages) + (0 if free else 1) < MAX_MISUNDERSTANDINGS or handoff is None:
        if holding:
            logger.info(f"dialogue engine: {caller_words!r} asks to wait; waiting")
            return Move(say=_instructed(_TAKE_YOUR_TIME, instruction))
        if free == "back":  # asked again as it would have been, with no "didn't catch that"
            logger.info(f"dialogue engine: {caller_words!r}: back after a wait; asking again")
            return Move(say=_ask_again(messages))
        checking_line = is_presence_check(caller_words)
        # A node may say what follows an answer it did not understand (name_unclear: book under the number).
        if not checking_line and (unclear := tool_for_intent(tools, "unclear")):
            logger.info(f"dialogue engine: no tool fits {caller_words!r}; calling {unclear.name}")
            return Move(call=ToolCall(unclear.name, {}))
        logger.info(f"dialogue engine: no tool fits {caller_words!r}; asking again")
        lead = _instructed(_STILL_HERE if checking_line else _REPROMPT, instruction)
        return Move(say=_ask_again(messages, lead))
    logger.info(f"dialogue engine: {MAX_MISUNDERSTANDINGS} failed tries; handing over to {handoff.name}")
    return Move(call=ToolCall(handoff.name, {}))


def bot_line(messages: list[dict[str, Any]]) -> str | None:
    """What the bot says on its own move (no caller words pending), from the flow alone: the node's
    ``Say:`` line, its next ``Again:`` line when that was just said, or the answer to a question and the
    last ``Again:`` line. None when it is the caller's move; "" when the node has no line."""
    if _pending_caller_words(messages) is not None:
        return None
    if (answer := _answer_given(messages)) is not None:
        # An answer that asks its own question ("... What time would you like?") is said alone.
        asks_its_own = "expecting" in (_tool_result(messages[-1]) or {})
        return answer if asks_its_own else f"{answer} {_after_an_answer(messages)}"
    line = _node_line(messages)
    # Back at the same question (the caller gave something else): asked again in other words.
    return _ask_again(messages) if line and line == _last_said(messages) else line


def _last_said(messages: list[dict[str, Any]]) -> str | None:
    """The bot's last words to the caller."""
    for message in reversed(messages):
        if message.get("role") == "assistant" and not message.get("tool_calls") and (text := _text_of(message)):
            return text.strip()
    return None


def _pending_caller_words(messages: list[dict[str, Any]]) -> str | None:
    """What the caller said since the bot last acted, or None if it is the bot's move."""
    words: list[str] = []
    for message in reversed(messages):
        # Pipecat's note that speech which cut the bot off was not heard: the caller's words before it
        # (their turn ended, then they went on before the bot said anything) still wait for an answer.
        if message.get("role") == "developer" and _text_of(message) == DEFAULT_EMPTY_USER_TURN_INTERRUPTED_PROMPT:
            continue
        if message.get("role") != "user":
            break
        words.insert(0, _text_of(message))
    return (" ".join(words).strip() or None) if words else None


def failed_tries(messages: list[dict[str, Any]]) -> int:
    """Caller turns answered with "say that again" since the last tool call (the pending turn excluded);
    the first :data:`FREE_HOLDS` requests to wait, a caller's "I'm back" after one, and a caller asking to
    hear the bot again ("Sorry?") are not among them."""
    return _unanswered_turns(messages)[0]


def asked_to_wait(messages: list[dict[str, Any]]) -> bool:
    """Whether the caller's newest turn asked the line to wait."""
    said = next((_text_of(m) for m in reversed(messages) if m.get("role") == "user"), None)
    return said is not None and is_hold_request(said)


def is_free_turn(messages: list[dict[str, Any]]) -> bool:
    """Whether the caller's pending turn, if nothing understands it, is no failed try: a request to wait
    that is granted, or "I'm back" after one."""
    return _free_turn(messages) is not None


def _free_turn(messages: list[dict[str, Any]]) -> str | None:
    """"hold" or "back" when the caller's pending turn is one of those free turns, else None."""
    words = _pending_caller_words(messages)
    if words is None:
        return None
    _, holds, held = _unanswered_turns(messages)
    if is_hold_request(words) and holds < FREE_HOLDS:
        return "hold"
    return "back" if held and is_back(words) else None


def _unanswered_turns(messages: list[dict[str, Any]]) -> tuple[int, int, bool]:
    """Since the last tool call (the pending turn excluded): the failed tries, the requests to wait granted
    without counting as one, and whether the caller's last turn asked the line to wait."""
    tries = holds = 0
    held = False
    for i, (previous, message) in enumerate(zip(messages, messages[1:]), 1):
        if message.get("role") == "tool":
            tries = holds = 0
            held = False
        elif previous.get("role") == "user" and message.get("role") == "assistant" and not message.get("tool_calls"):
            # The caller's whole turn, as it was answered (it may be more than one message).
            words = _pending_caller_words(messages[:i]) or ""
            if holds < FREE_HOLDS and is_hold_request(words):
                holds += 1
            elif not (held and is_back(words)) and not is_repeat_request(words):
                tries += 1
            held = is_hold_request(words)
    return tries, holds, held


def _newest_line(messages: list[dict[str, Any]], pattern: re.Pattern[str]) -> str | None:
    for message in reversed(messages):
        if message.get("role") in ("system", "developer"):
            if found := pattern.findall(_text_of(message)):
                return found[-1]
    return None


def _node_line(messages: list[dict[str, Any]]) -> str:
    """The ``Say:`` line of the newest task message that has one."""
    return _newest_line(messages, SAY_LINE) or ""


def _again_lines(messages: list[dict[str, Any]]) -> list[str]:
    """The ``Again:`` lines of the newest task message that has any, in the order written."""
    for message in reversed(messages):
        if message.get("role") in ("system", "developer") and (found := AGAIN_LINE.findall(_text_of(message))):
            return list(dict.fromkeys(found))
    return []


def _ways_to_ask_again(messages: list[dict[str, Any]]) -> list[str]:
    """How the node asks again after a caller turn it did not understand, in turn: its ``Again:`` lines.
    A node with one alternates it with its ``Say:`` line; a node with none repeats its ``Say:`` line."""
    again = _again_lines(messages)
    return again if len(again) >= 2 else list(dict.fromkeys([*again, _node_line(messages)]))


def _after_an_answer(messages: list[dict[str, Any]]) -> str:
    """How the node asks its question again once a caller's question is answered: its last ``Again:`` line
    (the first ones help a caller who was not understood)."""
    return (_again_lines(messages) or [_node_line(messages)])[-1]


def _ask_again(messages: list[dict[str, Any]], lead: str = "") -> str:
    """``lead`` and the node's way of asking again after the one last said (the first when none of them
    was), so a question is never repeated word for word."""
    replies = [f"{lead} {way}".strip() for way in _ways_to_ask_again(messages)]
    last = _last_said(messages) or ""
    # A reply may have been said with more after it (the keypad offer): it still counts as said.
    said = [i for i, reply in enumerate(replies) if last == reply or last.startswith(f"{reply} ")]
    return replies[(said[-1] + 1) % len(replies) if said else 0]


def _tool_result(message: dict[str, Any]) -> dict[str, Any] | None:
    try:
        result = json.loads(_text_of(message))
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def _answer_given(messages: list[dict[str, Any]]) -> str | None:
    """The answer to the caller's question, when the newest message is answer_question's result."""
    if not messages or messages[-1].get("role") != "tool":
        return None
    result = _tool_result(messages[-1]) or {}
    return result.get("answer") if isinstance(result.get("answer"), str) else None


def asked_for(messages: list[dict[str, Any]]) -> str | None:
    """The value the last tool result says the bot is now asking for."""
    for message in reversed(messages):
        if message.get("role") == "tool":
            result = _tool_result(message)
            if result is not None and "answer" in result and "expecting" not in result:
                continue  # a question answered on the way: the bot still asks what it asked before
            return result.get("expecting") if result is not None else None
    return None


def _instructed(words: tuple[re.Pattern[str], str], instruction: str | None) -> str:
    """The words the flow's instruction gives for a case (_REPROMPT, _STILL_HERE, _TAKE_YOUR_TIME), else the
    default."""
    pattern, default = words
    found = pattern.search(instruction) if isinstance(instruction, str) else None
    return found.group(1) if found else default


class DialogueEngineLLMService(LLMService):
    """A deterministic stand-in for the LLM that follows the flow file."""

    def __init__(self, *, clock: Callable[[], dt.datetime] = dt.datetime.now, **kwargs):
        super().__init__(
            settings=unsampled_llm_settings("dialogue-engine"),
            **kwargs,
        )
        self._clock = clock

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
        tools = getattr(context.tools, "standard_tools", None) or []
        move = next_move(
            messages, tools, today=self._clock().date(), instruction=self._settings.system_instruction
        )
        if move.call is None:
            await self.stop_ttfb_metrics()
            await self._push_llm_text(move.say or "")
            return
        await self.run_function_calls(
            [
                FunctionCallFromLLM(
                    context=context,
                    tool_call_id=f"call_{uuid.uuid4().hex[:12]}",
                    function_name=move.call.name,
                    arguments=move.call.arguments,
                )
            ]
        )
