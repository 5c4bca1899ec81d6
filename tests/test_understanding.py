"""The dialogue engine's choice of tool call, on the real flow's tools and JSON schemas."""

import json

import pytest
from pipecat.flows import Flow, FlowConfig

from bot.booking import tools
from bot.dialogue.engine import MAX_MISUNDERSTANDINGS, Move, bot_line, failed_tries, next_move
from bot.dialogue.holding import is_hold_request
from bot.dialogue.listening import PRIMERS, SecondHearing
from bot.dialogue.questions import is_repeat_request
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
        # A yes that also says there is nothing more to add books; it is no goodbye.
        ("confirm", "yes_no", "Yes, that's everything.", ToolCall("confirm_booking", {"confirmed": True})),
        ("confirm", "yes_no", "Yep, that's all correct.", ToolCall("confirm_booking", {"confirmed": True})),
        ("confirm", "yes_no", "That's it.", ToolCall("confirm_booking", {"confirmed": True})),
        ("confirm", "yes_no", "Yes? Please.", ToolCall("confirm_booking", {"confirmed": True})),  # no question
        ("confirm", "yes_no", "No, the time should be 8.", ToolCall("collect_booking", {"time": "20:00"})),
        # A value read from mended words is checked first; a correction's is heard in the read-back after it.
        ("ask_party_size", "party_size", "That is 42 people.", ToolCall("collect_booking", {"party_size": 2, "unsure": True})),
        ("confirm", "yes_no", "No, make that 42 people.", ToolCall("collect_booking", {"party_size": 2})),
        # A correction at the read-back changes the detail instead of declining.
        ("confirm", "yes_no", "No, sorry, change it to Friday instead.", ToolCall("collect_booking", {"date": "2026-11-27"})),
        # A bare "No." answers the yes-or-no question asked; where none is asked, it is a goodbye.
        ("confirm", "yes_no", "No.", ToolCall("confirm_booking", {"confirmed": False})),
        ("check_heard", "party_size", "Nope.", ToolCall("confirm_heard", {"confirmed": False})),
        ("cancel_found", "yes_no", "No.", ToolCall("confirm_cancel", {"confirmed": False})),
        ("declined", None, "No.", ToolCall("end_call", {})),
        ("check_found", None, "No.", ToolCall("end_call", {})),
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
        # A change said relative to the booking: people more or fewer, a time moved.
        ("greeting", "I have a booking on Friday, can I add two more people?",
         ToolCall("change_booking", {"date": "2026-11-27", "more_people": 2})),
        ("greeting", "Could we push our booking back an hour?", ToolCall("change_booking", {"later_by_minutes": 60})),
        ("greeting", "I booked a table on Friday under Reed, can we move it to Saturday?",
         ToolCall("change_booking", {"name": "Reed", "date": "2026-11-28", "from_date": "2026-11-27"})),
        ("greeting", "Can we come earlier on Friday, say 6?", ToolCall("change_booking", {"date": "2026-11-27", "time": "18:00"})),
        ("change_found", "One fewer person, please.", ToolCall("collect_booking", {"more_people": -1})),
        ("change_found", "The number of people, it's 5 now.", ToolCall("collect_booking", {"party_size": 5})),
        # What is free is asked with the values it is for; with a time, it asks for that table.
        ("greeting", "What times do you have on Friday for 4?", ToolCall(
            "answer_question", {"question": "What times do you have on Friday for 4?", "date": "2026-11-27", "party_size": 4})),
        ("greeting", "Do you have a table available for 4 on Friday at 7?",
         ToolCall("collect_booking", {"party_size": 4, "date": "2026-11-27", "time": "19:00"})),
        # A head count said with "please" answers the question asked: it is no question about groups.
        ("ask_party_size", "Ten people please.", ToolCall("collect_booking", {"party_size": 10})),
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


@pytest.mark.parametrize(
    "said, tool",
    [
        ("Bye. I was just getting through, get me a reservation for 2 at 1 pm.", "collect_booking"),  # "Fine." misheard
        ("Bye, I would like to book a table.", "collect_booking"),  # "Hi"
        ("Bye.", "end_call"),
        ("Thanks for the booking, bye!", "end_call"),
        ("Goodbye, and thanks for the reservation.", "end_call"),
    ],
)
def test_a_farewell_opening_a_request_for_a_table_is_a_greeting_misheard(said, tool):
    assert choose(said, "greeting").name == tool


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


@pytest.mark.parametrize(
    "said", ["Sorry?", "Sorry, what did you say?", "Can you repeat that, please?", "Pardon?", "I didn't catch that."]
)
def test_a_caller_who_did_not_hear_the_bot_hears_it_again_word_for_word_with_no_failed_try(said):
    role = FLOW.initial_node["role_message"]
    readback = "Let me read that back: a table for 2 people on Friday, at 7 pm. Shall I book it?"
    messages = [{"role": "system", "content": role}, *FLOW.node("confirm")["task_messages"],
                {"role": "assistant", "content": readback}]
    tools_there = FLOW.node("confirm")["functions"] + FLOW.global_functions
    for _ in range(MAX_MISUNDERSTANDINGS + 1):  # asked more often than failed tries would allow
        messages.append({"role": "user", "content": said})
        move = next_move(messages, tools_there, today=NOW.date(), instruction=role)
        assert move == Move(say=readback), move
        messages.append({"role": "assistant", "content": move.say})
    assert failed_tries(messages) == 0
    assert not is_repeat_request("Sorry, 8 people.") and not is_repeat_request("What did you say the code was?")


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
    assert choose("Hi? Do you have parking?", "greeting").name == "answer_question"
    # The question mark speech-to-text puts on a greeting makes no question of what follows it.
    assert choose("Hello? I'd like to be with the people.", "greeting") is None


@pytest.mark.parametrize("flow_file", ["booking.yaml", "salon.yaml"])
@pytest.mark.parametrize("said", ["Mm hmm.", "Uh, I, um...", "Yes.", "The."])
def test_a_name_the_line_cannot_make_out_leads_to_the_offer_of_the_callers_number(flow_file, said):
    flow = Flow(FlowConfig.from_file(PROJECT / "flows" / flow_file), handlers=tools)
    messages = _asked(flow, "ask_name", "name")
    assert _reply(flow, "ask_name", messages, said).call == ToolCall("name_unclear", {})


def test_checking_the_line_at_the_name_is_still_answered_and_words_never_choose_the_offer():
    messages = _asked(FLOW, "ask_name", "name")
    assert _reply(FLOW, "ask_name", messages, "Hello?").say.startswith("Yes, I'm here.")
    for said in ("It's unclear.", "Name unclear.", "Mm hmm.", "name_unclear"):
        assert getattr(choose(said, "ask_name", "name"), "name", None) != "name_unclear", said


@pytest.mark.parametrize(
    "said, call",
    [
        ("Yes, please.", ToolCall("book_under_number", {"confirmed": True})),
        ("Sure, that's fine.", ToolCall("book_under_number", {"confirmed": True})),
        ("No.", ToolCall("book_under_number", {"confirmed": False})),
        ("Yes, it's Robin Hayes.", ToolCall("collect_booking", {"name": "Robin Hayes"})),
        ("Robin Hayes.", ToolCall("collect_booking", {"name": "Robin Hayes"})),
        ("No, make it 8 pm.", ToolCall("collect_booking", {"time": "20:00"})),
    ],
)
def test_the_offer_of_the_callers_number_books_on_a_yes_and_takes_a_name_said_instead(said, call):
    assert choose(said, "offer_number", "name") == call


# A caller asking the line to wait: the flow's words, no question, no failed try, and the question still stands

HOLD_REQUESTS = [
    "Hold on", "Wait.", "Yeah? Wait.", "One moment please", "Just a sec", "Give me a minute, let me check with my wife",
    "Hang on a second", "Hold on a sec.", "Wait, wait.", "Um, wait.", "One sec.", "Could you hold on a moment, please?",
    "Sorry, just one more second.", "Okay, bear with me.", "Hmm, let me see.", "Give me two minutes.",
    "Yes, I'm still here, one moment.",  # to the idle prompt, "Are you still there?" (processors/idle.py)
]


def _asked(flow: Flow, node: str, expecting: str | None = None) -> list[dict]:
    """A call at ``node`` (which asks for ``expecting``), once the bot has asked."""
    arrived = [{"role": "tool", "content": json.dumps({"expecting": expecting})}] if expecting else []
    messages = [{"role": "system", "content": flow.initial_node["role_message"]}, *arrived, *flow.node(node)["task_messages"]]
    return [*messages, {"role": "assistant", "content": bot_line(messages)}]


def _reply(flow: Flow, node: str, messages: list[dict], said: str):
    """The engine's move after the caller says ``said``, with the turn (and a spoken reply) added to ``messages``."""
    messages.append({"role": "user", "content": said})
    tools_here = flow.node(node)["functions"] + flow.global_functions
    move = next_move(messages, tools_here, today=NOW.date(), instruction=flow.initial_node["role_message"])
    if move.say is not None:
        messages.append({"role": "assistant", "content": move.say})
    return move


@pytest.mark.parametrize("said", HOLD_REQUESTS)
def test_a_caller_asking_to_wait_is_told_to_take_their_time_and_their_next_words_answer_the_question(said):
    # At the party size, the riskiest node: "Wait." reads as eight and "one moment" as one.
    messages = _asked(FLOW, "ask_party_size", "party_size")
    assert _reply(FLOW, "ask_party_size", messages, said).say == "Of course, take your time."
    assert failed_tries(messages) == 0
    assert _reply(FLOW, "ask_party_size", messages, "Four.").call == ToolCall("collect_booking", {"party_size": 4})


def test_the_words_for_a_wait_are_the_flows_and_a_flow_without_them_has_a_default():
    salon = Flow(FlowConfig.from_file(PROJECT / "flows" / "salon.yaml"), handlers=tools)
    assert _reply(salon, "greeting", _asked(salon, "greeting"), "Hold on.").say == "No rush, take your time."
    untold = [{"role": "developer", "content": 'Ask. Say: "Which day?"'}, {"role": "assistant", "content": "Which day?"}]
    untold.append({"role": "user", "content": "One moment."})
    assert next_move(untold, [], today=NOW.date(), instruction=None).say == "Of course, take your time."


def test_a_wait_is_not_a_failed_try_but_a_caller_who_only_ever_says_wait_still_reaches_the_voicemail():
    messages = _asked(FLOW, "ask_date", "date")
    # Two waits and two misunderstandings: still asked again (three misunderstandings hand over).
    for said in ("Hold on.", "purple elephant", "Just one more second.", "banana split"):
        assert _reply(FLOW, "ask_date", messages, said).call is None
    assert failed_tries(messages) == 2
    # A line that only ever hears "wait": granted twice, then each one counts.
    messages = _asked(FLOW, "ask_date", "date")
    moves = [_reply(FLOW, "ask_date", messages, "Wait.") for _ in range(5)]
    assert [move.say for move in moves[:4]] == ["Of course, take your time."] * 4
    assert moves[4].call == ToolCall("leave_voicemail", {})


@pytest.mark.parametrize("back", ["Okay, I'm back.", "Sorry about that.", "Thanks for waiting.", "Yes, I'm still here."])
def test_a_caller_back_after_a_wait_is_asked_again_with_no_failed_try(back):
    messages = _asked(FLOW, "ask_party_size", "party_size")
    _reply(FLOW, "ask_party_size", messages, "Hold on, let me check with my wife.")
    again = _reply(FLOW, "ask_party_size", messages, back).say
    assert again and "catch" not in again and again != "Of course, take your time."
    assert failed_tries(messages) == 0
    assert _reply(FLOW, "ask_party_size", messages, "Four.").call == ToolCall("collect_booking", {"party_size": 4})


def test_back_words_without_a_wait_before_them_are_a_misunderstanding():
    messages = _asked(FLOW, "ask_party_size", "party_size")
    assert "catch" in _reply(FLOW, "ask_party_size", messages, "Sorry about that.").say
    assert failed_tries(messages) == 1


@pytest.mark.parametrize(
    "node, expecting, said, call",
    [
        ("ask_party_size", "party_size", "Wait, make that four people", ToolCall("collect_booking", {"party_size": 4})),
        ("ask_party_size", "party_size", "Hold on, can we do 8 instead?", ToolCall("collect_booking", {"party_size": 8})),
        ("ask_time", "time", "Hold on, can we do 8 instead?", ToolCall("collect_booking", {"time": "20:00"})),
        ("ask_time", "time", "One moment — actually Friday", ToolCall("collect_booking", {"date": "2026-11-27"})),
        ("ask_party_size", "party_size", "Hold on. Eight.", ToolCall("collect_booking", {"party_size": 8})),
        ("ask_time", "time", "Wait a minute, make it 7", ToolCall("collect_booking", {"time": "19:00"})),
        ("ask_name", "name", "Give me a minute... okay, Saturday", ToolCall("collect_booking", {"date": "2026-11-28"})),
        ("confirm", "yes_no", "Wait, no.", ToolCall("confirm_booking", {"confirmed": False})),
        ("confirm", "yes_no", "Hold on. Yes, that's right.", ToolCall("confirm_booking", {"confirmed": True})),
        ("ask_date", "date", "Hold on, what time do you close?",
         ToolCall("answer_question", {"question": "Hold on, what time do you close?"})),
    ],
)
def test_what_follows_the_words_asking_to_wait_is_the_answer(node, expecting, said, call):
    assert not is_hold_request(said)
    assert choose(said, node, expecting) == call


@pytest.mark.parametrize(
    "said",
    [
        "Can you put me on the wait list?", "Is there a waitlist?", "Wait list, please.", "Hold on to the table for us.",
        "Is it a minute's walk from the station?", "5 minutes", "We'll be 5 minutes late.", "I'll wait.", "Wait times on Friday?",
        # From the SGD callers (the only one of their lines with such a word).
        "No, not at the moment. Please try and book a table to the restaurant for twelve in the afternoon.",
    ],
)
def test_waiting_words_in_other_sentences_are_not_a_request_to_wait(said):
    assert not is_hold_request(said)
    assert _reply(FLOW, "greeting", _asked(FLOW, "greeting"), said).say != "Of course, take your time."


def _hearing(node: str, expecting: str) -> SecondHearing:
    return SecondHearing(messages=lambda: _asked(FLOW, node, expecting), today=NOW.date)


def _listens_for(hearing: SecondHearing, first: str) -> str | None:
    again = hearing.hear_again(first)
    assert again is None or again.primer == PRIMERS[again.slot]
    return again.slot if again else None


def test_a_request_to_wait_gets_no_second_hearing_primed_with_the_answers_words():
    hearing = _hearing("ask_party_size", "party_size")
    assert _listens_for(hearing, "Hold on.") is None  # primed with numbers, "Hold on" may come back as "Four"
    assert _listens_for(hearing, "Hold on. Eight.") is None  # the answer is there already
    assert _listens_for(hearing, "Hold on, um, it's") == "party_size"


@pytest.mark.parametrize(
    "node, expecting, first, slot",
    [
        # A time given while the party size was asked, its number lost: "One in the afternoon", "1:30 in the
        # afternoon", "How about 11 in the morning?" as tiny.en heard them from unfamiliar voices.
        ("ask_party_size", "party_size", "Well, in the after-oo.", "time"),
        ("ask_party_size", "party_size", "130 end-bit afternoon will be fine.", "time"),
        ("ask_date", "date", "I'll be remembered in the morning.", "time"),
        ("ask_date", "date", "On Friday at nine o'clock-ish", None),  # its time is there
        ("ask_party_size", "party_size", "Even 645 works fine for me.", "time"),  # "Evening 6:45"
        ("ask_party_size", "party_size", "Six of what in the evening fence.", "time"),  # "6 o'clock in the evening"
        # A head count whose number was lost, with the rest of the turn heard.
        ("ask_time", "time", "I support who people on Monday, March 4th.", "party_size"),
        ("ask_time", "time", "That's for four people on Monday.", None),
        # Nothing lost: no second decode.
        ("ask_party_size", "party_size", "Four people in the evening.", "time"),  # the evening, but no time yet
        ("ask_party_size", "party_size", "Four people at 7 in the evening.", None),
        ("ask_name", "name", "The name is Leah Moss.", None),
        ("ask_party_size", "party_size", "What time do you close in the evening?", None),  # a question
    ],
)
def test_a_turn_is_heard_again_for_the_value_whose_frame_it_kept(node, expecting, first, slot):
    assert _listens_for(_hearing(node, expecting), first) == slot


@pytest.mark.parametrize(
    "first, second, kept",
    [
        ("Well, in the after-oo.", "Well, in the afternoon.", False),  # still no time
        ("130 end-bit afternoon will be fine.", "One thirty in this afternoon will be fine.", True),
        # The second must keep what the first held: here the date.
        ("On Monday in the after-oo.", "In the afternoon at two.", False),
        ("On Monday in the after-oo.", "On Monday in the afternoon at two.", True),
        # ... and its yes or no.
        ("Yes, in the evening-oo", "No, at seven in the evening", False),
        ("Okay, so at, uh, in the evening", "Seven, eight, nine, ten", False),  # the primer read back
    ],
)
def test_a_second_hearing_is_kept_only_if_it_found_the_value_and_lost_nothing(first, second, kept):
    hearing = _hearing("ask_party_size", "party_size")
    again = hearing.hear_again(first)
    assert again is not None and again.slot == "time"
    assert hearing.keeps(second, again) is kept


@pytest.mark.parametrize(
    "node, expecting, said",
    [
        ("greeting", None, "Hi, I have a booking tonight, we'll be 5 minutes late."),
        ("greeting", None, "I'm running a bit late for my reservation."),
        ("greeting", None, "Hello, this is Tom Baker, we are going to be about twenty minutes late"),
        ("ask_party_size", "party_size", "Sorry, I'm late for my booking, can you tell them?"),
    ],
)
def test_a_caller_running_late_is_passed_on_to_the_team_not_booked(node, expecting, said):
    assert choose(said, node, expecting) == ToolCall("running_late", {"message": said})


@pytest.mark.parametrize(
    "said, call",
    [
        ("A late dinner for two on Friday at 9 pm, please.",
         ToolCall("collect_booking", {"party_size": 2, "date": "2026-11-27", "time": "21:00"})),
        ("Is 10 pm too late for a table for 2 tomorrow?",
         ToolCall("collect_booking", {"party_size": 2, "date": "2026-11-25", "time": "22:00"})),
        ("Hello, I'd like to make a reservation, please.", ToolCall("collect_booking", {})),
    ],
)
def test_late_in_other_sentences_is_no_lateness(said, call):
    assert choose(said, "greeting") == call
