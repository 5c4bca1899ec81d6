"""The booking store: atomic bookings, capacity, history, and no double booking under a race."""

import datetime as dt
import threading

import pytest

from bot.booking.store import CODE_ALPHABET, BookingStore, SlotUnavailable

WED = dt.date(2026, 11, 25)
SEVEN = dt.time(19, 0)


def book(store, party=2, time=SEVEN, name="Ann Lee", call_sid="CA1"):
    return store.create_booking(
        name=name, party_size=party, date=WED, time=time, caller="+15550001", call_sid=call_sid
    )


def test_booking_is_stored_with_caller_call_and_code(store):
    made = book(store)
    row = store.db["bookings"].get(made.id)
    assert row["caller"] == "+15550001" and row["call_sid"] == "CA1"
    assert row["status"] == "confirmed"
    assert len(made.code) == 6 and set(made.code) <= set(CODE_ALPHABET)
    assert made.as_expected() == {"party_size": 2, "date": "2026-11-25", "time": "19:00", "name": "Ann Lee"}


def test_every_booking_writes_a_history_row(store):
    made = book(store)
    (entry,) = store.history(made.id)
    assert entry["action"] == "created" and entry["call_sid"] == "CA1" and '"Ann Lee"' in entry["after"]


def test_capacity_counts_overlapping_tables_only(store, business):
    # Fill the room at 19:00 exactly.
    for i in range(business.capacity_seats // 8):
        book(store, party=8, name=f"Group {i}")
    assert store.seats_taken(WED, SEVEN) == (business.capacity_seats // 8) * 8
    with pytest.raises(SlotUnavailable):
        book(store, party=8)
    # Still held 80 minutes later, free once the tables are released.
    assert not store.has_room(WED, dt.time(20, 15), 8)
    assert store.has_room(WED, dt.time(20, 30), 8)
    assert store.has_room(WED, dt.time(17, 30), 8)


def test_a_full_slot_writes_nothing(store, business):
    book(store, party=business.capacity_seats)
    before = store.db["bookings"].count, store.db["booking_history"].count
    with pytest.raises(SlotUnavailable):
        book(store, party=1)
    assert (store.db["bookings"].count, store.db["booking_history"].count) == before


def test_racing_calls_never_double_book_the_last_table(tmp_path, business):
    """Many processes' worth of connections race for the last 4 seats: exactly one wins."""
    path = tmp_path / "race.db"
    first = BookingStore(path, business)
    first.create_booking(
        name="Big party", party_size=business.capacity_seats - 4, date=WED, time=SEVEN, caller=None, call_sid="CA0"
    )
    stores = [BookingStore(path, business) for _ in range(12)]  # separate connections, like separate workers
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def attempt(index: int, s: BookingStore) -> None:
        barrier.wait()
        try:
            s.create_booking(name=f"Caller {index}", party_size=4, date=WED, time=SEVEN, caller=None, call_sid=f"CA{index + 1}")
            outcomes.append("booked")
        except SlotUnavailable:
            outcomes.append("full")

    threads = [threading.Thread(target=attempt, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["booked"] + ["full"] * (len(stores) - 1)
    assert first.seats_taken(WED, SEVEN) == business.capacity_seats


def test_call_report_pairs_turns_and_bookings(store):
    store.call_started("CA9", "+15550009")
    store.add_turn("CA9", 0, None, "Hello")
    store.add_turn("CA9", 1, "table for two", "What day?")
    book(store, call_sid="CA9")
    store.call_ended("CA9", "booked")
    report = store.call_report("CA9")
    assert report["call"]["outcome"] == "booked" and report["call"]["ended_at"]
    assert [t["bot_said"] for t in report["turns"]] == ["Hello", "What day?"]
    assert report["bookings"][0]["name"] == "Ann Lee"
    assert store.call_report("nope") is None
