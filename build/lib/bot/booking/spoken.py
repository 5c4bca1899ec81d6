"""How dates, times, bookings and codes are said aloud.

Kept short and unambiguous for a phone line and a TTS voice: "Wednesday the
25th of November", "7:30 pm", codes spelled a character at a time.
"""

from __future__ import annotations

import datetime as dt


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def calendar_date(day: dt.date) -> str:
    """'Wednesday the 25th of November'."""
    return f"{day:%A} the {ordinal(day.day)} of {day:%B}"


def spoken_day(day: dt.date, today: dt.date) -> str:
    """The day as it fits after a verb: 'tomorrow, Wednesday the 25th of November' or 'on Friday the 27th of November'."""
    relative = {0: "today", 1: "tomorrow"}.get((day - today).days)
    return f"{relative}, {calendar_date(day)}" if relative else f"on {calendar_date(day)}"


def spoken_time(time: dt.time) -> str:
    """'7 pm', '7:30 pm', '12 noon'."""
    if time == dt.time(12, 0):
        return "12 noon"
    hour = time.hour % 12 or 12
    suffix = "am" if time.hour < 12 else "pm"
    return f"{hour} {suffix}" if time.minute == 0 else f"{hour}:{time.minute:02d} {suffix}"


def spoken_party(party_size: int) -> str:
    return "one person" if party_size == 1 else f"{party_size} people"


def spelled_code(code: str) -> str:
    """'K, 7, M, 4, P, X': one character at a time, so it survives the line."""
    return ", ".join(code)


def spoken_choices(choices: list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    if len(choices) <= 1:
        return "".join(choices)
    return f"{', '.join(choices[:-1])} or {choices[-1]}"


def spoken_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
