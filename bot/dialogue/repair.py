"""Misheard words mended against the words the bot is listening for.

Speech-to-text on a phone line mishears the very words a booking turns on:
"for two" comes back as "for you", "Wednesday" as "Wensday", "seven o'clock"
as "seven this rock". When the caller's turn gives nothing for the value the
bot just asked for, the words that could be that value are compared with the
slot's vocabulary (numbers, weekdays and months, the words of a clock time)
by how they sound (jellyfish's Metaphone) and how they are spelled
(rapidfuzz), and the closest near-enough word takes their place. Only the slot
asked for is repaired, and only when its first reading found nothing, so a
clear answer is never second-guessed.
"""

from __future__ import annotations

import re

import jellyfish
from rapidfuzz import fuzz

NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
DAYS = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "tonight", "tomorrow",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december",
)
PARTS_OF_DAY = ("morning", "afternoon", "evening", "night")
# The words of a clock time past the hour: "seven thirty" is a time, never "seven thursday".
MINUTE_WORDS = ("oh", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
                "thirty", "forty", "fifty", "quarter", "half", "past", "noon", "midnight", "o'clock", "oclock")
# Words that are what they sound like: never replaced ("for" stays a preposition, "then" an adverb).
_KEEP = frozenset(
    "a an the and or of for to too at on in is it its i we me my our us you your be are was this that there "
    "people persons guests please thanks thank yes no name table book booking reservation "
    # Ordinary words of real callers' lines (SGD) that sound like a day or a part of the day.
    "number sound sounds right might friend friends friendly total after everything mountain marshall"
    # and of other callers' ("there's four of us" is no Thursday, "totally" no today)
    " theres totally marching junior janitor apron"
    # ordinals are read as dates as they are ("the third"), never mended into a weekday
    " first second third fourth fifth sixth seventh eighth ninth tenth".split()
)
_OTHER_SLOTS = frozenset((*NUMBERS, *MINUTE_WORDS, *DAYS, *PARTS_OF_DAY))  # a word of one slot is never mended into another
SOUND_MATCH = 0.85  # Jaro-Winkler similarity of the Metaphone codes
CLOSE_SPELLING = 0.8  # rapidfuzz ratio / 100: spelled nearly the same
LOOSE_SPELLING = 0.55  # ... and enough alike, when it also sounds the same
_HEADCOUNT_NOUNS = "(?:people|persons|guests|of us)"
_HEADCOUNT_CONTEXT = re.compile(
    # "or"/"the" are "for" misheard too ("that's the few people", "or do people": "for two people").
    rf"(?:\b(?:for|four|of|or|the|are|be|party|table|just) |^\W*)(?P<word>[a-z]+)(?=,? {_HEADCOUNT_NOUNS}\b)|"
    r"^\W*(?:(?:um|uh|er|so|ok|okay|oh|just|it's|we are|we're) )*(?P<bare>[a-z]+)\W*$"
)
# "for N" run together: "42 people" is for 2 (no phone booking is for 40 to 49), "40 people" for two heard as
# "forty", "before people" for four, "between people" for two.
_RUN_TOGETHER = (
    (re.compile(r"\b4(?P<n>[1-9]) (?:people|persons|guests)\b"), lambda m: f"for {m['n']} people"),
    (re.compile(r"\b40(?= (?:people|persons|guests)\b)"), lambda m: "for two"),
    (re.compile(r"\bbefore(?=,? (?:people|persons|guests)\b)"), lambda m: "for four"),
    (re.compile(r"\bbetween(?=,? (?:people|persons|guests)\b)"), lambda m: "for two"),
)
_OCLOCK = re.compile(r"\b(?P<n>\d{1,2}|" + "|".join(NUMBERS) + r")\s+(?:this|a|the|of|o|oh|uh)?\s*(?:clock|lock|rock|clark|clog|glock)\b", re.I)


def _closest(word: str, vocabulary: tuple[str, ...], *, min_sound_code: int = 3) -> str | None:
    """The vocabulary word ``word`` most likely is: one spelled nearly the same, or one that sounds the
    same and is spelled alike enough. Short words sound alike too easily ("whats" and "Wednesday"), so
    a sound match needs a Metaphone code of at least ``min_sound_code`` letters."""
    word = word.lower()
    if word in vocabulary or word in _KEEP or word in _OTHER_SLOTS or len(word) < 2:
        return None
    code = jellyfish.metaphone(word)
    best, best_score = None, 0.0
    for candidate in vocabulary:
        spelling = fuzz.ratio(word, candidate) / 100
        sound = jellyfish.jaro_winkler_similarity(code, jellyfish.metaphone(candidate)) if len(code) >= min_sound_code else 0
        near = spelling >= CLOSE_SPELLING or (sound >= SOUND_MATCH and spelling >= LOOSE_SPELLING)
        if near and spelling + sound > best_score:
            best, best_score = candidate, spelling + sound
    return best


# How the short numbers end when said: a short word that ends the same way in a head count rhymes with
# the number that was said ("for you people" is "for two people"); Metaphone keeps no vowels to tell.
_RHYMES = {"two": ("oo", "ew", "ou", "ue", "do", "to"), "three": ("ee", "ea"), "eight": ("ate", "ait"), "nine": ("ine",)}


# Words that sound just like a number, heard in its place after "for" ("for when people" is for one;
# "when people arrive" is no head count).
_SOUNDS_LIKE_A_NUMBER = {"won": "one", "when": "one", "wan": "one"}
_AFTER_FOR = re.compile(r"\b(?:for|four|or|of) $")


def _rhyming_number(word: str) -> str | None:
    if len(word) > 4 or word in _OTHER_SLOTS:
        return None
    return next((number for number, ends in _RHYMES.items() if word.endswith(ends)), None)


def repair_party_size(text: str, *, bare: bool = False) -> str | None:
    """ "That's for tree people" -> "That's for three people", "42 people" -> "for 2 people" ("for two" run
    together), "before people" -> "for four people"; a lone word ("tree") only when the bot asked for the party size (``bare``)."""
    lowered = text.lower()
    for pattern, spelled in _RUN_TOGETHER:
        mended, found = pattern.subn(spelled, lowered, count=1)
        if found:
            return mended
    for m in _HEADCOUNT_CONTEXT.finditer(lowered):
        group = "word" if m["word"] else "bare"
        if group == "bare" and not bare:
            continue
        heard = m[group]
        if heard in _SOUNDS_LIKE_A_NUMBER:
            number = _SOUNDS_LIKE_A_NUMBER[heard] if _AFTER_FOR.search(lowered[: m.start(group)]) else None
        else:
            number = _closest(heard, NUMBERS, min_sound_code=2) or _rhyming_number(heard)
        if number is not None:
            return lowered[: m.start(group)] + number + lowered[m.end(group) :]
    return None


# "On Sunday" as speech-to-text often writes it.
_SOMEDAY = re.compile(r"\bon some ?day\b", re.IGNORECASE)


def repair_date(text: str) -> str | None:
    """ "Wensday the fifth" -> "wednesday the fifth"; "on someday" -> "on sunday"."""
    if _SOMEDAY.search(text):
        return _SOMEDAY.sub("on sunday", text)
    words = text.split()
    for i, raw in enumerate(words):
        word = re.sub(r"[^a-z]", "", raw.lower())
        if len(word) >= 5 and (day := _closest(word, DAYS)) is not None:
            return " ".join([*words[:i], day, *words[i + 1 :]])
    return None


# How the numbers of a clock time are misheard: "won 30" (one thirty), and an hour from 13 to 19 as its
# -ty twin ("80-15" for eighteen fifteen: never a head count, nor a time).
_CLOCK_MISHEARD = (
    (re.compile(r"\bwon(?=\s+(?:\d|fifteen|thirty|forty|o'?clock))", re.I), lambda m: "one"),
    (re.compile(rf"\b(?P<ty>[3-9])0[-:.](?P<minutes>[0-5]\d)\b(?!\s*{_HEADCOUNT_NOUNS})", re.I),
     lambda m: f"1{m['ty']}:{m['minutes']}"),
)


def repair_time(text: str) -> str | None:
    """ "seven this rock in the evening" -> "seven o'clock in the evening"; "easing" -> "evening"; "won 30"
    -> "one 30"; "80-15" -> "18:15"."""
    mended = _OCLOCK.sub(lambda m: f"{m['n']} o'clock", text)
    for pattern, spelled in _CLOCK_MISHEARD:
        mended = pattern.sub(spelled, mended)
    words = mended.split()
    for i, raw in enumerate(words):
        word = re.sub(r"[^a-z]", "", raw.lower())
        if len(word) >= 5 and (part := _closest(word, PARTS_OF_DAY)) is not None:
            words[i] = part
    mended = " ".join(words)
    return mended if mended != text else None


# A clock's words, or its figures run together ("645" for 6:45, "1130"): a time, whatever else was misheard.
_CLOCK_WORDS = re.compile(
    r"\b(?:o'?clock|[ap]\.?m\b|noon|midnight|half past|quarter (?:past|to)|(?:1[0-2]|[1-9])[0-5]\d\b)", re.I
)


def points_at_time(text: str) -> bool:
    """Whether the words carry a time's frame ("in the evening", "o'clock", "after-oo" for afternoon),
    whatever became of its number."""
    if _CLOCK_WORDS.search(text):
        return True
    words = (re.sub(r"[^a-z]", "", raw.lower()) for raw in text.split())
    return any(word in PARTS_OF_DAY or (len(word) >= 5 and _closest(word, PARTS_OF_DAY)) for word in words)


def points_at_party_size(text: str) -> bool:
    """Whether the words carry a head count's frame ("... people", "... of us")."""
    return bool(re.search(rf"\b{_HEADCOUNT_NOUNS}\b", text, re.I))
