"""The booking tools a flow file names: Pipecat Flows direct functions.

Each tool validates what the caller gave, updates the flow state, and returns
``(result, TRANSITION_IN_YAML)``: the result's ``next`` field names the case
the flow file branches on, so where the conversation goes and what the bot
says there stay in ``flows/*.yaml``. ``expecting`` tells any dialogue engine
which value the next node asks for.

One booking draft (``state["booking"]``) serves new bookings and changes: a
change starts from the found booking, and only the confirmation differs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from loguru import logger
from pipecat.flows import TRANSITION_IN_YAML, FlowManager
from rapidfuzz import fuzz

from bot.booking import availability, facts, spoken
from bot.booking.availability import Problem, Slot
from bot.booking.store import (
    Booking,
    BookingLimitReached,
    BookingNotFound,
    SlotUnavailable,
    StoreUnavailable,
)
from bot.call.context import CALL_STATE_KEY, CallContext
from bot.dialogue import questions
from bot.metrics import METRICS
from bot.telephony.caller_id import masked

# What the node after each problem asks the caller for again.
_PROBLEM_ASKS = {
    Problem.TOO_LARGE: "party_size",
    Problem.DAY_PAST: "date",
    Problem.DAY_TOO_FAR: "date",
    Problem.DAY_CLOSED: "date",
    Problem.TIME_PAST: "time",
    Problem.TIME_CLOSED: "time",
    Problem.TIME_FULL: "time",
}
MAX_TEXT_LENGTH = 200
# Searches by code or name and day that may find nothing in one call before it goes to staff:
# a caller who really has a booking gets there sooner or later; one guessing others' does not.
MAX_FAILED_SEARCHES = 3
# flow_manager.state: the day the caller's last question was about, for a booking that names none.
DAY_ASKED_ABOUT = "day_asked_about"
# Minutes speech-to-text confuses with a twin ("fifteen" and "fifty"): heard -> what may have been said.
_MINUTE_TWINS = {50: 15, 15: 50, 40: 14, 14: 40, 30: 13, 13: 30}
# flow_manager.state: the times heard off the booking grid that were already checked as their twin.
TWINS_CHECKED = "twins_checked"
SAME_NAME_WORD = 80  # rapidfuzz ratio, 0-100, from which a heard word is taken for a word of the booked name
Result = tuple[dict, Any]


def call_of(flow_manager: FlowManager) -> CallContext:
    return flow_manager.state[CALL_STATE_KEY]


def _draft(flow_manager: FlowManager) -> dict[str, Any]:
    return flow_manager.state.setdefault("booking", {})


def _valid_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _valid_time(value: str | None) -> dt.time | None:
    try:
        return dt.time.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _valid_text(value: str | None, *, limit: int = MAX_TEXT_LENGTH) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text[:limit] if any(c.isalpha() for c in text) else None


def _merge(draft: dict[str, Any], **values: Any) -> None:
    """Take the values that are well-formed; ignore the rest (the caller is asked again)."""
    party_size = values.get("party_size")
    if isinstance(party_size, int) and not isinstance(party_size, bool) and party_size >= 1:
        draft["party_size"] = party_size
    if parsed_date := _valid_date(values.get("date")):
        draft["date"] = parsed_date.isoformat()
    if parsed_time := _valid_time(values.get("time")):
        draft["time"] = parsed_time.strftime("%H:%M")
    if name := _valid_text(values.get("name"), limit=60):
        draft["name"] = name
    if note := _valid_text(values.get("special_request")):
        draft["note"] = note


def describe(booking: dict[str, Any], call: CallContext) -> str:
    """A booking (draft or stored) in the business's read-back words."""
    business, today = call.business, call.now().date()
    by_number = booking["name"] == business.line.number_name
    text = (business.readback_by_number if by_number else business.readback).format(
        party=spoken.spoken_party(booking.get("party_size", business.default_party_size)),
        day=spoken.spoken_day(dt.date.fromisoformat(booking["date"]), today),
        time=spoken.spoken_time(dt.time.fromisoformat(booking["time"])),
        name=booking["name"],
    )
    return text + (business.readback_note.format(note=booking["note"]) if booking.get("note") else "")


def made_outcome(state: dict[str, Any]) -> str | None:
    """"booked" or "changed" once the call's booking is made (its id is in the flow state), else None."""
    if "booking_id" not in state:
        return None
    return "changed" if state.get("changing") else "booked"


def _as_draft(booking: Booking) -> dict[str, Any]:
    return booking.as_expected() | ({"note": booking.notes} if booking.notes else {})


def _problem_result(flow_manager: FlowManager, problem: Problem, alternatives: list[Slot]) -> dict:
    call = call_of(flow_manager)
    state, draft = flow_manager.state, _draft(flow_manager)
    today = call.now().date()
    if "date" in draft:
        state["requested_day"] = spoken.spoken_day(dt.date.fromisoformat(draft["date"]), today)
    if "time" in draft:
        state["requested_time"] = spoken.spoken_time(dt.time.fromisoformat(draft["time"]))
    # The slot at fault is cleared so the read-back never repeats it.
    draft.pop(_PROBLEM_ASKS[problem], None)
    choices = [
        spoken.spoken_time(s.time)
        if dt.date.fromisoformat(draft.get("date", s.date.isoformat())) == s.date
        else f"{spoken.spoken_time(s.time)} {spoken.spoken_day(s.date, today)}"
        for s in alternatives
    ]
    state["alternatives"] = spoken.spoken_choices(choices) if choices else "another day"
    state["offered"] = [{"date": s.date.isoformat(), "time": s.time.strftime("%H:%M")} for s in alternatives]
    return {"next": problem.value, "expecting": _PROBLEM_ASKS[problem], "alternatives": state["offered"]}


def _next_step(flow_manager: FlowManager) -> dict:
    """Validate everything in the draft and decide what to ask next."""
    call = call_of(flow_manager)
    draft, now, business = _draft(flow_manager), call.now(), call.business
    changing = flow_manager.state.get("changing")
    party_size = draft.get("party_size", business.default_party_size)
    if "party_size" in draft and (problem := availability.check_party(call.store, party_size)):
        return _problem_result(flow_manager, problem, [])
    if "date" in draft and (
        problem := availability.check_date(call.store, dt.date.fromisoformat(draft["date"]), now)
    ):
        return _problem_result(flow_manager, problem, [])
    if "date" in draft and "time" in draft:
        verdict = availability.check_slot(
            call.store,
            party_size,
            dt.date.fromisoformat(draft["date"]),
            dt.time.fromisoformat(draft["time"]),
            now,
            ignore_booking=changing,
        )
        if not verdict.ok:
            return _problem_result(flow_manager, verdict.problem, verdict.alternatives)
    for slot in business.asks_for:
        if slot not in draft:
            return {"next": slot, "expecting": slot, "booking": dict(draft)}
    flow_manager.state["readback"] = describe(draft, call)
    step = "confirm_change" if changing else "confirm"
    return {"next": step, "expecting": "yes_no", "booking": dict(draft)}


async def collect_booking(
    flow_manager: FlowManager,
    party_size: int | None = None,
    date: str | None = None,
    time: str | None = None,
    name: str | None = None,
    special_request: str | None = None,
    later_by_minutes: int | None = None,
    more_people: int | None = None,
    unsure: bool = False,
) -> Result:
    """Record the booking details the caller has just given. Call it whenever the caller says the party size, day, time, name or a special request (or corrects one), passing only what they said.

    Args:
        party_size: How many people, as a number.
        date: The day, as YYYY-MM-DD (resolve words like "tomorrow" or "Friday" using today's date).
        time: The time in 24-hour HH:MM (dinner times like "seven" mean 19:00).
        name: The name the booking is under.
        special_request: Anything the staff should know, in the caller's words: an allergy, a high chair, a birthday, wheelchair access. Never a question they ask.
        later_by_minutes: To move the time already given by some minutes: "push it back an hour" is 60, "half an hour earlier" is -30.
        more_people: To change the party size already given by some people: "two more people" is 2, "one fewer" is -1.
        unsure: True when the caller's words were unclear and the party size, day or time is your best guess: the line checks it with them first.
    """
    draft = _draft(flow_manager)
    before = dict(draft)
    _merge(draft, party_size=party_size, date=date, time=time, name=name, special_request=special_request)
    # "Are you open on Sunday?" ... "Great, can I book for 3 then?": the day just asked about, read back.
    day_asked_about = flow_manager.state.pop(DAY_ASKED_ABOUT, None)
    if "date" not in draft and day_asked_about:
        draft["date"] = day_asked_about
    if unsure:  # a value read from mended words never replaces one the caller gave before
        draft.update({slot: before[slot] for slot in ("party_size", "date", "time") if slot in before})
    guessed = [slot for slot in ("party_size", "date", "time") if unsure and draft.get(slot) != before.get(slot)]
    if "time" not in guessed and draft.get("time") != before.get("time") and (twin := _twin_on_grid(flow_manager)):
        draft["time"] = twin
        guessed.append("time")
    if guessed:
        flow_manager.state["unsure"] = guessed
        flow_manager.state["heard"] = _said(draft, guessed, call_of(flow_manager))
        # Expecting the value itself, so "no, four" corrects it; a yes or no is understood anyway.
        return {"next": "check_heard", "expecting": guessed[0], "booking": dict(draft)}, TRANSITION_IN_YAML
    if not time:
        _shift_time(draft, later_by_minutes)
    if not party_size:
        _shift_party(draft, more_people)
    result = _next_step(flow_manager)
    logger.info(f"{call_of(flow_manager).call_sid}: collect_booking -> {result['next']} {_draft(flow_manager)}")
    return result, TRANSITION_IN_YAML


def _twin_on_grid(flow_manager: FlowManager) -> str | None:
    """The time the caller may have said when the draft's new time is off the booking grid and its minutes'
    twin is on it: 11:50 is likely "eleven fifteen" misheard. Each heard time is checked once a call."""
    heard = dt.time.fromisoformat(_draft(flow_manager)["time"])
    slot_minutes, checked = call_of(flow_manager).business.slot_minutes, flow_manager.state.setdefault(TWINS_CHECKED, [])
    twin = _MINUTE_TWINS.get(heard.minute)
    if heard.minute % slot_minutes == 0 or twin is None or twin % slot_minutes or heard.isoformat() in checked:
        return None
    checked.append(heard.isoformat())
    return heard.replace(minute=twin).strftime("%H:%M")


def _shift_time(draft: dict[str, Any], later_by_minutes: Any) -> None:
    """Move the draft's time by ``later_by_minutes`` ("push it back an hour": 60), never past midnight."""
    if not isinstance(later_by_minutes, int) or isinstance(later_by_minutes, bool) or "time" not in draft:
        return
    day = dt.date(2000, 1, 1)  # any day: only the clock moves
    moved = dt.datetime.combine(day, dt.time.fromisoformat(draft["time"])) + dt.timedelta(minutes=later_by_minutes)
    if moved.date() == day:
        draft["time"] = moved.strftime("%H:%M")


def _shift_party(draft: dict[str, Any], more_people: Any) -> None:
    """Add ``more_people`` to the draft's party size ("two more people": 2), never below one person."""
    if not isinstance(more_people, int) or isinstance(more_people, bool) or "party_size" not in draft:
        return
    if (party_size := draft["party_size"] + more_people) >= 1:
        draft["party_size"] = party_size


def _said(draft: dict[str, Any], slots: list[str], call: CallContext) -> str:
    """The values in ``slots`` as the bot says them: "6 people, on Friday the 27th of November"."""
    words = {
        "party_size": lambda: spoken.spoken_party(draft["party_size"]),
        "date": lambda: spoken.spoken_day(dt.date.fromisoformat(draft["date"]), call.now().date()),
        "time": lambda: f"at {spoken.spoken_time(dt.time.fromisoformat(draft['time']))}",
    }
    return ", ".join(words[slot]() for slot in slots)


# flow_manager.state: whether this call was offered to book under the caller's number.
NUMBER_OFFERED = "number_offered"


async def name_unclear(flow_manager: FlowManager) -> Result:
    """The caller's answer to the name question was not understood: offer to book under the number they are calling from instead, reading the booking back."""
    call, state = call_of(flow_manager), flow_manager.state
    # Offered once a call, with every other value known to read back; a withheld number is no way to reach the caller.
    if state.get(NUMBER_OFFERED) or call.caller is None or not {"date", "time"} <= _draft(flow_manager).keys():
        return {"next": "name_again", "expecting": "name"}, TRANSITION_IN_YAML
    state[NUMBER_OFFERED] = True
    state["readback"] = describe(_draft(flow_manager) | {"name": call.business.line.number_name}, call)
    # Expecting a name: "Yes, it's Robin Hayes" gives the name, a plain "yes" agrees.
    return {"next": "offer_number", "expecting": "name"}, TRANSITION_IN_YAML


async def book_under_number(flow_manager: FlowManager, confirmed: bool) -> Result:
    """The caller's answer when offered the booking, read back, under the number they are calling from: confirmed=true books it, confirmed=false asks for the name again.

    Args:
        confirmed: Whether the caller agreed to book what was read back under their number.
    """
    if confirmed is not True:
        return {"next": "name_again", "expecting": "name"}, TRANSITION_IN_YAML
    _draft(flow_manager)["name"] = call_of(flow_manager).business.line.number_name
    return await confirm_booking(flow_manager, True)


async def confirm_heard(flow_manager: FlowManager, confirmed: bool) -> Result:
    """The caller's answer when asked whether an unclear value was heard right.

    Args:
        confirmed: Whether the caller agreed that the value read back is what they said.
    """
    guessed = flow_manager.state.pop("unsure", [])
    if confirmed is not True:
        draft = _draft(flow_manager)
        for slot in guessed:
            draft.pop(slot, None)
    return _next_step(flow_manager), TRANSITION_IN_YAML


async def confirm_booking(flow_manager: FlowManager, confirmed: bool) -> Result:
    """Make the booking (or the change) once the caller has answered the read-back. Call it with confirmed=true only when the caller clearly agreed, and confirmed=false when they declined.

    Args:
        confirmed: Whether the caller agreed to what was read back.
    """
    if confirmed is not True:
        return {"next": "declined", "expecting": None}, TRANSITION_IN_YAML
    call = call_of(flow_manager)
    async with call.confirming:  # a "yes" said again while the booking is being written books nothing more
        return await _make_confirmed(flow_manager)


async def _make_confirmed(flow_manager: FlowManager) -> Result:
    call, draft, state = call_of(flow_manager), _draft(flow_manager), flow_manager.state
    confirming = {"draft": dict(draft), "changing": state.get("changing")}
    if state.get("made_from") == confirming and (outcome := made_outcome(state)):
        return {"next": outcome, "confirmation_code": state["confirmation_code"], "expecting": None}, TRANSITION_IN_YAML
    step = _next_step(flow_manager)
    if step["next"] not in ("confirm", "confirm_change"):  # something changed since the read-back
        return step, TRANSITION_IN_YAML
    slot = {
        "party_size": draft.get("party_size", call.business.default_party_size),
        "date": dt.date.fromisoformat(draft["date"]),
        "time": dt.time.fromisoformat(draft["time"]),
    }
    try:
        if state.get("changing"):
            made = await call.store.run(call.store.change_booking, state["changing"], call_sid=call.call_sid, **slot)
        else:
            made = await call.store.run(
                call.store.create_booking,
                name=draft["name"], caller=call.caller, call_sid=call.call_sid, notes=draft.get("note"),
                limit_per_caller=call.bookings_per_number, **slot
            )
    except BookingLimitReached:
        METRICS.refused.labels(reason="bookings_per_number").inc()
        logger.warning(f"{call.call_sid}: refused a booking: {masked(call.caller)} has made "
                       f"{call.bookings_per_number} in the last 24 hours")
        return {"next": "too_many_bookings", "expecting": None}, TRANSITION_IN_YAML
    except SlotUnavailable:
        # Another call took the last seats between the read-back and now.
        return _next_step(flow_manager), TRANSITION_IN_YAML
    except BookingNotFound:
        return {"next": "not_found", "expecting": "name"}, TRANSITION_IN_YAML
    except StoreUnavailable as e:
        return _not_saved(flow_manager, e), TRANSITION_IN_YAML
    state["confirmation_code"] = made.code
    state["confirmation_code_spelled"] = spoken.spelled_code(made.code)
    state["booking_id"] = made.id
    state["made_from"] = confirming
    outcome = made_outcome(state)
    logger.info(f"{call.call_sid}: {outcome} {made.code} {made.as_expected()}")
    return {"next": outcome, "confirmation_code": made.code, "expecting": None}, TRANSITION_IN_YAML


def _not_saved(flow_manager: FlowManager, error: StoreUnavailable) -> dict:
    """Nothing was written: the caller may ask for one more try, after which they are told to call back."""
    state = flow_manager.state
    state["save_failures"] = state.get("save_failures", 0) + 1
    logger.error(f"{call_of(flow_manager).call_sid}: the booking database did not answer ({error})")
    return {"next": "not_saved" if state["save_failures"] < 2 else "store_down", "expecting": None}


def _found(flow_manager: FlowManager, matches: list[Booking]) -> dict:
    """Where a search for the caller's booking leads."""
    call, state = call_of(flow_manager), flow_manager.state
    purpose = state.get("purpose", "check")
    if not matches:
        return {"next": "not_found", "expecting": "name", "found": 0}
    said_day = _valid_date(state.get("said_date"))
    if len(matches) > 1 and said_day and any(b.date == said_day for b in matches):
        matches = [b for b in matches if b.date == said_day]  # "my booking on Friday"
    if len(matches) > 1:
        state["candidates"] = [b.id for b in matches]
        state["choices"] = spoken.spoken_choices([spoken.spoken_day(b.date, call.now().date()) for b in matches])
        state["candidate_count"] = len(matches)
        return {"next": "which_booking", "expecting": "date", "found": len(matches)}
    (booking,) = matches
    state["found_id"] = booking.id
    state["found"] = describe(_as_draft(booking), call)
    state["found_code_spelled"] = spoken.spelled_code(booking.code)
    if purpose == "change":
        # The draft starts as the booking; what the caller says next overrides it.
        state["changing"] = booking.id
        state["booking"] = draft = _as_draft(booking)
        wanted = state.pop("wanted_change", {})
        if said_day and said_day != booking.date:
            wanted.setdefault("date", said_day.isoformat())  # the day it names is not the booking's: the new one
        _merge(draft, **wanted)  # takes the values it knows: a party size, a day, a time
        if "time" not in wanted:
            _shift_time(draft, wanted.get("later_by_minutes"))
        if "party_size" not in wanted:
            _shift_party(draft, wanted.get("more_people"))
        if draft != _as_draft(booking):  # the change was said with the request ("push it back an hour")
            return _next_step(flow_manager) | {"found": 1}
    return {"next": f"{purpose}_found", "expecting": None, "found": 1}


async def _start(
    flow_manager: FlowManager, purpose: str, name: str | None, date: str | None, wanted: dict[str, Any] | None = None
) -> Result:
    """Look for the caller's booking; the name and day said with the request are used to find it."""
    call, state = call_of(flow_manager), flow_manager.state
    state["purpose"] = purpose
    for key in ("candidates", "changing", "found_id", "said_name", "said_date", "wanted_change"):
        state.pop(key, None)
    if wanted := {k: v for k, v in (wanted or {}).items() if v is not None}:
        state["wanted_change"] = wanted
    if not (call.caller and call.caller_verified):
        # A number that may be spoofed finds nothing, and says nothing of whether it has bookings:
        # the caller gives the code, or the name and the day (find_booking).
        return await find_booking(flow_manager, name=name, date=date)
    if day := _valid_date(date):
        state["said_date"] = day.isoformat()
    matches = call.store.upcoming_bookings(call.now().date(), caller=call.caller)
    if not matches and (name or day):  # booked from another phone: the name and day said look for it
        return await find_booking(flow_manager, name=name, date=date)
    return _found(flow_manager, matches), TRANSITION_IN_YAML


async def change_booking(
    flow_manager: FlowManager,
    name: str | None = None,
    date: str | None = None,
    party_size: int | None = None,
    time: str | None = None,
    later_by_minutes: int | None = None,
    more_people: int | None = None,
    from_date: str | None = None,
) -> Result:
    """The caller wants to change an existing booking (its day, time or party size). Pass what they said with the request, only that.

    Args:
        name: The name the booking is under, if they said it.
        date: A day they named, as YYYY-MM-DD: the booking's own day, or the new day they want.
        party_size: The new number of people, if they said it.
        time: The new time in 24-hour HH:MM, if they said it.
        later_by_minutes: To move the booked time by some minutes: "push it back an hour" is 60, "half an hour earlier" is -30.
        more_people: To change the booked party size by some people: "two more people" is 2, "one fewer" is -1.
        from_date: The day the booking is on now, as YYYY-MM-DD, when they name it and a new day: "I booked Friday, can we move it to Saturday?" is from_date Friday, date Saturday.
    """
    wanted = {"party_size": party_size, "time": time, "later_by_minutes": later_by_minutes, "more_people": more_people}
    if (booked_on := _valid_date(from_date)) and (new_day := _valid_date(date)) and booked_on != new_day:
        wanted["date"], date = new_day.isoformat(), booked_on.isoformat()  # found by the day it is on
    return await _start(flow_manager, "change", name, date, wanted)


async def cancel_booking(flow_manager: FlowManager, name: str | None = None, date: str | None = None) -> Result:
    """The caller wants to cancel an existing booking.

    Args:
        name: The name the booking is under, if they said it.
        date: The day of the booking, as YYYY-MM-DD, if they said it.
    """
    return await _start(flow_manager, "cancel", name, date)


async def check_booking(flow_manager: FlowManager, name: str | None = None, date: str | None = None) -> Result:
    """The caller wants to check the details of an existing booking.

    Args:
        name: The name the booking is under, if they said it.
        date: The day of the booking, as YYYY-MM-DD, if they said it.
    """
    return await _start(flow_manager, "check", name, date)


async def find_booking(
    flow_manager: FlowManager,
    name: str | None = None,
    date: str | None = None,
    confirmation_code: str | None = None,
) -> Result:
    """Find the caller's existing booking by the name and day it is under, or its confirmation code.

    Args:
        name: The name the booking is under.
        date: The day of the booking, as YYYY-MM-DD.
        confirmation_code: The six-character confirmation code, if the caller has it.
    """
    call, state = call_of(flow_manager), flow_manager.state
    # The name and the day may come in separate turns ("John Smith." "On Friday."): each is kept until both are.
    if name := _valid_text(name, limit=60):
        state["said_name"] = name
    if day := _valid_date(date):
        state["said_date"] = day.isoformat()
    today, name, day = call.now().date(), state.get("said_name"), _valid_date(state.get("said_date"))
    code = (confirmation_code or "").replace(" ", "").upper() or None
    if state.get("search_failures", 0) >= MAX_FAILED_SEARCHES:
        return _search_limit(call), TRANSITION_IN_YAML
    if code:
        matches = call.store.upcoming_bookings(today, code=code)
    elif state.get("candidates") and day:  # several found (a verified number's, or one name and day's): which day
        matches = [b for b in map(call.store.get, state["candidates"]) if b.date == day]
    elif name and day:  # a name alone is no proof: anyone may know it
        matches = [b for b in call.store.upcoming_bookings(today, name=name, date=day) if _same_name(name, b.name)]
    else:
        return {"next": "verify", "expecting": "date" if name else "name", "found": 0}, TRANSITION_IN_YAML
    if not matches:
        state["search_failures"] = state.get("search_failures", 0) + 1
        if state["search_failures"] >= MAX_FAILED_SEARCHES:
            return _search_limit(call), TRANSITION_IN_YAML
    return _found(flow_manager, matches), TRANSITION_IN_YAML


def _same_name(said: str, booked: str) -> bool:
    """Every word said is a word of the booking's name: "Lee" finds Ann Lee, "Ann Smith" does not. A word
    may be misheard by a letter or so ("Robert Glark" is Robert Clark), never replaced by another name."""
    booked_words = booked.lower().split()
    return all(any(fuzz.ratio(word, b) >= SAME_NAME_WORD for b in booked_words) for word in said.lower().split())


def _search_limit(call: CallContext) -> dict:
    """No more searches on this call: the flow hands the caller to staff."""
    METRICS.refused.labels(reason="booking_searches").inc()
    logger.warning(f"{call.call_sid}: {MAX_FAILED_SEARCHES} searches found no booking; no more on this call")
    return {"next": "search_limit", "expecting": None, "found": 0}


async def confirm_cancel(flow_manager: FlowManager, confirmed: bool) -> Result:
    """Cancel the booking that was read back. Call it with confirmed=true only when the caller clearly agreed.

    Args:
        confirmed: Whether the caller wants the booking cancelled.
    """
    if confirmed is not True:
        return {"next": "kept", "expecting": None}, TRANSITION_IN_YAML
    call, state = call_of(flow_manager), flow_manager.state
    try:
        cancelled = await call.store.run(call.store.cancel_booking, state["found_id"], call_sid=call.call_sid)
    except (BookingNotFound, KeyError):
        return {"next": "not_found", "expecting": "name"}, TRANSITION_IN_YAML
    except StoreUnavailable as e:
        return _not_saved(flow_manager, e), TRANSITION_IN_YAML
    logger.info(f"{call.call_sid}: cancelled {cancelled.code}")
    return {"next": "cancelled", "expecting": None}, TRANSITION_IN_YAML


async def answer_question(
    flow_manager: FlowManager, question: str, date: str | None = None, party_size: int | None = None
) -> Result:
    """Answer the caller's question about the business: opening hours, what times are still free, where it is and how to get there, parking, the menu, dietary options, prices, drinks, dress code, access, children, pets, groups and private events, takeaway, phone or email. Call it for every such question, also in the middle of a booking; say only the answer it returns, never one of your own, then ask your last question again, unless the answer ends with a question of its own.

    Args:
        question: The caller's question, in their words.
        date: The day the question is about, as YYYY-MM-DD, if they named one ("are you open on Sunday?").
        party_size: How many people, if they said it ("what times do you have for 4 on Friday?").
    """
    call = call_of(flow_manager)
    business = call.business
    day = _valid_date(date)
    result: dict[str, Any] = {}
    if questions.asks_free_times(question):
        # What is free for a party on a day is what a host would book: the values are kept for the booking.
        _merge(_draft(flow_manager), party_size=party_size, date=date)
        text, times_said = _free_times_said(flow_manager, day)
        if times_said:  # the caller picks one: the time is asked for next, not the question the bot was at
            text = f"{text} {business.facts.free_times_words.which_time}"
            result["expecting"] = "time"
        answer = facts.Answer(text, "free_times")
    else:
        answer = facts.answer_question(question, business.facts, lambda: business.hours_said(day, call.now().date()))
    if day is not None:
        flow_manager.state[DAY_ASKED_ABOUT] = day.isoformat()
    logger.info(f"{call.call_sid}: question {question!r} -> {answer.fact or 'no fact'}")
    call.store.run_soon(call.store.record_question, call.call_sid, _valid_text(question, limit=300) or "?", answer.fact)
    return {"answer": answer.text, "fact": answer.fact, **result}, TRANSITION_IN_YAML


def _free_times_said(flow_manager: FlowManager, day: dt.date | None) -> tuple[str, bool]:
    """What is still free on the day asked about (else the booking's), for the booking's party, and
    whether any times were said: the bookings decide, as they do for the booking itself."""
    call, draft = call_of(flow_manager), _draft(flow_manager)
    business, now = call.business, call.now()
    words = business.facts.free_times_words
    day = day or _valid_date(draft.get("date"))
    if day is None:
        return f"{business.hours_said(None, now.date())} {words.which_day}", False
    if availability.check_date(call.store, day, now) is not None:
        return business.hours_said(day, now.date()), False
    party = draft.get("party_size", business.default_party_size)
    free = availability.free_times(call.store, party, day, now, ignore_booking=flow_manager.state.get("changing"))
    said_day = spoken.spoken_day(day, now.date())
    if not free:
        return words.none_free.format(day=said_day), False
    if free == [t for t in business.start_times_on(day) if dt.datetime.combine(day, t) > now]:
        text = words.all_free.format(day=said_day, first=spoken.spoken_time(free[0]), last=spoken.spoken_time(free[-1]))
    else:  # three of them, spread over the day
        picks = sorted({free[0], free[len(free) // 2], free[-1]})
        text = words.some_free.format(day=said_day, times=spoken.spoken_choices([spoken.spoken_time(t) for t in picks]))
    return text[0].upper() + text[1:], True


async def take_message(flow_manager: FlowManager, reason: str, name: str | None = None) -> Result:
    """Leave a message for the staff, who will call the caller back.

    Args:
        reason: What the caller wants, in their words.
        name: The caller's name, if they gave it.
    """
    call = call_of(flow_manager)
    text = _valid_text(reason, limit=1000) or "(no reason given)"
    await call.store.run(
        call.store.take_message,
        call_sid=call.call_sid,
        caller=call.caller,
        name=_valid_text(name, limit=60),
        callback_number=call.caller,
        reason=text,
    )
    logger.info(f"{call.call_sid}: message for staff: {text!r}")
    return {"next": "message_taken", "expecting": None}, TRANSITION_IN_YAML


async def running_late(flow_manager: FlowManager, message: str) -> Result:
    """The caller has a booking and will be late: the team is told, as a message on the dashboard.

    Args:
        message: How late they will be, in their words (with the name the booking is under, if they gave it).
    """
    call = call_of(flow_manager)
    text = f"Running late: {_valid_text(message, limit=1000) or '(no details)'}"
    await keep_voicemail(call, text)  # said into a voicemail, the recording goes with it
    return {"next": "late_noted", "expecting": None}, TRANSITION_IN_YAML


async def start_voicemail(action: dict, flow_manager: FlowManager) -> None:
    """Flow action, once the bot has asked for a voicemail: the tone, then the caller is recorded."""
    call = call_of(flow_manager)
    if call.voicemail is not None:
        await call.voicemail.start()


async def save_voicemail(flow_manager: FlowManager, message: str) -> Result:
    """Keep the caller's voicemail once they have finished speaking; staff will call them back.

    Args:
        message: What the caller said, in their words.
    """
    await keep_voicemail(call_of(flow_manager), _valid_text(message, limit=1000) or "(no words recognised)")
    return {"next": "voicemail_saved", "expecting": None}, TRANSITION_IN_YAML


async def keep_voicemail(call: CallContext, reason: str) -> None:
    """Store ``reason`` as a message for staff, with the voicemail recording if one is being made."""
    recorded = call.voicemail.finish() if call.voicemail is not None else None
    await call.store.run(
        call.store.take_message,
        call_sid=call.call_sid,
        caller=call.caller,
        name=None,
        callback_number=call.caller,
        reason=reason,
        audio_path=str(recorded[0]) if recorded else None,
    )
    heard = f"voicemail ({recorded[1]:.1f} s)" if recorded else "message"
    logger.info(f"{call.call_sid}: {heard} for staff: {reason!r}")


async def transfer_to_staff(action: dict, flow_manager: FlowManager) -> None:
    """Flow action: put the caller through to staff when the line is set up for it.

    Without a transfer number (or if Twilio refuses) nothing happens and the
    node goes on to take a message.
    """
    call = call_of(flow_manager)
    if call.transfer is not None:
        flow_manager.state["transferred"] = await asyncio.to_thread(call.transfer.transfer, call.call_sid)
