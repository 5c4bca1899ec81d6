"""Turn a caller's words into one of the current node's tool calls.

Pure and deterministic: given what the caller said, the tools the flow offers
at this node (their JSON schemas, exactly as an LLM would see them) and the
value the bot just asked for, pick the tool whose arguments the utterance
fills best. Argument values come from :mod:`bot.dialogue.parse`; tools without
arguments (``transition_only`` ones) are matched by the intent their name
announces.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.dialogue import parse

# Intent words a tool's name can carry, and what callers say to mean them.
_INTENTS: dict[str, re.Pattern] = {
    intent: re.compile(pattern, re.IGNORECASE)
    for intent, pattern in {
        "book": r"\b(book|booking|reserv\w*|table)\b",
        "cancel": r"\b(cancel\w*|call (it )?off)\b",
        "change": r"\b(change|move|reschedule|modify|amend|update)\b",
        "human": r"\b(person|human|someone|somebody|staff|manager|operator|real|agent|transfer)\b",
        "end": r"^\W*(no|nope|nah)\W*$|\b(that'?s (all|it|everything)|nothing( else)?|good ?bye|bye|no,? thank(s| you)|all good|leave it)\b",
    }.items()
}
# Tool-name words that announce each intent.
_NAME_WORDS = {
    "book": {"book", "booking", "reserve", "reservation", "collect", "new"},
    "cancel": {"cancel"},
    "change": {"change", "modify", "reschedule", "move"},
    "human": {"human", "staff", "transfer", "handoff", "message", "operator"},
    "end": {"end", "goodbye", "finish", "hangup"},
}


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


def _extractors(extraction: parse.Extraction) -> dict[str, Callable[[], Any]]:
    """Argument name -> how to fill it from this utterance (None when absent)."""
    return {
        "party_size": lambda: extraction.party_size,
        "date": lambda: extraction.date.isoformat() if extraction.date else None,
        "time": lambda: extraction.time.strftime("%H:%M") if extraction.time else None,
        "name": lambda: extraction.name,
        "phone": lambda: extraction.phone,
        "confirmation_code": lambda: extraction.confirmation_code,
        "code": lambda: extraction.confirmation_code,
    }


def _property_type(schema: dict[str, Any]) -> str | None:
    if "type" in schema:
        return schema["type"]
    for option in schema.get("anyOf", []):
        if option.get("type") not in (None, "null"):
            return option["type"]
    return None


def _intents_of(tool_name: str) -> set[str]:
    words = set(tool_name.lower().split("_"))
    return {intent for intent, names in _NAME_WORDS.items() if words & names}


@dataclass(frozen=True)
class _Candidate:
    call: ToolCall
    score: float


def _candidate(
    tool: Any, extractors: dict[str, Callable[[], Any]], yes_no: bool | None, text: str
) -> _Candidate:
    """Score one tool: filled value arguments weigh most, a yes/no less, the intent least."""
    arguments: dict[str, Any] = {}
    score = 0.0
    for prop, schema in (tool.properties or {}).items():
        kind = _property_type(schema)
        if kind == "boolean":
            if yes_no is not None:
                arguments[prop] = yes_no
                score += 1
        elif prop in extractors:
            value = extractors[prop]()
            if value is not None:
                arguments[prop] = value
                score += 2
    if any(_INTENTS[i].search(text) for i in _intents_of(tool.name)):
        score += 0.5
    missing = [p for p in (tool.required or []) if p not in arguments]
    if missing:
        return _Candidate(ToolCall(tool.name, arguments), 0.0)
    return _Candidate(ToolCall(tool.name, arguments), score)


def choose_tool_call(
    text: str,
    tools: Sequence[Any],
    *,
    today: dt.date,
    expecting: str | None = None,
) -> ToolCall | None:
    """The tool call that best fits ``text``, or None when nothing fits (ask again)."""
    extraction = parse.extract(text, today, expecting=expecting)
    extractors = _extractors(extraction)
    candidates = [_candidate(tool, extractors, extraction.yes_no, text) for tool in tools]
    best = max(candidates, key=lambda c: c.score, default=None)
    if best is None or best.score <= 0:
        return None
    return best.call
