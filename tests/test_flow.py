"""The booking flow file and its tools: schema-valid, fully wired, and the tools' decisions."""

import asyncio
import datetime as dt
import json
import re
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pipecat.flows
import pytest
import yaml
from pipecat.flows import TRANSITION_IN_YAML, Flow, FlowConfig

from bot.booking import tools
from bot.booking.store import BookingStore
from bot.call.context import CallContext
from bot.call.pipeline import initial_state
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
    call = CallContext(call_sid="CAtest", caller="+15550100", store=store, clock=lambda: NOW, caller_verified=True)
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


async def test_a_name_not_understood_is_offered_the_callers_number_read_back_and_a_yes_books_it(flow_manager, store):
    await collect(flow_manager, party_size=2, date="2026-11-25", time="19:00")
    result, _ = await tools.name_unclear(flow_manager)
    assert result == {"next": "offer_number", "expecting": "name"} and store.db["bookings"].count == 0
    assert flow_manager.state["readback"] == (
        "a table for 2 people tomorrow, Wednesday the 25th of November, at 7 pm, under the number you're calling from"
    )
    result, _ = await tools.book_under_number(flow_manager, confirmed=True)
    assert result["next"] == "booked"
    row = next(store.db["bookings"].rows)
    assert (row["name"], row["caller"], row["party_size"], row["date"], row["time"]) == (
        store.business.line.number_name, "+15550100", 2, "2026-11-25", "19:00")
    assert row["code"] == result["confirmation_code"]


async def test_a_caller_who_declines_the_number_is_asked_the_name_again_and_never_offered_twice(flow_manager, store):
    await collect(flow_manager, party_size=2, date="2026-11-25", time="19:00")
    assert (await tools.name_unclear(flow_manager))[0]["next"] == "offer_number"
    assert (await tools.book_under_number(flow_manager, confirmed=False))[0] == {"next": "name_again", "expecting": "name"}
    assert (await tools.name_unclear(flow_manager))[0]["next"] == "name_again"
    assert "name" not in flow_manager.state["booking"] and store.db["bookings"].count == 0
    assert (await collect(flow_manager, name="Ann Lee"))["next"] == "confirm"  # the name, when it comes, is read back


async def test_a_withheld_number_is_never_offered(store):
    call = CallContext(call_sid="CAwithheld", caller=None, store=store, clock=lambda: NOW)
    withheld = SimpleNamespace(state=initial_state(call))
    await collect(withheld, party_size=2, date="2026-11-25", time="19:00")
    assert (await tools.name_unclear(withheld))[0]["next"] == "name_again"


async def test_losing_the_last_table_after_the_readback_offers_alternatives(flow_manager, store, business):
    await collect(flow_manager, party_size=2, date="2026-11-25", time="19:00", name="Ann")
    store.create_booking(name="Rival", party_size=business.capacity_seats, date=dt.date(2026, 11, 25),
                         time=dt.time(19, 0), caller=None, call_sid="CArival")
    result, _ = await tools.confirm_booking(flow_manager, confirmed=True)
    assert result["next"] == "time_full" and result["alternatives"]
    assert store.db["bookings"].count == 1  # only the rival's


async def test_a_second_yes_while_the_booking_is_being_written_books_nothing_more(tmp_path, business):
    # "Yes." ... "yes, please": the second answer reaches the line while the first one's booking waits for
    # the database (another process holds its write lock for a moment).
    store = BookingStore(tmp_path / "bookings.db", business)
    fm = SimpleNamespace(state=initial_state(CallContext(call_sid="CAtest", caller="+15550100", store=store,
                                                         clock=lambda: NOW)))
    await collect(fm, party_size=2, date="2026-11-25", time="19:00", name="Ann")
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    answers = [asyncio.create_task(tools.confirm_booking(fm, confirmed=True)) for _ in range(2)]
    await asyncio.sleep(0.5)
    holder.execute("ROLLBACK")
    (first, _), (second, _) = await asyncio.gather(*answers)
    assert store.db["bookings"].count == 1
    assert first["next"] == second["next"] == "booked" and first["confirmation_code"] == second["confirmation_code"]


async def test_a_database_locked_past_the_busy_timeout_books_nothing_and_the_caller_is_told(tmp_path, business):
    store = BookingStore(tmp_path / "bookings.db", business, busy_timeout_ms=300)
    fm = SimpleNamespace(state=initial_state(CallContext(call_sid="CAtest", caller="+15550100", store=store,
                                                         clock=lambda: NOW)))
    await collect(fm, party_size=2, date="2026-11-25", time="19:00", name="Ann")
    holder = sqlite3.connect(store.path, isolation_level=None)  # another process's writer, stuck
    holder.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def event_loop_ticks():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(event_loop_ticks())
    await asyncio.sleep(0)
    before = ticks
    first, _ = await tools.confirm_booking(fm, confirmed=True)
    assert ticks > before  # the other calls' audio went on while this one waited for the lock
    second, _ = await tools.confirm_booking(fm, confirmed=True)
    ticker.cancel()
    assert (first["next"], second["next"]) == ("not_saved", "store_down")  # one more try, then "call back"
    holder.execute("ROLLBACK")
    assert store.db["bookings"].count == 0 and "confirmation_code" not in fm.state
    flow = FlowConfig.from_file(FLOW)
    confirm = next(f for f in flow.nodes["confirm"].functions if f.name == "confirm_booking")
    assert confirm.transition_to.cases["not_saved"] == "not_saved"
    assert "nothing is saved yet" in flow.nodes["not_saved"].task_messages[0].content


async def test_a_cancellation_the_database_cannot_take_leaves_the_booking_in_place(tmp_path, business):
    store = BookingStore(tmp_path / "bookings.db", business, busy_timeout_ms=100)
    booking = seed(store)
    fm = SimpleNamespace(state=initial_state(CallContext(call_sid="CAtest", caller="+15550100", store=store,
                                                         clock=lambda: NOW, caller_verified=True)))
    await tools.cancel_booking(fm)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    result, _ = await tools.confirm_cancel(fm, confirmed=True)
    holder.execute("ROLLBACK")
    assert result["next"] == "not_saved" and store.get(booking.id).status == "confirmed"
    assert (await tools.confirm_cancel(fm, confirmed=True))[0]["next"] == "cancelled"  # the retry, once it can


def seed(store, *, name="Ann Lee", caller="+15550100", date="2026-11-27", time="19:00", party=2):
    return store.create_booking(name=name, party_size=party, date=dt.date.fromisoformat(date),
                                time=dt.time.fromisoformat(time), caller=caller, call_sid="CAold")


async def test_change_finds_the_callers_booking_and_moves_it_with_history(flow_manager, store):
    booking = seed(store)
    result, _ = await tools.change_booking(flow_manager)
    assert result["next"] == "change_found" and "Ann Lee" in flow_manager.state["found"]
    result = await collect(flow_manager, time="20:30")
    assert result["next"] == "confirm_change" and "8:30 pm" in flow_manager.state["readback"]
    result, _ = await tools.confirm_booking(flow_manager, confirmed=True)
    assert result["next"] == "changed"
    moved = store.get(booking.id)
    assert (moved.time, moved.code, store.db["bookings"].count) == (dt.time(20, 30), booking.code, 1)
    assert [h["action"] for h in store.history(booking.id)] == ["created", "changed"]
    assert store.history(booking.id)[-1]["call_sid"] == "CAtest"


async def test_a_change_said_with_the_request_is_read_back_once_the_booking_is_found(flow_manager, store):
    seed(store, date="2026-11-27")
    other = seed(store, date="2026-11-28", time="18:00")
    # "I have a reservation on Saturday and I need to push it back an hour": the day finds it.
    result, _ = await tools.change_booking(flow_manager, date="2026-11-28", later_by_minutes=60)
    assert result["next"] == "confirm_change" and "7 pm" in flow_manager.state["readback"]
    assert (await tools.confirm_booking(flow_manager, confirmed=True))[0]["next"] == "changed"
    assert store.get(other.id).time == dt.time(19, 0)


async def test_what_times_are_free_is_answered_from_the_bookings_and_kept_for_the_booking(flow_manager, store):
    seed(store, date="2026-11-27", time="19:00", party=store.business.capacity_seats)  # Friday's 7 pm is full
    result, _ = await tools.answer_question(flow_manager, "What times do you have on Friday for 4?", "2026-11-27", 4)
    assert result["fact"] == "free_times" and result["answer"].startswith("On Friday the 27th of November, I can still offer")
    assert result["answer"].endswith("What time would you like?") and result["expecting"] == "time"  # one is picked next
    offered = re.findall(r"\d{1,2}(?::\d\d)? pm", result["answer"])
    assert offered and all(
        store.has_room(dt.date(2026, 11, 27), dt.datetime.strptime(t, "%I:%M %p" if ":" in t else "%I %p").time(), 4)
        for t in offered
    ), offered
    assert "7 pm" not in offered and flow_manager.state["booking"] == {"party_size": 4, "date": "2026-11-27"}
    for time in store.business.start_times_on(dt.date(2026, 11, 28))[::6]:  # all of Saturday taken
        seed(store, date="2026-11-28", time=time.strftime("%H:%M"), party=store.business.capacity_seats)
    full, _ = await tools.answer_question(flow_manager, "Anything free?", "2026-11-28")
    assert "fully booked" in full["answer"] and "expecting" not in full  # the bot's own question stands
    asked_no_day = (await tools.answer_question(SimpleNamespace(state=initial_state(tools.call_of(flow_manager))),
                                                "What's available?"))[0]["answer"]
    assert "We seat guests" in asked_no_day and "Tell me the day" in asked_no_day


async def test_a_value_guessed_from_unclear_words_never_replaces_one_the_caller_gave(flow_manager):
    await collect(flow_manager, date="2026-11-27")
    result = await collect(flow_manager, party_size=4, date="2026-11-26", unsure=True)  # "there's" heard as Thursday
    assert result["next"] == "check_heard" and flow_manager.state["booking"]["date"] == "2026-11-27"
    assert flow_manager.state["unsure"] == ["party_size"]


async def test_a_time_off_the_grid_whose_twin_is_on_it_is_checked_as_the_twin_once(flow_manager):
    # "Seven fifteen" heard as "seven fifty": 19:50 is off the 15-minute grid, 19:15 is on it.
    result = await collect(flow_manager, party_size=2, date="2026-11-25", time="19:50")
    assert result["next"] == "check_heard" and flow_manager.state["heard"] == "at 7:15 pm"
    assert flow_manager.state["booking"]["time"] == "19:15"
    assert (await tools.confirm_heard(flow_manager, confirmed=False))[0]["next"] == "time"
    # Said again, it is what the caller means: the nearest times that can be booked are offered.
    result = await collect(flow_manager, time="19:50")
    assert result["next"] == "time_closed" and result["alternatives"]
    # A twin off the grid too ("forty" and "fourteen") is no guess.
    assert (await collect(flow_manager, time="19:40"))["next"] == "time_closed"
    assert (await collect(flow_manager, time="19:45"))["next"] == "name"


async def test_people_added_or_taken_away_change_the_party_booked(flow_manager, store):
    booking = seed(store)  # for 2
    # "Can I add two more people to my booking?"
    result, _ = await tools.change_booking(flow_manager, more_people=2)
    assert result["next"] == "confirm_change" and "4 people" in flow_manager.state["readback"]
    result = await collect(flow_manager, more_people=-5)  # never fewer than one person: asked again
    assert "4 people" in flow_manager.state["readback"]
    result = await collect(flow_manager, more_people=-1)
    assert result["next"] == "confirm_change" and "3 people" in flow_manager.state["readback"]
    assert (await tools.confirm_booking(flow_manager, confirmed=True))[0]["next"] == "changed"
    assert store.get(booking.id).party_size == 3


async def test_a_name_said_with_the_request_from_a_number_with_no_booking_is_kept_for_the_search(flow_manager, store):
    booking = seed(store, caller="+15559999")  # booked from another phone; this caller's number is verified
    result, _ = await tools.cancel_booking(flow_manager, name="Lee")
    assert result["next"] == "verify" and result["expecting"] == "date"  # the name is kept: only the day is asked
    result, _ = await tools.find_booking(flow_manager, date="2026-11-27")
    assert result["next"] == "cancel_found" and "Ann Lee" in flow_manager.state["found"]
    assert store.get(booking.id).status == "confirmed"


async def test_a_booking_moved_from_its_day_to_another_is_found_by_the_first(flow_manager, store):
    booking = seed(store, caller="+15559999", date="2026-11-27")
    result, _ = await tools.change_booking(flow_manager, name="Lee", date="2026-11-28", from_date="2026-11-27")
    assert result["next"] == "confirm_change" and "Saturday the 28th" in flow_manager.state["readback"]
    assert (await tools.confirm_booking(flow_manager, confirmed=True))[0]["next"] == "changed"
    assert store.get(booking.id).date == dt.date(2026, 11, 28)


async def test_from_another_phone_the_name_and_the_day_may_come_in_separate_turns(flow_manager, store):
    booking = seed(store, caller="+15559999")
    result, _ = await tools.change_booking(flow_manager, party_size=4)
    assert result["next"] == "not_found"
    assert (await tools.find_booking(flow_manager, name="Ann Lee"))[0]["next"] == "verify"
    result, _ = await tools.find_booking(flow_manager, date="2026-11-27")
    assert result["next"] == "confirm_change" and "4 people" in flow_manager.state["readback"]
    assert store.get(booking.id).party_size == 2  # nothing changes before the caller says yes


async def test_a_change_may_keep_its_own_seats(flow_manager, store, business):
    booking = seed(store, party=business.capacity_seats - 2)
    await tools.change_booking(flow_manager)
    result = await collect(flow_manager, party_size=min(business.max_party_size, business.capacity_seats))
    assert result["next"] == "confirm_change"
    assert store.get(booking.id).status == "confirmed"


async def test_cancel_needs_a_yes_and_writes_history(flow_manager, store):
    booking = seed(store)
    assert (await tools.cancel_booking(flow_manager))[0]["next"] == "cancel_found"
    assert (await tools.confirm_cancel(flow_manager, confirmed=False))[0]["next"] == "kept"
    assert store.get(booking.id).status == "confirmed"
    assert (await tools.confirm_cancel(flow_manager, confirmed=True))[0]["next"] == "cancelled"
    assert store.get(booking.id).status == "cancelled"
    assert [h["action"] for h in store.history(booking.id)] == ["created", "cancelled"]


async def test_from_another_phone_the_booking_is_found_by_name_and_day(flow_manager, store):
    seed(store, caller="+15559999")
    result, _ = await tools.check_booking(flow_manager)
    assert result["next"] == "not_found"
    result, _ = await tools.find_booking(flow_manager, name="lee", date="2026-11-27")
    assert result["next"] == "check_found"
    assert (await tools.find_booking(flow_manager, name="Lee", date="2026-11-28"))[0]["next"] == "not_found"


async def test_found_by_confirmation_code(flow_manager, store):
    booking = seed(store, caller=None)
    result, _ = await tools.find_booking(flow_manager, confirmation_code=booking.code.lower())
    assert result["next"] == "check_found"


async def test_several_bookings_ask_which_day(flow_manager, store):
    seed(store, date="2026-11-27")
    seed(store, date="2026-11-28")
    result, _ = await tools.cancel_booking(flow_manager)
    assert result["next"] == "which_booking" and flow_manager.state["candidate_count"] == 2
    result, _ = await tools.find_booking(flow_manager, date="2026-11-28")
    assert result["next"] == "cancel_found" and "28th" in flow_manager.state["found"]


async def test_special_request_is_read_back_and_stored(flow_manager, store):
    await collect(flow_manager, party_size=2, date="2026-11-25", time="19:00", name="Ann",
                  special_request="my son has a nut allergy")
    assert flow_manager.state["readback"].endswith("with a note: my son has a nut allergy")
    await tools.confirm_booking(flow_manager, confirmed=True)
    assert next(store.db["bookings"].rows)["notes"] == "my son has a nut allergy"


async def test_a_message_for_staff_keeps_the_callers_number(flow_manager, store):
    result, _ = await tools.take_message(flow_manager, reason="I lost my umbrella last night", name="Tom")
    assert result["next"] == "message_taken"
    (message,) = store.db["messages"].rows
    assert message["callback_number"] == "+15550100" and "umbrella" in message["reason"]


async def test_a_caller_running_late_is_a_message_for_the_team_and_no_booking(flow_manager, store):
    result, _ = await tools.running_late(flow_manager, message="We'll be 10 minutes late, it's under Tom Baker")
    assert result["next"] == "late_noted"
    (message,) = store.db["messages"].rows
    assert message["reason"] == "Running late: We'll be 10 minutes late, it's under Tom Baker"
    assert message["callback_number"] == "+15550100"
    assert store.db["bookings"].count == 0


async def test_running_late_said_into_a_voicemail_keeps_the_recording(flow_manager, store, tmp_path):
    from pipecat.frames.frames import InputAudioRawFrame
    from pipecat.processors.frame_processor import FrameDirection

    from processors.voicemail import VoicemailRecorder

    recorder = VoicemailRecorder(path=tmp_path / "vm.wav", max_secs=60)
    recorder._audio = bytearray()  # recording, as start() leaves it (its tone needs a running pipeline)
    recorder.push_frame = lambda *args, **kwargs: asyncio.sleep(0)
    await recorder.process_frame(InputAudioRawFrame(bytes(3200), 8000, 1), FrameDirection.DOWNSTREAM)
    tools.call_of(flow_manager).voicemail = recorder

    result, _ = await tools.running_late(flow_manager, message="Sorry, we'll be late")
    assert result["next"] == "late_noted" and not recorder.recording
    (message,) = store.db["messages"].rows
    assert message["reason"] == "Running late: Sorry, we'll be late"
    assert message["audio_path"] == str(tmp_path / "vm.wav") and (tmp_path / "vm.wav").exists()
