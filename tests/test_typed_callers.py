"""Whole calls typed in callers' own ways of putting things, through the real flow on the offline engine.

Phrasings none of the other tests use (written for this file, and varied: how a read-back is agreed to,
how a change is said relative to the booking, a question whose day the booking then takes). Each call
must end in exactly the booking the caller asked for. The business is open at every hour with no
practical limits (as in ``python -m bot understanding``), so only understanding decides.
"""

import asyncio
import datetime as dt
import io
import sqlite3

import pytest

from bot.desk.chat import run_chat
from bot.measure.understanding import open_all_hours
from bot.settings import load_settings
from tests.conftest import PROJECT

NOW = dt.datetime(2026, 12, 2, 10, 0)  # a Wednesday
CALLER = "+447700900123"

NEW_BOOKINGS = [
    (["Hi, I'd like a table for the day after tomorrow", "four", "8pm", "Jones", "yep that's all correct"],
     (4, "2026-12-04", "20:00")),
    (["Table for 2 please", "a week on Friday", "7", "Sam Lee", "Yes, that's everything."], (2, "2026-12-11", "19:00")),
    (["Can I book for Saturday at 7 for six people", "actually make that seven people", "Olu Ade", "spot on"],
     (7, "2026-12-05", "19:00")),
    (["book a table", "6", "Friday", "7:30", "Jane Doe", "no, the time should be 8", "that's it"],
     (6, "2026-12-04", "20:00")),
    (["Hi, what time do you open on Sunday?", "great, can I book for 3 people then at 1pm", "Pat Smith", "yes"],
     (3, "2026-12-06", "13:00")),
    (["I want to book for my family, two adults and a baby", "Saturday", "12:30", "it's for Grace Hall", "go on then"],
     (3, "2026-12-05", "12:30")),
    (["Hi, can I get a reservation", "a family of four", "on the 9th", "nineteen hundred hours", "Ravi", "Yes? Please."],
     (4, "2026-12-09", "19:00")),
    (["I want to make a reservation please", "ten people please", "tonight", "half past six", "Kim", "yes"],
     (10, "2026-12-02", "18:30")),
    (["hello, I need a table", "sorry, what did you say?", "me plus three", "a week today", "quarter to eight",
      "Mary-Jane Watson", "Pardon?", "yes please"], (4, "2026-12-09", "19:45")),
    (["What times do you have on Friday for 4?", "8 then", "Dee Woods", "brilliant, thanks"], (4, "2026-12-04", "20:00")),
    (["Table for two please", "umm, next Tuesday", "seven, no, actually eight", "Pip", "yes"], (2, "2026-12-08", "20:00")),
    (["Hi! We'd like to come tomorrow night", "five people", "is 8 okay?", "Nash", "yes"], (5, "2026-12-03", "20:00")),
]

# A booking for 4 on Friday at 7 pm, made first from CALLER; then another call changes or cancels it.
CHANGES = [
    (["Hi, I have a booking on Friday, can I add two more people?", "yes"], ("confirmed", 6, "2026-12-04", "19:00")),
    (["Hi, could we push our booking back an hour?", "yes"], ("confirmed", 4, "2026-12-04", "20:00")),
    (["Can we come earlier on Friday, say 6?", "yes"], ("confirmed", 4, "2026-12-04", "18:00")),
    (["Hi, is it possible to make our table a bit later, like 8:30?", "yes"], ("confirmed", 4, "2026-12-04", "20:30")),
    (["I booked a table on Friday, can we move it to Saturday?", "yes"], ("confirmed", 4, "2026-12-05", "19:00")),
    (["I need to amend my booking", "one fewer person", "yes"], ("confirmed", 3, "2026-12-04", "19:00")),
    (["Hello, we can't make it on Friday anymore", "yes, cancel it"], ("cancelled",)),
]


@pytest.fixture(scope="module")
def business(tmp_path_factory):
    return open_all_hours(PROJECT / "flows" / "booking.business.yaml", tmp_path_factory.mktemp("business"))


def typed(lines, db, business, caller=None):
    settings = load_settings(stt="local", llm="local", tts="local", business_file=business, db_path=db)
    out = io.StringIO()
    result = asyncio.run(asyncio.wait_for(run_chat(lines, settings=settings, now=NOW, caller=caller, out=out), 60))
    return result, out.getvalue()


@pytest.mark.parametrize("lines, booked", NEW_BOOKINGS, ids=[lines[0][:40] for lines, _ in NEW_BOOKINGS])
def test_a_caller_books_what_they_asked_for_however_they_put_it(lines, booked, business, tmp_path):
    result, transcript = typed(lines, tmp_path / "b.db", business)
    booking = result.outcome.booking
    assert booking is not None and (booking["party_size"], booking["date"], booking["time"]) == booked, transcript


@pytest.mark.parametrize("lines, after", CHANGES, ids=[lines[0][:40] for lines, _ in CHANGES])
def test_a_change_said_the_callers_way_changes_exactly_that(lines, after, business, tmp_path):
    db = tmp_path / "b.db"
    first, _ = typed(["Table for 4 on Friday at 7pm", "Sam Reed", "yes"], db, business, CALLER)
    assert first.outcome.booking is not None
    _, transcript = typed(lines, db, business, CALLER)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select status, party_size, date, time from bookings").fetchall()
    assert len(rows) == 1 and rows[0][: len(after)] == after, (rows, transcript)
