import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dialogue.parse import (
    Extraction,
    extract,
    parse_confirmation_code,
    parse_correction,
    parse_date,
    parse_name,
    parse_party_size,
    parse_phone,
    parse_time,
    parse_yes_no,
)

TODAY = dt.date(2026, 11, 24)  # a Tuesday
CODE_ALPHABET = set("ACDEFHJKMNPQRTUVWXY3479")


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("four people", 4),
        ("4 people", 4),
        ("a table for four", 4),
        ("party of 6", 6),
        ("for 2", 2),
        ("just me", 1),
        ("Just myself.", 1),
        ("me and my wife", 2),
        ("my husband and I", 2),
        ("It's just me and my partner", 2),
        ("a couple", 2),
        ("couple of us", 2),
        ("two adults and two kids", 4),
        ("3 adults, 2 children and 1 baby", 6),
        ("two adults and two kids, so four people", 4),
        ("there'll be twelve of us", 12),
        ("we're 6", 6),
        ("me and two friends", 3),
        ("four", 4),
        ("4", 4),
        ("Four.", 4),
        ("four please", 4),
        ("six of us", 6),
        ("twenty two people", 22),
        ("twenty-two guests", 22),
        ("four-people", 4),
        ("for 4 people", 4),
        ("a table for two at 8, please", 2),
        ("7pm for four", 4),
        ("four at seven", 4),
        ("party of 6 at 7", 6),
        ("Can I book a table for 5 tomorrow at 7:30 p.m.?", 5),
        ("a table for about six", 6),
        ("about 8 people", 8),
        ("table for too", 2),
        ("party of for", 4),
        ("for to people", 2),
        ("four people, sorry, five people", 5),
        ("change the number to 5", 5),
        ("the number of people should be 6", 6),
        ("the number is 07700 900123", None),  # a phone number
        ("tomorrow at 7", None),
        ("the 28th", None),
        ("for 7pm", None),
        ("for eight o'clock", None),
        ("for seven thirty", None),
        ("at 8", None),
        ("in two days", None),
        ("a couple of hours", None),
        ("we'll be 5 minutes late", None),  # a number of minutes, not of people
        ("we're 10 mins away", None),
        ("we are 4 and we'll be 10 minutes late", 4),
        ("a table for 3 hours", None),
        ("table for 100", None),
        # The party's members counted: the caller, each one named, each number said.
        ("me, my husband and our two kids", 4),
        ("my wife and I and our 3 children", 5),
        ("me, my wife and my parents", 4),
        ("me and my two friends", 3),
        ("my friends and I", None),  # how many friends?
        ("my husband and our two kids", None),  # and the caller?
        ("two adults and a baby", 3),
        ("me plus three", 4),
        ("a family of four", 4),
        ("two couples", 4),
        ("half a dozen of us", 6),
        ("a dozen people", 12),
        ("for 0", None),
        ("hello", None),
        ("", None),
    ],
)
def test_parse_party_size(text, expected):
    assert parse_party_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", days(0)),
        ("tonight", days(0)),
        ("this evening", days(0)),
        ("tomorrow", days(1)),
        ("Tomorrow.", days(1)),
        ("tomorrow night", days(1)),
        ("the day after tomorrow", days(2)),
        ("Friday", days(3)),
        ("on Friday", days(3)),
        ("this Friday", days(3)),
        ("Tuesday", days(0)),
        ("Monday", days(6)),
        ("next Friday", dt.date(2026, 12, 4)),
        ("next Tuesday", dt.date(2026, 12, 1)),
        ("next Monday", dt.date(2026, 11, 30)),
        ("Friday next week", dt.date(2026, 12, 4)),
        ("Saturday week", dt.date(2026, 12, 5)),
        ("a week on Saturday", dt.date(2026, 12, 5)),
        ("November 28th", dt.date(2026, 11, 28)),
        ("28th of November", dt.date(2026, 11, 28)),
        ("Nov 28", dt.date(2026, 11, 28)),
        ("the 28th", dt.date(2026, 11, 28)),
        ("the twenty eighth", dt.date(2026, 11, 28)),
        ("the 5th", dt.date(2026, 12, 5)),
        ("on the fifth", dt.date(2026, 12, 5)),
        ("the second", dt.date(2026, 12, 2)),
        ("December the 3rd", dt.date(2026, 12, 3)),
        ("December 3rd, 2026", dt.date(2026, 12, 3)),
        ("the third of December twenty twenty six", dt.date(2026, 12, 3)),
        ("12/05", dt.date(2026, 12, 5)),
        ("12/5", dt.date(2026, 12, 5)),
        ("2026-12-05", dt.date(2026, 12, 5)),
        ("November 20th", dt.date(2027, 11, 20)),
        ("January 2nd", dt.date(2027, 1, 2)),
        ("5th of May", dt.date(2027, 5, 5)),
        ("in two days", days(2)),
        ("in a week", days(7)),
        ("a week today", days(7)),  # not today
        ("at 7:30 p.m. tomorrow", days(1)),
        ("today, no, tomorrow", days(1)),
        ("at 7", None),
        ("for 4 at 7pm", None),
        ("May I book a table for two", None),
        ("just a second", None),
        ("it's my 40th birthday", None),
        ("February 30th", None),
        ("on Christmas Eve", dt.date(2026, 12, 24)),
        ("Friday, December 4, 2015, in the evening", dt.date(2026, 12, 4)),  # a year already over: misheard
        ("new year's eve at 8", dt.date(2026, 12, 31)),
        ("Valentine's Day dinner", dt.date(2027, 2, 14)),
        ("", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7pm", dt.time(19)),
        ("7 p.m.", dt.time(19)),
        ("7 P.M.", dt.time(19)),
        ("7 PM", dt.time(19)),
        ("seven pm", dt.time(19)),
        ("seven p m", dt.time(19)),
        ("7:30", dt.time(19, 30)),
        ("7.30pm", dt.time(19, 30)),
        ("7.30", dt.time(19, 30)),
        ("7:30 PM", dt.time(19, 30)),
        ("19:00", dt.time(19)),
        ("1930", dt.time(19, 30)),
        ("at 1930", dt.time(19, 30)),
        ("nineteen thirty", dt.time(19, 30)),
        ("half past seven", dt.time(19, 30)),
        ("quarter past eight", dt.time(20, 15)),
        ("quarter to eight", dt.time(19, 45)),
        ("ten to eight", dt.time(19, 50)),
        ("twenty past seven", dt.time(19, 20)),
        ("seven thirty", dt.time(19, 30)),
        ("seven fifteen", dt.time(19, 15)),
        ("seven forty five", dt.time(19, 45)),
        ("seven oh five", dt.time(19, 5)),
        ("eight o'clock", dt.time(20)),
        ("7 o'clock", dt.time(19)),
        ("noon", dt.time(12)),
        ("midday", dt.time(12)),
        ("12:30", dt.time(12, 30)),
        ("11am", dt.time(11)),
        ("at 11", dt.time(11)),
        ("we'll be about 20 minutes late", None),  # minutes, not a clock time
        ("around twenty minutes", None),
        ("at 12", dt.time(12)),
        ("around eight", dt.time(20)),
        ("at 8", dt.time(20)),
        ("8ish", dt.time(20)),
        ("around eightish", dt.time(20)),
        ("seven thirtyish", dt.time(19, 30)),
        ("we are english", None),
        ("at 9 in the morning", dt.time(9)),
        ("nine am", dt.time(9)),
        ("eleven in the evening", dt.time(23)),
        ("at 11 at night", dt.time(23)),
        ("good morning, a table at 7 please", dt.time(19)),
        ("09:30", dt.time(9, 30)),
        ("party of 6 at 7", dt.time(19)),
        ("at 7:30 p.m. tomorrow", dt.time(19, 30)),
        ("a table for two at 8, please", dt.time(20)),
        ("a table for four tomorrow at seven", dt.time(19)),
        ("at seven, actually at eight", dt.time(20)),
        ("no, the time should be 8", dt.time(20)),  # a bare number the caller calls the time
        ("nineteen hundred hours", dt.time(19)),
        ("change the time to 8:15", dt.time(20, 15)),
        ("what time is it", None),
        ("table for four", None),
        ("the 28th", None),
        ("about 8 people", None),
        ("70:00", None),
        ("25:00", None),
        ("7:75", None),
        ("eight", None),
        ("8", None),
        ("555 123 4567", None),
        ("", None),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eight", dt.time(20)),
        ("8", dt.time(20)),
        ("Eight.", dt.time(20)),
        ("eleven", dt.time(11)),
        ("um, seven please", dt.time(19)),
        ("then 9", dt.time(21)),
        ("seven, no, actually eight", dt.time(20)),  # the answer taken back, and the one after it
        ("is 8 okay?", dt.time(20)),  # offered as a question
        ("would 7:30 work?", dt.time(19, 30)),
        ("70", None),
        ("eight people", None),
    ],
)
def test_parse_time_bare_number(text, expected):
    assert parse_time(text, bare_number_ok=True) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Yes.", True),
        ("yeah", True),
        ("yep", True),
        ("yup", True),
        ("sure", True),
        ("correct", True),
        ("that's right", True),
        ("That’s correct", True),
        ("sounds good", True),
        ("perfect", True),
        ("please do", True),
        ("go ahead", True),
        ("book it", True),
        ("absolutely", True),
        ("ok", True),
        ("Okay.", True),
        ("right", True),
        ("that works", True),
        ("great", True),
        ("Mm-hmm.", True),
        ("yes but make it eight", True),
        ("yes no", True),
        ("spot on", True),
        ("go on then", True),
        ("brilliant, thanks", True),
        ("Please.", True),
        ("that's it", True),  # to a read-back: it is all right
        ("yes, that's everything", True),
        ("yep that's all correct", True),
        ("forget it", False),
        ("hold off for now", False),
        ("please, no", False),
        ("no", False),
        ("No.", False),
        ("nope", False),
        ("nah", False),
        ("not quite", False),
        ("that's wrong", False),
        ("that's not right", False),
        ("don't", False),
        ("do not", False),
        ("please don't", False),
        ("please do not", False),
        ("never mind", False),
        ("no thanks", False),
        ("cancel that", False),
        ("wrong", False),
        ("absolutely not", False),
        ("no, make it Thursday", False),
        ("no, yes", False),
        ("I don't know", None),
        ("not sure", None),
        ("know", None),
        ("nobody", None),
        ("yesterday", None),
        ("Tokyo", None),
        ("Sarah Johnson", None),
        ("", None),
    ],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) is expected


@pytest.mark.parametrize(
    ("text", "expecting_name", "expected"),
    [
        ("my name is Sarah Johnson", False, "Sarah Johnson"),
        ("it's under Johnson", False, "Johnson"),
        ("under the name Michael Chen", False, "Michael Chen"),
        ("name's Emma", False, "Emma"),
        ("this is David Brown calling", False, "David Brown"),
        ("I'm Priya Patel", False, "Priya Patel"),
        ("put it under Lee", False, "Lee"),
        ("the name is Sarah Johnson and we'd like 7pm", False, "Sarah Johnson"),
        ("I'm calling to book, my name is sarah johnson", False, "Sarah Johnson"),
        ("My name is José García", False, "José García"),
        ("my name is Anna Maria Lopez Garcia", False, "Anna Maria Lopez"),
        ("The name is a wrapping case.", False, "Wrapping Case"),  # speech-to-text's article before a name
        ("I'm a regular here", False, None),  # ... which after "I'm" is no name
        ("Sarah Johnson.", True, "Sarah Johnson"),
        ("It's Sarah.", True, "Sarah"),
        ("Johnson, please", True, "Johnson"),
        ("sarah johnson", True, "Sarah Johnson"),
        ("SARAH JOHNSON", True, "Sarah Johnson"),
        ("o'brien", True, "O'Brien"),
        ("Yes, it's McDonald", True, "McDonald"),
        ("Sarah Johnson, and it's for four people", True, "Sarah Johnson"),
        ("Sarah Johnson thanks", True, "Sarah Johnson"),
        ("it's for Grace Hall", True, "Grace Hall"),
        ("sarah johnson", False, None),
        ("I'm looking to book a table", False, None),
        ("I'm looking to book a table", True, None),
        ("I'm good", False, None),
        ("I'm calling about my booking", True, None),
        ("this is for tomorrow", False, None),
        ("kids under 5", False, None),
        ("yes", True, None),
        ("for four", True, None),
        ("tomorrow", True, None),
        ("um", True, None),
        ("Mm hmm.", True, None),  # what Whisper makes of a name it cannot follow: no name (the offer follows)
        ("Mhm.", True, None),
        ("Uh, um.", True, None),
        ("", True, None),
    ],
)
def test_parse_name(text, expecting_name, expected):
    assert parse_name(text, expecting_name=expecting_name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("555 123 4567", "5551234567"),
        ("five five five one two three four five six seven", "5551234567"),
        ("+1 555-123-0001", "+15551230001"),
        ("plus one five five five one two three zero zero zero one", "+15551230001"),
        ("double five five one two three four five six seven", "5551234567"),
        ("my number is 07700 900123, thanks", "07700900123"),
        ("oh seven seven double oh nine hundred", "07700900"),
        ("555.123.4567", "5551234567"),
        ("(555) 123-4567", "5551234567"),
        ("5,551,234,567", "5551234567"),
        ("123456", None),
        ("a table for 4 at 7:30", None),
        ("2026-12-05", None),
        ("", None),
    ],
)
def test_parse_phone(text, expected):
    assert parse_phone(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("K 7 M 4 P X", "K7M4PX"),
        ("k7m4px", "K7M4PX"),
        ("kilo seven mike four papa x-ray", "K7M4PX"),
        ("K. 7. M. 4. P. X.", "K7M4PX"),
        ("K-7-M-4-P-X", "K7M4PX"),
        ("it's a K7M4PX", "K7M4PX"),
        ("my code is K as in kilo 7 M 4 P X", "K7M4PX"),
        ("the code is KMPXTW", "KMPXTW"),
        ("K 7 M 4 P", None),
        ("B7M4PX", None),
        ("market centre", None),
        ("a table for four at seven", None),
        ("", None),
    ],
)
def test_parse_confirmation_code(text, expected):
    assert parse_confirmation_code(text) == expected


@pytest.mark.parametrize(
    ("text", "moved_from", "date"),
    [
        ("I booked Friday, can we move it to Saturday?", dt.date(2026, 11, 27), dt.date(2026, 11, 28)),
        ("our table on the 30th, could we make it the 2nd instead", dt.date(2026, 11, 30), dt.date(2026, 12, 2)),
        ("Friday, sorry, Saturday", None, dt.date(2026, 11, 28)),  # a correction, no move
        ("move it to Saturday", None, dt.date(2026, 11, 28)),
    ],
)
def test_a_booking_moved_from_one_day_to_another_names_both(text, moved_from, date):
    extraction = extract(text, dt.date(2026, 11, 24))
    assert (extraction.moved_from, extraction.date) == (moved_from, date)


@pytest.mark.parametrize(
    ("text", "shift", "party_size"),
    [
        ("can I add two more people", 2, None),  # how many more, not how many
        ("plus 2 people", 2, None),
        ("2 extra guests", 2, None),
        ("another guest is coming", 1, None),
        ("one fewer person", -1, None),
        ("there will be six of us", None, 6),
        ("one more thing", None, None),
        ("no more people", None, None),
    ],
)
def test_people_added_to_the_party_already_given(text, shift, party_size):
    extraction = extract(text, dt.date(2026, 11, 24))
    assert (extraction.party_shift, extraction.party_size) == (shift, party_size)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no, make it Thursday", True),
        ("actually eight", True),
        ("sorry, I meant five people", True),
        ("change it to 8", True),
        ("instead", True),
        ("not Tuesday, Wednesday", True),
        ("that's wrong", True),
        ("four people", False),
        ("yes", False),
        ("no", False),
        ("No.", False),
        ("no thanks", False),
        ("no, that's all", False),
        ("I'm not sure", False),
        ("tomorrow at 7", False),
        ("", False),
    ],
)
def test_parse_correction(text, expected):
    assert parse_correction(text) is expected


def test_extract_does_not_double_count():
    assert extract("a table for four tomorrow at seven, name is Sarah Johnson", TODAY) == Extraction(
        party_size=4,
        date=days(1),
        time=dt.time(19),
        name="Sarah Johnson",
        yes_no=None,
        phone=None,
        confirmation_code=None,
        correction=False,
    )


@pytest.mark.parametrize(
    ("text", "expecting", "party_size", "time", "name"),
    [
        ("8", "party_size", 8, None, None),
        ("8", "time", None, dt.time(20), None),
        ("8", None, None, None, None),
        ("Sarah", "name", None, None, "Sarah"),
        ("Sarah", None, None, None, None),
        ("four", "name", None, None, None),
        ("three, no, four", "party_size", 4, None, None),
        ("is 5 ok?", "party_size", 5, None, None),
        ("is 5 ok?", None, None, None, None),
    ],
)
def test_extract_bare_answers_follow_expecting(text, expecting, party_size, time, name):
    result = extract(text, TODAY, expecting=expecting)
    assert (result.party_size, result.time, result.name) == (party_size, time, name)


def test_extract_correction_with_yes_no():
    result = extract("No, make it Thursday at half past eight", TODAY)
    assert (result.yes_no, result.correction, result.date, result.time) == (False, True, days(2), dt.time(20, 30))


_WORDS = st.sampled_from(
    "a table for four two at seven pm p.m. tomorrow next friday the 28th of november half past quarter to"
    " yes no name is sarah johnson 7:30 19:00 25:00 1930 party of 6 people kilo x-ray + - . , ' 99 100 0"
    " twenty ninety nine o'clock double oh".split()
)


def _check_sane(result: Extraction) -> None:
    assert result.party_size is None or 1 <= result.party_size <= 99
    assert result.date is None or isinstance(result.date, dt.date)
    assert result.time is None or isinstance(result.time, dt.time)
    assert result.name is None or 1 <= len(result.name.split()) <= 3
    assert result.yes_no in (None, True, False)
    assert result.phone is None or result.phone.lstrip("+").isdigit() and result.phone.isascii()
    assert result.confirmation_code is None or (
        len(result.confirmation_code) == 6 and set(result.confirmation_code) <= CODE_ALPHABET
    )
    assert isinstance(result.correction, bool)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=300),
    expecting=st.sampled_from([None, "party_size", "date", "time", "name", "yes_no", "phone", "confirmation_code"]),
)
def test_extract_never_raises_on_arbitrary_text(text, expecting):
    _check_sane(extract(text, TODAY, expecting=expecting))


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(_WORDS, max_size=25),
    expecting=st.sampled_from([None, "party_size", "time", "name"]),
    today=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)),
)
def test_extract_never_raises_on_booking_like_text(words, expecting, today):
    _check_sane(extract(" ".join(words), today, expecting=expecting))


def test_extract_handles_huge_input():
    _check_sane(extract("table for four at seven " * 10_000, TODAY))


# Misheard forms: what speech-to-text makes of unfamiliar voices on a phone line, mended against the
# vocabulary of the slot (bot/dialogue/repair.py), and flagged so the bot checks the value with the caller.
@pytest.mark.parametrize(
    "heard, expecting, field, expected",
    [
        ("That's for you people on Friday.", None, "party_size", 2),
        ("That's four few people.", None, "party_size", 2),
        ("That's 42 people on Wednesday.", None, "party_size", 2),  # "for two" run together
        ("That's 40 people on Friday, March 1st.", None, "party_size", 2),  # ... and heard as "forty"
        ("We are tree.", "party_size", "party_size", 3),
        ("Sex people, please.", None, "party_size", 6),
        ("On Wensday, please.", None, "date", dt.date(2026, 11, 25)),
        ("Saterday please.", "date", "date", dt.date(2026, 11, 28)),
        ("Seven this rock in the evening.", None, "time", dt.time(19, 0)),
        ("That's before people on Friday.", None, "party_size", 4),  # "for four" run together
        ("That's the few people on Thursday, March 7th.", "party_size", "party_size", 2),  # "for two"
        ("Or do people on Thursday, March 7th.", None, "party_size", 2),
        # A clock's numbers misheard: "one thirty" as "won 30", "eighteen fifteen" as "80-15".
        ("Or four people have won 30 in the afternoon.", "time", "time", dt.time(13, 30)),
        ("I want to make a reservation for 80-15 at Fiery Hot Pot.", "party_size", "time", dt.time(18, 15)),
        ("I want to make a reservation for 80-15 at Fiery Hot Pot.", "party_size", "party_size", None),
        ("At 90.30, please.", None, "time", dt.time(19, 30)),
        ("That's for when people are on Friday, March 1st.", None, "party_size", 1),  # "for one"
        ("That's between people on Friday, March 1.", None, "party_size", 2),  # "for two" run together
        ("That's 42 people on someday.", None, "date", dt.date(2026, 11, 29)),  # "on Sunday"
    ],
)
def test_misheard_values_are_mended_and_flagged(heard, expecting, field, expected):
    found = extract(heard, TODAY, expecting=expecting)
    assert getattr(found, field) == expected and found.mended


@pytest.mark.parametrize(
    "said, expecting",
    [
        ("A table for two people on Friday.", None),  # heard right: nothing to mend, nothing to check
        ("What's the weather like?", "date"),  # "what's" is not Wednesday
        ("There's four of us.", "party_size"),  # "there's" is not Thursday
        ("Friday.", "party_size"),  # a word of another slot is never mended into a number
        ("For the people who came last time.", None),
        ("The name is way more.", "name"),  # "more" is not March
        ("A table for two at seven thirty.", None),  # "thirty" is minutes, not Thursday
        ("Six forty five in the evening.", "time"),
        ("That sounds great.", "date"),  # not Sunday
        ("My friend and I.", None),  # not Friday
        ("In total 4.", "party_size"),  # not today
        ("The mountain view table, please.", None),  # not Monday
        ("That might work, my number is 555 1234.", "time"),  # not night, not November
        ("That's for no people.", "party_size"),  # "no" is no number
        ("We won the quiz last time.", "time"),  # "won" is one only before a clock's numbers
        ("A third of us are vegan.", "date"),  # an ordinal is never mended into Thursday
        ("When people arrive, seat them together.", "party_size"),  # "when" is one only after "for"
    ],
)
def test_clear_or_unrelated_words_are_never_mended(said, expecting):
    found = extract(said, TODAY, expecting=expecting)
    assert not found.mended and (found.date is None or "day" in said.lower())


@pytest.mark.parametrize(
    "text, time",
    [
        ("evening 6", dt.time(18, 0)),
        ("Make it at evening 6.", dt.time(18, 0)),
        ("this evening 5", dt.time(17, 0)),
        ("afternoon 130.", dt.time(13, 30)),
        ("I wanted in the morning 1130.", dt.time(11, 30)),
        ("Reserve it for 7 in the evening.", dt.time(19, 0)),
        ("5 o\"clock in the evening please.", dt.time(17, 0)),
        ("quarter to 12 in the morning", dt.time(11, 45)),
        ("I need it for 11.", dt.time(11, 0)),
        ("10:45", dt.time(10, 45)),
        ("I want it for 7 15 in the evening.", dt.time(19, 15)),  # not 7 pm, nor "15 in the evening"
        ("1 cm.", dt.time(13, 0)),  # "1 pm" in a flat voice
        ("I wanted for after a new one 30.", dt.time(13, 30)),  # "afternoon" split
        ("I want it for after in 130.", dt.time(13, 30)),  # ... another way
        ("I'd like to focus for 7 and the evening.", dt.time(19, 0)),  # "in the evening" misheard
        ("Half pass 7 in the evening.", dt.time(19, 30)),
        ("Water past 7 in the evening.", dt.time(19, 15)),  # "quarter" misheard
        ("Or four people at one third in the afternoon.", dt.time(13, 30)),  # "one thirty" as written
    ],
)
def test_times_as_callers_put_them(text, time):
    assert parse_time(text) == time


def test_a_range_of_heads_is_no_clock_and_an_ordinal_stays_a_date():
    assert extract("We are 30-45 people.", TODAY, expecting="party_size").time is None
    assert extract("On the third, please.", TODAY, expecting="date").date == dt.date(2026, 12, 3)


def test_a_head_count_before_a_part_of_the_day_stays_a_head_count():
    found = extract("A table for 4 in the evening, please.", TODAY)
    assert found.party_size == 4 and found.time is None
