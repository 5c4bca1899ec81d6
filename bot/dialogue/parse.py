"""Extract booking values (party size, date, time, name, ...) from what a caller said.

Input is speech-to-text output: any casing, optional punctuation, numbers as digits or
words. Every parser returns None (or False) when its value is absent and never raises.
When a value is mentioned more than once, the last mention wins (callers correct
themselves mid-sentence: "seven, no, eight").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.dialogue import repair

__all__ = [
    "Extraction",
    "extract",
    "parse_confirmation_code",
    "parse_correction",
    "parse_date",
    "parse_name",
    "parse_party_size",
    "parse_phone",
    "parse_special_request",
    "parse_time",
    "parse_yes_no",
]

# Utterances are short; capping the input bounds the cost of every regex pass.
_MAX_CHARS = 1000

_UNITS = {
    word: n
    for n, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen"
        " fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {word: 10 * n for n, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_ORDINALS = {
    word: n
    for n, word in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
        " thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split(),
        1,
    )
} | {"twentieth": 20, "thirtieth": 30}
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTHS = {
    name: n
    for n, names in enumerate(
        (
            "january jan", "february feb", "march mar", "april apr", "may", "june jun",
            "july jul", "august aug", "september sept sep", "october oct", "november nov",
            "december dec",
        ),
        1,
    )
    for name in names.split()
}
_MISHEARD = {"to": "2", "too": "2", "for": "4"}
_BEFORE_SECOND = {"the", *_MONTHS}

_Handler = Callable[[re.Match[str], Any], Any]
_Rule = tuple[re.Pattern[str], _Handler]
_Found = list[tuple[int, int, Any]]

_APOSTROPHES = re.compile(r"[’‘`´]|(?<=\bo)\"(?=clock)")  # typed o"clock is o'clock


# --------------------------------------------------------------------------- normalising

_CLEANUPS = (
    (_APOSTROPHES, "'"),
    (re.compile(r"(?<![^\W\d_])([ap])\s?\.\s?m\b\.?"), r"\1m"),  # "p.m." / "p. m." -> "pm"
    (re.compile(r"\bo\s?'?\s?clock\b"), "oclock"),
    # how speech-to-text splits "afternoon" ("after in 130" is half past one; "after in the evening" stays)
    (re.compile(r"\bafter (?:a )?(?:new|noon|in)\b(?! the\b)"), "afternoon"),
    # "half pass seven", "water past seven": "half past" and "quarter past" as a phone line blurs them
    (re.compile(r"\b(?:(half)|quarter|water) pas[st]\b"), lambda m: f"{m[1] or 'quarter'} past"),
    # "one third in the afternoon": "one thirty" as speech-to-text writes it before a part of the day
    (re.compile(r"\b(1[0-2]|[1-9]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) third"
                r"(?= (?:in the )?(?:morning|afternoon|evening|night|am|pm)\b)"), r"\1 thirty"),
    # "eightish" is "eight ish", like "8ish" (only after a number: "english" and "dish" stay)
    (re.compile(rf"\b({'|'.join([*_UNITS, *_TENS])})-?ish\b"), r"\1 ish"),
    (re.compile(r"\bhalf a dozen\b"), "six"),
    (re.compile(r"\b(?:a|one) dozen\b"), "twelve"),
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), ""),  # thousands separators
    (re.compile(r"(?<!\d)[.:/]|[.:/](?!\d)"), " "),  # keep only "7:30", "7.30", "12/05"
    (re.compile(r"(?<=[^\W\d_])-|-(?=[^\W\d_])"), " "),  # "four-people", "twenty-two"
    (re.compile(r"(?<![^\W\d_])'|'(?![^\W\d_])|[^\w\s'.:/+-]|_"), " "),
    (re.compile(r"(?<=\d)(?!(?:st|nd|rd|th)\b)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)"), " "),  # "7pm" -> "7 pm"
)


def _misheard(m: re.Match[str]) -> str:
    return f"{m[1]} {_MISHEARD[m[2]]}"


_AFTER_NUMBERS = (
    (re.compile(r"(?<=\d) ([ap]) m\b"), r" \1m"),  # "seven p m"
    (re.compile(r"(?<=\d) (?:cm|bm|pn|pam)\b"), " pm"),  # "1 cm": "1 pm" in a flat voice
    (re.compile(r"(?<=\d) and the (?=(?:morning|afternoon|evening)\b)"), " in the "),  # "7 and the evening"
    # "to"/"too"/"for" stand for a number only where a head count must follow.
    (re.compile(r"\b((?:table|party|booking|reservation|group) (?:for|of)) (to|too|for)\b"), _misheard),
    (re.compile(r"\b(for|of) (to|too|for)(?= (?:people|persons|guests|adults|of us)\b)"), _misheard),
)


def _numberise(words: list[str]) -> Iterator[str]:
    """Number words to digits ("twenty two" -> "22"), ordinal words to "<n>th"."""
    i = 0
    while i < len(words):
        word, following = words[i], words[i + 1] if i + 1 < len(words) else ""
        if word in _TENS and 1 <= _UNITS.get(following, 0) <= 9:
            yield str(_TENS[word] + _UNITS[following])
            i += 1
        elif word in _TENS and 1 <= _ORDINALS.get(following, 0) <= 9:
            yield f"{_TENS[word] + _ORDINALS[following]}th"
            i += 1
        elif word in _UNITS or word in _TENS:
            yield str(_UNITS.get(word, _TENS.get(word)))
        # "second" is a date only in "the second" / "June second", not "just a second".
        elif word in _ORDINALS and (word != "second" or (i and words[i - 1] in _BEFORE_SECOND)):
            yield f"{_ORDINALS[word]}th"
        else:
            yield word
        i += 1


def _normalize(text: str) -> str:
    """Lowercase, strip punctuation and turn spoken numbers into digits."""
    s = text[:_MAX_CHARS].lower()
    for rx, repl in _CLEANUPS:
        s = rx.sub(repl, s)
    s = " ".join(_numberise(s.split()))
    for rx, repl in _AFTER_NUMBERS:
        s = rx.sub(repl, s)
    return s


def _scan(text: str, rules: Iterable[_Rule], arg: Any = None, taken: Iterable[tuple[int, int]] = ()) -> _Found:
    """All rule matches as (start, end, value) in text order; earlier rules claim their span first."""
    spans = list(taken)
    found = []
    for rx, handle in rules:
        for m in rx.finditer(text):
            if not any(m.start() < end and start < m.end() for start, end in spans):
                spans.append(m.span())
                found.append((m.start(), m.end(), handle(m, arg)))
    return sorted(found, key=lambda f: f[0])


def _last(found: _Found) -> Any:
    values = [value for _, _, value in found if value is not None]
    return values[-1] if values else None


def _mask(text: str, found: _Found) -> str:
    for start, end, _ in found:
        text = text[:start] + "_" * (end - start) + text[end:]
    return text


# --------------------------------------------------------------------------- dates


def _shift(today: dt.date, days: int) -> dt.date | None:
    try:
        return today + dt.timedelta(days=days)
    except OverflowError:
        return None


def _resolve(today: dt.date, month: int, day: int, year: str | None) -> dt.date | None:
    """A month/day in the year said, else this year unless already past. A year already over is a
    mishearing (nobody books one: "March 1, 2015" was "March 1 at 7:15"), read as no year."""
    said = int(year.replace(" ", "")) if year else None
    if said is not None and said < 100:
        said += 2000
    explicit = said is not None and said >= today.year
    years = [said] if explicit else list(range(today.year, today.year + 5))  # a 29 February may be years away
    for y in years:
        try:
            date = dt.date(y, month, day)
        except ValueError:
            continue
        if explicit or date >= today:
            return date
    return None


def _named_date(m: re.Match[str], today: dt.date) -> dt.date | None:
    return _resolve(today, _MONTHS[m["mon"]], int(m["d"]), m["y"])


def _numeric_date(m: re.Match[str], today: dt.date) -> dt.date | None:
    return _resolve(today, int(m["m"]), int(m["d"]), m["y"])


def _day_of_month(m: re.Match[str], today: dt.date) -> dt.date | None:
    """A bare day ("the 28th"): this month if not past, else the next month that has that day."""
    for ahead in range(13):
        years, month = divmod(today.month - 1 + ahead, 12)
        try:
            date = dt.date(today.year + years, month + 1, int(m["d"]))
        except ValueError:
            continue
        if date >= today:
            return date
    return None


def _in_days(m: re.Match[str], today: dt.date) -> dt.date | None:
    count = 1 if m["n"] in (None, "a") else int(m["n"])
    return _shift(today, count * (1 if m["unit"] == "day" else 7))


def _weekday(m: re.Match[str], today: dt.date) -> dt.date | None:
    target = _WEEKDAYS.index(m["wd"])
    if (m["pre"] or "").startswith("next") or m["post"] == " next week":
        # "next Friday" is the Friday of the next Monday-based week.
        return _shift(today, 7 - today.weekday() + target)
    week_later = bool(m["wk"]) or m["post"] == " week"
    return _shift(today, (target - today.weekday()) % 7 + 7 * week_later)


# Days callers name instead of a date (the next one on or after today).
_HOLIDAYS = {
    "christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25), "boxing day": (12, 26),
    "new year's eve": (12, 31), "new years eve": (12, 31), "new year's day": (1, 1), "new years day": (1, 1),
    "valentine's day": (2, 14), "valentines day": (2, 14), "valentine's": (2, 14), "valentines": (2, 14),
}
_HOLIDAY_RX = "|".join(sorted((re.escape(h) for h in _HOLIDAYS), key=len, reverse=True))


def _holiday(m: re.Match[str], today: dt.date) -> dt.date | None:
    return _resolve(today, *_HOLIDAYS[m["h"]], None)


def _days_ahead(days: int) -> _Handler:
    return lambda m, today: _shift(today, days)


_MONTH_RX = "|".join(sorted(_MONTHS, key=len, reverse=True)).replace(
    "may", r"may(?! (?:i|we|you|they|be|have|need|ask)\b)"
)
_YEAR_RX = r"(?: (?P<y>20\d\d|20 \d\d))?"
_DATE_RULES: tuple[_Rule, ...] = (
    (re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"), _numeric_date),
    (re.compile(r"\b(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?\b"), _numeric_date),
    (re.compile(rf"\b(?:the )?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?: of)? (?P<mon>{_MONTH_RX})\b{_YEAR_RX}"), _named_date),
    (
        re.compile(
            rf"\b(?P<mon>{_MONTH_RX}) (?:the )?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b"
            rf"(?! (?:people|persons|guests|adults|of us|am|pm|oclock)\b){_YEAR_RX}"
        ),
        _named_date,
    ),
    (re.compile(r"(?:\b(?:the|on) |^)(?P<d>\d{1,2})(?:st|nd|rd|th)\b(?! birthday| anniversary)"), _day_of_month),
    (re.compile(rf"\b(?P<h>{_HOLIDAY_RX})\b"), _holiday),
    (
        re.compile(r"\b(?:in (?P<n>\d{1,2}|a) (?P<unit>day|week)s?|(?:a|1) week (?:today|from today|from now))\b"),
        _in_days,
    ),
    (re.compile(r"\b(?:the )?day after tomorrow\b"), _days_ahead(2)),
    (re.compile(r"\btomorrow\b"), _days_ahead(1)),
    (re.compile(r"\b(?:today|tonight|this (?:morning|afternoon|evening|lunchtime))\b"), _days_ahead(0)),
    (
        re.compile(
            r"\b(?<!last )(?:(?P<wk>a|1) week (?:on|from|this) )?"
            r"(?P<pre>next (?:week )?|this coming |this |coming |on )?"
            rf"(?P<wd>{'|'.join(_WEEKDAYS)})s?(?P<post> week| next week)?\b"
        ),
        _weekday,
    ),
)
# Date spans are masked before looking for times and head counts; their values are irrelevant there.
_ANY_DAY = dt.date(2000, 1, 1)


def _mask_dates(norm: str) -> str:
    return _mask(norm, _scan(norm, _DATE_RULES, _ANY_DAY))


# --------------------------------------------------------------------------- times


def _to_24h(hour: int, meridiem: str | None) -> int | None:
    if meridiem is None:
        return hour + 12 if 1 <= hour <= 9 else hour  # a restaurant's "at 7" is the evening; "10:30" brunch
    if 1 <= hour <= 12:
        return hour % 12 + (12 if meridiem == "pm" else 0)
    return hour if meridiem == "pm" and hour > 12 else None


def _clock(hour: str, minute: Any, meridiem: str | None, context: str | None, before: int = 0) -> dt.time | None:
    h, mi = int(hour), int(minute or 0)
    if meridiem is None and len(hour) == 2 and hour[0] == "0":
        h24: int | None = h  # "09:30" is already 24-hour
    else:
        h24 = _to_24h(h, meridiem or (context if 1 <= h <= 12 else None))
    if h24 is None or not (0 <= h24 <= 23 and 0 <= mi <= 59):
        return None
    return dt.time(*divmod((h24 * 60 + mi - before) % 1440, 60))


def _hm(m: re.Match[str], context: str | None) -> dt.time | None:
    groups = m.groupdict()
    return _clock(groups["h"], groups.get("mi"), groups.get("mer"), context)


def _past_to(m: re.Match[str], context: str | None) -> dt.time | None:
    minutes = {"half": 30, "quarter": 15}.get(m["mi"]) or int(m["mi"])
    if minutes > 59:
        return None
    if m["dir"] in ("past", "after"):
        return _clock(m["h"], minutes, m["mer"], context)
    if m["mi"] == "half":
        return None
    # "quarter to 12 in the morning" is 11:45 am: the hour before, in the same half of the day.
    hour = int(m["h"])
    return _clock(str(hour - 1 if hour > 1 else 12), 60 - minutes, m["mer"], context)


_MER = r"(?: (?P<mer>am|pm))?\b"
# "for 2 hours", "we'll be 5 minutes late": a number of something else, not of people.
_NOT_A_DURATION = r"(?! (?:hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|nights?|months?|years?)\b)"
# A number of people or of minutes is no clock time: "around 8 people", "about 20 minutes late".
_NOT_HEADS_OR_DURATION = r"(?! (?:people|persons|guests|adults|of us)\b)" + _NOT_A_DURATION
# Where "for N" counts heads: "table for 4", "party of 4", "booking for 4".
_NOT_AFTER_HEADCOUNT_CUE = r"(?<!table for )(?<!table of )(?<!party of )(?<!group of )(?<!booking for )(?<! of )"
# What a caller puts between a value's name and the value: "the time should be 8", "the number is now 5".
_SHOULD_BE = r"(?: (?:is|was|should be|shall be|will be|would be|needs to be|has to be|to|be|now|as|at|for|of|s|it's|its))*"
_TIME_RULES: tuple[_Rule, ...] = (
    (re.compile(r"(?<![\d:.])(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?![\d:.])" + _MER), _hm),
    (re.compile(r"\b(?P<h>\d{1,2})(?P<mi>\d{2}) (?:(?P<mer>am|pm)|hours|hrs)\b"), _hm),
    # "I need it for 11", "something at 7": the booking's time, not a head count.
    (re.compile(r"\b(?:it|something|one|that) (?:for|at|around) (?P<h>\d{1,2})(?:[:.](?P<mi>\d{2}))?\b" + _NOT_HEADS_OR_DURATION + r"(?! of us| [1-5]\d\b)"), _hm),
    # "715 in the evening", "1115 please": speech-to-text writes a clock time as one number.
    (re.compile(r"(?<!\d )\b(?P<h>1[0-2]|[1-9])(?P<mi>[0-5]\d)(?= (?:in the |and the |this )?(?:morning|afternoon|evening|night)\b| please\b)"), _hm),
    # "1930" / "730" need a cue or to be the whole answer; otherwise they're likely part of a phone number.
    (re.compile(r"(?:\b(?:at|around|about|by|for) |^(?=\d{3,4}$))(?P<h>\d{1,2})(?P<mi>\d{2})\b" + _MER), _hm),
    (re.compile(r"\b(?P<h>[01]?\d|2[0-3]) (?P<mi>[1-5]\d)" + _MER), _hm),  # "seven thirty", "nineteen thirty"
    (re.compile(r"\b(?P<h>\d{1,2}) (?:oh|o) (?P<mi>\d)" + _MER), _hm),  # "seven oh five"
    (
        re.compile(
            r"\b(?P<mi>half|quarter|5|10|20|25|\d{1,2}(?= minutes))(?: minutes)?"
            r" (?P<dir>past|after|to|till?|before) (?P<h>\d{1,2})(?: oclock)?" + _MER
        ),
        _past_to,
    ),
    (re.compile(r"\bhalf (?P<h>\d{1,2})" + _MER), lambda m, ctx: _clock(m["h"], 30, m["mer"], ctx)),
    (re.compile(r"\b(?P<h>\d{1,2}) (?:(?:oclock |ish )?(?P<mer>am|pm)|oclock|ish)\b"), _hm),
    # "7 in the evening", "book it for 7 in the evening"; but "a table for 4 in the evening" is a head count.
    (re.compile(rf"{_NOT_AFTER_HEADCOUNT_CUE}\b(?P<h>\d{{1,2}})(?= in the (?:morning|afternoon|evening|night)\b| at night\b| tonight\b)"), _hm),
    (re.compile(r"(?<!for )\b(?:at|around|about|by|roughly|approximately) (?P<h>\d{1,2})\b" + _NOT_HEADS_OR_DURATION), _hm),
    (re.compile(r"\b(?:12 )?(?P<w>noon|midday|midnight)\b"), lambda m, ctx: dt.time(0 if m["w"] == "midnight" else 12)),
    (re.compile(r"\b(?P<h>1[3-9]|2[0-3]) hundred(?: hours)?\b"), _hm),  # "nineteen hundred"
    # "Can we come earlier, say 6?": a number offered for a time moved.
    (re.compile(r"\b(?:earlier|later)\b.{0,40}?\bsay (?P<h>\d{1,2})(?:[:.]?(?P<mi>[0-5]\d))?\b" + _MER + _NOT_HEADS_OR_DURATION), _hm),
    # "No, the time should be 8", "change the time to 8": a bare number the caller says is the time.
    (re.compile(rf"\b(?:the|change|make|move) time{_SHOULD_BE} (?P<h>\d{{1,2}})(?:[:.]?(?P<mi>[0-5]\d))?\b" + _MER + _NOT_HEADS_OR_DURATION), _hm),
)
# "evening 6", "in the afternoon 2", "this evening 5": the part of the day first, as callers type it.
# Read before dates are masked, since "this evening" is also a date.
_PERIOD_FIRST: _Rule = (
    re.compile(
        r"\b(?:morning|afternoon|evening|night|tonight)(?: at| around| about)?(?: the)? (?P<h>\d{1,2})(?:[:.]?(?P<mi>[0-5]\d))?\b"
        + _NOT_HEADS_OR_DURATION
    ),
    _hm,
)
# "Can we do 8 instead?", "how about 8?", "is 8 okay?": a bare answer put as a request or a question, where the
# bot asked for that value.
_INSTEAD_OF_ASKED = (
    r"(?:can|could) we (?:do|make it|have)|let's (?:do|make it|say|go with)|how about|what about|is|would|will"
)
# "Seven, no, actually eight": a bare answer the caller took back, and the one after it.
_TAKEN_BACK = r"(?:.* (?:no|sorry|actually|i mean|or rather|rather|make that|wait) )?"
# "Is 8 okay?", "would 5 work?": a bare answer offered as a question.
_OFFERED = r"(?:be )?(?:ok|okay|alright|all right|fine|work|works|possible|available|good|great|free)"
_BARE_TIME: _Rule = (
    # "eight", "at 8 please", "930 is fine": an answer to "what time?" (STT writes 9:30 as "930").
    re.compile(
        rf"^{_TAKEN_BACK}(?:(?:um|uh|er|erm|ok|okay|so|then|well|at|around|about|say|maybe|make it|{_INSTEAD_OF_ASKED}) )*"
        r"(?P<h>\d{1,2})(?P<mi>[0-5]\d)?"
        rf"(?: (?:is|would be|sounds|works|then|please|thanks|fine|good|great|perfect|for me|thats|that s|instead|{_OFFERED}))*$"
    ),
    _hm,
)
_AM_CONTEXT = re.compile(r"(?<!good )\bmorning\b|\bbreakfast\b|\bbrunch\b")  # "good morning" is a greeting
_PM_CONTEXT = re.compile(r"(?<!good )\b(?:afternoon|evening|night|tonight)\b|\bdinner\b")


def _meridiem_context(norm: str) -> str | None:
    am, pm = bool(_AM_CONTEXT.search(norm)), bool(_PM_CONTEXT.search(norm))
    return "am" if am and not pm else "pm" if pm and not am else None


# --------------------------------------------------------------------------- party size


def _bounded(n: int) -> int | None:
    return n if 1 <= n <= 99 else None


def _count(m: re.Match[str], _: Any) -> int | None:
    return _bounded(int(m["n"]))


def _fixed(value: Any) -> _Handler:
    return lambda m, _: value


def _sum_counts(m: re.Match[str], _: Any) -> int | None:
    """ "2 adults and 3 kids" is 5, "2 adults and a baby" 3."""
    return _bounded(sum(int(n) if n.isdigit() else 1 for n in re.findall(r"\d+|\ban?\b", m[0])))


_N = r"(?P<n>\d{1,2})"
_GROUP = r"(?:adults?|grown ups|kids?|children|child|babies|baby|infants?|toddlers?|teens?|teenagers?|seniors?)"
_COMPANION = (
    r"(?:wife|husband|partner|girlfriend|boyfriend|fiancee?|friend|mum|mom|mother|dad|father"
    r"|son|daughter|colleague|date|brother|sister|other half|plus 1)"
)
_SELF = r"(?:me|myself|i)"
_COMPANY = rf"(?:(?:my|our) (?:\d{{1,2}} )?(?:{_COMPANION}|{_GROUP}|friends|colleagues|others|parents|grandparents)s?|\d{{1,2}} {_GROUP})"
_MEMBER = rf"(?:{_SELF}|{_COMPANY})"


def _members(m: re.Match[str], _: Any) -> int | None:
    """ "me, my husband and our 2 kids" is 4: the caller and each named member one, each counted group its
    number, parents two. None where a count is not said ("my friends and I") or it is not said whether the
    caller comes ("my husband and our 2 kids"): asked, not guessed."""
    total, with_caller = 0, False
    for member in re.findall(rf"{_SELF}\b|{_COMPANY}", m[0]):
        if re.fullmatch(_SELF, member):
            total, with_caller = total + 1, True
        elif n := re.search(r"\d+", member):
            total += int(n[0])
        elif member.endswith("parents"):
            total += 2
        elif member.endswith("s"):
            return None
        else:
            total += 1
    named = re.search(r"\b(?:my|our)\b", m[0])
    return _bounded(total) if with_caller or not named else None


_PARTY_RULES: tuple[_Rule, ...] = (
    # A list of the party's members with the caller among them; first, so its parts are not counted alone.
    (re.compile(rf"\b{_MEMBER}(?:(?: and| plus| with)? {_MEMBER}\b)+"), _members),
    (re.compile(rf"\b(?:\d{{1,2}}|an?) {_GROUP}(?:(?: and| plus| with)? (?:\d{{1,2}}|an?) {_GROUP})*\b"), _sum_counts),
    (re.compile(rf"\b{_N} couples\b"), lambda m, _: _bounded(2 * int(m["n"]))),
    (re.compile(rf"\b(?:me|myself) plus {_N}\b{_NOT_A_DURATION}"), lambda m, _: _bounded(int(m["n"]) + 1)),
    (
        re.compile(rf"\b(?:me|myself|i) (?:and|plus|with) {_N} (?:others?|friends|colleagues|people|guests)\b"),
        lambda m, _: _bounded(int(m["n"]) + 1),
    ),
    (re.compile(rf"\b{_N} (?:people|persons?|guests?|pax|diners|covers|ppl|of us|in total|total)\b"), _count),
    (
        re.compile(
            rf"\b(?:me|myself) (?:and|plus|with) (?:my|a|the) {_COMPANION}\b"
            rf"|\bmy {_COMPANION} and (?:i|me|myself)\b"
        ),
        _fixed(2),
    ),
    (re.compile(r"\b(?:a |the )?couple\b(?! of (?!us\b|people\b))"), _fixed(2)),
    (re.compile(r"\b(?:just|only) (?:me|myself)\b(?! and| plus| with)|\b(?:on my own|by myself|solo)\b"), _fixed(1)),
    (
        re.compile(
            rf"\b(?:for|party of|group of|table of|family of) (?:a |about |around )?{_N}\b{_NOT_A_DURATION}"
        ),
        _count,
    ),
    (
        re.compile(rf"\b(?:we are|we're|we'll be|we will be|there are|there'll be|there will be|there's) {_N}\b{_NOT_A_DURATION}"),
        _count,
    ),
    (re.compile(rf"\b(?:the )?(?:number(?: of (?:people|guests))?|head ?count|party size|party){_SHOULD_BE} {_N}\b{_NOT_A_DURATION}"), _count),
    # "four at seven": the number before "at" a time is the party (not "9 at the del", a misheard name).
    (re.compile(rf"(?<![\d:./]){_N}(?= at (?:about |around )?(?:\d|half|quarter|noon|midday))"), _count),
)
_BARE_PARTY: _Rule = (
    re.compile(
        rf"^{_TAKEN_BACK}(?:(?:um|uh|er|erm|hmm|just|so|ok|okay|alright|all right|right|yes|yeah|no|nope|nah|well|then|and|oh"
        rf"|it's|it is|its|we are|we're|we'll be|there'll be|let's say|say|make it|maybe|probably|actually|sorry"
        rf"|{_INSTEAD_OF_ASKED}) )*"
        + _N + r"(?: (?:people|persons|guests|of us|please|thanks|thank you|in total|then|now|i think|for now|altogether"
        rf"|instead|{_OFFERED}))*$"
    ),
    _count,
)


def _party_size(text: str, bare: bool) -> int | None:
    masked = _mask_dates(_normalize(text))
    if shift := _party_shift(masked):  # "add 2 people" says how many more, not how many
        masked = _mask(masked, [(*shift[1], None)])
    times = _scan(masked, _TIME_RULES)
    rules = _PARTY_RULES + (_BARE_PARTY,) if bare else _PARTY_RULES
    return _last(_scan(masked, rules, taken=[(start, end) for start, end, _ in times]))


# --------------------------------------------------------------------------- yes / no

_YES_NO_RULES: tuple[_Rule, ...] = (
    (re.compile(r"\b(?:i )?(?:don't|do not|dont) know\b|\bnot sure\b|\bno idea\b|\bdunno\b|\bmaybe\b|\bperhaps\b"),
     _fixed(None)),
    (
        re.compile(
            r"\bnot (?:quite|really|exactly|right|correct|it|that|ok|okay|good|great)\b"
            r"|\b(?:doesn't|does not|won't|will not|wouldn't|would not|can't|cannot) work\b"
            r"|\b(?:absolutely|definitely|certainly|of course) not\b|\bnever ?mind\b|\bcancel (?:that|it)\b"
            r"|\b(?:forget|scrap) (?:it|that)\b|\bhold off\b|\bnot yet\b"
            r"|\bno thank(?:s| you)\b|\b(?:don't|do not|dont|wrong|incorrect|negative|nope|nah|no+)\b"
        ),
        _fixed(False),
    ),
    (
        re.compile(
            r"\b(?:yes+|yeah|yea|ya|yep|yup|uh huh|mm hmm|sure|correct|right|all right|alright"
            r"|sounds (?:good|great|perfect|fine)|perfect|please do|go ahead|go for it|book it|absolutely"
            r"|definitely|certainly|of course|ok|okay|that works|works for me|great|lovely|exactly"
            r"|affirmative|fine|spot on|bang on|you got it|deal|go on|brilliant|cool|excellent|wonderful"
            r"|awesome|fantastic|grand|aye|indeed|agreed|confirm(?:ed)?|why not"
            # Said to a read-back, "that's it" / "that's everything" mean it is all right.
            r"|that's (?:it|everything|the one|all (?:right|correct|good|fine|perfect)))\b"
            r"|^\W*please\W*$"
        ),
        _fixed(True),
    ),
)
_WORDS_ONLY = re.compile(r"[^\w']+")


# --------------------------------------------------------------------------- names

_NOT_NAME = frozenset(
    """
    a an the and or but so for to at on in of with from by about as is am are was were be been being
    i me my mine we us our you your he she they it its it's this that these those there here
    what who when where why how which i'm i'd i'll we're we'd we'll that's there's let's it'll
    yes yeah yep yup no nope nah ok okay sure right correct fine good great well perfect lovely
    please thanks thank cheers hi hello hey bye goodbye sorry um uh uhm er erm hm hmm mm mmm mhm ah oh
    can could would should shall might must do does did don't can't won't have has had want wanted
    need like love let make made get got go going gonna wanna change cancel check call ring speak
    talk think know wait hold hang repeat say said mean meant book booked booking reserve
    reservation table party people person guests guest time date today tonight tomorrow morning
    afternoon evening night noon midday pm am oclock week weekend calling looking trying hoping
    wondering phoning ringing speaking just actually also still really very not only free
    available busy ready happy glad interested afraid new late early back hungry unsure curious
    done finished number name phone code confirmation
    """.split()
) | set(_UNITS) | set(_TENS) | set(_ORDINALS) | set(_WEEKDAYS)
_NAME_CUE = re.compile(
    # "the name is a Robin Hayes": speech-to-text's article before a name is part of the cue
    r"\b(?:(?:my |the |her |his |our )?name(?: is|'s| was| of| should be)(?:\s+an?(?=\s))?|under(?: the name)?(?: of)?|this is|i am|i'm|call me)\s+", re.I
)
_SELF_CUE = ("i", "this")  # "I'm calling", "this is amazing": an -ing/adjective is not a name
_NAME_FILLER = re.compile(
    r"^(?:(?:um+|uh+|erm?|hmm+|ah|oh|yes|yeah|yep|sure|ok|okay|so|well|hi|hello|sorry|it's|it is|its"
    r"|it'll be|that's|that is|that'd be|it would be|for)\b[\s,.!]*)+",
    re.I,
)
_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*|\S")


def _name_words(text: str) -> list[str]:
    words = []
    for token in _NAME_TOKEN.findall(text):
        if not token[0].isalpha() or len(token) < 2 or token.lower() in _NOT_NAME:
            break
        words.append(token)
    return words


def _titled(words: list[str]) -> str:
    return " ".join(
        re.sub(r"[^\W\d_]+", lambda m: m[0].capitalize(), w) if w.islower() or w.isupper() else w for w in words
    )


# --------------------------------------------------------------------------- phone / code / correction

_SPOKEN_DIGITS = {"oh": "0", "o": "0"} | {w: str(n) for w, n in (_UNITS | _TENS).items()}
_PHONE_NOISE = re.compile(r"(?<![\d.])\d{1,2}[:.]\d{2}(?![\d.])|\b\d{4}-\d{1,2}-\d{1,2}\b")  # times, ISO dates
_PHONE_TOKEN = re.compile(r"\+|\d+|[a-z]+|[^\s\-.,()]", re.ASCII)
_REPEATS = {"double": 2, "triple": 3}
_ZEROS = {"hundred": "00", "thousand": "000"}

_CODE_ALPHABET = frozenset("ACDEFHJKMNPQRTUVWXY3479")
_NATO = {
    "alpha": "A", "alfa": "A", "charlie": "C", "delta": "D", "echo": "E", "foxtrot": "F", "hotel": "H",
    "juliet": "J", "juliett": "J", "kilo": "K", "mike": "M", "november": "N", "papa": "P", "quebec": "Q",
    "romeo": "R", "tango": "T", "uniform": "U", "victor": "V", "whiskey": "W", "whisky": "W", "xray": "X",
    "yankee": "Y", "three": "3", "four": "4", "seven": "7", "nine": "9",
}
_CODE_CLEAN = ((re.compile(r"\bx[\s-]?ray\b", re.I), "xray"), (re.compile(r"\bas in \w+", re.I), " "))
_CODE_TOKEN = re.compile(r"[a-z0-9]+", re.I | re.ASCII)

_VALUE_WORDS = "|".join([*_UNITS, *_TENS, *_WEEKDAYS, *_MONTHS, "today", "tonight", "tomorrow"])
_CORRECTION = re.compile(
    r"\b(?:actually|i meant|meant to say|i mean|make (?:it|that)|change (?:it|that|the|to)|instead"
    r"|scratch that|my mistake|correction|oops|wait|not quite|wrong|not right)\b"
    rf"|\bnot (?:on |at |for |the )?(?:\d|(?:{_VALUE_WORDS})\b)"
    # A leading "no" followed by more content corrects; "no thanks" / "no, that's all" just decline.
    r"|^\W*(?:no|nope|nah)\b[\s,.!]*"
    r"(?!thanks?\b|thank you\b|that's (?:all|it|everything|fine|ok)\b|i'm (?:good|fine|ok)\b|it's (?:fine|ok)\b)"
    r"[^\s,.!]"
)


# --------------------------------------------------------------------------- public API


def parse_party_size(text: str) -> int | None:
    """How many people the booking is for (1..99), or None."""
    return _party_size(text, bare=True)


def parse_date(text: str, today: dt.date) -> dt.date | None:
    """The booking date relative to `today`, or None."""
    return _last(_scan(_normalize(text), _DATE_RULES, today))


_MOVED_TO = re.compile(r"\b(?:to|till|until|instead|rather|move it|switch it)\b")  # after the first day


def parse_day_moved_from(text: str, today: dt.date) -> dt.date | None:
    """The day a booking is on now, when the caller moves it to another in the same words ("I booked
    Friday, can we move it to Saturday?": Friday; the day moved to is :func:`parse_date`'s)."""
    norm = _normalize(text)
    days = [(start, end, day) for start, end, day in _scan(norm, _DATE_RULES, today) if day is not None]
    if len(days) < 2 or days[0][2] == days[-1][2]:
        return None
    return days[0][2] if _MOVED_TO.search(norm, days[0][1]) else None


def parse_time(text: str, *, bare_number_ok: bool = False) -> dt.time | None:
    """The booking time; a lone number counts only with `bare_number_ok` (the bot asked for a time)."""
    norm = _normalize(text)
    rules = _TIME_RULES + (_BARE_TIME,) if bare_number_ok else _TIME_RULES
    context = _meridiem_context(norm)
    return _last(_scan(_mask_dates(norm), rules, context)) or _last(_scan(norm, (_PERIOD_FIRST,), context))


def parse_yes_no(text: str) -> bool | None:
    """True/False for the first yes or no said, None if neither (or only "I don't know")."""
    words = _WORDS_ONLY.sub(" ", _APOSTROPHES.sub("'", text[:_MAX_CHARS].lower()))
    return next((value for _, _, value in _scan(words, _YES_NO_RULES) if value is not None), None)


def parse_name(text: str, *, expecting_name: bool = False) -> str | None:
    """A booking name after a cue ("my name is ..."), or a bare answer when `expecting_name`."""
    s = _APOSTROPHES.sub("'", text[:_MAX_CHARS])
    for cue in _NAME_CUE.finditer(s):
        words = _name_words(s[cue.end():])
        if words and not (cue[0].lower().startswith(_SELF_CUE) and words[0].lower().endswith("ing")):
            return _titled(words[:3])
    if expecting_name:
        words = _name_words(_NAME_FILLER.sub("", s.strip()))
        if 1 <= len(words) <= 3:
            return _titled(words)
    return None


def parse_phone(text: str) -> str | None:
    """The longest run of spoken or written digits (7..15 of them), keeping a leading "+"."""
    runs: list[tuple[bool, str]] = []
    plus, digits, repeat, after_tens = False, "", 1, False
    for token in _PHONE_TOKEN.findall(_PHONE_NOISE.sub(" ", text[:_MAX_CHARS].lower())):
        if token.isdigit() or token in _SPOKEN_DIGITS:
            digit = token if token.isdigit() else _SPOKEN_DIGITS[token]
            if after_tens and 1 <= _UNITS.get(token, 0) <= 9:
                digits = digits[:-1] + digit  # "fifty five" is 55, not 505
            else:
                digits += digit * repeat
            repeat, after_tens = 1, token in _TENS
        elif token in _REPEATS:
            repeat = _REPEATS[token]
        elif token in _ZEROS and digits:
            digits += _ZEROS[token]
        else:
            runs.append((plus, digits))
            plus, digits, repeat, after_tens = token in ("+", "plus"), "", 1, False
    runs.append((plus, digits))
    plus, digits = max(runs, key=lambda run: len(run[1]))
    return ("+" if plus else "") + digits if 7 <= len(digits) <= 15 else None


def parse_confirmation_code(text: str) -> str | None:
    """A 6-character booking code read out as letters, digits or NATO words, uppercased."""
    s = text[:_MAX_CHARS]
    for rx, repl in _CODE_CLEAN:
        s = rx.sub(repl, s)
    runs, run = [], []
    for token in _CODE_TOKEN.findall(s):
        chars = _NATO.get(token.lower())
        # Multi-letter tokens count only if they look typed-out ("K7M4PX", "KMPXTW"), not English words.
        if chars is None and (len(token) == 1 or token.isupper() or any(c.isdigit() for c in token)):
            chars = token.upper()
        if chars and set(chars) <= _CODE_ALPHABET:
            run.append(chars)
        else:
            runs.append(run)
            run = []
    runs.append(run)
    codes = []
    for tokens in runs:
        code = "".join(tokens)
        if len(code) == 7 and tokens[0] == "A":  # "it's a K7M4PX"
            code = code[1:]
        if len(code) == 6:
            codes.append(code)
    return codes[-1] if codes else None


_SHIFT = re.compile(
    r"\b(?:(?P<later>push(?:ed)?|put|move|moved|shift|make) (?:it |that |us |(?:the|our|my) (?:time|booking|reservation|table) )?"
    r"(?:back|later)|(?P<earlier>bring|brought|move|moved|shift|make) (?:it |that |us |(?:the|our|my) (?:time|booking|reservation|table) )?"
    r"(?:forward|earlier))(?: by)? (?P<amount>an? hour|1 hour|half an hour|an hour and a half|\d{1,3} minutes|\d hours?)\b"
    r"|\b(?P<amount2>an? hour|half an hour|\d{1,3} minutes|\d hours?) (?P<dir>later|earlier)\b"
)
_SHIFT_MINUTES = {"an hour": 60, "a hour": 60, "1 hour": 60, "half an hour": 30, "an hour and a half": 90}


def parse_time_shift(text: str) -> int | None:
    """Minutes a caller moves their time by: "push it back an hour" -> 60, "half an hour earlier" -> -30."""
    m = _SHIFT.search(_normalize(text))
    if not m:
        return None
    amount = m["amount"] or m["amount2"]
    minutes = _SHIFT_MINUTES.get(amount) or int(amount.split()[0]) * (60 if "hour" in amount else 1)
    earlier = m["earlier"] is not None or m["dir"] == "earlier"
    return -minutes if earlier else minutes


_HEADS = r"(?:people|persons?|guests?|adults?|kids?|children|child|friends?|of us)"
_PARTY_SHIFT = re.compile(
    rf"\b(?P<n>\d{{1,2}}|an?|another) (?:(?P<more>more|extra|additional)|(?P<fewer>fewer|less)) {_HEADS}\b"
    rf"|(?<!me )(?<!myself )\b(?:add|plus) (?P<n2>\d{{1,2}}|an?|another)(?: more| extra)?(?: {_HEADS})?\b"
    rf"|\b(?P<n3>another) {_HEADS}\b"
)


def _party_shift(norm: str) -> tuple[int, tuple[int, int]] | None:
    """People added to (or taken from) a head count already given, and where it was said."""
    m = _PARTY_SHIFT.search(norm)
    if not m:
        return None
    said = m["n"] or m["n2"] or m["n3"]
    n = int(said) if said.isdigit() else 1
    return (-n if m["fewer"] else n), m.span()


def parse_party_shift(text: str) -> int | None:
    """People added to the party already given: "two more people" -> 2, "one fewer" -> -1."""
    found = _party_shift(_normalize(text))
    return found[0] if found else None


def parse_correction(text: str) -> bool:
    """Whether the caller is correcting something they (or the bot) said."""
    return bool(_CORRECTION.search(_APOSTROPHES.sub("'", text[:_MAX_CHARS].lower())))


@dataclass(frozen=True)
class Extraction:
    party_size: int | None
    date: dt.date | None
    time: dt.time | None
    name: str | None
    yes_no: bool | None
    phone: str | None
    confirmation_code: str | None
    correction: bool
    special_request: str | None = None
    time_shift: int | None = None  # minutes later (negative: earlier) than the time already booked
    party_shift: int | None = None  # people more (negative: fewer) than the party already given
    moved_from: dt.date | None = None  # the booking's day, when another (``date``) is the one it moves to
    mended: bool = False  # a value was read from misheard words mended (bot/dialogue/repair.py)


_SPECIAL_REQUEST = re.compile(
    r"\b(allerg\w*|gluten|nuts?|peanuts?|vegan|vegetarian|coeliac|celiac|dairy|lactose|shellfish|"
    r"high ?chairs?|booster|pram|buggy|stroller|wheel ?chairs?|accessib\w*|step[- ]free|"
    r"birthday|anniversary|celebrat\w*|proposal|engagement|quiet table|window|terrace|outside|dog)\b",
    re.IGNORECASE,
)
_CLAUSE_SPLIT = re.compile(r"(?<=[.;!?])\s+|,\s*(?:and\s+)?|\s+and\s+(?=(?:we|i|it|she|he|they|my|our|there|one)\b)", re.IGNORECASE)


def parse_special_request(text: str) -> str | None:
    """The clauses of the utterance that carry a special request ("my son has a nut allergy")."""
    clauses = [c.strip(" .!?") for c in _CLAUSE_SPLIT.split(text[:_MAX_CHARS])]
    wanted = [c for c in clauses if c and _SPECIAL_REQUEST.search(c)]
    return "; ".join(wanted) or None


# A head count past this is a mishearing ("for two" run together as "42"), worth mending.
IMPLAUSIBLE_PARTY = 40


def _mended(text: str, today: dt.date, expecting: str | None) -> tuple[int | None, dt.date | None, dt.time | None, bool]:
    """Party size, date and time, each read again from mended words where the first reading found none."""
    party = _party_size(text, bare=expecting == "party_size")
    date = parse_date(text, today)
    time = parse_time(text, bare_number_ok=expecting == "time")
    mended = False
    if (party is None or party >= IMPLAUSIBLE_PARTY) and (
        fixed := repair.repair_party_size(text, bare=expecting == "party_size")
    ):
        party, mended = _party_size(fixed, bare=expecting == "party_size") or party, True
    if date is None and (fixed := repair.repair_date(text)) and (date := parse_date(fixed, today)):
        mended = True
    if time is None and (fixed := repair.repair_time(text)) and (
        time := parse_time(fixed, bare_number_ok=expecting == "time")
    ):
        mended = True
        if party is not None and party >= IMPLAUSIBLE_PARTY:  # "for 80-15" was the time, not a head count
            party = _party_size(fixed, bare=expecting == "party_size")
    return party, date, time, mended


def extract(text: str, today: dt.date, *, expecting: str | None = None) -> Extraction:
    """Every value in one utterance; `expecting` (the slot just asked for) enables bare answers."""
    party_size, date, time, mended = _mended(text, today, expecting)
    return Extraction(
        party_size=party_size,
        date=date,
        time=time,
        name=parse_name(text, expecting_name=expecting == "name"),
        yes_no=parse_yes_no(text),
        phone=parse_phone(text),
        confirmation_code=parse_confirmation_code(text),
        correction=parse_correction(text),
        special_request=parse_special_request(text),
        time_shift=parse_time_shift(text),
        party_shift=parse_party_shift(text),
        moved_from=parse_day_moved_from(text, today),
        mended=mended,
    )
