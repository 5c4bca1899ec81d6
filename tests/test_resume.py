"""When the line drops, the call goes on (bot/call/resume.py, server.py's reconnect path).

Each case replays ``recordings/one-sentence`` through the real server with a
simulated Twilio caller: the websocket is cut (closed without Twilio's
``stop``) after the bot's read-back and the same call SID reconnects; or it is
cut for good; or another connection holds the database's write lock while the
caller confirms. The cases run at once, as a busy line would.
"""

import asyncio
import datetime as dt
import sqlite3
import threading
import time

import pytest
from pipecat.flows import Flow, FlowConfig

from bot.audio import load_phone_audio
from bot.booking import tools
from bot.booking.store import BookingStore
from bot.call.resume import resume_node, with_booking_made
from bot.replay.caller import TwilioCaller
from bot.replay.runner import in_process_server, replay_settings
from bot.replay.scenario import load_scenario
from tests.conftest import PROJECT

SCENARIO = load_scenario(PROJECT / "recordings" / "one-sentence")
REQUEST, CONFIRM = (load_phone_audio(turn.audio) for turn in SCENARIO.turns)


def _caller(url: str, call_sid: str | None = None) -> TwilioCaller:
    return TwilioCaller(
        url, caller=SCENARIO.caller, custom_parameters={"now": SCENARIO.now.isoformat()}, call_sid=call_sid
    )


async def _until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return found


async def _replied(store, call_sid: str, turns: int) -> None:
    """Until the bot has finished its reply for the ``turns``-th time (a long reply may pause between clauses)."""
    await _until(lambda: store.next_turn(call_sid) >= turns, timeout=30)


async def _up_to_the_readback(url: str, store) -> TwilioCaller:
    """A call that has asked for its booking and heard it read back."""
    caller = _caller(url)
    await caller.__aenter__()
    await _replied(store, caller.call_sid, 1)
    await caller.say(REQUEST)
    await _replied(store, caller.call_sid, 2)
    return caller


def _bookings(store, call_sid: str) -> list[dict]:
    return list(store.db["bookings"].rows_where("call_sid = ?", [call_sid]))


async def cut_and_reconnected(tmp):
    settings = replay_settings(db_path=tmp / "bookings.db", recordings_dir=tmp / "calls")
    async with in_process_server(settings) as (url, store):
        first = await _up_to_the_readback(url, store)
        turns_before_cut = store.next_turn(first.call_sid)
        await first.cut()
        async with _caller(url, call_sid=first.call_sid) as again:
            await _replied(store, first.call_sid, turns_before_cut + 1)
            await again.say(CONFIRM)
            hung_up = await again.wait_for_hang_up(20)
        await _until(lambda: store.call_is_over(first.call_sid))
        return store.call_report(first.call_sid), _bookings(store, first.call_sid), turns_before_cut, hung_up


async def cut_for_good(tmp):
    settings = replay_settings(db_path=tmp / "bookings.db", recordings_dir=tmp / "calls", resume_grace_secs=1)
    async with in_process_server(settings) as (url, store):
        dropped = await _up_to_the_readback(url, store)
        await dropped.cut()
        await _until(lambda: store.call_is_over(dropped.call_sid))
        # Too late: the same call coming back is closed, not started over.
        async with _caller(url, call_sid=dropped.call_sid) as late:
            late_closed = await late.wait_for_hang_up(5)
        async with _caller(url) as fresh:
            greeted = await fresh.wait_for_bot(since=0.0)
        return store.call_report(dropped.call_sid), _bookings(store, dropped.call_sid), late_closed, greeted


def _hold_write_lock(db_path, acquired: threading.Event, release: threading.Event) -> None:
    """Another process's writer: takes SQLite's write lock and keeps it until told."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    acquired.set()
    release.wait(10)
    conn.execute("COMMIT")
    conn.close()


async def database_locked_for_a_moment(tmp):
    settings = replay_settings(db_path=tmp / "bookings.db", recordings_dir=tmp / "calls")
    async with in_process_server(settings) as (url, store):
        caller = await _up_to_the_readback(url, store)
        acquired, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(settings.db_path, acquired, release))
        holder.start()
        acquired.wait(5)
        # The lock spans the caller's "yes" and the 2.5 s after it, when the booking is written (within
        # the store's 5 s busy timeout). It is released by this event loop, the one carrying the call:
        # a booking that waited for the lock on the loop would freeze it, and fail when the wait ran out.
        await caller.say(CONFIRM)
        asyncio.get_running_loop().call_later(2.5, release.set)
        hung_up = await caller.wait_for_hang_up(20)
        await caller.hang_up()
        await asyncio.to_thread(holder.join)
        await _until(lambda: store.call_is_over(caller.call_sid))
        return store.call_report(caller.call_sid), _bookings(store, caller.call_sid), hung_up


CASES = {
    "cut-and-reconnected": cut_and_reconnected,
    "cut-for-good": cut_for_good,
    "database-locked": database_locked_for_a_moment,
}


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    async def run_all():
        names = list(CASES)
        done = await asyncio.gather(*(CASES[n](tmp_path_factory.mktemp(n)) for n in names), return_exceptions=True)
        return dict(zip(names, done))

    return asyncio.run(run_all())


def _outcome(calls, case):
    if isinstance(calls[case], BaseException):
        raise calls[case]
    return calls[case]


def test_a_call_cut_mid_call_resumes_where_it_left_off_and_books_once(calls, business):
    report, bookings, turns_before_cut, hung_up = _outcome(calls, "cut-and-reconnected")
    expected = SCENARIO.expect["booking"]
    assert len(bookings) == 1 and bookings[0]["status"] == "confirmed"
    assert [{k: b[k] for k in expected} for b in report["bookings"]] == [expected]
    assert report["call"]["outcome"] == "booked" and hung_up
    said = [t["bot_said"] for t in report["turns"]]
    assert [t["turn"] for t in report["turns"]] == list(range(len(said)))  # one transcript, numbered on
    after_cut = said[turns_before_cut:]
    assert after_cut[0].startswith(business.line_restored + " Let me read that back"), said  # then the question again
    assert "You're all booked" in said[-1]


def test_a_call_cut_for_good_is_closed_as_dropped_with_no_booking(calls):
    report, bookings, late_closed, greeted = _outcome(calls, "cut-for-good")
    assert report["call"]["outcome"] == "dropped" and report["call"]["ended_at"]
    assert bookings == [] and report["bookings"] == []
    assert late_closed  # a reconnect after the grace period is turned away
    assert greeted  # and the server goes on answering new calls


def test_a_booking_waits_out_a_locked_database_and_is_made_once(calls):
    report, bookings, hung_up = _outcome(calls, "database-locked")
    expected = SCENARIO.expect["booking"]
    assert len(bookings) == 1 and {k: bookings[0][k] for k in expected} == expected
    assert report["call"]["outcome"] == "booked" and hung_up
    assert "You're all booked" in report["turns"][-1]["bot_said"]


# ------------------------------------------------------------------ without a call


def test_a_checkpoint_resumes_once_within_the_grace_period_and_is_closed_after_it(database, business):
    store = BookingStore(database, business)
    store.call_started("CA1", "+15551230001")
    store.save_call_state("CA1", "confirm", {"booking": {"party_size": 4}}, [{"role": "user", "content": "hi"}])
    assert store.take_resumable("CA1", grace_secs=30) is None  # the line has not dropped
    store.call_interrupted("CA1")
    resumable = store.take_resumable("CA1", grace_secs=30)
    assert resumable.pop("saved_at") and resumable == {
        "node": "confirm", "state": {"booking": {"party_size": 4}}, "messages": [{"role": "user", "content": "hi"}]
    }
    assert store.take_resumable("CA1", grace_secs=30) is None  # claimed by the stream that resumed it
    store.call_interrupted("CA1")
    assert store.close_abandoned_calls(grace_secs=0) == ["CA1"]
    assert store.call_is_over("CA1") and store.call_report("CA1")["call"]["outcome"] == "dropped"
    assert store.take_resumable("CA1", grace_secs=30) is None


def test_a_booking_made_just_before_the_drop_resumes_at_its_announcement_not_the_question(business):
    flow = Flow(FlowConfig.from_file(PROJECT / "flows" / "booking.yaml"), handlers=tools)
    asking = resume_node(flow, {"node": "confirm", "state": {}}, business)
    assert asking["name"] == "confirm"
    assert f'Say: "{business.line_restored} Let me read' in asking["task_messages"][0]["content"]
    booked = resume_node(flow, {"node": "confirm", "state": {"booking_id": 7}}, business)
    assert booked["name"] == "booked" and "role_message" in booked


def test_a_booking_made_after_the_last_checkpoint_resumes_at_its_announcement_and_is_not_made_twice(database, business):
    """The worker died (SIGKILL) between making the booking and the checkpoint after the turn announcing it."""
    store = BookingStore(database, business)
    flow = Flow(FlowConfig.from_file(PROJECT / "flows" / "booking.yaml"), handlers=tools)
    store.call_started("CA1", "+15551230001")
    store.save_call_state("CA1", "confirm", {"booking": {"party_size": 4}}, [])
    time.sleep(0.01)  # the checkpoint's time and the booking's are a few milliseconds apart at the least
    made = store.create_booking(name="Ann Lee", party_size=4, date=dt.date(2030, 5, 6), time=dt.time(19),
                                caller="+15551230001", call_sid="CA1")
    store.call_interrupted("CA1")
    saved = with_booking_made(store.take_resumable("CA1", grace_secs=30), store, "CA1")
    assert saved["state"]["booking_id"] == made.id and saved["state"]["confirmation_code"] == made.code
    assert resume_node(flow, saved, business)["name"] == "booked"

    store.call_started("CA2", "+15551230002")  # booked before its checkpoint: the checkpoint knows already
    made = store.create_booking(name="Bo Chan", party_size=2, date=dt.date(2030, 5, 6), time=dt.time(19),
                                caller="+15551230002", call_sid="CA2")
    time.sleep(0.01)
    store.save_call_state("CA2", "confirm", {"booking": {"party_size": 2}}, [])  # (declined, say, and on)
    store.call_interrupted("CA2")
    saved = with_booking_made(store.take_resumable("CA2", grace_secs=30), store, "CA2")
    assert "booking_id" not in saved["state"] and resume_node(flow, saved, business)["name"] == "confirm"
