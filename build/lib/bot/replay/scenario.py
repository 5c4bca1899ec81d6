"""The scenario file: a recorded call to replay and what must hold afterwards.

The format is a contract other tools write to (see recordings/README.md)::

    description: Party of four tomorrow evening
    now: "2026-11-24T15:00:00"
    caller: "+15551230001"
    turns:
      - audio: 01-request.wav      # WAV beside the file; `say:` (its text) is optional
    expect:
      booking: {party_size: 4, date: "2026-11-25", time: "19:00", name: "Sarah Johnson"}

``expect.booking: null`` means no booking may be made; leaving ``booking``
out means the scenario does not care. Optional extensions: ``given.bookings``
(rows that exist before the call: name, party_size, date, time, caller) and
``expect.cancelled`` / ``expect.message`` / ``expect.completed`` (true when the
call must cancel a booking / leave a message for staff / be ended by the bot,
false when it must not), and ``expect.answered``: the facts that answered the
caller's questions, in order (``null`` for one the line did not know).
``stir_verstat`` is the call's STIR/SHAKEN verification as Twilio would pass it
(default ``TN-Validation-Passed-A``: the number is the caller's; ``null`` or
another value replays a number that may be spoofed, see docs/security.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.telephony.caller_id import FULL_ATTESTATION

SCENARIO_FILE = "scenario.yaml"
_UNSET = object()


class ScenarioError(Exception):
    """A scenario file that cannot be replayed; the message names the file and the problem."""


@dataclass(frozen=True)
class Turn:
    audio: Path
    say: str | None = None


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    description: str
    now: dt.datetime | None
    caller: str | None
    turns: list[Turn]
    expect: dict[str, Any]
    given_bookings: list[dict[str, Any]] = field(default_factory=list)
    stir_verstat: str | None = FULL_ATTESTATION

    @property
    def expects_booking(self) -> bool:
        return "booking" in self.expect

    def booking_matches(self, booking: dict[str, Any] | None) -> bool:
        """Whether the booking made (or None) is what ``expect.booking`` asks for."""
        if not self.expects_booking:
            return True
        wanted = self.expect["booking"]
        if wanted is None or booking is None:
            return wanted is None and booking is None
        return all(str(booking.get(k)) == str(v) for k, v in wanted.items())

    def outcome_matches(
        self,
        booking: dict[str, Any] | None,
        cancelled: list[str],
        message: bool,
        completed: bool,
        answered: list[str | None] | None = None,
    ) -> bool:
        """Whether everything under ``expect`` holds."""
        return (
            self.booking_matches(booking)
            and ("completed" not in self.expect or completed == bool(self.expect["completed"]))
            and ("cancelled" not in self.expect or bool(cancelled) == bool(self.expect["cancelled"]))
            and ("message" not in self.expect or message == bool(self.expect["message"]))
            and ("answered" not in self.expect or list(answered or []) == list(self.expect["answered"]))
        )


def load_scenario(path: str | Path) -> Scenario:
    """Load ``path`` (a scenario.yaml or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / SCENARIO_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: must be a mapping")

    def fail(message: str) -> ScenarioError:
        return ScenarioError(f"{path}: {message}")

    now = data.get("now")
    if now is not None:
        try:
            now = now if isinstance(now, dt.datetime) else dt.datetime.fromisoformat(str(now))
        except ValueError:
            raise fail(f"'now' is not an ISO date-time: {now!r}") from None
    turns = []
    for index, turn in enumerate(data.get("turns") or [], start=1):
        if not isinstance(turn, dict) or not isinstance(turn.get("audio"), str):
            raise fail(f"turn {index} needs an 'audio' file name")
        audio = path.parent / turn["audio"]
        if not audio.is_file():
            raise fail(f"turn {index}: no such audio file {audio.name}")
        turns.append(Turn(audio=audio, say=turn.get("say")))
    if not turns:
        raise fail("has no turns")
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        raise fail("'expect' must be a mapping")
    booking = expect.get("booking", _UNSET)
    if booking is not _UNSET and booking is not None and not isinstance(booking, dict):
        raise fail("'expect.booking' must be a mapping or null")
    given = data.get("given") or {}
    if not isinstance(given, dict) or not isinstance(given.get("bookings", []), list):
        raise fail("'given.bookings' must be a list of bookings")
    for index, row in enumerate(given.get("bookings", []), start=1):
        missing = {"name", "party_size", "date", "time"} - set(row if isinstance(row, dict) else {})
        if missing:
            raise fail(f"given booking {index} needs {', '.join(sorted(missing))}")
    return Scenario(
        path=path,
        name=path.parent.name,
        description=str(data.get("description", "")),
        now=now,
        caller=str(data["caller"]) if data.get("caller") is not None else None,
        turns=turns,
        expect=expect,
        given_bookings=list(given.get("bookings", [])),
        stir_verstat=data.get("stir_verstat", FULL_ATTESTATION),
    )


def find_scenarios(paths: list[str | Path]) -> list[Path]:
    """Scenario files named by ``paths``: files, folders holding one, or trees of them."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(path)
        elif (path / SCENARIO_FILE).is_file():
            found.append(path / SCENARIO_FILE)
        elif path.is_dir():
            found.extend(sorted(path.rglob(SCENARIO_FILE)))
        else:
            raise ScenarioError(f"{path}: no such scenario file or folder")
    return found
