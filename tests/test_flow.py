"""The booking flow file and its tools: schema-valid, fully wired, and the tools' decisions."""

import datetime as dt
import json
from types import SimpleNamespace
from pathlib import Path

import jsonschema
import pipecat.flows
import pytest
import yaml
from pipecat.flows import TRANSITION_IN_YAML, Flow, FlowConfig

from bot import tools
from bot.call_context import CallContext
from bot.pipeline import initial_state
from tests.conftest import NOW, PROJECT

FLOW = PROJECT / "flows" / "booking.yaml"


def test_flow_file_is_valid_against_pipecats_schema():
    schema = json.loads((Path(pipecat.flows.__file__).parent / "flow_config.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(FLOW.read_text()), schema)


def test_every_tool_resolves_and_every_node_is_reachable():
    config = FlowConfig.from_file(FLOW)
    Flow(config, handlers=tools)  # raises on a missing or invalid tool
    reachable, todo = set(), [config.initial_node]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        for function in config.nodes[name].functions + config.global_functions:
            todo.extend(function.targets())
    assert reachable == set(config.nodes)


def test_every_node_the_caller_hears_has_a_say_line():
    config = FlowConfig.from_file(FLOW)
    for name, node in config.nodes.items():
        assert any('Say: "' in m.content for m in node.task_messages), name


@pytest.fixture
def flow_manager(store):
    call = CallContext(call_sid="CAtest", caller="+15550100", store=store, clock=lambda: NOW)
    return SimpleNamespace(state=initial_state(call))


async def collect(fm, **values):
    result, transition = await tools.collect_booking(fm, **values)
    assert transition is TRANSITION_IN_YAML
    return result


async def test_collect_asks_for_what_is_missing_in_order(flow_manager):
    assert (await collect(flow_manager))["next"] == "party_size"
    assert (await collect(flow_manager, party_size=3))["next"] == "date"
    assert (await collect(flow_manager, date="2026-11-25"))["next"] == "time"
    assert (await collect(flow_manager, time="19:30"))["next"] == "name"
    result = await collect(flow_manager, name="  Ann   Lee ")
    assert result == {"next": "confirm", "expecting": "yes_no", "booking": {
        "party_size": 3, "date": "2026-11-25", "time": "19:30", "name": "Ann Lee"}}
    assert flow_manager.state["readback"] == (
        "a table for 3 people tomorrow, Wednesday the 25th of November, at 7:30 pm, under the name Ann Lee"
    )


@pytest.mark.parametrize(
    "values, problem",
    [
        ({"party_size": 30}, "too_large"),
        ({"date": "2026-11-30"}, "day_closed"),  # a Monday
        ({"date": "2026-11-20"}, "day_past"),
        ({"date": "2028-01-05"}, "day_too_far"),
        ({"date": "2026-11-25", "time": "23:00"}, "time_closed"),
        ({"date": "2026-11-24", "time": "13:00"}, "time_past"),
    ],
)
async def test_impossible_requests_go_to_their_problem_node(flow_manager, values, problem):
    result = await collect(flow_manager, **({"party_size": 2} | values))
    assert result["next"] == problem


async def test_garbage_arguments_are_ignored_not_booked(flow_manager):
    result = await collect(flow_manager, party_size=-3, date="next week", time="70:00", name="1234")
    assert result["next"] == "party_size" and flow_manager.state["booking"] == {}


async def test_declining_books_nothing(flow_manager, store):
    await collect(flow_manager, party_size=2, date="2026-11-25", time="19:00", name="Ann")
    result, _ = await tools.confirm_booking(flow_manager, confirmed=False)
    assert result["next"] == "declined" and store.db["bookings"].count == 0


async def test_confirming_books_once_with_a_spelled_code(flow_manager, store):
    await collect(flow_manager, party_size=2, date="2026-11-25", time="19:00", name="Ann")
    result, _ = await tools.confirm_booking(flow_manager, confirmed=True)
    assert result["next"] == "booked"
    row = next(store.db["bookings"].rows)
    assert row["code"] == result["confirmation_code"] and row["call_sid"] == "CAtest" and row["caller"] == "+15550100"
    assert flow_manager.state["confirmation_code_spelled"] == ", ".join(row["code"])


async def test_losing_the_last_table_after_the_readback_offers_alternatives(flow_manager, store, business):
    await collect(flow_manager, party_size=2, date="2026-11-25", time="19:00", name="Ann")
    store.create_booking(name="Rival", party_size=business.capacity_seats, date=dt.date(2026, 11, 25),
                         time=dt.time(19, 0), caller=None, call_sid="CArival")
    result, _ = await tools.confirm_booking(flow_manager, confirmed=True)
    assert result["next"] == "time_full" and result["alternatives"]
    assert store.db["bookings"].count == 1  # only the rival's
