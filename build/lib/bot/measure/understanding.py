"""``python -m bot understanding FILE.jsonl``: how often typed caller lines end in the booking they asked for.

Each line of the file is a caller's booking request with its annotated values
(the SGD format of ``../shared/data/sgd-bookings-train.jsonl``: ``utterance``,
``slots`` the line states, ``rest`` the values the dialogue settled elsewhere,
``opening`` whether the line opens the call). A call is typed through the real
flow with ``chat``'s programmatic entry (:func:`bot.desk.chat.run_chat`), on the
offline dialogue engine: an opening when the line answers a question, the line
itself, a plain line for the values it leaves out, a name and "yes". The call
counts when it books exactly the annotated party size, date and time; each slot
the line states is also scored on its own.

The business is the flow's own, open at every hour with no practical limits, so
only understanding decides (the same as ``../shared/tools/sgd-voice-calls``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.desk.chat import run_chat
from bot.settings import load_settings

SLOTS = ("party_size", "date", "time")
# What the caller says for a value their line leaves out, and the value it means.
DEFAULTS = {"party_size": "2", "date": "2019-03-05", "time": "19:00"}
NAME = "Robin Hayes"


@dataclass
class Case:
    id: str
    utterance: str
    slots: dict[str, str]
    want: dict[str, str]
    opening: bool

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Case:
        want = {**DEFAULTS, **row.get("rest", {}), **row["slots"]}
        return cls(row["id"], row["utterance"], row["slots"], {k: want[k] for k in SLOTS}, row.get("opening", False))

    def lines(self) -> list[str]:
        """What the caller types, turn by turn."""
        lines = [] if self.opening else ["Hello, I'd like to book a table."]
        lines.append(self.utterance)
        left_out = [k for k in SLOTS if k not in self.slots]
        if left_out:
            parts = {
                "party_size": f"for {self.want['party_size']} people",
                "date": f"on {_spoken_date(self.want['date'])}",
                "time": f"at {_spoken_time(self.want['time'])}",
            }
            lines.append("That's " + " ".join(parts[k] for k in left_out) + ".")
        return lines + [f"The name is {NAME}.", "Yes, please."]


def _spoken_date(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"{day:%A, %B} {day.day}"


def _spoken_time(hhmm: str) -> str:
    hour, minute = map(int, hhmm.split(":"))
    part = "in the morning" if hour < 12 else "in the afternoon" if hour < 17 else "in the evening"
    return f"{hour % 12 or 12}{f':{minute:02d}' if minute else ''} {part}"


@dataclass
class Outcome:
    case: Case
    booked: dict[str, Any] | None
    transcript: str

    @property
    def right(self) -> bool:
        return self.booked is not None and all(str(self.booked.get(k)) == self.case.want[k] for k in SLOTS)

    def slot_right(self, slot: str) -> bool:
        return self.booked is not None and str(self.booked.get(slot)) == self.case.want[slot]


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        stated = Counter(s for o in self.outcomes for s in o.case.slots)
        right = Counter(s for o in self.outcomes for s in o.case.slots if o.slot_right(s))
        total = len(self.outcomes)
        booked = sum(o.right for o in self.outcomes)
        return {
            "calls": total,
            "booked_as_annotated": booked,
            "rate": round(booked / total, 4) if total else None,
            "per_slot": {s: {"stated": stated[s], "right": right[s]} for s in SLOTS},
            "failed": [o.case.id for o in self.outcomes if not o.right],
        }


def open_all_hours(business_file: Path, out_dir: Path) -> Path:
    """The business, open every hour of every day with no practical limits: only understanding decides."""
    data = yaml.safe_load(business_file.read_text(encoding="utf-8"))
    data["hours"] = {day: [{"first_seating": "00:00", "last_seating": "23:45"}] for day in data["hours"]}
    data.update(closed_dates=[], capacity_seats=100_000, max_party_size=20, booking_horizon_days=400)
    path = out_dir / "business.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def type_case(case: Case, settings: Any, now: dt.datetime) -> Outcome:
    out = io.StringIO()
    result = await run_chat(case.lines(), settings=settings, now=now, out=out)
    return Outcome(case, result.outcome.booking, out.getvalue())


async def measure(cases: list[Case], *, flow_file: Path | None = None, now: dt.datetime) -> Report:
    report = Report()
    with tempfile.TemporaryDirectory() as scratch:
        base = load_settings(stt="local", llm="local", tts="local")
        flow = flow_file or base.flow_file
        business = open_all_hours(flow.with_suffix(".business.yaml"), Path(scratch))
        for i, case in enumerate(cases):
            settings = load_settings(
                stt="local", llm="local", tts="local", flow_file=flow, business_file=business,
                db_path=Path(scratch) / f"call{i}.db",
            )
            report.outcomes.append(await type_case(case, settings, now))
    return report


def run(args: Any) -> int:
    rows = [json.loads(line) for line in Path(args.file).read_text(encoding="utf-8").splitlines() if line.strip()]
    cases = [Case.from_json(r) for r in rows][args.skip : args.skip + args.limit if args.limit else None]
    report = asyncio.run(measure(cases, now=dt.datetime.fromisoformat(args.now)))
    if args.failures:
        for outcome in report.outcomes:
            if not outcome.right:
                print(f"--- {outcome.case.id}: want {outcome.case.want}, booked {outcome.booked}\n{outcome.transcript}")
    print(json.dumps(report.summary(), indent=None if args.json else 1))
    return 0
