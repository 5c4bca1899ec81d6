"""What a caller may ask about the business, and the answers, always from the business file.

The owner writes the facts (``facts:`` in ``flows/<flow>.business.yaml``): one
short spoken answer per kind of question (address, parking, dietary options,
...) and any number of their own questions and answers. Opening hours are never
written there: they are said from ``hours`` and ``closed_dates``
(:meth:`bot.booking.business.Business.hours_said`, in :class:`HoursWords`).

:func:`answer_question` matches a caller's question to a fact by the words
callers use for each kind (:mod:`bot.dialogue.questions`) and,
for the owner's own questions, by fuzzy similarity (rapidfuzz). A question no
fact answers gets an honest "I don't know", never a guess.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rapidfuzz import fuzz

from bot.dialogue.questions import CUES, cue_scores

FAQ_MATCH = 75  # rapidfuzz token_set_ratio, 0-100, from which an owner's question counts as asked


class OwnerAnswer(BaseModel):
    """A question the owner expects, in a few of its phrasings, and what to say."""

    model_config = ConfigDict(extra="forbid")

    questions: list[str] = Field(min_length=1)
    answer: str

    @field_validator("questions")
    @classmethod
    def _worded(cls, questions: list[str]) -> list[str]:
        if any(not q.strip() for q in questions):
            raise ValueError("a question is empty")
        return questions


class HoursWords(BaseModel):
    """How the opening hours are said; {day}, {date} and {times} are filled in from ``hours`` and ``closed_dates``."""

    model_config = ConfigDict(extra="forbid")

    day: str = "On {day} we seat guests {times}."
    week: str = "We seat guests {times}."
    closed_day: str = "We're closed on {day}."
    closed_date: str = "We're closed {date}."


class FreeTimesWords(BaseModel):
    """How the line says what is still free on a day ("what times do you have on Friday?"); {day}, {first},
    {last} and {times} are filled in from the bookings, {day} as "on Friday the 4th of December"."""

    model_config = ConfigDict(extra="forbid")

    all_free: str = "{day}, we have tables free from {first} to {last}."
    some_free: str = "{day}, I can still offer {times}."
    none_free: str = "I'm sorry, we're fully booked {day}."
    which_day: str = "Tell me the day, and I'll check what's free."
    # Asked after the free times are said, instead of the question the bot was at.
    which_time: str = "What time would you like?"


class Facts(BaseModel):
    """The business's own answers, one short spoken sentence or two each; leave out what you don't want said."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    directions: str | None = None
    parking: str | None = None
    phone: str | None = None
    email: str | None = None
    dietary: str | None = None
    menu: str | None = None
    prices: str | None = None
    dress_code: str | None = None
    accessibility: str | None = None
    pets: str | None = None
    groups: str | None = None
    takeaway: str | None = None
    alcohol: str | None = None
    live_music: str | None = None
    children: str | None = None
    # The owner's own questions and answers, for anything above does not cover.
    more: list[OwnerAnswer] = []
    hours_words: HoursWords = HoursWords()
    free_times_words: FreeTimesWords = FreeTimesWords()
    # Said to a question no fact answers: never a guess.
    unknown: str = "I'm sorry, I don't know that. I can take a message for the team, and someone will call you back."

    @field_validator("*", mode="after")
    @classmethod
    def _not_blank(cls, value):
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: write the answer, or leave the fact out")
        return value


@dataclass(frozen=True)
class Answer:
    """What to say, and which fact said it (``hours``, ``parking``, ``more[2]``, or None when unknown)."""

    text: str
    fact: str | None


# Words every question has: they say nothing of what it is about ("do you have wifi" is "wifi").
_FUNCTION_WORDS = frozenset(
    "a an the is are am was were be do does did can could would will shall may might must have has had i we you "
    "they it he she me us my our your their its there here any some of to for in on at by with and or please "
    "tell know what whats where when how which who why if this that these those get got want like".split()
)


def _content(text: str) -> str:
    words = re.findall(r"[a-z]+", text.lower().replace("'s", ""))
    return " ".join(w.removesuffix("s") if len(w) > 3 else w for w in words if w not in _FUNCTION_WORDS)


def _owner_match(question: str, facts: Facts) -> tuple[int, float] | None:
    """The owner's question closest to the caller's by the words that carry meaning, if close enough."""
    asked = _content(question)
    if not asked:
        return None
    best: tuple[int, float] | None = None
    for i, entry in enumerate(facts.more):
        score = max(fuzz.token_set_ratio(asked, _content(q)) for q in entry.questions)
        if score >= FAQ_MATCH and (best is None or score > best[1]):
            best = (i, score)
    return best


# A general kind that a specific one shares words with ("do you serve vegan food?" is about dietary
# options, not the menu): when both match, only the specific one answers.
_GENERAL = {"menu": {"dietary", "alcohol", "children", "prices", "groups", "takeaway"}, "address": {"directions"}}
# Where a question asks a second thing: "the address and number?", "Is it pricey? Also, ..."
_CLAUSE = re.compile(r"[?.!;]+|\b(?:and|also|plus)\b", re.IGNORECASE)
MAX_FACTS = 2  # "what's the address and the phone number?" gets both; more would be a recital


def _scores_by_clause(question: str) -> Counter[str]:
    """Cue hits added up over the question's parts, a general kind dropped only from a part where a
    specific one is asked: "what food and liquor do they serve?" is about the menu and the bar."""
    total: Counter[str] = Counter()
    for clause in _CLAUSE.split(question):
        scores = cue_scores(clause)
        for general, specific in _GENERAL.items():
            if general in scores and specific & set(scores):
                del scores[general]
        total.update(scores)
    return total


def matching_facts(question: str, facts: Facts) -> list[str]:
    """Which facts a question is about, best first: kind names or ``more[i]``; empty when none."""
    owner = _owner_match(question, facts)
    scores = _scores_by_clause(question)
    if owner is not None and (owner[1] >= 90 or not scores):
        return [f"more[{owner[0]}]"]
    order = list(CUES)
    return sorted(scores, key=lambda kind: (-scores[kind], order.index(kind)))[:MAX_FACTS]


def _fact_text(fact: str, facts: Facts, hours: Callable[[], str]) -> str | None:
    if fact.startswith("more["):
        return facts.more[int(fact[5:-1])].answer
    if fact == "hours":
        return hours()
    return getattr(facts, fact) or (facts.address if fact == "directions" else None)


def answer_question(question: str, facts: Facts, hours: Callable[[], str]) -> Answer:
    """The answer to a caller's question; ``hours()`` says the opening hours (they are not a written fact)."""
    found = [(fact, text) for fact in matching_facts(question, facts) if (text := _fact_text(fact, facts, hours))]
    if not found:
        return Answer(facts.unknown, None)
    return Answer(" ".join(dict.fromkeys(text for _, text in found)), ", ".join(fact for fact, _ in found))
