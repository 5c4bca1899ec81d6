"""Every figure the dashboard shows, read from the store's database (and, for what the store does not see, the metrics).

Read-only: nothing here writes. Times in the store are UTC (``calls.started_at``,
``call_turns.at``, ...); the dashboard shows and groups them in the server's
local time. Bookings' dates and times are the restaurant's own, as booked.

Definitions (also on the "How the line is doing" page):

booking success rate
    of the calls that wanted a new booking (the caller started one: ``calls.wanted = 'booking'``,
    or the call created one), the share that created one (a ``created`` row in ``booking_history``).
call completion rate
    of the calls that have ended, the share that ended where the flow ends a call
    (a node whose actions end the conversation, or with a booking made): not cut off, dropped or failed.
voice to voice
    ``turn_latency.voice_to_voice_ms``: the caller stopped speaking -> the bot's first audio sent.
estimated cost per call
    :class:`CostModel`: the call's minutes, characters spoken and replies, times the configured prices.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.booking.availability import Problem, check_slot
from bot.booking.store import Booking, BookingStore
from bot.measure.stats import percentiles
from bot.metrics import METRICS, BotMetrics
from bot.settings import Settings

# The product's requirements: a call costs under $0.50; voice to voice p95 at most 800 ms (README).
COST_TARGET_USD = 0.50
VOICE_TO_VOICE_TARGET_MS = 800.0


# Time


def utc_iso(moment: dt.datetime) -> str:
    """``moment`` in the store's sortable UTC form (``2026-11-24T15:00:00.000+00:00``)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def local(iso: str | None) -> dt.datetime | None:
    """A stored UTC time in the server's local time zone (naive, as the bookings' own times are)."""
    if not iso:
        return None
    return dt.datetime.fromisoformat(iso).astimezone().replace(tzinfo=None)


def day_bounds(first: dt.date, last: dt.date) -> tuple[str, str]:
    """The UTC range [start of ``first``, end of ``last``) in local time, in the store's form."""
    start = dt.datetime.combine(first, dt.time()).astimezone()
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()).astimezone()
    return utc_iso(start), utc_iso(end)


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not (start and end):
        return None
    return max(0.0, (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds())


# Cost


@dataclass(frozen=True)
class CostModel:
    """An estimated provider cost of a call, from what the store records of it.

    phone  minutes x BOT_PRICE_PHONE_PER_MIN (Twilio bills every call by the minute)
    STT    minutes x BOT_PRICE_STT_PER_MIN (a streaming STT hears the caller's whole stream)
    TTS    characters the bot said / 1000 x BOT_PRICE_TTS_PER_1K_CHARS
    LLM    bot replies x BOT_PRICE_LLM_PER_TURN
    A job done by an embedded engine (Whisper, the dialogue engine, Piper) costs 0.
    """

    phone_per_min: float
    stt_per_min: float
    tts_per_1k_chars: float
    llm_per_turn: float
    cloud_stt: bool
    cloud_llm: bool
    cloud_tts: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> CostModel:
        return cls(
            phone_per_min=settings.price_phone_per_min,
            stt_per_min=settings.price_stt_per_min,
            tts_per_1k_chars=settings.price_tts_per_1k_chars,
            llm_per_turn=settings.price_llm_per_turn,
            cloud_stt=settings.uses_cloud("stt"),
            cloud_llm=settings.uses_cloud("llm"),
            cloud_tts=settings.uses_cloud("tts"),
        )

    def parts(self, seconds: float, tts_chars: int, llm_turns: int) -> dict[str, float]:
        minutes = seconds / 60
        return {
            "phone": minutes * self.phone_per_min,
            "stt": minutes * self.stt_per_min if self.cloud_stt else 0.0,
            "tts": tts_chars / 1000 * self.tts_per_1k_chars if self.cloud_tts else 0.0,
            "llm": llm_turns * self.llm_per_turn if self.cloud_llm else 0.0,
        }

    def cost(self, seconds: float, tts_chars: int, llm_turns: int) -> float:
        return sum(self.parts(seconds, tts_chars, llm_turns).values())

    def lines(self) -> list[dict[str, Any]]:
        """The formula, one line per part, as the page shows it."""

        def engine(cloud: bool, name: str) -> str | None:
            return None if cloud else f"embedded {name}: $0"

        return [
            {"part": "Phone line", "rule": f"minutes × ${self.phone_per_min:g} a minute", "free": None},
            {"part": "Speech to text", "rule": f"minutes × ${self.stt_per_min:g} a minute",
             "free": engine(self.cloud_stt, "engine")},
            {"part": "Text to speech", "rule": f"characters said ÷ 1000 × ${self.tts_per_1k_chars:g}",
             "free": engine(self.cloud_tts, "Piper")},
            {"part": "Language model", "rule": f"bot replies × ${self.llm_per_turn:g} a reply",
             "free": engine(self.cloud_llm, "dialogue engine")},
        ]


# The flow


def ending_nodes(flow_file: Path) -> set[str]:
    """The flow's nodes that end the call (an ``end_conversation`` action): a call ending there completed."""
    nodes = (yaml.safe_load(Path(flow_file).read_text(encoding="utf-8")) or {}).get("nodes", {})
    return {
        name
        for name, node in nodes.items()
        if any(a.get("type") == "end_conversation" for a in (node.get("pre_actions") or []) + (node.get("post_actions") or []))
    }


def completed(outcome: str | None, endings: set[str]) -> bool:
    return outcome == "booked" or outcome in endings


# Calls


def _call_columns(store: BookingStore) -> str:
    """What a calls page shows of each call, with its bookings' codes as ``code:status,...``."""
    codes = store.backend.group_concat("b.code || ':' || b.status")
    return f"""
    c.call_sid, c.caller, c.started_at, c.ended_at, c.outcome, c.wanted,
    (select count(*) from booking_history h where h.call_sid = c.call_sid and h.action = 'created') as booked,
    (select count(*) from call_turns t where t.call_sid = c.call_sid) as turns,
    (select coalesce(sum(length(t.bot_said)), 0) from call_turns t where t.call_sid = c.call_sid) as tts_chars,
    (select count(*) from call_faults f where f.call_sid = c.call_sid) as faults,
    (select count(*) from messages m where m.call_sid = c.call_sid) as messages,
    (select {codes} from bookings b where b.call_sid = c.call_sid) as codes
"""


def _call_row(row: dict[str, Any], costs: CostModel, endings: set[str]) -> dict[str, Any]:
    seconds = seconds_between(row["started_at"], row["ended_at"])
    wanted_booking = row["wanted"] == "booking" or row["booked"] > 0
    return row | {
        "started": local(row["started_at"]),
        "ended": local(row["ended_at"]),
        "seconds": seconds,
        "wanted_booking": wanted_booking,
        "completed": completed(row["outcome"], endings) if row["ended_at"] else None,
        "cost": costs.cost(seconds, row["tts_chars"], row["turns"]) if seconds is not None else None,
        # The bookings the call made: (code, status), a cancelled one too.
        "codes": [tuple(c.split(":", 1)) for c in row["codes"].split(",")] if row["codes"] else [],
    }


def recent_calls(store: BookingStore, costs: CostModel, endings: set[str], limit: int = 50) -> list[dict[str, Any]]:
    rows = store.db.query(
        f"select {_call_columns(store)} from calls c where c.started_at is not null order by c.started_at desc limit ?",
        [limit],
    )
    return [_call_row(r, costs, endings) for r in rows]


def calls_between(store: BookingStore, costs: CostModel, endings: set[str], first: dt.date, last: dt.date):
    since, until = day_bounds(first, last)
    rows = store.db.query(
        f"select {_call_columns(store)} from calls c where c.started_at >= ? and c.started_at < ? order by c.started_at",
        [since, until],
    )
    return [_call_row(r, costs, endings) for r in rows]


def one_call(store: BookingStore, call_sid: str, costs: CostModel, endings: set[str], recordings_dir: Path):
    """Everything about one call: the store's call report, with its figures and recordings."""
    report = store.call_report(call_sid)
    if report is None:
        return None
    rows = list(store.db.query(f"select {_call_columns(store)} from calls c where c.call_sid = ?", [call_sid]))
    call = _call_row(rows[0], costs, endings)
    seconds = call["seconds"]
    voice = [r["voice_to_voice_ms"] for r in report["latency"] if r.get("voice_to_voice_ms") is not None]
    return {
        "call": call,
        "turns": report["turns"],
        "bookings": report["bookings"],
        "messages": report["messages"],
        "questions": report["questions"],
        "latency": report["latency"],
        "voice_to_voice": percentiles(voice),
        "faults": [f | {"when": local(f["at"])} for f in report["faults"]],
        "recordings": call_recordings(recordings_dir, call_sid),
        "cost_parts": costs.parts(seconds, call["tts_chars"], call["turns"]) if seconds is not None else None,
    }


def call_recordings(recordings_dir: Path, call_sid: str) -> list[Path]:
    """The call's stereo recordings: the first stream's, then a resumed call's later ones (not voicemails)."""
    first = recordings_dir / f"{call_sid}.wav"
    later = sorted(p for p in recordings_dir.glob(f"{call_sid}-*.wav") if not p.name.endswith("-voicemail.wav"))
    return ([first] if first.is_file() else []) + later


# Bookings


def bookings_on(store: BookingStore, day: dt.date) -> list[dict[str, Any]]:
    """Every booking on ``day`` (cancelled ones too), in time order, with who made it and its last change."""
    rows = store.db.query("select * from bookings where date = ? order by time, id", [day.isoformat()])
    found = []
    for row in rows:
        history = list(store.db.query("select * from booking_history where booking_id = ? order by id", [row["id"]]))
        created = next((h for h in history if h["action"] == "created"), None)
        found.append(
            {
                "booking": Booking.from_row(row),
                "created_at": local(row["created_at"]),
                "by_staff": created["staff"] if created else None,
                "history": [
                    h | {"when": local(h["at"]), "change": _what_changed(h)} for h in history
                ],
            }
        )
    return found


def _what_changed(history_row: dict[str, Any]) -> str:
    if history_row["action"] != "changed" or not history_row["before"]:
        return ""
    before, after = json.loads(history_row["before"]), json.loads(history_row["after"] or "{}")
    return ", ".join(
        f"{key.replace('_', ' ')} {before.get(key)} → {after.get(key)}"
        for key in ("party_size", "date", "time")
        if before.get(key) != after.get(key)
    )


def seats_by_slot(store: BookingStore, day: dt.date) -> list[dict[str, Any]]:
    """For each start time on ``day``: the seats a table starting then finds taken (the store's own rule)."""
    capacity = store.business.capacity_seats
    slots = []
    for moment in store.business.start_times_on(day):
        taken = store.seats_taken(day, moment)
        slots.append({"time": moment.strftime("%H:%M"), "taken": taken, "free": max(0, capacity - taken)})
    return slots


def upcoming_days(store: BookingStore, today: dt.date, days: int = 14) -> list[dict[str, Any]]:
    """Today and the next days: bookings and covers (seats booked) per day, and whether the business opens."""
    counts = {
        r["date"]: r
        for r in store.db.query(
            "select date, count(*) as bookings, sum(party_size) as covers from bookings"
            " where status = 'confirmed' and date >= ? and date < ? group by date",
            [today.isoformat(), (today + dt.timedelta(days=days)).isoformat()],
        )
    }
    out = []
    for offset in range(days):
        day = today + dt.timedelta(days=offset)
        row = counts.get(day.isoformat(), {})
        out.append(
            {"day": day, "bookings": row.get("bookings", 0), "covers": row.get("covers") or 0,
             "open": bool(store.business.start_times_on(day))}
        )
    return out


PROBLEM_WORDS = {
    Problem.TOO_LARGE: "The line takes parties of up to {max_party} people.",
    Problem.DAY_PAST: "That day has passed.",
    Problem.DAY_TOO_FAR: "Bookings open {horizon} days ahead.",
    Problem.DAY_CLOSED: "The restaurant is closed that day.",
    Problem.TIME_PAST: "That time has passed.",
    Problem.TIME_CLOSED: "Tables start every {slot} minutes during opening hours; that is not one of the start times.",
    Problem.TIME_FULL: "Full then: a table for {party} does not fit ({taken} of {capacity} seats taken).",
}


def booking_problem(
    store: BookingStore, party_size: int, day: dt.date, time: dt.time, now: dt.datetime,
    *, ignore_booking: int | None = None,
) -> str | None:
    """Why this booking cannot be made, in words, with the nearest free times; None if it can (the line's rules)."""
    verdict = check_slot(store, party_size, day, time, now, ignore_booking=ignore_booking)
    if verdict.ok:
        return None
    business = store.business
    words = PROBLEM_WORDS[verdict.problem].format(
        max_party=business.max_party_size, horizon=business.booking_horizon_days, slot=business.slot_minutes,
        party=party_size, capacity=business.capacity_seats,
        taken=store.seats_taken(day, time, ignore_booking=ignore_booking) if verdict.problem is Problem.TIME_FULL else 0,
    )
    if verdict.alternatives:
        nearest = ", ".join(
            s.time.strftime("%H:%M") if s.date == day else f"{s.date:%a %d %b} {s.time:%H:%M}" for s in verdict.alternatives
        )
        words += f" Nearest free: {nearest}."
    return words


def same_booking(store: BookingStore, name: str, day: dt.date, time: dt.time) -> Booking | None:
    """A confirmed booking under the same name at the same day and time: adding it again would double-book."""
    row = next(
        iter(
            store.db.query(
                "select * from bookings where status = 'confirmed' and date = ? and time = ? and lower(trim(name)) = ?",
                [day.isoformat(), time.strftime("%H:%M"), name.strip().lower()],
            )
        ),
        None,
    )
    return Booking.from_row(row) if row else None


# Messages


def messages(store: BookingStore, done_within_days: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Messages and voicemails for staff: the ones to call back (oldest first), then those done lately."""
    since = utc_iso(dt.datetime.now(dt.UTC) - dt.timedelta(days=done_within_days))
    known = "exists (select 1 from calls c where c.call_sid = m.call_sid) as call_known"
    open_rows = store.db.query(f"select m.*, {known} from messages m where m.done_at is null order by m.at, m.id")
    done_rows = store.db.query(
        f"select m.*, {known} from messages m where m.done_at >= ? order by m.done_at desc, m.id desc", [since]
    )

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        audio = row.get("audio_path")
        return row | {
            "when": local(row["at"]),
            "done_when": local(row.get("done_at")),
            "voicemail": bool(audio),
            "has_audio": bool(audio) and Path(audio).is_file(),
        }

    return {"open": [shown(r) for r in open_rows], "done": [shown(r) for r in done_rows]}


def open_messages(store: BookingStore) -> int:
    return store.db.execute("select count(*) from messages where done_at is null").fetchone()[0]


def message(store: BookingStore, message_id: int) -> dict[str, Any] | None:
    return next(iter(store.db.query("select * from messages where id = ?", [message_id])), None)


# How the line is doing


def metric_totals(name: str, metrics: BotMetrics = METRICS) -> dict[str, float]:
    """A counter's totals since the server started, by its label's value (``""`` without labels)."""
    totals: dict[str, float] = {}
    for family in metrics.host_registry().collect():
        if family.name == name:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    label = ",".join(sample.labels.values())
                    totals[label] = totals.get(label, 0) + sample.value
    return totals


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def line_figures(
    store: BookingStore, costs: CostModel, endings: set[str], first: dt.date, last: dt.date,
    metrics: BotMetrics = METRICS,
) -> dict[str, Any]:
    """How the line did from ``first`` to ``last`` (local days, both included)."""
    calls = calls_between(store, costs, endings, first, last)
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    ended = [c for c in calls if c["ended_at"]]
    wanted = [c for c in calls if c["wanted_booking"] and c["ended_at"]]
    got = [c for c in wanted if c["booked"]]
    done = [c for c in ended if c["completed"]]
    priced = [c for c in ended if c["cost"] is not None]

    since, until = day_bounds(first, last)
    latency = [
        (local(r["at"]).date(), r["voice_to_voice_ms"])
        for r in store.db.query(
            "select at, voice_to_voice_ms from turn_latency where at >= ? and at < ? and voice_to_voice_ms is not null",
            [since, until],
        )
    ]
    faults = list(store.db.query("select job, fallback from call_faults where at >= ? and at < ?", [since, until]))

    by_day: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    for c in calls:
        by_day[c["started"].date()].append(c)
    per_day = []
    for day in days:
        todays = by_day.get(day, [])
        day_wanted = [c for c in todays if c["wanted_booking"] and c["ended_at"]]
        day_priced = [c for c in todays if c["ended_at"] and c["cost"] is not None]
        voice = percentiles([ms for d, ms in latency if d == day]) or {}
        per_day.append(
            {
                "day": day.isoformat(),
                "calls": len(todays),
                "booked": sum(1 for c in todays if c["booked"]),
                "booking_success": _rate(sum(1 for c in day_wanted if c["booked"]), len(day_wanted)),
                "p50": voice.get("p50"),
                "p95": voice.get("p95"),
                "cost": sum(c["cost"] for c in day_priced) / len(day_priced) if day_priced else None,
            }
        )

    hours = Counter(c["started"].hour for c in calls)
    cost_parts = {"phone": 0.0, "stt": 0.0, "tts": 0.0, "llm": 0.0}
    for c in priced:
        for part, value in costs.parts(c["seconds"], c["tts_chars"], c["turns"]).items():
            cost_parts[part] += value
    turned_away = metric_totals("bot_calls_turned_away", metrics)
    return {
        "first": first,
        "last": last,
        "calls": len(calls),
        "ended": len(ended),
        "in_progress": len(calls) - len(ended),
        "wanted_booking": len(wanted),
        "got_booking": len(got),
        "booking_success": _rate(len(got), len(wanted)),
        "completed": len(done),
        "completion": _rate(len(done), len(ended)),
        "outcomes": Counter(c["outcome"] or "in progress" for c in calls).most_common(),
        "calls_per_hour": [hours.get(h, 0) for h in range(24)],
        "busiest_hour": max(hours, key=hours.get) if hours else None,
        "voice_to_voice": percentiles([ms for _, ms in latency]),
        "turns_measured": len(latency),
        "fallbacks": len(faults),
        "fallbacks_by_job": Counter(f["job"] for f in faults).most_common(),
        "calls_with_fallbacks": sum(1 for c in calls if c["faults"]),
        "messages": sum(c["messages"] for c in calls),
        "cost_per_call": sum(c["cost"] for c in priced) / len(priced) if priced else None,
        "cost_parts_per_call": {k: v / len(priced) for k, v in cost_parts.items()} if priced else None,
        "minutes": sum(c["seconds"] for c in priced) / 60,
        "per_day": per_day,
        # Not in the store: this process's own counts, since it started.
        "turned_away": sum(turned_away.values()),
        "turned_away_by": turned_away,
        "errors": metric_totals("bot_errors", metrics),
        "since_process_start": metrics.counting_since(),
    }
