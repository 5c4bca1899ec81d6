"""What callers ask about a business, and the words they ask it with.

Each kind of fact (``bot.booking.facts.Facts``) has cue patterns: the words
callers use when they ask about it, matched in context like the booking
parser's rules. The dialogue engine uses them to tell a question from an
answer to the bot's own question; the facts use them to pick the answer.
"""

from __future__ import annotations

import re

# The kinds of fact an owner can write, each with the words callers use to ask about it.
# A cue is a regular expression over the lower-cased question; each hit counts once.
CUES: dict[str, tuple[str, ...]] = {
    "address": (
        r"\baddress\b", r"\bwhere (are|is|'s) (you|it|the (restaurant|place|salon)|that|they|this)\b",
        r"\blocat(ed|ion)\b", r"\bwhere\b.*\b(find|situated|based)\b", r"\bwhat (street|road|area|part of town)\b",
        r"\bwhich (street|road|area)\b", r"\bwhere ?abouts?\b", r"\bwhere (the|your|you|it|they) (restaurant |place |salon )?(is|are)\b", r"\bwhere exactly\b", r"\bstreet number\b",
        r"\bwhere (do|can) (i|we) find (you|it|them|the)\b", r"\bpostcode\b", r"\bzip ?code\b",
        r"\bwhere (are|is) (they|there|it)\b", r"\bwhere (they|it)('s| is| are)? at\b", r"\badd+ress\b",
        r"\bwhere'?s (it|that|the place|the restaurant) at\b",
    ),
    "directions": (
        r"\bdirections?\b", r"\bhow (do|can|would) (i|we|you) get\b", r"\bget (there|to you)\b",
        r"\b(nearest|closest) (train |bus |tube |subway |metro )?(station|stop|tube|subway|metro|bus)\b", r"\bby (train|bus|tube|subway|metro)\b",
        r"\bpublic transport\b",
    ),
    "parking": (r"\bpark(ing)?\b", r"\bcar ?park\b", r"\bvalet\b", r"\bgarage\b", r"\b(leave|put) (my|the|our) car\b"),
    "phone": (
        r"\bphone\b", r"\btelephone\b", r"\b(contact|call ?back|direct|landline) number\b", r"\bnumber (to|i can) call\b",
        r"\bwhat('s| is| are) (the|your|their) (number|digits)\b", r"\bdigits\b",
        r"\b(reach|contact|ring) (them|you|the restaurant|the salon)\b", r"\bcontact (info\w*|details|number)\b",
        r"\bwhat number\b", r"\bnumber (to|i can|we can|do i) (call|contact|ring|reach)\b", r"\breached\b",
        r"\b(their|your|the restaurant's) number\b", r"\b(how|can) (can |do )?(i|we) (call|contact|reach|ring) (them|you)\b",
        r"\bcontact information\b", r"\bdirect line\b", r"\b(number|contact)\W*$", r"\bis there a number\b",
    ),
    "email": (r"\be-? ?mail\b", r"\bemail address\b", r"\bwrite to (you|them)\b"),
    "dietary": (
        r"\bvegetarians?\b", r"\bvegans?\b", r"\bgluten\b", r"\bc(o)?eliac\b", r"\bdairy\b", r"\blactose\b",
        r"\ballerg\w*\b", r"\bnut[- ]?free\b", r"\bnuts?\b", r"\bhalal\b", r"\bkosher\b", r"\bdiet(ary)?\b",
        r"\bplant[- ]based\b", r"\bintoleran\w*\b", r"\bmeat[- ]free\b", r"\bshellfish\b",
    ),
    "prices": (
        r"\bprices?\b", r"\bpric(ey|y)\b", r"\bcost(s|ly)?\b", r"\b(in)?expensive\b", r"\bcheap\b", r"\bhow much\b",
        r"\baffordable\b", r"\bbudget\b", r"\bper (head|person)\b", r"\bprice range\b", r"\bbargain\b",
        r"\bspend\b", r"\bfancy\b", r"\bset menu\b", r"\bpric(ed|ing)\b", r"\bwallet\b",
        r"\beconomical\b", r"\bpocket\b", r"\bsplurge\b", r"\blavish\b", r"\baff?or(d|a)+ble\b",
        r"\bbreak the bank\b", r"\btariffs?\b",
    ),
    "dress_code": (
        r"\bdress(ed)?\b", r"\bwhat (should|do|can) (i|we) wear\b", r"\bwear\b", r"\bjacket\b", r"\b(a )?tie\b",
        r"\bjeans\b", r"\bshorts\b", r"\bsmart casual\b", r"\bformal\b", r"\battire\b",
    ),
    "accessibility": (
        r"\bwheel ?chairs?\b", r"\baccessib\w*\b", r"\bstep[- ]free\b", r"\bsteps\b", r"\bstairs\b", r"\bramp\b",
        r"\bdisab\w*\b", r"\blift\b", r"\belevator\b", r"\bmobility\b", r"\bwalker\b", r"\bcrutches\b",
    ),
    "pets": (r"\bdogs?\b", r"\bpets?\b", r"\bpupp(y|ies)\b", r"\bcats?\b", r"\banimals?\b", r"\bguide dog\b"),
    "groups": (
        r"\b(large|big|larger|bigger) (group|party|parties|groups|table)\b", r"\bgroups?\b", r"\bprivate\b",
        r"\b(an |the )?events?\b", r"\bfunctions?\b", r"\bhire\b", r"\bbuy ?out\b", r"\bcorporate\b",
        r"\bparty of (1[0-9]|[2-9][0-9]|ten|eleven|twelve|fifteen|twenty|thirty)\b",
        r"\b(1[0-9]|[2-9][0-9]|ten|eleven|twelve|fifteen|twenty|thirty) (people|guests|of us)\b",
    ),
    "takeaway": (
        r"\btake[- ]?(away|out)\b", r"\b(order|food|something|meal|it|that|dishes) to go\b", r"\bdeliver(y|ies)?\b", r"\bcollection\b", r"\bpick(ing)? up\b",
        r"\border (food|online|in advance)\b", r"\buber ?eats\b", r"\bdeliveroo\b",
    ),
    "alcohol": (
        r"\balcohol\w*\b", r"\balhocol\b", r"\bliquors?\b", r"\bliqueurs?\b", r"\bwines?\b", r"\bbeers?\b", r"\bcocktails?\b", r"\b(the |a )?bar\b",
        r"\bdrinks?\b", r"\bbyob\b", r"\bbring (my|our) own\b", r"\bspirits\b", r"\bbooze\b", r"\blicen[cs]ed?\b", r"\bhooch\b",
        r"\b(get|getting) (drunk|loaded|tipsy)\b",
    ),
    "live_music": (
        r"\blive (music|songs?|band|jazz|performance|entertainment)\b", r"\bmusic\b", r"\bbands?\b",
        r"\bentertainment\b", r"\b(a )?dj\b", r"\bjazz\b", r"\bmusicians?\b", r"\bperform\w*\b", r"\bplay(s|ing)? (live|songs?|music)\b",
        r"\bsinger\b",
    ),
    "children": (
        r"\bkids?\b", r"\bchild(ren)?\b", r"\bhigh ?chairs?\b", r"\bbab(y|ies)\b", r"\btoddlers?\b",
        r"\bfamil(y|ies)\b", r"\bpram\b", r"\bbuggy\b", r"\bstroller\b",
    ),
    "menu": (
        r"\bmenu\b", r"\bcuisine\b", r"\b(kind|type|sort|style)s? of (food|dishes|cooking|cuisine|restaurant)\b",
        r"\bwhat (food|dishes)\b", r"\bdishes\b", r"\bspecial(s|ity|ities)\b", r"\bdo (you|they) (serve|have|do|make) "
        r"(\w+ )?(food|pizza|pasta|steak|fish|seafood|sushi|curry|burgers?|dumplings|tacos|noodles)\b",
        r"\b(serve|cook|make)\b.*\bfood\b", r"\bfood\b.*\b(serve|served|available|have)\b",
        r"\b(italian|french|mexican|chinese|indian|thai|japanese|sichuan|latin american|american|spanish|greek) "
        r"(food|cuisine|dishes)\b",
        r"\bwhat (do|does) (you|they|the kitchen) (serve|cook|make)\b", r"\b(serve|sell|offer)s?\b",
        r"\b\w+ (foods?|dishes|cuisine)\b",
    ),
    "hours": (
        r"\bopen(ing)?\b", r"\bclos(e|es|ed|ing)\b", r"\bhours\b", r"\buntil when\b", r"\bshut\b",
        r"\blast (seating|orders?|booking|table|sitting)\b", r"\bwhat time do you\b", r"\bwhen (are|do) you\b",
        r"\bwhat days\b", r"\bwhich days\b", r"\bthe latest\b", r"\bhow late\b", r"\bearliest\b",
    ),
}

# How a question is put ("parking?" counts: speech-to-text writes the question mark).
QUESTION_FORM = re.compile(
    r"\?|^\W*(is|are|do|does|did|can|could|will|would|may|any)\b|"
    r"\b(what|where|when|how|which|who|why)('s|'re| is| are| do| does| did| can| time| times| kind| type| sort| much| about)\b|"
    r"\b(do|does|can|could|will|would|did) (you|they|i|we|it|he|she|the \w+)\b|\b(is|are) (there|it|they)\b|"
    r"\b(tell me|do you know|find out|wonder(ing)?|any idea|check (if|whether)|let me know|i'?d like to know|"
    r"i want to know|i need to know|i would like to know|i (just |also |only )?need (their|the|your)|curious|give me|get me|get (their|the|your)|"
    r"look (if|up)|see (if|whether)|find (the|their|your))\b",
    re.IGNORECASE,
)

_CUES_COMPILED = {kind: tuple(re.compile(cue) for cue in cues) for kind, cues in CUES.items()}


def cue_scores(question: str) -> dict[str, int]:
    """How many of each kind's cues the question hits (kinds with none left out)."""
    text = question.lower().replace("’", "'")
    scores = {kind: sum(bool(cue.search(text)) for cue in cues) for kind, cues in _CUES_COMPILED.items()}
    return {kind: score for kind, score in scores.items() if score}


_ASKED_PLEASE = re.compile(r"\bplease\W*$", re.IGNORECASE)  # "the address, please"


# A caller checking the line is open ("Hello?", "Are you there?"), often over the bot's greeting: no
# question about the business, and no answer is what they wait for.
_GREETING_WORDS = "hello|hallo|hi|hey|hiya"
_PRESENCE_CHECK = re.compile(
    rf"^\W*(({_GREETING_WORDS}|sorry|excuse me|good (morning|afternoon|evening))( there)?\W*)*"
    r"((are you|is (anyone|anybody|someone|somebody)|you|anyone|anybody) (still )?there|can you hear me|"
    r"is this (thing )?on|did you hear (me|that))?\W*$",
    re.IGNORECASE,
)


# A question about what is still free, answered from the bookings (not from a written fact).
_FREE_TIMES = re.compile(
    r"\b(?:what|which) (?:times?|slots?)\b.{0,40}\b(?:available|free|have|got|left|open|offer)\b"
    r"|\bavailab(?:le|ility)\b|\b(?:any|what) (?:tables?|slots?|times?|space|room) (?:free|left|available|open)\b"
    r"|\b(?:anything|any tables?|a table|room|space) (?:free|left|open)\b"
    r"|\bwhat (?:do|have) you (?:have|got)\b|\bwhen (?:are|is) (?:you|it|there) (?:free|quiet)\b"
    r"|\b(?:earliest|latest) (?:time|table|slot)s?\b|\b(?:fully )?booked up\b|\bfully booked\b|\bhow busy\b",
    re.IGNORECASE,
)


def asks_free_times(text: str) -> bool:
    """Whether a question asks what times are still free ("what times do you have on Friday?"), not
    whether something else is ("do you have vegetarian options available?")."""
    return bool(_FREE_TIMES.search(text)) and not set(cue_scores(text)) - {"hours"}


# A caller who did not hear the bot ("Sorry?", "Could you repeat that?"): all the turn says.
_REPEAT_REQUEST = re.compile(
    r"^\W*(?:(?:oh|um+|uh+|er+m?|hmm+|sorry|pardon|excuse me|i'm sorry)\b\W*)*"
    r"(?:(?:(?:can|could|would|will) you |please )?(?:repeat|say) (?:that|it|this|the \w+)(?: (?:one more time|again))?"
    r"|(?:can|could|would) you repeat|say again|come again|one more time|what did you (?:just )?say|what was that"
    r"|i (?:didn't|did not|couldn't|could not) (?:quite )?(?:catch|hear|get) (?:that|you|it|what you said)"
    r"|i missed (?:that|it|what you said)|(?:sorry|pardon|what|huh|excuse me)\W*\?)"
    r"(?:\W+(?:please|again|for me|sorry))*\W*$",
    re.IGNORECASE,
)


def is_repeat_request(text: str) -> bool:
    """Whether all the caller said asks to hear the bot's last words again."""
    return bool(_REPEAT_REQUEST.match(text.strip().replace("’", "'")))


def is_presence_check(text: str) -> bool:
    """Whether all the caller said is a greeting or a check that someone is on the line."""
    return any(c.isalpha() for c in text) and bool(_PRESENCE_CHECK.match(text.strip()))


# "Yes? Please.": a yes or no, whatever the speech-to-text's punctuation, asks nothing.
_ONLY_AN_ANSWER = re.compile(
    r"^\W*(?:(?:yes|yeah|yep|yup|no|nope|nah|ok|okay|sure|right|correct|please|thanks|thank you|um+|uh+|oh|so)\b\W*)+$",
    re.IGNORECASE,
)


# "Hello?" before what the caller says: speech-to-text's question mark on a greeting asks nothing.
_GREETING_FIRST = re.compile(rf"^\W*(?:{_GREETING_WORDS})(?: there)?\W*(?=\w)", re.IGNORECASE)


def looks_like_question(text: str, *, gives_values: bool = False) -> bool:
    """Put as a question, or as a subject asked for with "please" ("the address, please"), which a
    turn giving booking values ("ten people please") is not."""
    text = text.strip()
    if is_presence_check(text) or _ONLY_AN_ANSWER.match(text):
        return False
    text = _GREETING_FIRST.sub("", text)
    return bool(QUESTION_FORM.search(text) or (not gives_values and _ASKED_PLEASE.search(text) and cue_scores(text)))
