"""The booking store: atomic bookings, capacity, history, and no double booking under a race.

Every test here runs twice: on an SQLite file and on a real PostgreSQL server (the ``database``
fixture, tests/conftest.py); a second BookingStore on the same database is another worker or host.
"""

import datetime as dt
import threading

import pytest

from bot.booking.store import (
    CODE_ALPHABET,
    BookingLimitReached,
    BookingNotFound,
    BookingStore,
    SlotUnavailable,
)

WED = dt.date(2026, 11, 25)
SEVEN = dt.time(19, 0)


@pytest.fixture
def store(database, business) -> BookingStore:
    return BookingStore(database, business)


def race(stores, attempt) -> list[str]:
    """``attempt(index, store)`` in one thread per store, all released at once; what each returned."""
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def run(index: int, s: BookingStore) -> None:
        barrier.wait()
        outcomes.append(attempt(index, s))

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


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


def test_racing_calls_never_double_book_the_last_table(database, business):
    """Many processes' worth of connections race for the last 4 seats: exactly one wins."""
    first = BookingStore(database, business)
    first.create_booking(
        name="Big party", party_size=business.capacity_seats - 4, date=WED, time=SEVEN, caller=None, call_sid="CA0"
    )
    stores = [BookingStore(database, business) for _ in range(12)]  # separate connections, like separate workers

    def attempt(index: int, s: BookingStore) -> str:
        try:
            s.create_booking(name=f"Caller {index}", party_size=4, date=WED, time=SEVEN, caller=None, call_sid=f"CA{index + 1}")
            return "booked"
        except SlotUnavailable:
            return "full"

    outcomes = race(stores, attempt)
    assert sorted(outcomes) == ["booked"] + ["full"] * (len(stores) - 1)
    assert first.seats_taken(WED, SEVEN) == business.capacity_seats


def test_racing_calls_from_one_number_on_different_days_stay_within_its_daily_limit(database, business):
    stores = [BookingStore(database, business) for _ in range(8)]

    def attempt(index: int, s: BookingStore) -> str:
        try:
            s.create_booking(name="Ann Lee", party_size=2, date=WED + dt.timedelta(days=index % 4), time=SEVEN,
                             caller="+15550001", call_sid=f"CA{index}", limit_per_caller=3)
            return "booked"
        except BookingLimitReached:
            return "limit"

    assert sorted(race(stores, attempt)) == ["booked"] * 3 + ["limit"] * 5
    assert stores[0].bookings_by_caller("+15550001") == 3


def test_a_moved_booking_and_a_new_one_cannot_both_take_the_last_seats(database, business):
    first = BookingStore(database, business)
    first.create_booking(name="Big party", party_size=business.capacity_seats - 4, date=WED, time=SEVEN,
                         caller=None, call_sid="CA0")
    elsewhere = first.create_booking(name="Moving", party_size=4, date=WED, time=dt.time(17, 0), caller=None,
                                     call_sid="CA1")
    stores = [BookingStore(database, business) for _ in range(6)]

    def attempt(index: int, s: BookingStore) -> str:
        try:
            if index == 0:
                s.change_booking(elsewhere.id, party_size=4, date=WED, time=SEVEN, call_sid="CA1")
            else:
                s.create_booking(name=f"Caller {index}", party_size=4, date=WED, time=SEVEN, caller=None,
                                 call_sid=f"CA{index + 1}")
            return "booked"
        except SlotUnavailable:
            return "full"

    assert sorted(race(stores, attempt)) == ["booked"] + ["full"] * 5
    assert first.seats_taken(WED, SEVEN) == business.capacity_seats


def test_a_checkpoint_resumes_on_another_host_and_only_once(database, business):
    here = BookingStore(database, business)
    here.call_started("CA1", "+15550001")
    here.save_call_state("CA1", "confirm", {"booking": {"party_size": 4}}, [{"role": "user", "content": "hi"}])
    here.call_interrupted("CA1")
    hosts = [BookingStore(database, business) for _ in range(6)]  # the call comes back to whichever host

    def attempt(index: int, s: BookingStore) -> str:
        taken = s.take_resumable("CA1", grace_secs=30)
        if taken is not None:
            assert taken.pop("saved_at")  # when it was saved: resuming reads back bookings made since
        return "resumed" if taken == {"node": "confirm", "state": {"booking": {"party_size": 4}},
                                      "messages": [{"role": "user", "content": "hi"}]} else repr(taken)

    assert sorted(race(hosts, attempt)) == ["None"] * 5 + ["resumed"]
    here.call_interrupted("CA1")
    assert sorted(race(hosts, lambda i, s: repr(s.close_abandoned_calls(grace_secs=0)))) == ["['CA1']"] + ["[]"] * 5
    assert here.call_report("CA1")["call"]["outcome"] == "dropped"


def test_a_stream_token_is_redeemed_once_by_its_own_call(store):
    store.add_stream_token("t1", "CA1", "+15550001", "TN-Validation-Passed-A", ttl_secs=15)
    store.add_stream_token("t2", "CA2", None, None, ttl_secs=15)
    assert store.take_stream_token("t1", "CA9") is None  # another call's token: spent, not given
    assert store.take_stream_token("t1", "CA1") is None
    assert store.take_stream_token("t2", "CA2") == {"caller": None, "stir_verstat": None}
    store.add_stream_token("t3", "CA3", None, None, ttl_secs=-1)
    assert store.take_stream_token("t3", "CA3") is None  # expired


def test_every_record_of_a_call_reads_back_as_written(store):
    """The whole interface once, so each backend's SQL runs: calls, turns, questions, faults, figures, messages."""
    store.call_started("CA1", None)
    store.note_call_wanted("CA1", "booking")
    assert store.next_turn("CA1") == 0
    store.add_turn("CA1", 0, None, "Hello")
    store.add_turn("CA1", 1, "a table for two", "What day?")
    assert store.next_turn("CA1") == 2 and store.call_is_known("CA1") and not store.call_is_over("CA1")
    store.record_question("CA1", "Do you have parking?", "parking")
    store.record_fault("CA1", "stt", "deepgram", "timeout", "whisper")
    store.add_turn_latency("CA1", {"turn": 1, "voice_to_voice_ms": 612.25, "stt_ms": 101.5, "breakdown": "[[\"stt\", 101.5]]"})
    made = store.create_booking(name="Ann Lee", party_size=2, date=WED, time=SEVEN, caller=None, call_sid="CA1",
                                notes="window", limit_per_caller=1)
    with pytest.raises(BookingLimitReached):  # a withheld number is one number
        store.create_booking(name="Bo Chen", party_size=2, date=WED, time=SEVEN, caller=None, call_sid="CA2",
                             limit_per_caller=1)
    moved = store.change_booking(made.id, party_size=3, date=WED, time=dt.time(19, 30), call_sid="CA1")
    message = store.take_message(call_sid="CA1", caller=None, name="Ann", callback_number="+15550001", reason="parking")
    store.mark_message_done(message, staff="staff: Maria")
    store.call_ended("CA1", "booked")

    assert (moved.code, moved.party_size, moved.time, moved.notes) == (made.code, 3, dt.time(19, 30), "window")
    assert [b.code for b in store.upcoming_bookings(WED, name="ann", date=WED, code=made.code)] == [made.code]
    assert store.upcoming_bookings(WED, caller="+15550001") == []
    assert [b.id for b in store.bookings_of_call("CA1")] == [made.id] and store.bookings_made("CA1") == 1
    report = store.call_report("CA1")
    assert (report["call"]["outcome"], report["call"]["wanted"], report["call"]["caller"]) == ("booked", "booking", None)
    assert [(t["turn"], t["caller_heard"]) for t in report["turns"]] == [(0, None), (1, "a table for two")]
    assert report["bookings"] == [moved.as_expected() | {"code": made.code, "status": "confirmed", "action": "changed"}]
    assert [(m["reason"], m["done_by"]) for m in report["messages"]] == [("parking", "staff: Maria")]
    assert report["questions"] == [{"question": "Do you have parking?", "fact": "parking"}]
    assert [(f["job"], f["fallback"]) for f in report["faults"]] == [("stt", "whisper")]
    (latency,) = report["latency"]
    assert (latency["voice_to_voice_ms"], latency["stt_ms"], latency["breakdown"]) == (612.25, 101.5, [["stt", 101.5]])
    cancelled = store.cancel_booking(made.id, call_sid=None, staff="staff: Maria")
    assert cancelled.status == "cancelled" and [h["action"] for h in store.history(made.id)] == [
        "created", "changed", "cancelled"]
    with pytest.raises(BookingNotFound):
        store.cancel_booking(made.id, call_sid=None)
    with pytest.raises(BookingNotFound):
        store.get(made.id + 100)


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
