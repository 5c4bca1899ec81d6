"""A cloud LLM that follows the flow: an OpenAI stand-in responder for load tests and demos.

It reads a Chat Completions request exactly as the model would (the flow's
system prompt with today's date in it, the node's task messages, the tools'
JSON schemas, the conversation) and answers with the dialogue engine's move
(:func:`bot.dialogue.engine.next_move`): a tool call on the caller's turn,
the node's line otherwise. So a call through the cloud LLM path books the
same tables as one through the embedded engine, with the stand-in's network
timing in between.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

from bot.dialogue.engine import next_move
from bot.standins.openai_chat import Reply, ToolCall

# The flow's role message says "Today is Tuesday the 24th of November, 2026."
_TODAY = re.compile(r"Today is \w+ the (\d+)\w\w of (\w+), (\d{4})")


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def today_in(messages: list[dict[str, Any]]) -> dt.date:
    """Today's date as the system prompt states it (the call's clock), else the host's."""
    for message in messages:
        if message.get("role") in ("system", "developer") and (found := _TODAY.search(_text(message))):
            day, month, year = found.groups()
            return dt.datetime.strptime(f"{day} {month} {year}", "%d %B %Y").date()
    return dt.date.today()


def _schema(tool: dict[str, Any]) -> FunctionSchema:
    function = tool["function"]
    parameters = function.get("parameters") or {}
    return FunctionSchema(
        name=function["name"],
        description=function.get("description", ""),
        properties=parameters.get("properties", {}),
        required=parameters.get("required", []),
    )


def flow_host(request: dict[str, Any]) -> Reply:
    """Answer one Chat Completions request as the flow-driven engine would."""
    messages = [m for m in request.get("messages", []) if isinstance(m, dict)]
    tools = [_schema(t) for t in request.get("tools") or [] if t.get("type") == "function"]
    instruction = " ".join(_text(m) for m in messages if m.get("role") in ("system", "developer"))
    move = next_move(messages, tools, today=today_in(messages), instruction=instruction)
    if move.call is not None:
        return Reply(tool_calls=(ToolCall(move.call.name, move.call.arguments),))
    return Reply(text=move.say or "")
