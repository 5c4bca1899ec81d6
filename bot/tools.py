"""The booking tools a flow file names: Pipecat Flows direct functions.

Each tool validates what the caller gave, updates the flow state, and returns
``(result, TRANSITION_IN_YAML)``: the result's ``next`` field names the case
the flow file branches on, so where the conversation goes and what the bot
says there stay in ``flows/*.yaml``. ``expecting`` tells any dialogue engine
which value the next node asks for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from loguru import logger
from pipecat.flows import TRANSITION_IN_YAML, FlowManager

from bot import availability, spoken
from bot.availability import Problem, Slot
from bot.call_context import CALL_STATE_KEY, CallContext
from bot.store import SlotUnavailable

SLOTS = ("party_size", "date", "time", "name")
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
MAX_NAME_LENGTH = 60


def call_of(flow_manager: FlowManager) -> CallContext:
    return flow_manager.state[CALL_STATE_KEY]


def _booking(flow_manager: FlowManager) -> dict[str, Any]:
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


def _valid_name(value: str | None) -> str | None:
    name = " ".join(str(value).split()) if value else ""
    return name[:MAX_NAME_LENGTH] if any(c.isalpha() for c in name) else None


def _merge(
    booking: dict[str, Any],
    party_size: Any,
    date: str | None,
    time: str | None,
    name: str | None,
) -> None:
    """Take the values that are well-formed; ignore the rest (the caller is asked again)."""
    if isinstance(party_size, int) and not isinstance(party_size, bool) and party_size >= 1:
        booking["party_size"] = party_size
    if parsed_date := _valid_date(date):
        booking["date"] = parsed_date.isoformat()
    if parsed_time := _valid_time(time):
        booking["time"] = parsed_time.strftime("%H:%M")
    if clean_name := _valid_name(name):
        booking["name"] = clean_name


def _problem_result(flow_manager: FlowManager, problem: Problem, alternatives: list[Slot]) -> dict:
    call = call_of(flow_manager)
    state, booking = flow_manager.state, _booking(flow_manager)
    today = call.now().date()
    if "date" in booking:
        state["requested_day"] = spoken.spoken_day(dt.date.fromisoformat(booking["date"]), today)
    if "time" in booking:
        state["requested_time"] = spoken.spoken_time(dt.time.fromisoformat(booking["time"]))
    # The slot at fault is cleared so the read-back never repeats it.
    booking.pop(_PROBLEM_ASKS[problem], None)
    choices = [
        spoken.spoken_time(s.time)
        if dt.date.fromisoformat(booking.get("date", s.date.isoformat())) == s.date
        else f"{spoken.spoken_time(s.time)} {spoken.spoken_day(s.date, today)}"
        for s in alternatives
    ]
    state["alternatives"] = spoken.spoken_choices(choices) if choices else "another day"
    state["offered"] = [{"date": s.date.isoformat(), "time": s.time.strftime("%H:%M")} for s in alternatives]
    return {"next": problem.value, "expecting": _PROBLEM_ASKS[problem], "alternatives": state["offered"]}


def _next_step(flow_manager: FlowManager) -> dict:
    """Validate everything collected so far and decide what to ask next."""
    call = call_of(flow_manager)
    booking, now = _booking(flow_manager), call.now()
    if "party_size" in booking and (problem := availability.check_party(call.store, booking["party_size"])):
        return _problem_result(flow_manager, problem, [])
    if "date" in booking and (
        problem := availability.check_date(call.store, dt.date.fromisoformat(booking["date"]), now)
    ):
        return _problem_result(flow_manager, problem, [])
    if "date" in booking and "time" in booking:
        verdict = availability.check_slot(
            call.store,
            booking.get("party_size", 1),
            dt.date.fromisoformat(booking["date"]),
            dt.time.fromisoformat(booking["time"]),
            now,
        )
        if not verdict.ok:
            return _problem_result(flow_manager, verdict.problem, verdict.alternatives)
    for slot in SLOTS:
        if slot not in booking:
            return {"next": slot, "expecting": slot, "booking": dict(booking)}
    flow_manager.state["readback"] = _readback(booking, now.date())
    return {"next": "confirm", "expecting": "yes_no", "booking": dict(booking)}


def _readback(booking: dict[str, Any], today: dt.date) -> str:
    return (
        f"a table for {spoken.spoken_party(booking['party_size'])}"
        f" {spoken.spoken_day(dt.date.fromisoformat(booking['date']), today)},"
        f" at {spoken.spoken_time(dt.time.fromisoformat(booking['time']))},"
        f" under the name {booking['name']}"
    )


async def collect_booking(
    flow_manager: FlowManager,
    party_size: int | None = None,
    date: str | None = None,
    time: str | None = None,
    name: str | None = None,
) -> tuple[dict, Any]:
    """Record the booking details the caller has just given. Call it whenever the caller says the party size, day, time or name (or corrects one), passing only what they said.

    Args:
        party_size: How many people, as a number.
        date: The day, as YYYY-MM-DD (resolve words like "tomorrow" or "Friday" using today's date).
        time: The time in 24-hour HH:MM (dinner times like "seven" mean 19:00).
        name: The name the booking is under.
    """
    booking = _booking(flow_manager)
    _merge(booking, party_size, date, time, name)
    result = _next_step(flow_manager)
    logger.info(f"{call_of(flow_manager).call_sid}: collect_booking -> {result['next']} {booking}")
    return result, TRANSITION_IN_YAML


async def confirm_booking(flow_manager: FlowManager, confirmed: bool) -> tuple[dict, Any]:
    """Book the table once the caller has answered the read-back. Call it with confirmed=true only when the caller clearly agreed, and confirmed=false when they declined.

    Args:
        confirmed: Whether the caller agreed to the booking as read back.
    """
    if confirmed is not True:
        return {"next": "declined", "expecting": None}, TRANSITION_IN_YAML
    step = _next_step(flow_manager)
    if step["next"] != "confirm":  # something changed since the read-back
        return step, TRANSITION_IN_YAML
    call = call_of(flow_manager)
    booking = _booking(flow_manager)
    try:
        made = call.store.create_booking(
            name=booking["name"],
            party_size=booking["party_size"],
            date=dt.date.fromisoformat(booking["date"]),
            time=dt.time.fromisoformat(booking["time"]),
            caller=call.caller,
            call_sid=call.call_sid,
        )
    except SlotUnavailable:
        # Another call took the last seats between the read-back and now.
        return _next_step(flow_manager), TRANSITION_IN_YAML
    flow_manager.state["confirmation_code"] = made.code
    flow_manager.state["confirmation_code_spelled"] = spoken.spelled_code(made.code)
    flow_manager.state["booking_id"] = made.id
    logger.info(f"{call.call_sid}: booked {made.code} {made.as_expected()}")
    return {"next": "booked", "confirmation_code": made.code, "expecting": None}, TRANSITION_IN_YAML
