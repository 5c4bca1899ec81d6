"""Opening hours, limits and the nearest real alternatives (read from an SQLite and a PostgreSQL store)."""

import datetime as dt

import pytest

from bot.booking.availability import Problem, alternatives, check_date, check_slot
from bot.booking.business import Business
from bot.booking.store import BookingStore
from tests.conftest import NOW, PROJECT

TUE, WED, MON = dt.date(2026, 11, 24), dt.date(2026, 11, 25), dt.date(2026, 11, 30)


@pytest.fixture
def store(database, business) -> BookingStore:
    return BookingStore(database, business)


def test_business_hours_come_from_the_file(business):
    assert business.start_times_on(MON) == []
    times = business.start_times_on(WED)
    assert times[0] == dt.time(17, 0) and times[-1] == dt.time(21, 30)
    assert all(t.minute % business.slot_minutes == 0 for t in times)
    assert business.start_times_on(dt.date(2026, 12, 25)) == []  # a closed date


def test_dates_outside_service(store):
    assert check_date(store, MON, NOW) is Problem.DAY_CLOSED
    assert check_date(store, TUE - dt.timedelta(days=1), NOW) is Problem.DAY_PAST
    assert check_date(store, TUE + dt.timedelta(days=400), NOW) is Problem.DAY_TOO_FAR
    assert check_date(store, WED, NOW) is None


def test_after_last_seating_offers_the_nearest_times_that_day(store):
    verdict = check_slot(store, 2, WED, dt.time(23, 0), NOW)
    assert verdict.problem is Problem.TIME_CLOSED
    assert [s.time for s in verdict.alternatives] == [dt.time(21, 15), dt.time(21, 30)]


def test_full_slot_offers_one_earlier_and_one_later(store, business):
    store.create_booking(name="All", party_size=business.capacity_seats, date=WED, time=dt.time(19, 0), caller=None, call_sid=None)
    verdict = check_slot(store, 2, WED, dt.time(19, 0), NOW)
    assert verdict.problem is Problem.TIME_FULL
    earlier, later = verdict.alternatives
    assert earlier.time < dt.time(19, 0) < later.time
    for slot in verdict.alternatives:
        assert store.has_room(slot.date, slot.time, 2)


def test_a_fully_booked_day_offers_other_days(store, business):
    for t in business.start_times_on(WED)[::6]:
        store.create_booking(name="x", party_size=business.capacity_seats, date=WED, time=t, caller=None, call_sid=None)
    found = alternatives(store, 2, WED, dt.time(19, 0), NOW)
    assert found and all(s.date > WED for s in found)


def test_too_large_and_past_times(store, business):
    assert check_slot(store, business.max_party_size + 1, WED, dt.time(19), NOW).problem is Problem.TOO_LARGE
    assert check_slot(store, 2, TUE, dt.time(12), NOW).problem in (Problem.TIME_PAST, Problem.TIME_CLOSED)
    assert check_slot(store, 2, WED, dt.time(19), NOW).ok


def test_a_business_file_from_before_number_name_still_loads_with_its_name(tmp_path):
    text = (PROJECT / "flows" / "booking.business.yaml").read_text()
    assert "  number_name: " in text
    older = tmp_path / "business.yaml"
    older.write_text(text.replace("  number_name: Telephone Caller", "  keypad_name: Phone Booking"))
    assert Business.from_file(older).line.number_name == "Phone Booking"
