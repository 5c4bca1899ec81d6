"""A caller asking the line to wait: "Hold on", "One moment please", "Give me a minute, let me check with my wife".

A host says "Of course, take your time." and waits; the question they asked
still stands, and the caller's next words answer it (bot/dialogue/engine.py).
The words that ask for the wait carry no value, so values are read from the
words after them: "Hold on. Eight." is the answer eight, "Wait, make that
four people" a change.

A caller coming back ("Okay, I'm back.") is asked the question again, as
it would have been asked: no "didn't catch that", no failed try.

Each request counts only where it ends a clause (end, punctuation, or more
such words), so "the wait list", "a minute's walk" and "hold on to the table"
are not one; "5 minutes" and "I'll wait" never are.
"""

from __future__ import annotations

import re

# Speech-to-text's renderings of a pause ("Um, wait.") and the polite words a request may end with.
_HESITATION = r"um+|uh+|er+|erm|hmm+|mm+|ah+|oh+"
_POLITE = r"please|thanks|thank you|sorry"
# Words a request may open with ("Yeah? Wait.", "Okay, just a sec", "Could you hold on?", and to the idle
# prompt's "Are you still there?", "Yes, I'm still here, one moment"); never "no", which answers the
# question ("Wait, no.").
_OPENING = (
    rf"{_HESITATION}|{_POLITE}|ok|okay|yeah|yes|yep|yup|sure|right|alright|all right|so|well|actually|and|but"
    r"|oops|just|hey|(?:can|could|would|will) you(?: please| just)?|(?:i'm |i am )?(?:still )?here"
)
_WHILE = r"(?:quick )?(?:secs?|seconds?|moments?|minutes?|mins?|mo|tick|jiffy)"  # "sec", "quick moment"
_A_WHILE = rf"(?:a|one|1|another)(?: more)? {_WHILE}"  # "a sec", "one more moment"
_HOW_LONG = rf"(?: (?:for )?(?:just )?{_A_WHILE})?"  # "hold on (for) (just) a second"
_WHOM = (  # who or what a caller checks with before they answer
    r"(?:with )?(?:my|our|the) (?:wife|husband|partner|girlfriend|boyfriend|fiancee?|friends?|family|kids|boss"
    r"|colleagues?|other half|mum|mom|dad|diary|calendar|schedule|phone)"
)
_ASKS_TO_WAIT = (
    rf"(?:hold|hang) on{_HOW_LONG}|hold up|hold(?: the line)?|please hold|wait(?: up)?{_HOW_LONG}"
    rf"|{_A_WHILE}|bear with me{_HOW_LONG}"
    rf"|(?:give|gimme|allow) me (?:just )?(?:{_A_WHILE}|(?:two|a few|a couple(?: of)?|\d{{1,2}}) {_WHILE})"
    rf"|(?:i )?need (?:just )?{_A_WHILE}"
    rf"|(?:can i |let me |i'?ll )?put you on hold{_HOW_LONG}"
    rf"|let me (?:just )?(?:check|see|think|ask|look|find out)(?: {_WHOM})?"
    rf"|let me (?:just )?(?:get|grab|find|look at) {_WHOM}"
    rf"|(?:i'?ll|i will|i'm going to|i need to|i have to|i've got to|gotta) (?:just )?(?:check|ask)(?: {_WHOM})?"
)
# Where a request ends: the turn's end, punctuation, or another opening word or request ("wait, wait").
_ENDS = rf"\b(?=\s*(?:$|[^\w\s'’]|(?:{_OPENING}|{_ASKS_TO_WAIT})\b))"
_REQUESTS = re.compile(rf"^(?:\W*(?:(?:{_OPENING})\W+)*(?:{_ASKS_TO_WAIT}){_ENDS})+\W*", re.IGNORECASE)
_NOTHING_MORE = re.compile(rf"^(?:(?:{_HESITATION}|{_POLITE})\b\W*)*$", re.IGNORECASE)
# A caller back on the line with nothing else ("Okay, I'm back.", "Sorry about that.", "Thanks for waiting.").
_BACK = (
    r"(?:i'?m|i am|we'?re|we are) back|sorry about that|sorry (?:for|about) the wait"
    r"|sorry to keep you(?: waiting)?|thanks?(?: you)? for (?:waiting|holding|your patience)"
)
_ONLY_BACK = re.compile(rf"^\W*(?:(?:{_OPENING}|{_BACK})\b\W*)+$", re.IGNORECASE)


def _after_requests(text: str) -> str | None:
    """What follows the requests to wait the caller opens with, or None when they open with none."""
    found = _REQUESTS.match(text.replace("’", "'"))
    return text[found.end():] if found else None


def words_after_hold(text: str) -> str:
    """The caller's words after the requests to wait they open with ("Hold on. Eight." -> "Eight."); all of
    them when they open with none."""
    rest = _after_requests(text)
    return text if rest is None else rest


def is_back(text: str) -> bool:
    """Whether all the caller said is that they are back, or words that carry nothing ("Okay, so.")."""
    return bool(_ONLY_BACK.match(text.replace("’", "'")))


def is_hold_request(text: str) -> bool:
    """Whether all the caller said is a request to wait."""
    rest = _after_requests(text)
    return rest is not None and bool(_NOTHING_MORE.match(rest))
