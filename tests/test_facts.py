"""Callers' questions about the business, answered from its file on the offline engine, mid-booking too.

Each question goes the whole way the engine takes it: the real flow's tools at a
node (at the greeting and in the middle of a booking), the engine's choice of
``answer_question``, and the answer from the business file. The SGD questions
(tests/fixtures/sgd-questions-sample.jsonl, CC BY-SA 4.0, see tests/fixtures/README.md)
are real callers' words.
"""

import asyncio
import datetime as dt
import io
import json

import pytest
from pipecat.flows import Flow, FlowConfig

from bot.booking import tools
from bot.booking.business import Business
from bot.booking.facts import Facts, answer_question
from bot.desk.chat import run_chat
from bot.dialogue.understanding import choose_tool_call
from bot.flowfile.check import check_flow
from bot.settings import load_settings
from tests.conftest import NOW, PROJECT

RESTAURANT = Business.from_file(PROJECT / "flows" / "booking.business.yaml")
SALON = Business.from_file(PROJECT / "flows" / "salon.business.yaml")
FLOW = Flow(FlowConfig.from_file(PROJECT / "flows" / "booking.yaml"), handlers=tools)
# Where a question may come: before a booking, and in its middle (with what the bot asked for).
NODES = [("greeting", None), ("ask_date", "date"), ("ask_time", "time"), ("confirm", "yes_no")]

PHRASINGS = {
    "address": ["Where are you located?", "What's your address?", "Can you tell me where the restaurant is?",
                "Which street are you on?", "Where exactly are you?"],
    "directions": ["How do I get to you from the station?", "Can you give me directions?",
                   "What's the nearest train station?", "How would we get there by bus?",
                   "Could you tell me how to get there?"],
    "parking": ["Is there parking?", "Do you have a car park?", "Where can I park?", "Is there anywhere to park nearby?",
                "Can I leave my car somewhere close?"],
    "phone": ["What's your phone number?", "Can I get a contact number?", "What number can I call you on?",
              "Could you give me your telephone number?", "How can I reach you?", "Can I call them?",
              "What's the address and their number?"],
    "email": ["What's your email address?", "Can I email you?", "Do you have an e-mail I can write to?",
              "What email should I send it to?", "Is there an email for the restaurant?"],
    "dietary": ["Do you have vegetarian food?", "Is there anything gluten free on the menu?", "Do you cater for vegans?",
                "My son has a nut allergy, can you handle that?", "Do you do dairy free dishes?"],
    "menu": ["What kind of food do you serve?", "What's on the menu?", "What type of cuisine is it?",
             "Do you serve pasta?", "What dishes do you have?"],
    "prices": ["How much does it cost?", "Is it expensive?", "What's the price range?", "How much is a main course?",
               "Is the restaurant reasonably priced?", "Is it a lavish place? I don't want to break the bank."],
    "dress_code": ["Is there a dress code?", "What should I wear?", "Can I come in jeans?", "Do I need a jacket and tie?",
                   "Is it formal?"],
    "accessibility": ["Is it wheelchair accessible?", "Do you have step free access?", "Are there stairs at the entrance?",
                      "My mother uses a wheelchair, can she get in?", "Do you have a lift?"],
    "pets": ["Can I bring my dog?", "Are dogs allowed?", "Is it pet friendly?", "Can we come with our puppy?",
             "Do you allow pets inside?"],
    "groups": ["Do you take large groups?", "Can you do a private event?", "Do you have a private room?",
               "Could we book the place for a function?", "Do you take groups of twelve?"],
    "takeaway": ["Do you do takeaway?", "Can I order food to go?", "Do you deliver?", "Is there a take out menu?",
                 "Can I pick up an order later?"],
    "alcohol": ["Do you serve alcohol?", "Is there a bar?", "Do you have wine?", "Can I get a cocktail there?",
                "Do they serve liquor?"],
    "live_music": ["Is there live music?", "Do you have a band on Fridays?", "Is there any entertainment?",
                   "Do they play live music there?", "Will there be jazz?"],
    "children": ["Are children welcome?", "Do you have high chairs?", "Is there a kids menu?", "Can we bring our baby?",
                 "Is it family friendly?"],
    "hours": ["What time do you close on Friday?", "When are you open?", "What are your opening hours?",
              "Are you open on Monday?", "How late are you open tonight?"],
}
SGD_KINDS = {"address": "address", "phone": "phone", "alcohol": "alcohol", "live_music": "live_music",
             "price_range": "prices", "cuisine": "menu"}
SGD = [json.loads(line) for line in (PROJECT / "tests" / "fixtures" / "sgd-questions-sample.jsonl").open()]


def tools_at(node: str):
    return FLOW.node(node).get("functions", []) + FLOW.global_functions


def engine_answer(question: str, node: str = "greeting", expecting: str | None = None, business: Business = RESTAURANT):
    """The engine's tool call for ``question`` at ``node``, and what the business file answers."""
    call = choose_tool_call(question, tools_at(node), today=NOW.date(), expecting=expecting)
    assert call is not None and call.name == "answer_question", (question, node, call)
    day = dt.date.fromisoformat(call.arguments["date"]) if "date" in call.arguments else None
    return answer_question(call.arguments["question"], business.facts, lambda: business.hours_said(day, NOW.date()))


@pytest.mark.parametrize("node, expecting", NODES)
@pytest.mark.parametrize("kind, question", [(k, q) for k, qs in PHRASINGS.items() for q in qs])
def test_each_kind_of_question_is_answered_with_its_fact(kind, question, node, expecting):
    answer = engine_answer(question, node, expecting)
    assert answer.fact is not None and kind in answer.fact.split(", "), answer
    if kind != "hours":
        assert getattr(RESTAURANT.facts, kind) in answer.text


@pytest.mark.parametrize("row", SGD, ids=lambda r: r["utterance"][:40])
def test_real_callers_questions_from_sgd_are_answered_with_the_right_fact(row):
    answer = engine_answer(row["utterance"])
    assert SGD_KINDS[row["asks"][0]] in (answer.fact or "").split(", "), answer


@pytest.mark.parametrize(
    "question, kinds",
    [
        ("What's the address and number?", {"address", "phone"}),
        ("What type of food and liquor do they serve?", {"menu", "alcohol"}),
        ("Do they serve alcohol and Italian food?", {"menu", "alcohol"}),
        ("Is it expensive? Also, what kind of food is it?", {"prices", "menu"}),
        ("Now I just need their phone number and whether they have live music.", {"phone", "live_music"}),
        # One thing asked, though in two kinds' words: only the specific one answers.
        ("Do you serve vegan food?", {"dietary"}),
        ("Do you have a kids menu and high chairs?", {"children"}),
    ],
)
def test_a_question_asking_two_things_gets_both_answers(question, kinds):
    assert set(engine_answer(question).fact.split(", ")) == kinds


def test_opening_hours_are_said_from_the_hours_and_closed_dates_never_written_twice():
    friday, monday, christmas = dt.date(2026, 11, 27), dt.date(2026, 11, 30), dt.date(2026, 12, 25)
    assert RESTAURANT.hours_said(friday, NOW.date()) == "On Fridays we seat guests from 5 pm to 10 pm."
    assert RESTAURANT.hours_said(monday, NOW.date()) == "We're closed on Mondays."
    assert RESTAURANT.hours_said(christmas, NOW.date()) == "We're closed on Friday the 25th of December."
    week = RESTAURANT.hours_said(None, dt.date(2026, 12, 20))
    assert "Tuesday to Thursday from 5 pm to 9:30 pm" in week and "closed on Mondays" in week
    assert "Friday the 25th of December" in week  # a closed date in the next fortnight is mentioned
    # The hours come from the file: change them and the answer changes.
    late = RESTAURANT.model_copy(update={"hours": {**RESTAURANT.hours, "friday": RESTAURANT.hours["saturday"]}})
    assert late.hours_said(friday, NOW.date()) == "On Fridays we seat guests from 12 noon to 2:30 pm and from 5 pm to 10 pm."


def test_a_question_the_file_cannot_answer_is_told_so_never_guessed():
    for question in ("Do you have free wifi?", "Who is the head chef?", "Is the fish locally caught?"):
        answer = engine_answer(question, "ask_time", "time")
        assert answer.fact is None and answer.text == RESTAURANT.facts.unknown
    # A kind the owner left out of the file is unknown too, not invented.
    assert answer_question("Do you have live music?", Facts(), lambda: "").text == Facts().unknown


def test_the_owners_own_questions_are_matched_to_their_answers():
    answer = engine_answer("Can I buy a gift voucher?")
    assert answer.fact == "more[0]" and answer.text == RESTAURANT.facts.more[0].answer
    assert engine_answer("Is there any outdoor seating?").fact == "more[1]"


def test_the_salon_answers_from_its_own_facts():
    answer = engine_answer("Where are you located?", business=SALON)
    assert answer.text == SALON.facts.address and "Elm Road" in answer.text
    assert engine_answer("Do you do vegan food?", business=SALON).fact is None  # the salon wrote no dietary fact
    assert SALON.hours_said(dt.date(2026, 11, 26), NOW.date()) == "On Thursdays we have appointments from 9 am to 7:15 pm."


@pytest.mark.parametrize(
    "said",
    ["Do you have vegetarian food?", "Is there parking?", "Can I bring my dog?", "Do you have high chairs?"],
)
def test_a_question_is_never_taken_as_the_bookings_details_or_special_request(said):
    call = choose_tool_call(said, tools_at("ask_name"), today=NOW.date(), expecting="name")
    assert call is not None and call.name == "answer_question"


def test_a_special_request_said_as_one_is_still_a_special_request():
    call = choose_tool_call("My son has a nut allergy.", tools_at("ask_name"), today=NOW.date(), expecting="name")
    assert call is not None and call.name == "collect_booking" and "nut allergy" in call.arguments["special_request"]


def test_two_questions_mid_booking_keep_every_slot_and_the_table_is_booked(tmp_path):
    out = io.StringIO()
    settings = load_settings(db_path=tmp_path / "b.db", stt="local", llm="local", tts="local")
    lines = [
        "Hi, I'd like a table for three, please.",
        "Do you have vegetarian food?",
        "This Friday.",
        "What time do you close on Friday?",
        "Eight pm.",
        "The name is Ann Lee.",
        "Yes please.",
    ]
    result = asyncio.run(asyncio.wait_for(run_chat(lines, settings=settings, now=NOW, out=out), 60))
    booking = result.outcome.booking
    assert booking is not None and {k: booking[k] for k in ("party_size", "date", "time", "name")} == {
        "party_size": 3, "date": "2026-11-27", "time": "20:00", "name": "Ann Lee"
    }, out.getvalue()
    transcript = out.getvalue()
    assert "answered from: dietary" in transcript and "answered from: hours" in transcript
    assert "On Fridays we seat guests from 5 pm to 10 pm." in transcript
    report = result.outcome
    assert report.node == "booked"


def test_a_booking_right_after_a_question_about_a_day_is_for_that_day(tmp_path):
    settings = load_settings(db_path=tmp_path / "b.db", stt="local", llm="local", tts="local")
    out = io.StringIO()
    lines = ["What time do you open on Saturday?", "Great, can I book for 3 people then, at 7 pm?", "Ann Lee", "Yes."]
    result = asyncio.run(asyncio.wait_for(run_chat(lines, settings=settings, now=NOW, out=out), 60))
    booking = result.outcome.booking
    assert booking is not None and (booking["party_size"], booking["date"], booking["time"]) == (
        3, "2026-11-28", "19:00"
    ), out.getvalue()
    assert "on Saturday the 28th of November" in out.getvalue()  # read back, so a wrong guess is heard


def test_a_question_asked_is_recorded_with_the_fact_that_answered_it(tmp_path):
    settings = load_settings(db_path=tmp_path / "b.db", stt="local", llm="local", tts="local")
    result = asyncio.run(
        asyncio.wait_for(run_chat(["Is there parking?", "Do you have wifi?", "No, that's all."],
                                  settings=settings, now=NOW, out=io.StringIO()), 60)
    )
    from bot.booking.store import BookingStore

    report = BookingStore(tmp_path / "b.db", settings.business).call_report(result.outcome.call_sid)
    assert [q["fact"] for q in report["questions"]] == ["parking", None]
    assert result.outcome.booking is None and result.outcome.node == "goodbye"


def test_flows_check_reports_a_broken_fact_at_its_line(tmp_path):
    flow = tmp_path / "booking.yaml"
    flow.write_text((PROJECT / "flows" / "booking.yaml").read_text())
    business = (PROJECT / "flows" / "booking.business.yaml").read_text()
    business = business.replace("  dress_code: There's", "  dresscode: There's").replace(
        '"Is there a terrace?"]', '""]'
    )
    (tmp_path / "booking.business.yaml").write_text(business)
    problems = [str(p) for p in check_flow(flow)]
    dress_line = business.splitlines().index(next(l for l in business.splitlines() if l.startswith("  dresscode:"))) + 1
    assert any(f"booking.business.yaml:{dress_line}: facts.dresscode" in p for p in problems), problems
    assert any("a question is empty" in p for p in problems), problems
