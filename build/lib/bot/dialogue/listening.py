"""What the bot is listening for: a second hearing of a turn that lost a value.

A turn is heard again when the caller's words, as first transcribed, hold no
party size, day or time and that is what the bot asked for; or when they carry
a value's frame without its value ("... people" with no count, "in the after-oo"
with no time: a caller often gives the time while asked for the party size).
The local speech-to-text then decodes the same audio once more, primed with the
words such an answer is made of and a wider search
(:class:`bot.services.whisper_stt.LocalWhisperSTTService`). The second
transcript is kept only if it then holds the value, keeps every value and yes or
no the first held, and is not a recital of the primer: a model primed with a
list of words tends to read the list back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.dialogue import holding, parse, questions, repair
from bot.dialogue.engine import asked_for

# Words an answer to each question is made of (a vocabulary, not one answer: never "two people").
PRIMERS = {
    "party_size": "How many people? One, two, three, four, five, six, seven, eight people.",
    "date": "Which day? Today, tomorrow, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.",
    "time": "What time? Seven o'clock, half past, quarter past, quarter to, in the morning, in the afternoon, "
    "in the evening.",
}
# The values whose frame can outlive them in a mishearing, and how to tell.
FRAMES = {"time": repair.points_at_time, "party_size": repair.points_at_party_size}
RECITAL_ITEMS = 3  # this many short comma-separated items is the primer read back, not speech
_SLOTS = ("party_size", "date", "time")


def recited(text: str) -> bool:
    """Whether a transcript reads like a list of primer words ("Tuesday, Monday, Monday.")."""
    short = [item for item in text.split(",") if len(item.split()) <= 2]
    return len(short) >= RECITAL_ITEMS


@dataclass(frozen=True)
class Rehearing:
    """A second hearing to make: the value to listen for, and what the first hearing already held."""

    slot: str
    primer: str
    first: parse.Extraction


def _values(extraction: parse.Extraction) -> dict[str, Any]:
    return {slot: getattr(extraction, slot) for slot in _SLOTS}


@dataclass
class SecondHearing:
    """For one call: whether a turn deserves a second decode, with which primer, and whether to keep it."""

    messages: Callable[[], list[dict[str, Any]]]
    today: Callable[[], dt.date]

    def _extract(self, text: str) -> parse.Extraction:
        return parse.extract(holding.words_after_hold(text), self.today(), expecting=asked_for(self.messages()))

    def hear_again(self, first: str) -> Rehearing | None:
        """The second hearing ``first`` deserves, or None: for a question about the business or a request
        to wait (primed, "Hold on" may come back as "Four"), and for a turn with nothing lost in it."""
        if holding.is_hold_request(first) or questions.looks_like_question(first) or questions.is_repeat_request(first):
            return None
        found = self._extract(first)
        values = _values(found)
        # The words' own frame says best what was said ("in the after-oo" answers "how many?" with a time).
        lost = next((slot for slot, frame in FRAMES.items() if values[slot] is None and frame(first)), None)
        asked = asked_for(self.messages())
        if lost is None and asked in PRIMERS and found.yes_no is None and all(v is None for v in values.values()):
            lost = asked
        return Rehearing(lost, PRIMERS[lost], found) if lost else None

    def keeps(self, second: str, rehearing: Rehearing) -> bool:
        if recited(second):
            return False
        found = self._extract(second)
        held = _values(rehearing.first)
        return (
            getattr(found, rehearing.slot) is not None
            and all(getattr(found, slot) is not None for slot, value in held.items() if value is not None)
            and (rehearing.first.yes_no is None or found.yes_no == rehearing.first.yes_no)
        )
