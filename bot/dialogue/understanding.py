"""Turn a caller's words into one of the current node's tool calls.

Pure and deterministic: given what the caller said, the tools the flow offers
at this node (their JSON schemas, exactly as an LLM would see them) and the
value the bot just asked for, pick the tool the utterance fits best.

- Value arguments (party size, date, time, name, code, special request) come
  from :mod:`bot.dialogue.parse`, by argument name; a boolean argument takes
  the caller's yes or no; a required free-text argument takes their words.
- A tool's name announces an intent (``cancel_booking`` → cancel,
  ``ask_for_human`` → human): a clear request for one of those wins over
  values, since "change it to eight" at the greeting means changing a booking.
- A question about the business (``answer_question``) is told from an answer
  by how it is put and the words it asks with (:mod:`bot.dialogue.questions`).
- Values are read from the words after any that ask the line to wait ("Hold
  on. Eight." is eight; :mod:`bot.dialogue.holding`); intents and questions
  from all of them ("Wait, no." at the read-back is no goodbye).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.dialogue import holding, parse, questions

# What callers say to mean each intent.
_INTENTS: dict[str, re.Pattern] = {
    intent: re.compile(pattern, re.IGNORECASE)
    for intent, pattern in {
        "book": r"\b(book(s|ed|ings?)?|reserv\w*|tables?|appointments?)\b",
        "cancel": r"\b(cancel\w*|call (it )?off)\b|"
        r"\b(can'?t|cannot|won'?t|will not|unable to|not going to|won'?t be able to) (make it|come|be coming)\b",
        "change": r"\b(change|move|reschedule|modify|amend|push|bring|shift|switch)\b.*\b(booking|reservation|table)\b|"
        r"\b(booking|reservation|booked)\b.*\b(change|move|reschedule|modify|amend|push|bring|shift|switch)\b|"
        r"\b(push|move|put|bring|shift) (it|that|the time|the booking|us) (back|forward|later|earlier)\b|"
        r"\b(make|change) it (to )?\S+ (instead|rather)\b|\breschedul\w*\b|"
        r"\binstead of\b|\b(later|earlier) than (planned|booked|we said|i said|arranged)\b|"
        r"\b(an?|one|two|half an?|\d+) (hours?|minutes?) (later|earlier)\b|"
        r"\b(come|arrive|get there|be there|turn up) (a bit |a little |slightly )?(later|earlier)\b|"
        r"\b(make|push|move|put|bring|shift) (it|that|us|(the|our|my) (time|booking|reservation|table)) "
        r"(a bit |a little |slightly )?(later|earlier)\b|"
        r"\b(add|\w+ (more|extra|fewer|less)) (\w+ )?(people|persons?|guests?|of us)\b|\bbring \w+ more\b",
        # "check my booking", not "check for a reservation" (whether there is a table: a new booking)
        "check": r"\b(check|confirm|remind me)\b.*\b(my|our|the) (booking|reservation)\b|\b(what time|when) is (my|our)\b",
        "human": r"\b(speak|talk) (to|with) (a |an |the |somebody|someone)|\b(human|operator|manager|receptionist|"
        r"real person|a person|member of staff|someone else)\b",
        "end": r"^\W*(no|nope|nah)\W*$|\b(that'?s (all|it|everything)|nothing( else)?|good ?bye|bye|"
        r"no,? thank(s| you)|all good|leave it)\b",
        "voicemail": r"\bvoice ?mail\b",
        # "We'll be 10 minutes late", "I'm running a bit late": not "a late dinner", "is 10 too late?"
        "late": r"(?:\b(?:running|run|be|being|are|am|is)|'re|'m|'s)\s+"
        r"(?:(?:a|an|about|around|maybe|probably|just|little|bit|few|couple|of|half|hour|hours|minutes?|mins?|\d+"
        r"|five|ten|fifteen|twenty|thirty|forty)\s+){0,4}late\b"
        r"(?!\s+(?:dinner|lunch|booking|table|seating|sitting|reservation|night|evening|one))"
        r"|\blate for (?:my|our|the) (?:booking|reservation|table)\b",
    }.items()
}
_BARE_NO = re.compile(r"^\W*(no|nope|nah)\W*$", re.IGNORECASE)
# Tools that start on a booking already made are chosen only when the caller asks for that (a new booking's
# values fit them too); a confirmation (confirm_cancel) needs only its yes or no.
_EXISTING_BOOKING_INTENTS = frozenset(("change", "cancel", "check"))
# Tool-name words that announce each intent.
_NAME_WORDS = {
    "book": {"book", "booking", "reserve", "reservation", "collect", "new"},
    "cancel": {"cancel"},
    "change": {"change", "modify", "reschedule", "move"},
    "check": {"check", "lookup"},
    "human": {"human", "staff", "transfer", "handoff", "person"},
    "end": {"end", "goodbye", "finish", "hangup"},
    "voicemail": {"voicemail"},
    "question": {"question"},
    "late": {"late"},
    "unclear": {"unclear"},
}
# Tools for a caller's answer that was not understood (name_unclear): the engine calls them itself, never
# from the caller's words (bot/dialogue/engine.py).
_NOT_FROM_WORDS = frozenset(("unclear",))
# Tools that take the caller's words as they come (a message) are for those who say what they are for.
_ONLY_WHEN_SAID = frozenset(("late",))
# "Bye, can I speak to a manager?": asking for something beats the farewell.
_INTENT_WEIGHT = {"book": 0.5, "end": 2.9}
# A question about the business outweighs a value it names ("what time do you close on Friday?"
# is not a booking for Friday); a question with no cue word only beats a turn that fits nothing else.
_QUESTION_WEIGHT = 3.0
_VAGUE_QUESTION_WEIGHT = 0.4
_FREE_TIMES_WEIGHT = 10.0  # above any values said with it
_BOOKING_WORD_DISCOUNT = 2.0
_MENDABLE = ("party_size", "date", "time")
# "The name is nothing, please" is a misheard name, not "nothing else" said to end the call.
_NAME_GIVEN = re.compile(r"\b(?:my|the|her|his) name\b", re.IGNORECASE)  # the values bot/dialogue/repair.py mends
# Argument names filled with the caller's own words when the tool requires them.
_FREE_TEXT = {"reason", "message", "details", "request", "notes", "note"}


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
        "special_request": lambda: extraction.special_request,
        "later_by_minutes": lambda: extraction.time_shift,
        "more_people": lambda: extraction.party_shift,
        "from_date": lambda: extraction.moved_from.isoformat() if extraction.moved_from else None,
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


def _question_call(tool: Any, extraction: parse.Extraction, text: str, has_values: bool) -> tuple[float, ToolCall]:
    """A question about the business, passed on in the caller's words (with the day it names).

    "Can you book me a table for 7 pm?" is put as a question but asks for a booking: a booking word
    takes most of a question's weight, so only a question about something else still wins."""
    arguments: dict[str, Any] = {"question": text.strip()}
    if extraction.date and "date" in (tool.properties or {}):
        arguments["date"] = extraction.date.isoformat()
    if extraction.party_size and "party_size" in (tool.properties or {}):
        arguments["party_size"] = extraction.party_size
    if not questions.looks_like_question(text, gives_values=has_values):
        return 0.0, ToolCall(tool.name, arguments)
    # "What times do you have on Friday for 4?": its values are for the answer. With a time in it
    # ("anything available at 7?") it asks for that table: a booking, checked as one.
    if questions.asks_free_times(text) and extraction.time is None:
        return _FREE_TIMES_WEIGHT, ToolCall(tool.name, arguments)
    hits = sum(questions.cue_scores(text).values())
    score = _QUESTION_WEIGHT + 0.5 * min(hits, 2) if hits else _VAGUE_QUESTION_WEIGHT
    if _INTENTS["book"].search(text):
        score -= _BOOKING_WORD_DISCOUNT
    return score, ToolCall(tool.name, arguments)


def _greeting_misheard(text: str) -> bool:
    """ "Bye. I'd like a reservation for ...": a farewell that opens a request for a booking is a greeting
    misheard ("Hi", "Fine"), not the end of the call; "Goodbye, and thanks for the reservation" ends it."""
    farewell, booking = _INTENTS["end"].search(text), _INTENTS["book"].search(text)
    if not (farewell and booking and booking.start() > farewell.end()) or re.search(r"\w", text[: farewell.start()]):
        return False
    return not re.search(r"\bthank", text[farewell.end():], re.IGNORECASE)


def _score(
    tool: Any,
    extractors: dict[str, Callable[[], Any]],
    yes_no: bool | None,
    text: str,
    has_values: bool,
    unsure: bool = False,
    answers_yes_no: bool = False,
) -> tuple[float, ToolCall]:
    """Values weigh 2 each (a special request 1.5), a yes/no 1, an intent 3 ("book" only 0.5);
    0 if a required argument is missing."""
    if _intents_of(tool.name) & _NOT_FROM_WORDS:
        return 0.0, ToolCall(tool.name, {})
    arguments: dict[str, Any] = {}
    score = 0.0
    required = set(tool.required or [])
    for prop, schema in (tool.properties or {}).items():
        if prop == "unsure":  # set below from how the words were read, never from a yes or no
            continue
        kind = _property_type(schema)
        if kind == "boolean":
            if yes_no is not None:
                arguments[prop] = yes_no
                score += 1
        elif prop in extractors:
            if (value := extractors[prop]()) is not None:
                arguments[prop] = value
                score += 1.5 if prop == "special_request" else 2
        elif prop in required and prop in _FREE_TEXT and kind == "string" and text.strip():
            arguments[prop] = text.strip()
            score += 1
    intents = _intents_of(tool.name)
    said = {intent for intent in intents if _INTENTS[intent].search(text)}
    if not required and intents & _EXISTING_BOOKING_INTENTS and not said & _EXISTING_BOOKING_INTENTS:
        return 0.0, ToolCall(tool.name, arguments)
    if intents & _ONLY_WHEN_SAID and not said:
        return 0.0, ToolCall(tool.name, arguments)
    for intent in said:
        # "No thanks, not now. Can you book me 7 pm?": a farewell beside booking values is not one.
        # "Yes, that's everything" to "Shall I book it?" agrees: the booking comes first.
        if intent == "end" and (
            has_values or _NAME_GIVEN.search(text) or (answers_yes_no and (yes_no or _BARE_NO.match(text)))
            or _greeting_misheard(text)
        ):
            continue
        score += _INTENT_WEIGHT.get(intent, 3)
    if required - set(arguments):
        return 0.0, ToolCall(tool.name, arguments)
    if unsure and "unsure" in (tool.properties or {}) and any(k in arguments for k in _MENDABLE):
        arguments["unsure"] = True  # a value read from mended words is checked with the caller
    return score, ToolCall(tool.name, arguments)


def choose_tool_call(
    text: str,
    tools: Sequence[Any],
    *,
    today: dt.date,
    expecting: str | None = None,
) -> ToolCall | None:
    """The tool call that best fits ``text``, or None when nothing fits (ask again)."""
    extraction = parse.extract(holding.words_after_hold(text), today, expecting=expecting)
    extractors = _extractors(extraction)
    has_values = any(v is not None for v in (extraction.party_size, extraction.date, extraction.time))
    # "No." to "Shall I book it?" declines; it is a goodbye only where no tool needs a yes or no.
    answers_yes_no = any(
        _property_type(schema) == "boolean" and prop in (tool.required or [])
        for tool in tools
        for prop, schema in (tool.properties or {}).items()
    )
    unsure = extraction.mended and not extraction.correction
    scored = [
        _question_call(tool, extraction, text, has_values) if "question" in _intents_of(tool.name)
        # A correction's mended value is heard in the read-back that follows it; any other is checked first.
        else _score(tool, extractors, extraction.yes_no, text, has_values, unsure, answers_yes_no)
        for tool in tools
    ]
    best = max(scored, key=lambda s: s[0], default=None)
    if best is None or best[0] <= 0:
        return None
    return best[1]


def tool_for_intent(tools: Sequence[Any], intent: str) -> Any | None:
    """The node's tool that announces ``intent`` (e.g. "human"), if any."""
    return next((t for t in tools if intent in _intents_of(t.name) and not (t.required or [])), None)
