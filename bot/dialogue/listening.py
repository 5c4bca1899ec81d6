"""What the bot is listening for: a second hearing of a turn that gave nothing for the value just asked.

When the caller's words, as first transcribed, hold no party size, day or time
and that is what the bot asked for, the local speech-to-text decodes the same
audio once more, primed with the words such an answer is made of and a wider
search (:class:`bot.services.whisper_stt.LocalWhisperSTTService`). The second
transcript is kept only if it then holds the value and is not a recital of the
primer: a model primed with a list of words tends to read the list back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.dialogue import holding, parse, questions
from bot.dialogue.engine import asked_for

# Words an answer to each question is made of (a vocabulary, not one answer: never "two people").
PRIMERS = {
    "party_size": "How many people? One, two, three, four, five, six, seven, eight people.",
    "date": "Which day? Today, tomorrow, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.",
    "time": "What time? Seven o'clock, half past, quarter past, quarter to, in the morning, in the afternoon, "
    "in the evening.",
}
RECITAL_ITEMS = 3  # this many short comma-separated items is the primer read back, not speech


def _value(text: str, slot: str, today: dt.date) -> Any:
    extraction = parse.extract(holding.words_after_hold(text), today, expecting=slot)
    return {"party_size": extraction.party_size, "date": extraction.date, "time": extraction.time}[slot]


def recited(text: str) -> bool:
    """Whether a transcript reads like a list of primer words ("Tuesday, Monday, Monday.")."""
    short = [item for item in text.split(",") if len(item.split()) <= 2]
    return len(short) >= RECITAL_ITEMS


@dataclass
class SecondHearing:
    """For one call: whether a turn deserves a second decode, with which primer, and whether to keep it."""

    messages: Callable[[], list[dict[str, Any]]]
    today: Callable[[], dt.date]

    def primer_for(self, first: str) -> str | None:
        """The primer for a second hearing, or None when the first was an answer of another kind: a
        question about the business, a yes or no, another of the booking's values, or a request to wait
        (primed, "Hold on" may come back as "Four")."""
        slot = asked_for(self.messages())
        if slot not in PRIMERS or holding.is_hold_request(first) or questions.looks_like_question(first):
            return None
        found = parse.extract(holding.words_after_hold(first), self.today(), expecting=slot)
        if found.yes_no is not None or any(v is not None for v in (found.party_size, found.date, found.time)):
            return None
        return PRIMERS[slot]

    def keeps(self, second: str) -> bool:
        slot = asked_for(self.messages())
        return slot in PRIMERS and not recited(second) and _value(second, slot, self.today()) is not None
