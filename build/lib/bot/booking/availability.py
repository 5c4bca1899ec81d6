"""Can this party be seated then? And if not, what is the nearest real alternative?

Pure rules over :class:`~bot.booking.business.Business` plus the seats the store says
are taken. The final word belongs to the store's transaction; this module
answers the caller's questions before that.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from bot.booking.store import BookingStore


class Problem(StrEnum):
    """Why a request cannot be booked; each names a node in the flow."""

    TOO_LARGE = "too_large"
    DAY_PAST = "day_past"
    DAY_TOO_FAR = "day_too_far"
    DAY_CLOSED = "day_closed"
    TIME_PAST = "time_past"
    TIME_CLOSED = "time_closed"
    TIME_FULL = "time_full"


@dataclass(frozen=True)
class Slot:
    date: dt.date
    time: dt.time


@dataclass(frozen=True)
class Verdict:
    problem: Problem | None = None
    alternatives: list[Slot] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_party(store: BookingStore, party_size: int) -> Problem | None:
    return Problem.TOO_LARGE if party_size > store.business.max_party_size else None


def check_date(store: BookingStore, day: dt.date, now: dt.datetime) -> Problem | None:
    business = store.business
    if day < now.date():
        return Problem.DAY_PAST
    if (day - now.date()).days > business.booking_horizon_days:
        return Problem.DAY_TOO_FAR
    if not business.start_times_on(day):
        return Problem.DAY_CLOSED
    return None


def check_slot(
    store: BookingStore,
    party_size: int,
    day: dt.date,
    time: dt.time,
    now: dt.datetime,
    *,
    ignore_booking: int | None = None,
) -> Verdict:
    """Whether the whole request can be booked, with alternatives when it cannot.

    ``ignore_booking`` is a booking being changed: its own seats are free to it.
    """
    problem = check_party(store, party_size) or check_date(store, day, now)
    if problem:
        return Verdict(problem)
    if dt.datetime.combine(day, time) <= now:
        problem = Problem.TIME_PAST
    elif time not in store.business.start_times_on(day):
        problem = Problem.TIME_CLOSED
    elif not store.has_room(day, time, party_size, ignore_booking=ignore_booking):
        problem = Problem.TIME_FULL
    else:
        return Verdict()
    return Verdict(problem, alternatives(store, party_size, day, time, now, ignore_booking=ignore_booking))


def free_times(
    store: BookingStore, party_size: int, day: dt.date, now: dt.datetime, *, ignore_booking: int | None = None
) -> list[dt.time]:
    """The start times on ``day`` still ahead with room for ``party_size``, in order."""
    return [
        t
        for t in store.business.start_times_on(day)
        if dt.datetime.combine(day, t) > now and store.has_room(day, t, party_size, ignore_booking=ignore_booking)
    ]


def alternatives(
    store: BookingStore,
    party_size: int,
    day: dt.date,
    time: dt.time,
    now: dt.datetime,
    *,
    limit: int = 2,
    days_ahead: int = 7,
    ignore_booking: int | None = None,
) -> list[Slot]:
    """The nearest bookable slots: the same day first (closest in time, one
    earlier and one later when both exist), else the nearest time on the next
    open days."""
    wanted = dt.datetime.combine(day, time)

    def open_slots(on: dt.date) -> list[Slot]:
        return [Slot(on, t) for t in free_times(store, party_size, on, now, ignore_booking=ignore_booking)]

    def distance(slot: Slot) -> float:
        return abs((dt.datetime.combine(day, slot.time) - wanted).total_seconds())

    same_day = sorted(open_slots(day), key=distance)
    if same_day:
        earlier = [s for s in same_day if s.time < time][:1]
        later = [s for s in same_day if s.time > time][:1]
        picks = earlier + later if earlier and later else same_day[:limit]
        return sorted(picks[:limit], key=lambda s: s.time)
    found: list[Slot] = []
    for offset in range(1, days_ahead + 1):
        other = day + dt.timedelta(days=offset)
        if check_date(store, other, now) is None and (slots := sorted(open_slots(other), key=distance)):
            found.append(slots[0])
            if len(found) == limit:
                break
    return found
