"""The booking store: bookings, their history, calls and turns, in SQLite or PostgreSQL.

Capacity is enforced here, inside a write transaction that holds the day it
counts (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock per day,
bot/booking/postgres_db.py), so two calls racing for the last seats can never
both get them, whether they run in one process, several, or on several hosts.
Every change to a booking writes a history row. What differs between the two
databases is behind bot/booking/database.py; the SQL here is written once.

Each thread has a connection of its own, and the calls' writes run on the
store's one writer thread (:meth:`BookingStore.run`): a writer may wait up to
the busy timeout for another process's lock, and that wait must hold up one
caller's turn, never the event loop carrying every call's audio.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlite_utils
from loguru import logger

from bot.booking.business import Business
from bot.booking.database import DatabaseUnavailable, open_backend
from bot.metrics import METRICS

if TYPE_CHECKING:
    from bot.settings import Settings

# No look-alikes (0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B): codes are read aloud on a phone line.
CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY3479"
CODE_LENGTH = 6
T = TypeVar("T")
# turn_latency columns besides the call, turn and totals (see processors/latency.py).
TURN_LATENCY_FIGURES = (
    *(f"{m}_ms" for m in ("stt_final", "turn_end", "llm_first", "tts_first_audio", "bot_started", "first_audio_sent")),
    *(f"{s}_ms" for s in ("vad", "stt", "turn", "llm", "tools", "tts", "output", "pipeline")),
)


class SlotUnavailable(Exception):
    """The slot filled up, or closed, between the offer and the booking."""


class BookingNotFound(Exception):
    """No active booking has that id."""


class StoreUnavailable(Exception):
    """The database could not be written (another writer held it past the busy timeout, or the database
    server could not be reached): nothing was."""


class BookingLimitReached(Exception):
    """The caller's number has made as many bookings as one number may in a day: nothing was booked."""


@dataclass(frozen=True)
class Booking:
    id: int
    code: str
    name: str
    party_size: int
    date: dt.date
    time: dt.time
    caller: str | None
    call_sid: str | None
    notes: str | None
    status: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Booking:
        return cls(
            id=row["id"],
            code=row["code"],
            name=row["name"],
            party_size=row["party_size"],
            date=dt.date.fromisoformat(row["date"]),
            time=dt.time.fromisoformat(row["time"]),
            caller=row["caller"],
            call_sid=row["call_sid"],
            notes=row["notes"],
            status=row["status"],
        )

    def as_expected(self) -> dict[str, Any]:
        """The fields a scenario's ``expect.booking`` compares."""
        return {
            "party_size": self.party_size,
            "date": self.date.isoformat(),
            "time": self.time.strftime("%H:%M"),
            "name": self.name,
        }


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _iso_ago(secs: float) -> str:
    """The UTC moment ``secs`` ago, in the same sortable form as :func:`_now_iso`."""
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=secs)).isoformat(timespec="milliseconds")


def _day_key(day: dt.date) -> str:
    """What a booking's capacity check reads: the seats of its day."""
    return f"seats {day.isoformat()}"


def _caller_key(caller: str | None) -> str:
    """What the bookings-per-number limit reads: one number's bookings (a withheld number is one number)."""
    return f"caller {caller or 'withheld'}"


def _booking_key(booking_id: int) -> str:
    return f"booking {booking_id}"


def _log_failure(what: str, done: Future) -> None:
    if done.exception() is not None:
        METRICS.store_errors.labels(kind="record_lost").inc()
        logger.opt(exception=done.exception()).error(f"{what}: not stored")


class BookingStore:
    """All persistent state of the line: an SQLite file (one host) or a PostgreSQL database (several).

    One instance is shared by every call in a process; the database's own
    locking (bot/booking/database.py) coordinates processes and hosts.
    """

    def __init__(self, location: str | Path, business: Business, *, busy_timeout_ms: int = 5000):
        """``location``: an SQLite file's path (or ``:memory:``), or a ``postgresql://`` URL."""
        self.business = business
        # How long a write waits for another connection's lock before it fails (StoreUnavailable).
        self.busy_timeout_ms = busy_timeout_ms
        self.backend = open_backend(location, busy_timeout_ms=busy_timeout_ms)
        self.path = Path(location) if self.backend.dialect == "sqlite" else None
        self._connections = threading.local()
        # Serialises this process's writers, and the threads sharing an in-memory connection.
        self._lock = threading.RLock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bookings-db")
        try:
            self._shared = self.backend.connect() if self.backend.shared else None
            self.backend.migrate(self._connection())
        except DatabaseUnavailable as e:
            raise StoreUnavailable(f"{self.backend.describe()}: {e}") from e

    @classmethod
    def from_settings(cls, settings: Settings) -> BookingStore:
        """The store the settings name (BOT_DATABASE_URL, else BOT_DB_PATH); one that cannot be
        opened is a :class:`ConfigError` naming the setting, at start-up rather than on the first call."""
        from bot.settings import ConfigError

        try:
            return cls(settings.database, settings.business)
        except StoreUnavailable as e:  # only a database server is unreachable (an SQLite file raises its own error)
            raise ConfigError(f"BOT_DATABASE_URL: cannot open the booking database {e}") from None

    @property
    def db(self) -> Any:
        """This thread's connection, with sqlite-utils' API (a reader never waits for a writer)."""
        try:
            return self._connection()
        except DatabaseUnavailable as e:
            raise StoreUnavailable(str(e)) from e

    def _connection(self) -> Any:
        if self._shared is not None:
            return self._shared
        db = getattr(self._connections, "db", None)
        if db is None or not self.backend.usable(db):  # the database server restarted: a new connection
            db = self._connections.db = self.backend.connect()
        return db

    async def run(self, work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``work(*args, **kwargs)`` (one of this store's methods) on the writer thread, awaited."""
        return await asyncio.wrap_future(self._writer.submit(work, *args, **kwargs))

    def run_soon(self, work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Queue a record (a turn, a figure, a checkpoint) on the writer thread; a failure is logged, not raised."""
        self._writer.submit(work, *args, **kwargs).add_done_callback(partial(_log_failure, work.__name__))

    def schema_version(self) -> int:
        """The database's schema version (a cheap read: the readiness check's "store reachable")."""
        return self.backend.schema_version(self.db)

    def close(self) -> None:
        """Finish the queued writes (checkpoints, turns), stop the writer thread, hang up."""
        self._writer.shutdown(wait=True)
        self.backend.close()

    @contextmanager
    def _write(self, *keys: str) -> Iterator[Any]:
        """A write transaction holding ``keys`` (what it reads and must stay as read) from the start."""
        with self._lock:
            try:
                db = self._connection()
                with self.backend.transaction(db, keys):
                    yield db
            except DatabaseUnavailable as e:
                METRICS.store_errors.labels(kind=e.kind).inc()
                raise StoreUnavailable(str(e)) from e

    def write_transaction(self, *keys: str) -> AbstractContextManager[Any]:
        """A write transaction, for a module with its own rules about what is kept
        (bot/booking/retention.py); run it on the writer thread (:meth:`run`)."""
        return self._write(*keys)

    # Capacity

    def seats_taken(self, date: dt.date, time: dt.time, *, ignore_booking: int | None = None) -> int:
        """The most seats in use at any moment of a table held from ``time`` on ``date``."""
        held = dt.timedelta(minutes=self.business.table_minutes)
        start = dt.datetime.combine(date, time)
        rows = [
            (dt.datetime.combine(date, dt.time.fromisoformat(r["time"])), r["party_size"])
            for r in self.db.query(
                "select time, party_size from bookings where date = ? and status = 'confirmed'"
                " and id != ?",
                [date.isoformat(), ignore_booking or -1],
            )
        ]
        # Occupancy only rises at a booking's start, so checking the new
        # booking's start and every start inside its window finds the peak.
        moments = [start] + [t for t, _ in rows if start < t < start + held]
        return max(sum(size for t, size in rows if t <= m < t + held) for m in moments)

    def has_room(self, date: dt.date, time: dt.time, party_size: int, **kw: Any) -> bool:
        return self.seats_taken(date, time, **kw) + party_size <= self.business.capacity_seats

    # Bookings

    def create_booking(
        self,
        *,
        name: str,
        party_size: int,
        date: dt.date,
        time: dt.time,
        caller: str | None,
        call_sid: str | None,
        notes: str | None = None,
        staff: str | None = None,
        limit_per_caller: int = 0,
    ) -> Booking:
        """Book atomically, or raise :class:`SlotUnavailable` and write nothing.

        ``staff`` names who on staff made it (the dashboard); a call's booking has its ``call_sid`` instead.
        ``limit_per_caller`` (0: none): the bookings a call's number may make in 24 hours, counted in
        the same transaction, so calls racing from one number (in any process) cannot pass it; a
        withheld number is one number. Past it: :class:`BookingLimitReached`.
        """
        limited = bool(limit_per_caller and call_sid)
        with self._write(_day_key(date), *([_caller_key(caller)] if limited else [])) as db:
            if limited and self.bookings_by_caller(caller) >= limit_per_caller:
                raise BookingLimitReached(f"{limit_per_caller} bookings in 24 hours")
            if not self.has_room(date, time, party_size):
                raise SlotUnavailable(f"{date} {time} has no room for {party_size}")
            now = _now_iso()
            row = {
                "code": self._new_code(),
                "status": "confirmed",
                "name": name,
                "party_size": party_size,
                "date": date.isoformat(),
                "time": time.strftime("%H:%M"),
                "caller": caller,
                "call_sid": call_sid,
                "notes": notes,
                "created_at": now,
                "updated_at": now,
            }
            booking_id = db["bookings"].insert(row).last_pk
            self._history(db, booking_id, "created", call_sid, None, row, staff)
            if call_sid:
                db["calls"].upsert({"call_sid": call_sid, "booking_id": booking_id}, pk="call_sid")
        return self.get(booking_id)

    def bookings_by_caller(self, caller: str | None) -> int:
        """Bookings made by calls from ``caller`` (None: withheld) in the last 24 hours, cancelled ones too."""
        same_number = "caller is null" if caller is None else "caller = ?"
        return self.db.execute(
            f"select count(*) from bookings where {same_number} and call_sid is not null and created_at > ?",
            [*([] if caller is None else [caller]), _iso_ago(24 * 3600)],
        ).fetchone()[0]

    def _new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if not self.db.execute("select 1 from bookings where code = ?", [code]).fetchone():
                return code

    def _history(
        self,
        db: Any,
        booking_id: int,
        action: str,
        call_sid: str | None,
        before: dict | None,
        after: dict | None,
        staff: str | None = None,
    ) -> None:
        db["booking_history"].insert(
            {
                "booking_id": booking_id,
                "action": action,
                "call_sid": call_sid,
                "at": _now_iso(),
                "before": json.dumps(before) if before else None,
                "after": json.dumps(after) if after else None,
                "staff": staff,
            }
        )

    def change_booking(
        self,
        booking_id: int,
        *,
        party_size: int,
        date: dt.date,
        time: dt.time,
        call_sid: str | None,
        staff: str | None = None,
    ) -> Booking:
        """Move or resize a booking atomically; its own seats do not count against it."""
        with self._write(_booking_key(booking_id), _day_key(date)) as db:
            before = db["bookings"].get(booking_id)
            if before["status"] != "confirmed":
                raise BookingNotFound(booking_id)
            if not self.has_room(date, time, party_size, ignore_booking=booking_id):
                raise SlotUnavailable(f"{date} {time} has no room for {party_size}")
            change = {
                "party_size": party_size,
                "date": date.isoformat(),
                "time": time.strftime("%H:%M"),
                "updated_at": _now_iso(),
            }
            db["bookings"].update(booking_id, change)
            self._history(db, booking_id, "changed", call_sid, before, before | change, staff)
            if call_sid:
                db["calls"].upsert({"call_sid": call_sid, "booking_id": booking_id}, pk="call_sid")
        return self.get(booking_id)

    def cancel_booking(self, booking_id: int, *, call_sid: str | None, staff: str | None = None) -> Booking:
        with self._write(_booking_key(booking_id)) as db:
            before = db["bookings"].get(booking_id)
            if before["status"] != "confirmed":
                raise BookingNotFound(booking_id)
            change = {"status": "cancelled", "updated_at": _now_iso()}
            db["bookings"].update(booking_id, change)
            self._history(db, booking_id, "cancelled", call_sid, before, before | change, staff)
        return self.get(booking_id)

    def upcoming_bookings(
        self,
        today: dt.date,
        *,
        caller: str | None = None,
        name: str | None = None,
        date: dt.date | None = None,
        code: str | None = None,
    ) -> list[Booking]:
        """Confirmed bookings from ``today`` on matching every criterion given (names loosely)."""
        where, params = ["status = 'confirmed'", "date >= ?"], [today.isoformat()]
        for column, value in (("caller", caller), ("date", date.isoformat() if date else None), ("code", code)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self.db["bookings"].rows_where(" and ".join(where), params, order_by="date, time")
        found = [Booking.from_row(r) for r in rows]
        if name:
            wanted = set(name.lower().split())
            found = [b for b in found if wanted & set(b.name.lower().split())]
        return found

    def take_message(
        self,
        *,
        call_sid: str,
        caller: str | None,
        name: str | None,
        callback_number: str | None,
        reason: str,
        audio_path: str | None = None,
    ) -> int:
        """A message for staff (hand-off, or a voicemail with its recording); returns its id."""
        with self._write() as db:
            return db["messages"].insert(
                {
                    "call_sid": call_sid,
                    "caller": caller,
                    "name": name,
                    "callback_number": callback_number,
                    "reason": reason,
                    "at": _now_iso(),
                    "audio_path": audio_path,
                }
            ).last_pk

    def mark_message_done(self, message_id: int, *, staff: str | None, done: bool = True) -> None:
        """Staff have dealt with a message (called back), or, ``done=False``, not after all."""
        with self._write() as db:
            db["messages"].update(message_id, {"done_at": _now_iso() if done else None, "done_by": staff if done else None})

    def get(self, booking_id: int) -> Booking:
        try:
            return Booking.from_row(self.db["bookings"].get(booking_id))
        except sqlite_utils.db.NotFoundError:
            raise BookingNotFound(booking_id) from None

    def history(self, booking_id: int) -> list[dict[str, Any]]:
        return list(self.db["booking_history"].rows_where("booking_id = ?", [booking_id], order_by="id"))

    # Calls

    def call_started(self, call_sid: str, caller: str | None) -> None:
        with self._write() as db:
            db["calls"].upsert(
                {"call_sid": call_sid, "caller": caller, "started_at": _now_iso()}, pk="call_sid"
            )

    def call_ended(self, call_sid: str, outcome: str) -> None:
        with self._write() as db:
            db["calls"].upsert(
                {"call_sid": call_sid, "ended_at": _now_iso(), "outcome": outcome}, pk="call_sid"
            )

    def note_call_wanted(self, call_sid: str, wanted: str | None) -> None:
        """What the caller came for ("booking", "change", "cancel", ...): the dashboard's booking success rate."""
        if wanted:
            with self._write() as db:
                db.execute("update calls set wanted = ? where call_sid = ?", [wanted, call_sid])

    def call_is_over(self, call_sid: str) -> bool:
        """Whether the call has a row and it has ended."""
        row = self.db.execute("select ended_at from calls where call_sid = ?", [call_sid]).fetchone()
        return bool(row and row[0])

    def call_on_the_line(self, call_sid: str) -> bool:
        """Whether the call has started and neither ended nor dropped: its media stream is up, or closing."""
        row = self.db.execute(
            "select 1 from calls c left join call_resume r on r.call_sid = c.call_sid"
            " where c.call_sid = ? and c.ended_at is null and r.interrupted_at is null",
            [call_sid],
        ).fetchone()
        return row is not None

    def call_is_known(self, call_sid: str) -> bool:
        return self.db.execute("select 1 from calls where call_sid = ?", [call_sid]).fetchone() is not None

    def save_call_state(self, call_sid: str, node: str, state: dict[str, Any], messages: list[dict]) -> None:
        """Checkpoint where the call stands: its flow node, the flow's state and the conversation so far."""
        with self._write() as db:
            db["call_resume"].upsert(
                {"call_sid": call_sid, "node": node, "state": json.dumps(state), "messages": json.dumps(messages),
                 "saved_at": _now_iso()},
                pk="call_sid",
            )

    def call_interrupted(self, call_sid: str) -> None:
        """The call's media stream dropped: it may resume from its checkpoint for a while."""
        with self._write() as db:
            db.execute("update call_resume set interrupted_at = ? where call_sid = ?", [_now_iso(), call_sid])

    def take_resumable(self, call_sid: str, grace_secs: float) -> dict[str, Any] | None:
        """The checkpoint of a call interrupted less than ``grace_secs`` ago, claimed for resuming (once)."""
        cutoff = _iso_ago(grace_secs)
        with self._write(f"call {call_sid}") as db:
            row = db.execute(
                "select r.node, r.state, r.messages, r.saved_at from call_resume r join calls c using (call_sid)"
                " where r.call_sid = ? and r.interrupted_at > ? and c.ended_at is null",
                [call_sid, cutoff],
            ).fetchone()
            if row is None:
                return None
            db.execute("update call_resume set interrupted_at = null where call_sid = ?", [call_sid])
        return {"node": row[0], "state": json.loads(row[1]), "messages": json.loads(row[2]), "saved_at": row[3]}

    def close_abandoned_calls(self, grace_secs: float) -> list[str]:
        """End, as "dropped", every interrupted call not resumed within ``grace_secs``; return their SIDs."""
        with self._write("abandoned calls") as db:  # one host closes them, and names each once
            sids = [
                r[0]
                for r in db.execute(
                    "select r.call_sid from call_resume r join calls c using (call_sid)"
                    " where r.interrupted_at <= ? and c.ended_at is null",
                    [_iso_ago(grace_secs)],
                ).fetchall()
            ]
            for sid in sids:
                db.execute("update calls set ended_at = ?, outcome = 'dropped' where call_sid = ?", [_now_iso(), sid])
                db.execute("update call_resume set interrupted_at = null where call_sid = ?", [sid])
        return sids

    # Stream tokens: a call the signed webhook let in, redeemed once by its media stream (bot/telephony/stream_auth.py)

    def add_stream_token(
        self, token: str, call_sid: str, caller: str | None, stir_verstat: str | None, ttl_secs: float
    ) -> None:
        with self._write() as db:
            db.execute("delete from stream_tokens where expires_at <= ?", [_now_iso()])
            db["stream_tokens"].insert({"token": token, "call_sid": call_sid, "caller": caller,
                                        "stir_verstat": stir_verstat, "expires_at": _iso_ago(-ttl_secs)})

    def take_stream_token(self, token: str, call_sid: str) -> dict[str, Any] | None:
        """Who the webhook saw calling, if ``token`` is ``call_sid``'s and unexpired; the token is gone after this."""
        with self._write(f"stream token {token}") as db:
            row = db.execute(
                "select caller, stir_verstat from stream_tokens where token = ? and call_sid = ? and expires_at > ?",
                [token, call_sid, _now_iso()],
            ).fetchone()
            db.execute("delete from stream_tokens where token = ?", [token])
        return {"caller": row[0], "stir_verstat": row[1]} if row else None

    def next_turn(self, call_sid: str) -> int:
        """The number the call's next transcript turn gets (a resumed call goes on counting)."""
        return self.db.execute(
            "select coalesce(max(turn) + 1, 0) from call_turns where call_sid = ?", [call_sid]
        ).fetchone()[0]

    def add_turn(self, call_sid: str, turn: int, caller_heard: str | None, bot_said: str) -> None:
        with self._write() as db:
            db["call_turns"].insert(
                {
                    "call_sid": call_sid,
                    "turn": turn,
                    "caller_heard": caller_heard,
                    "bot_said": bot_said,
                    "at": _now_iso(),
                }
            )

    def call_report(self, call_sid: str) -> dict[str, Any] | None:
        """What happened on a call: its row, turns, the bookings it touched and messages it left."""
        try:
            call = self.db["calls"].get(call_sid)
        except sqlite_utils.db.NotFoundError:
            return None
        turns = list(self.db["call_turns"].rows_where("call_sid = ?", [call_sid], order_by="turn, id"))
        last_action = {
            row["booking_id"]: row["action"]
            for row in self.db.query(
                "select booking_id, action from booking_history where call_sid = ? order by id", [call_sid]
            )
        }
        bookings = [
            booking.as_expected() | {"code": booking.code, "status": booking.status, "action": action}
            for booking, action in ((self.get(booking_id), action) for booking_id, action in last_action.items())
        ]
        messages = list(self.db["messages"].rows_where("call_sid = ?", [call_sid], order_by="id"))
        questions = list(self.db["call_questions"].rows_where("call_sid = ?", [call_sid], order_by="id"))
        return {
            "call": call, "turns": turns, "bookings": bookings, "messages": messages,
            "questions": [{"question": q["question"], "fact": q["fact"]} for q in questions],
            "latency": self.turn_latencies(call_sid),
            "faults": self.call_faults(call_sid),
        }

    def record_question(self, call_sid: str, question: str, fact: str | None) -> None:
        """Note a question the caller asked and the fact that answered it (None: the line did not know)."""
        with self._write() as db:
            db["call_questions"].insert({"call_sid": call_sid, "question": question, "fact": fact, "at": _now_iso()})

    def record_fault(self, call_sid: str, job: str, provider: str, reason: str, fallback: str) -> None:
        """Note that ``job`` moved from the failed ``provider`` to ``fallback`` on this call."""
        with self._write() as db:
            db["call_faults"].insert(
                {"call_sid": call_sid, "job": job, "provider": provider, "reason": reason,
                 "fallback": fallback, "at": _now_iso()}
            )

    def call_faults(self, call_sid: str) -> list[dict[str, Any]]:
        """The fallbacks that fired on a call, in order."""
        return list(self.db["call_faults"].rows_where("call_sid = ?", [call_sid], order_by="id"))

    # Figures

    def bookings_of_call(self, call_sid: str) -> list[Booking]:
        """The bookings this call made or changed that are still confirmed."""
        ids = [
            row["booking_id"]
            for row in self.db.query(
                "select booking_id from booking_history where call_sid = ? and action in ('created', 'changed')"
                " group by booking_id order by min(id)",
                [call_sid],
            )
        ]
        return [b for b in map(self.get, ids) if b.status == "confirmed"]

    def booking_made_since(self, call_sid: str, since: str) -> Booking | None:
        """The still confirmed booking this call created or changed after ``since`` (a checkpoint's time), if any."""
        row = self.db.execute(
            "select booking_id from booking_history where call_sid = ? and action in ('created', 'changed')"
            " and at > ? order by id desc limit 1",
            [call_sid, since],
        ).fetchone()
        booking = self.get(row[0]) if row else None
        return booking if booking is not None and booking.status == "confirmed" else None

    def bookings_made(self, call_sid: str) -> int:
        """How many bookings the call created."""
        return self.db.execute(
            "select count(*) from booking_history where call_sid = ? and action = 'created'", [call_sid]
        ).fetchone()[0]

    def add_turn_latency(self, call_sid: str, figures: dict[str, Any]) -> None:
        """Store one caller turn's latency figures (a :meth:`TurnLatency.row`)."""
        with self._write() as db:
            db["turn_latency"].insert({"call_sid": call_sid, "at": _now_iso(), **figures}, alter=True)

    def turn_latencies(self, call_sid: str) -> list[dict[str, Any]]:
        """The call's per-turn latency rows, in turn order."""
        rows = self.db["turn_latency"].rows_where("call_sid = ?", [call_sid], order_by="turn, id")
        return [r | {"breakdown": json.loads(r["breakdown"] or "[]")} for r in rows]
