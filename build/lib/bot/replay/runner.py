"""Replay scenarios through the real server: in-process on a loopback port, or at ``--url``.

For each scenario a :class:`~bot.replay.caller.TwilioCaller` dials the media
websocket, waits for the bot to finish each turn, speaks the next recording,
and hangs up when the turns run out (unless the bot hung up first). The
server's call report supplies what the bot heard and said and the booking it
made; the caller supplies the latency it lived.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import uvicorn

from bot.audio import load_phone_audio
from bot.booking.store import BookingStore
from bot.replay.caller import TwilioCaller
from bot.replay.scenario import Scenario
from bot.settings import Settings, load_settings
from processors.transcript import TurnRecord, live_listeners

BOT_TURN_TIMEOUT_SECS = 30.0
HANG_UP_WAIT_SECS = 15.0


@dataclass
class TurnResult:
    caller_said: str | None
    caller_heard: str | None
    bot_said: str
    latency_ms: float | None


@dataclass
class ReplayResult:
    scenario: str
    description: str
    call_sid: str
    expect_met: bool
    completed: bool
    booking: dict[str, Any] | None
    cancelled: list[str] = field(default_factory=list)
    message: bool = False
    answered: list[str | None] = field(default_factory=list)  # the fact that answered each question asked
    turns: list[TurnResult] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)  # the server's per-turn figures (turn_latency rows)
    caller_latency_ms: list[float | None] = field(default_factory=list)  # the caller's, per scenario turn
    recording: str | None = None
    error: str | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)  # fallbacks that fired (call_faults rows)
    turned_away: bool = False  # the server was at BOT_MAX_CALLS and did not take the call
    audio_gaps_ms: list[float] = field(default_factory=list)  # stutters in the bot's audio as the caller heard it
    audio_gap_ends: list[float] = field(default_factory=list)  # when each ended (time.monotonic, this process)
    late_audio_ms: list[float] = field(default_factory=list)  # late media messages (some covered by Twilio's queue)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def in_process_server(settings: Settings) -> AsyncIterator[tuple[str, BookingStore]]:
    """The real server on a free loopback port; yields its media URL and store."""
    from server import create_app

    store = BookingStore(settings.db_path, settings.business)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/twilio/media", store
    finally:
        server.should_exit = True
        await task


def replay_settings(db_path: Path | None = None, **overrides: Any) -> Settings:
    """Settings for an in-process replay: the scenario's clock, and a database of its own.

    A ``TWILIO_AUTH_TOKEN`` in the environment is left out unless given here: replayed calls are
    not Twilio's, and the server would hang them up through Twilio's real REST API.
    """
    db = db_path or Path(tempfile.mkdtemp(prefix="replay-")) / "bookings.db"
    return load_settings(**{"allow_clock_override": True, "db_path": db, "twilio_auth_token": None, **overrides})


def seed_bookings(store: BookingStore, scenario: Scenario) -> None:
    """Create the bookings a scenario says exist before its call."""
    for row in scenario.given_bookings:
        store.create_booking(
            name=row["name"],
            party_size=int(row["party_size"]),
            date=dt.date.fromisoformat(str(row["date"])),
            time=dt.time.fromisoformat(str(row["time"])),
            caller=row.get("caller"),
            call_sid=None,
        )


def store_reports(store: BookingStore) -> Callable[[str], Any]:
    async def report(call_sid: str) -> dict | None:
        return store.call_report(call_sid)

    return report


def http_reports(media_url: str, admin_token: str | None = None) -> Callable[[str], Any]:
    parts = urlsplit(media_url)
    base = urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "", "", ""))
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}

    async def report(call_sid: str) -> dict | None:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/calls/{call_sid}", headers=headers) as response:
                return await response.json() if response.status == 200 else None

    return report


async def _final_report(report: Callable[[str], Any], call_sid: str, timeout: float = 10.0) -> dict | None:
    """The call's report once the server has closed the call."""
    deadline = time.monotonic() + timeout
    latest = None
    while time.monotonic() < deadline:
        latest = await report(call_sid)
        if latest and latest["call"].get("ended_at"):
            break
        await asyncio.sleep(0.1)
    return latest


async def replay_scenario(
    scenario: Scenario,
    media_url: str,
    report: Callable[[str], Any],
    *,
    recordings_dir: Path | None = None,
    on_turn: Callable[[TurnResult], None] | None = None,
    on_latency: Callable[[float | None], None] | None = None,
    hang_up_wait: float = HANG_UP_WAIT_SECS,
    call_sid: str | None = None,
    twilio_auth_token: str | None = None,
) -> ReplayResult:
    """Replay one scenario as one call.

    ``on_turn`` gets each turn as the server recorded it (in-process servers
    only); ``on_latency`` gets the voice-to-voice time the caller measured,
    as each turn ends. ``call_sid`` sets the call's SID (else a new one).
    With the server's ``twilio_auth_token`` the call comes through the signed
    voice webhook, as Twilio's do.
    """
    parameters = {"now": scenario.now.isoformat()} if scenario.now else {}
    caller = TwilioCaller(
        media_url, caller=scenario.caller, custom_parameters=parameters, call_sid=call_sid,
        stir_verstat=scenario.stir_verstat, twilio_auth_token=twilio_auth_token,
    )
    latencies: list[float | None] = []
    heard: dict[int, TurnRecord] = {}

    def collect(record: TurnRecord) -> None:
        if record.call_sid == caller.call_sid:
            heard[record.turn] = record

    async def show(turn: int) -> None:
        """Print turn ``turn`` once the server has recorded it (live mode only)."""
        if on_turn is None:
            return
        for _ in range(40):
            if turn in heard:
                record = heard[turn]
                said = scenario.turns[turn - 1].say if turn > 0 else None
                on_turn(TurnResult(said, record.caller_heard, record.bot_said, latencies[-1] if turn else None))
                return
            await asyncio.sleep(0.05)

    live_listeners.append(collect)
    error = None
    try:
        async with caller:
            await caller.wait_for_bot(since=0.0, timeout=BOT_TURN_TIMEOUT_SECS)
            await show(0)
            for index, turn in enumerate(scenario.turns, start=1):
                if caller.closed.is_set():
                    break
                speech_end = await caller.say(load_phone_audio(turn.audio))
                started = await caller.wait_for_bot(since=speech_end, timeout=BOT_TURN_TIMEOUT_SECS)
                latencies.append(round((started - speech_end) * 1000) if started else None)
                if on_latency:
                    on_latency(latencies[-1])
                await show(index)
            completed = await caller.wait_for_hang_up(hang_up_wait)
    except (OSError, asyncio.TimeoutError) as e:
        completed, error = False, f"could not reach {media_url}: {e}"
    finally:
        live_listeners.remove(collect)

    if caller.turned_away:
        error = "turned away: the line was full (BOT_MAX_CALLS)"
    call_report = await _final_report(report, caller.call_sid) if error is None else None
    touched = (call_report or {}).get("bookings", [])
    made = [b for b in touched if b["status"] == "confirmed" and b["action"] in ("created", "changed")]
    booking = {k: made[-1][k] for k in ("party_size", "date", "time", "name", "code")} if made else None
    cancelled = [b["code"] for b in touched if b["action"] == "cancelled"]
    message = bool((call_report or {}).get("messages"))
    answered = [q["fact"] for q in (call_report or {}).get("questions", [])]
    turns = [
        TurnResult(
            caller_said=scenario.turns[t["turn"] - 1].say if 0 < t["turn"] <= len(scenario.turns) else None,
            caller_heard=t["caller_heard"],
            bot_said=t["bot_said"],
            latency_ms=latencies[t["turn"] - 1] if 0 < t["turn"] <= len(latencies) else None,
        )
        for t in (call_report or {}).get("turns", [])
    ]
    recording = recordings_dir / f"{caller.call_sid}.wav" if recordings_dir else None
    return ReplayResult(
        scenario=scenario.name,
        description=scenario.description,
        call_sid=caller.call_sid,
        expect_met=error is None
        and call_report is not None
        and scenario.outcome_matches(booking, cancelled, message, completed, answered),
        completed=completed,
        booking=booking,
        cancelled=cancelled,
        message=message,
        answered=answered,
        turns=turns,
        latency=(call_report or {}).get("latency", []),
        caller_latency_ms=latencies,
        recording=str(recording) if recording and recording.exists() else None,
        error=error or (None if call_report else "the server has no report of the call"),
        turned_away=caller.turned_away,
        faults=[
            {k: f[k] for k in ("job", "provider", "reason", "fallback")} for f in (call_report or {}).get("faults", [])
        ],
        audio_gaps_ms=[round(gap * 1000) for gap in caller.bot.gaps],
        audio_gap_ends=caller.bot.gap_ends,
        late_audio_ms=[round(gap * 1000) for gap in caller.bot.late_messages],
    )
