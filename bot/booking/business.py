"""The business a flow serves: opening hours, capacity and limits, loaded from YAML.

Everything here is data (``flows/<flow>.business.yaml``); the availability
rules in :mod:`bot.booking.availability` read it and never hard-code a business fact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.booking import spoken
from bot.booking.facts import Facts

# Closed dates this close are mentioned with the week's opening hours.
SOON_DAYS = 14
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Sitting(BaseModel):
    """One service period: bookings may start from first to last seating."""

    model_config = ConfigDict(extra="forbid")

    first_seating: dt.time
    last_seating: dt.time

    @model_validator(mode="after")
    def _ordered(self) -> Sitting:
        if self.last_seating < self.first_seating:
            raise ValueError("last_seating is before first_seating")
        return self


class LineTroublePrompts(BaseModel):
    """What the caller hears when no text-to-speech works: pre-rendered audio (``python -m bot prompts render``)."""

    model_config = ConfigDict(extra="forbid")

    will_text: str  # the first reply, when the confirmation can be texted to the caller
    call_back: str  # the first and last reply when it cannot: the call ends after it
    go_on: str  # every later reply


class LineWords(BaseModel):
    """What the line says when the caller cannot be heard, says nothing, or finds the line full.

    (processors/keypad.py, processors/idle.py, server.py)
    """

    model_config = ConfigDict(extra="forbid")

    still_there: str = "Are you still there?"
    no_answer: str = "I haven't heard anything, so I'll end the call now. Please call back any time. Goodbye!"
    keypad_start: str = "I'm having trouble hearing you. Please use your keypad."
    # One instruction per value the flow asks for ("expecting" in the tools' results).
    keypad_asks: dict[str, str] = {
        "party_size": "Press the number of people, then the pound key.",
        "date": "Press the date as four digits, month then day, then the pound key.",
        "time": "Press the time as four digits on the twenty-four hour clock, then the pound key.",
        "name": "Press the pound key to put the booking under this phone number.",
        "yes_no": "Press 1 then pound for yes, or 2 then pound for no.",
    }
    keypad_invalid: str = "Sorry, I couldn't use those keys."
    # Said before the keypad instruction when the bot has twice not understood the value it asked for.
    keypad_offer: str = "If it's easier, you can use your keypad."
    # Said (by Twilio) to a caller the line has no room for (BOT_MAX_CALLS) when no overflow line is set.
    lines_busy: str = "Sorry, all our lines are busy right now. Please call back in a few minutes. Goodbye!"
    # The name a booking is made under when it is under the caller's phone number: a keypad caller's (a name
    # cannot be typed), or a caller whose name was not understood and who agreed to use their number.
    # (Business files written before it had this name call it keypad_name.)
    number_name: str = Field("Telephone Caller", validation_alias=AliasChoices("number_name", "keypad_name"))


def _plural(weekday: str) -> str:
    return weekday.capitalize() + "s"


def _times(sittings: list[Sitting]) -> str:
    return spoken.spoken_list(
        [f"from {spoken.spoken_time(s.first_seating)} to {spoken.spoken_time(s.last_seating)}" for s in sittings]
    )


def _span(days: list[str]) -> str:
    """'Friday', 'Tuesday and Wednesday', 'Tuesday to Thursday'."""
    names = [d.capitalize() for d in days]
    return names[0] if len(names) == 1 else f"{names[0]} {'and' if len(names) == 2 else 'to'} {names[-1]}"


class Business(BaseModel):
    """Opening hours, capacity and booking limits of one business."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = "restaurant"
    slot_minutes: int = Field(15, ge=5, le=120)
    table_minutes: int = Field(90, ge=15, le=600)
    capacity_seats: int = Field(ge=1)
    max_party_size: int = Field(ge=1)
    booking_horizon_days: int = Field(60, ge=1)
    hours: dict[str, list[Sitting]]
    closed_dates: list[dt.date] = Field(default_factory=list)
    # What the line asks for, in order; a business that books one person at a
    # time leaves out party_size and every booking is for default_party_size.
    asks_for: list[Literal["party_size", "date", "time", "name"]] = ["party_size", "date", "time", "name"]
    default_party_size: int = Field(1, ge=1)
    # How a booking is read back; {party}, {day}, {time}, {name} are filled in.
    readback: str = "a table for {party} {day}, at {time}, under the name {name}"
    # How a booking under the caller's phone number (line.number_name) is read back.
    readback_by_number: str = "a table for {party} {day}, at {time}, under the number you're calling from"
    # Appended to the read-back when the caller left a special request.
    readback_note: str = ", with a note: {note}"
    # Said to a caller whose line dropped and came back, before the question they were last asked.
    line_restored: str | None = None
    line: LineWords = LineWords()
    # Without them there is no last resort when no text-to-speech works.
    line_trouble_prompts: LineTroublePrompts | None = None
    # The confirmation texted when the line could not speak it; {business}, {booking}, {code} are filled in.
    sms_confirmation: str | None = None
    # What the line answers when a caller asks about the business (bot/booking/facts.py); hours come from `hours`.
    facts: Facts = Facts()

    @field_validator("asks_for")
    @classmethod
    def _asks_for_date_time_and_name(cls, asks: list[str]) -> list[str]:
        missing = {"date", "time", "name"} - set(asks)
        if missing:
            raise ValueError(f"asks_for must include {', '.join(sorted(missing))}")
        return asks

    @field_validator("hours")
    @classmethod
    def _every_weekday(cls, hours: dict[str, list[Sitting]]) -> dict[str, list[Sitting]]:
        unknown = set(hours) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday(s) in hours: {', '.join(sorted(unknown))}")
        return {day: hours.get(day, []) for day in WEEKDAYS}

    @classmethod
    def from_file(cls, path: str | Path) -> Business:
        """Load and validate a business file."""
        return cls.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))

    def sittings_on(self, day: dt.date) -> list[Sitting]:
        """The sittings open on ``day`` (none on a closed date)."""
        if day in self.closed_dates:
            return []
        return self.hours[WEEKDAYS[day.weekday()]]

    def start_times_on(self, day: dt.date) -> list[dt.time]:
        """Every bookable start time on ``day``, on the slot grid, in order."""
        times: list[dt.time] = []
        step = dt.timedelta(minutes=self.slot_minutes)
        for sitting in self.sittings_on(day):
            moment = dt.datetime.combine(day, sitting.first_seating)
            last = dt.datetime.combine(day, sitting.last_seating)
            while moment <= last:
                times.append(moment.time())
                moment += step
        return times

    def spoken_answers(self, today: dt.date) -> list[str]:
        """Everything the line may say to a caller's question: the facts, and the hours of the week ahead."""
        facts = self.facts
        written = [getattr(facts, kind) for kind in Facts.model_fields if isinstance(getattr(facts, kind), str)]
        days = [today + dt.timedelta(days=n) for n in range(8)]
        return [*written, *(entry.answer for entry in facts.more), *{self.hours_said(d, today) for d in [None, *days]}]

    def hours_said(self, day: dt.date | None, today: dt.date) -> str:
        """The opening hours in the business's words: for one day when the caller named one, else the week."""
        words = self.facts.hours_words
        if day is not None:
            if day in self.closed_dates:
                return words.closed_date.format(date=spoken.spoken_day(day, today))
            weekday = f"{day:%A}".lower()
            sittings = self.hours[weekday]
            if not sittings:
                return words.closed_day.format(day=_plural(weekday))
            return words.day.format(day=_plural(weekday), times=_times(sittings))
        spans: list[tuple[list[str], str]] = []  # runs of weekdays with the same hours
        closed: list[str] = []
        for weekday, sittings in self.hours.items():  # in weekday order, Monday first
            if not sittings:
                closed.append(_plural(weekday))
            elif spans and spans[-1][1] == _times(sittings):
                spans[-1][0].append(weekday)
            else:
                spans.append(([weekday], _times(sittings)))
        week = spoken.spoken_list([f"{_span(days)} {times}" for days, times in spans])
        text = words.week.format(times=week)
        if closed:
            text += " " + words.closed_day.format(day=spoken.spoken_list(closed))
        soon = [d for d in self.closed_dates if today <= d <= today + dt.timedelta(days=SOON_DAYS)]
        if soon:
            text += " " + words.closed_date.format(date=spoken.spoken_list([spoken.spoken_day(d, today) for d in soon]))
        return text
