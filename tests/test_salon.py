"""A second business from files alone: the hair salon flow runs on the same tools and engine."""

import datetime as dt
from types import SimpleNamespace

from pipecat.flows import Flow, FlowConfig

from bot.booking import tools
from bot.booking.business import Business
from bot.booking.store import BookingStore
from bot.call.context import CallContext
from bot.call.pipeline import initial_state
from bot.dialogue.understanding import ToolCall, choose_tool_call
from bot.flowfile.check import check_flow
from tests.conftest import NOW, PROJECT

SALON = PROJECT / "flows" / "salon.yaml"


def test_the_salon_flow_checks_clean():
    assert [p for p in check_flow(SALON) if p.severity == "error"] == []


async def test_salon_asks_only_for_day_time_and_name_in_its_own_words(tmp_path):
    business = Business.from_file(PROJECT / "flows" / "salon.business.yaml")
    store = BookingStore(tmp_path / "salon.db", business)
    fm = SimpleNamespace(state=initial_state(CallContext("CAs", "+15550111", store, clock=lambda: NOW)))
    flow = Flow(FlowConfig.from_file(SALON), handlers=tools)
    greeting_tools = flow.node("greeting")["functions"] + flow.global_functions

    call = choose_tool_call("Hi, I'd like to book an appointment for tomorrow", greeting_tools, today=NOW.date())
    assert call == ToolCall("collect_booking", {"date": "2026-11-25"})
    result, _ = await tools.collect_booking(fm, **call.arguments)
    assert result["next"] == "time"
    result, _ = await tools.collect_booking(fm, time="10:30", name="Jo Marsh")
    assert result["next"] == "confirm"
    assert fm.state["readback"] == "an appointment tomorrow, Wednesday the 25th of November, at 10:30 am, for Jo Marsh"
    await tools.confirm_booking(fm, confirmed=True)
    row = next(store.db["bookings"].rows)
    assert (row["party_size"], row["time"]) == (1, "10:30")


async def test_salon_chairs_are_its_capacity(tmp_path):
    business = Business.from_file(PROJECT / "flows" / "salon.business.yaml")
    store = BookingStore(tmp_path / "salon.db", business)
    for chair in range(business.capacity_seats):
        store.create_booking(name=f"Client {chair}", party_size=1, date=dt.date(2026, 11, 25),
                             time=dt.time(10, 30), caller=None, call_sid=None)
    fm = SimpleNamespace(state=initial_state(CallContext("CAs", None, store, clock=lambda: NOW)))
    result, _ = await tools.collect_booking(fm, date="2026-11-25", time="10:30")
    assert result["next"] == "time_full"
    assert fm.state["alternatives"] == "9:45 am or 11:15 am"
