"""Recovering from a caller the line mishears, as a host would: real calls through the real server.

The caller's audio is real speech; what the line "hears" is scripted through the
Deepgram stand-in (its transcripts, one per utterance), so each call mishears
exactly what the test says, on the offline dialogue engine and Piper:

- a value read from misheard words is checked ("Was that 3 people?");
- the same question is never asked twice in the same words;
- after two replies that did not understand the value asked, the keypad is
  offered for that value only, and keys then give it;
- values given before they are asked for are kept, never asked again;
- a caller who asks the line to wait is given the time (no keypad offer), and their next words answer the question;
- a name the line cannot make out is answered with the booking read back under the caller's number: a yes
  books it, a name said instead is read back and booked.
"""

import asyncio

from bot.audio import load_phone_audio
from bot.booking.business import LineWords
from bot.replay.caller import TwilioCaller
from bot.replay.runner import in_process_server, replay_settings
from bot.settings import Provider
from bot.standins.deepgram import DeepgramStandin
from tests.conftest import NOW, PROJECT

KEY = "test-key"
WORDS = LineWords()
SPEECH = load_phone_audio(PROJECT / "recordings" / "slot-by-slot" / "02-party.wav")  # any real utterance


async def _call(tmp_path, heard: list[str], keys: dict[int, str] | None = None, **overrides) -> dict:
    """One call where the line hears ``heard`` turn by turn; ``keys`` are pressed instead at those turns;
    ``overrides`` are settings."""
    keys = keys or {}
    spoken_turns = [text for i, text in enumerate(heard) if i not in keys]
    async with DeepgramStandin(api_key=KEY, transcripts=spoken_turns, final_delay_ms=50) as dg:
        settings = replay_settings(
            db_path=tmp_path / "bookings.db", recordings_dir=tmp_path / "calls",
            deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, stt=Provider.CLOUD, llm=Provider.LOCAL, tts=Provider.LOCAL,
            **overrides,
        )
        async with in_process_server(settings) as (url, store):
            async with TwilioCaller(url, caller="+15551239999", custom_parameters={"now": NOW.isoformat()}) as caller:
                await caller.wait_for_bot(0.0, timeout=20)
                for turn in range(len(heard)):
                    if turn in keys:
                        await caller.press(keys[turn])
                        done = asyncio.get_running_loop().time()
                    else:
                        done = await caller.say(SPEECH)
                    await caller.wait_for_bot(done, timeout=20)
                await caller.wait_for_hang_up(20)
            for _ in range(50):
                report = store.call_report(caller.call_sid)
                if report and report["call"]["ended_at"]:
                    return report
                await asyncio.sleep(0.1)
            return store.call_report(caller.call_sid)


def _bot_lines(report: dict) -> list[str]:
    return [t["bot_said"] for t in report["turns"] if t["bot_said"]]


def _booked(report: dict) -> list[tuple]:
    return [(b["party_size"], b["date"], b["time"], b["name"]) for b in report["bookings"] if b["status"] == "confirmed"]


def test_a_value_read_from_misheard_words_is_checked_before_it_is_used(tmp_path):
    report = asyncio.run(_call(tmp_path, [
        "Hi, I'd like a table, please.", "We are tree.", "Yes.", "Tomorrow at 7 pm.", "The name is Ann Lee.", "Yes.",
    ]))
    lines = _bot_lines(report)
    assert any("Was that 3 people?" in line for line in lines), lines
    assert _booked(report) == [(3, "2026-11-25", "19:00", "Ann Lee")]


def test_a_caller_who_says_no_to_the_check_gives_the_value_again(tmp_path):
    report = asyncio.run(_call(tmp_path, [
        "A table please.", "Sex people.", "No, four.", "Tomorrow at 7 pm.", "The name is Ann Lee.", "Yes.",
    ]))
    assert any("Was that 6 people?" in line for line in _bot_lines(report))
    assert _booked(report) == [(4, "2026-11-25", "19:00", "Ann Lee")]


def test_after_two_misunderstandings_the_keypad_is_offered_for_that_value_and_never_the_same_words_twice(tmp_path):
    report = asyncio.run(_call(
        tmp_path,
        ["A table please.", "Purple elephant.", "Banana split.", "", "Tomorrow at 7 pm.", "The name is Ann Lee.", "Yes."],
        keys={3: "4#"},
    ))
    lines = _bot_lines(report)
    offer = f"{WORDS.keypad_offer} {WORDS.keypad_asks['party_size']}"
    assert sum(offer in line for line in lines) == 1, lines  # offered once, for the party size only
    assert all(a != b for a, b in zip(lines, lines[1:])), lines  # a question is never repeated word for word
    assert _booked(report) == [(4, "2026-11-25", "19:00", "Ann Lee")]


def test_values_given_before_they_are_asked_are_kept(tmp_path):
    report = asyncio.run(_call(tmp_path, [
        "I'd like to book a table.", "Tomorrow at 7 pm.", "The name is Ann Lee.", "Two people.", "Yes.",
    ]))
    lines = _bot_lines(report)
    assert not any("What day" in line or "what time" in line.lower() for line in lines), lines
    assert _booked(report) == [(2, "2026-11-25", "19:00", "Ann Lee")]


def test_a_caller_who_asks_the_line_to_wait_is_given_time_and_then_answers_the_question(tmp_path):
    report = asyncio.run(_call(tmp_path, [
        "A table please.", "Hold on, let me check with my wife.", "Sorry, one more second.", "Four of us.",
        "Tomorrow at 7 pm.", "The name is Ann Lee.", "Yes.",
    ]))
    lines = _bot_lines(report)
    assert lines.count("Of course, take your time.") == 2, lines  # nothing more: not asked again, no keypad offer
    assert not any("didn't catch" in line for line in lines), lines
    assert _booked(report) == [(4, "2026-11-25", "19:00", "Ann Lee")]


def test_a_request_to_wait_after_a_misunderstanding_gets_no_keypad_offer_the_next_misunderstanding_does(tmp_path):
    report = asyncio.run(_call(
        tmp_path,
        ["A table please.", "Purple elephant.", "Hold on.", "Banana split.", "", "Tomorrow at 7 pm.",
         "The name is Ann Lee.", "Yes."],
        keys={4: "4#"},
    ))
    lines = _bot_lines(report)
    offer = f"{WORDS.keypad_offer} {WORDS.keypad_asks['party_size']}"
    assert "Of course, take your time." in lines, lines  # and nothing more
    assert sum(offer in line for line in lines) == 1 and offer in lines[lines.index("Of course, take your time.") + 1]
    assert _booked(report) == [(4, "2026-11-25", "19:00", "Ann Lee")]


def test_a_caller_who_asks_the_line_to_wait_and_never_comes_back_is_asked_then_hung_up_on(tmp_path):
    report = asyncio.run(_call(tmp_path, ["A table please.", "Hold on."], idle_secs=1.5))
    lines = _bot_lines(report)
    assert lines[-3:] == ["Of course, take your time.", WORDS.still_there, WORDS.no_answer], lines
    assert report["call"]["ended_at"] and _booked(report) == []


def test_a_name_the_line_cannot_make_out_books_under_the_callers_number_when_they_agree(tmp_path):
    report = asyncio.run(_call(tmp_path, ["A table for two tomorrow at 7 pm, please.", "Uh, um.", "Yes, please."]))
    lines = _bot_lines(report)
    assert any(line.endswith("at 7 pm, under the number you're calling from?") for line in lines), lines
    assert _booked(report) == [(2, "2026-11-25", "19:00", WORDS.number_name)]


def test_a_caller_offered_their_number_may_say_the_name_instead(tmp_path):
    report = asyncio.run(_call(tmp_path, [
        "A table for two tomorrow at 7 pm, please.", "Mm.", "It's Ann Lee.", "Yes.",
    ]))
    lines = _bot_lines(report)
    assert any("under the number you're calling from" in line for line in lines), lines
    assert any("under the name Ann Lee. Shall I book it?" in line for line in lines), lines
    assert _booked(report) == [(2, "2026-11-25", "19:00", "Ann Lee")]
