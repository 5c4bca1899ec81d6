"""The dialogue engine's choice of tool call, on the real flow's tools and JSON schemas."""

import json

import pytest
from pipecat.flows import Flow, FlowConfig

from bot.booking import tools
from bot.dialogue.engine import bot_line, next_move
from bot.dialogue.understanding import ToolCall, choose_tool_call
from tests.conftest import NOW, PROJECT

FLOW = Flow(FlowConfig.from_file(PROJECT / "flows" / "booking.yaml"), handlers=tools)


def node_tools(node: str):
    return FLOW.node(node).get("functions", []) + FLOW.global_functions


def choose(text, node, expecting=None):
    return choose_tool_call(text, node_tools(node), today=NOW.date(), expecting=expecting)


@pytest.mark.parametrize(
    "node, expecting, said, call",
    [
        ("greeting", None, "Hi, I'd like to book a table for four people tomorrow at 7 p.m. The name is Sarah Johnson.",
         ToolCall("collect_booking", {"party_size": 4, "date": "2026-11-25", "time": "19:00", "name": "Sarah Johnson"})),
        ("greeting", None, "Hello, I'd like to make a reservation, please.", ToolCall("collect_booking", {})),
        ("ask_party_size", "party_size", "2 people", ToolCall("collect_booking", {"party_size": 2})),
        ("ask_party_size", "party_size", "Four.", ToolCall("collect_booking", {"party_size": 4})),
        ("ask_date", "date", "This Friday.", ToolCall("collect_booking", {"date": "2026-11-27"})),
        ("ask_time", "time", "Half past 7", ToolCall("collect_booking", {"time": "19:30"})),
        ("ask_name", "name", "Michael Chen", ToolCall("collect_booking", {"name": "Michael Chen"})),
        ("time_unavailable", "time", "930 is fine.", ToolCall("collect_booking", {"time": "21:30"})),
        ("confirm", "yes_no", "Yes, that's right.", ToolCall("confirm_booking", {"confirmed": True})),
        ("confirm", "yes_no", "No, I don't want to book it, thanks.", ToolCall("confirm_booking", {"confirmed": False})),
        # A correction at the read-back changes the detail instead of declining.
        ("confirm", "yes_no", "No, sorry, change it to Friday instead.", ToolCall("collect_booking", {"date": "2026-11-27"})),
        ("declined", None, "No, that's all. Goodbye.", ToolCall("end_call", {})),
        ("declined", None, "Actually make it 8 pm", ToolCall("collect_booking", {"time": "20:00"})),
        ("ask_date", "date", "That's all, bye.", ToolCall("end_call", {})),
    ],
)
def test_utterance_becomes_the_right_tool_call(node, expecting, said, call):
    assert choose(said, node, expecting) == call


@pytest.mark.parametrize("said", ["", "um", "purple elephant"])
def test_nothing_fits_means_ask_again(said):
    assert choose(said, "ask_date", "date") is None


def test_a_question_nothing_else_fits_goes_to_the_facts_which_may_not_know():
    # Not "I didn't catch that": the caller was heard, and is told honestly that the line does not know.
    assert choose("What's the weather like?", "ask_date", "date") == ToolCall(
        "answer_question", {"question": "What's the weather like?"}
    )


def test_yes_alone_never_books_from_a_node_without_a_confirmation_tool():
    assert choose("Yes.", "ask_time", "time") is None


@pytest.mark.parametrize(
    "node, said, call",
    [
        ("greeting", "Hi, I need to change my booking.", ToolCall("change_booking", {})),
        # What is said with the request is passed on: the new time, the day that finds the booking.
        ("greeting", "I'd like to move my reservation to 8 pm", ToolCall("change_booking", {"time": "20:00"})),
        ("greeting", "I want to cancel my reservation please", ToolCall("cancel_booking", {})),
        ("greeting", "Can you check my booking for Friday?", ToolCall("check_booking", {"date": "2026-11-27"})),
        (
            "greeting",
            "I have a reservation on Friday and I need to push it back an hour",
            ToolCall("change_booking", {"date": "2026-11-27", "later_by_minutes": 60}),
        ),
        ("greeting", "We'll be 5 instead of 4.", ToolCall("change_booking", {"party_size": 5})),
        ("greeting", "Something came up and we can't make it tomorrow.", ToolCall("cancel_booking", {"date": "2026-11-25"})),
        # A new booking's values fit the change tool too: it is chosen only when the caller asks for a change.
        ("greeting", "A table for 2 on Friday at 7 please", ToolCall("collect_booking", {"party_size": 2, "date": "2026-11-27", "time": "19:00"})),
        ("greeting", "Can I speak to a manager?", ToolCall("ask_for_human", {})),
        ("ask_date", "I'd rather talk to a real person", ToolCall("ask_for_human", {})),
        ("not_found", "It's under Johnson, for Friday", ToolCall("find_booking", {"name": "Johnson", "date": "2026-11-27"})),
        ("which_booking", "The Saturday one", ToolCall("find_booking", {"date": "2026-11-28"})),
        ("cancel_found", "Yes please cancel it", ToolCall("confirm_cancel", {"confirmed": True})),
        ("cancel_found", "Yes.", ToolCall("confirm_cancel", {"confirmed": True})),  # the yes alone is enough
        ("greeting", "Please check for a reservation on Friday.", ToolCall("collect_booking", {"date": "2026-11-27"})),
        ("change_found", "Can we make it 8 pm instead?", ToolCall("collect_booking", {"time": "20:00"})),
        ("take_message", "My name is Tom Baker and I left my umbrella there last night",
         ToolCall("take_message", {"reason": "My name is Tom Baker and I left my umbrella there last night", "name": "Tom Baker"})),
        ("ask_name", "Sarah Johnson. It's my mum's birthday, by the way.",
         ToolCall("collect_booking", {"name": "Sarah Johnson", "special_request": "It's my mum's birthday"})),
    ],
)
def test_the_whole_job(node, said, call):
    expecting = "name" if node == "ask_name" else "date" if node == "which_booking" else None
    assert choose(said, node, expecting) == call


def test_asking_for_a_person_beats_a_misheard_goodbye():
    assert choose("Bye, can I speak to a manager? Please.", "greeting") == ToolCall("ask_for_human", {})


# Asking again when nothing fits: the flow's words, never the same twice in a row


def _misheard_twice(flow: Flow, node: str, expecting: str | None = None) -> tuple[str, list[str]]:
    """The node's arrival line and the engine's replies to two caller turns nothing fits there."""
    role = flow.initial_node["role_message"]
    arrived = [{"role": "tool", "content": json.dumps({"expecting": expecting})}] if expecting else []
    messages = [{"role": "system", "content": role}, *arrived, *flow.node(node)["task_messages"]]
    arrival = bot_line(messages)
    messages.append({"role": "assistant", "content": arrival})
    replies = []
    for said in ("purple elephant", "banana split"):
        messages.append({"role": "user", "content": said})
        move = next_move(messages, flow.node(node)["functions"] + flow.global_functions, today=NOW.date(), instruction=role)
        assert move.call is None, move
        replies.append(move.say)
        messages.append({"role": "assistant", "content": move.say})
    return arrival, replies


@pytest.mark.parametrize("flow_file", ["booking.yaml", "salon.yaml"])
def test_a_caller_misheard_twice_at_the_greeting_is_helped_in_other_words_never_greeted_again(flow_file):
    flow = Flow(FlowConfig.from_file(PROJECT / "flows" / flow_file), handlers=tools)
    greeting, (first, second) = _misheard_twice(flow, "greeting")
    assert first != second
    for reply in (first, second):
        assert greeting not in reply and "calling" not in reply and "anything else" not in reply.lower(), reply
    assert "for example" in first  # the first helps the caller say what they need


def test_a_node_with_one_again_line_asks_with_it_then_with_its_say_line_as_before():
    say, (first, second) = _misheard_twice(FLOW, "ask_party_size", expecting="party_size")
    assert say == "Of course. How many people will be joining?"
    assert first == "Sorry, I didn't catch that. How many people is the booking for? You can say a number, like two or four."
    assert second == f"Sorry, I didn't catch that. {say}"


def test_several_again_lines_are_used_in_turn_and_after_an_answer_the_last():
    asks = {"role": "developer", "content": 'Ask. Say: "Which day?" Again: "One?" Again: "Two?" Again: "Three?"'}
    messages, replies = [asks, {"role": "assistant", "content": "Which day?"}], []
    for _ in range(4):
        messages.append({"role": "user", "content": "purple elephant"})
        replies.append(next_move(messages, [], today=NOW.date(), instruction=None).say)
        messages.append({"role": "assistant", "content": replies[-1]})
    assert replies == [f"Sorry, I didn't catch that. {n}?" for n in ("One", "Two", "Three", "One")]
    answered = [asks, {"role": "assistant", "content": "Which day?"}, {"role": "tool", "content": '{"answer": "We open at noon."}'}]
    assert bot_line(answered) == "We open at noon. Three?"


@pytest.mark.parametrize("said", ["Hello?", "Hi there.", "Are you there?", "Hello? Can you hear me?", "Is anyone there?"])
def test_a_caller_checking_the_line_is_told_the_bot_is_there_and_asked_again(said):
    assert choose(said, "greeting") is None  # no question about the restaurant, nothing to look up
    role = FLOW.initial_node["role_message"]
    messages = [{"role": "system", "content": role}, *FLOW.node("greeting")["task_messages"]]
    messages += [{"role": "assistant", "content": bot_line(messages)}, {"role": "user", "content": said}]
    move = next_move(messages, FLOW.node("greeting")["functions"], today=NOW.date(), instruction=role)
    assert move.call is None and move.say.startswith("Yes, I'm here. You can tell me what you'd like"), move


def test_a_greeting_before_a_question_is_still_the_question():
    assert choose("Hello, where are you located?", "greeting").name == "answer_question"
