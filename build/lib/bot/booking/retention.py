"""Personal data kept only as long as it is needed: the retention job, and forgetting one caller.

What the line keeps about a caller: their number (calls, bookings, messages),
their name and notes (bookings), their words (a call's transcript, questions
and resume checkpoint, messages for staff) and their voice (call recordings
and voicemails). After ``BOT_RETENTION_DAYS`` the words and the voice are
deleted, calls lose their number, and bookings whose day is that long past
lose their name, number and note; what is left is counts (docs/security.md).

``python -m bot forget +1555…`` does the same at once for everything of one
number. Its bookings stay, nameless, so the seats they hold still count for
capacity; whoever has the confirmation code can still find and cancel them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from bot.booking.store import BookingStore, StoreUnavailable
from bot.telephony.caller_id import mask_numbers

FORGOTTEN_NAME = "(forgotten)"
SWEEP_EVERY_SECS = 3600.0
# Every host sweeps the shared database: one at a time (PostgreSQL), so two never rewrite the same rows at once.
RETENTION_KEY = "retention"


@dataclass
class Removed:
    """What one sweep (or one ``forget``) removed."""

    recordings: int = 0  # call recordings and voicemails (files)
    transcript_turns: int = 0
    questions: int = 0
    checkpoints: int = 0
    messages: int = 0
    call_numbers: int = 0  # calls whose caller's number was removed (the call itself stays)
    bookings_anonymised: int = 0  # left without a name, number or note; they still hold their seats

    def __bool__(self) -> bool:
        return any(asdict(self).values())

    def __str__(self) -> str:
        done = [f"{count} {what.replace('_', ' ')}" for what, count in asdict(self).items() if count]
        return ", ".join(done) or "nothing"


def _ago(days: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")  # the store's timestamps: sortable as text


def _scrubbed(snapshot: str | None) -> str | None:
    """A booking_history before/after snapshot without the guest's name, number and note."""
    if not snapshot:
        return snapshot
    booking = json.loads(snapshot)
    return json.dumps(booking | {"name": FORGOTTEN_NAME, "caller": None, "notes": None})


def _anonymise_bookings(db: Any, ids: list[int], *, unlink_calls: bool = False) -> int:
    for booking_id in ids:
        # A forgotten booking leaves its call too, so it is not counted against withheld callers' daily limit.
        call_sid = ", call_sid = null" if unlink_calls else ""
        db.execute(f"update bookings set name = ?, caller = null, notes = null{call_sid} where id = ?",
                   [FORGOTTEN_NAME, booking_id])
        for row in db.execute("select id, before, after from booking_history where booking_id = ?", [booking_id]):
            db.execute("update booking_history set before = ?, after = ? where id = ?",
                       [_scrubbed(row[1]), _scrubbed(row[2]), row[0]])
    return len(ids)


def _mask_fault_numbers(db: Any, where: str, params: list[Any]) -> None:
    """Faults stay (they are about the providers), but an SMS fallback's note names the caller's number."""
    faults = db.execute(f"select id, reason, fallback from call_faults where {where}", params).fetchall()
    for fault_id, *notes in faults:
        masked = [mask_numbers(note) if note else note for note in notes]
        if masked != notes:
            db.execute("update call_faults set reason = ?, fallback = ? where id = ?", [*masked, fault_id])


def _delete_files(paths: list[Path]) -> int:
    deleted = 0
    for path in paths:
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted


def remove_expired(store: BookingStore, days: int, recordings_dir: Path) -> Removed:
    """Delete what is older than ``days`` (run it on the store's writer thread: :meth:`BookingStore.run`)."""
    removed, cutoff = Removed(), _iso(_ago(days))
    with store.write_transaction(RETENTION_KEY) as db:
        removed.transcript_turns = db.execute("delete from call_turns where at < ?", [cutoff]).rowcount
        removed.questions = db.execute("delete from call_questions where at < ?", [cutoff]).rowcount
        removed.checkpoints = db.execute("delete from call_resume where saved_at < ?", [cutoff]).rowcount
        _mask_fault_numbers(db, "at < ?", [cutoff])
        voicemails = [Path(r[0]) for r in db.execute(
            "select audio_path from messages where at < ? and audio_path is not null", [cutoff]).fetchall()]
        removed.messages = db.execute("delete from messages where at < ?", [cutoff]).rowcount
        removed.call_numbers = db.execute(
            "update calls set caller = null where started_at < ? and caller is not null", [cutoff]).rowcount
        past = [r[0] for r in db.execute(
            "select id from bookings where date < ? and (name != ? or caller is not null or notes is not null)",
            [_ago(days).date().isoformat(), FORGOTTEN_NAME]).fetchall()]
        removed.bookings_anonymised = _anonymise_bookings(db, past)
        db.execute("delete from stream_tokens where expires_at < ?", [_iso(_ago(0))])
    # Only the server's own files: call recordings and voicemails are named by the call's SID.
    old_files = [f for f in recordings_dir.glob("CA*.wav") if f.stat().st_mtime < _ago(days).timestamp()]
    removed.recordings = _delete_files(old_files + voicemails)
    return removed


async def sweep(store: BookingStore, days: int, recordings_dir: Path) -> Removed | None:
    """One run of the server's retention job; a failure (a database locked too long) waits for the next."""
    try:
        removed = await store.run(remove_expired, store, days, recordings_dir)
    except (StoreUnavailable, OSError, *store.backend.errors):
        logger.exception("Retention sweep failed; the next one tries again")
        return None
    if removed:
        logger.info(f"Retention ({days} days): removed {removed}")
    return removed


async def keep_sweeping(store: BookingStore, days: int, recordings_dir: Path) -> None:
    """The server's retention job after its first sweep (at start-up, before any call): one every hour."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_SECS)
        await sweep(store, days, recordings_dir)


def forget_caller(store: BookingStore, number: str, recordings_dir: Path) -> Removed:
    """Remove everything personal the line holds about ``number`` (E.164); its bookings stay, as counts."""
    removed = Removed()
    with store.write_transaction(RETENTION_KEY) as db:
        call_sids = [r[0] for r in db.execute("select call_sid from calls where caller = ?", [number]).fetchall()]
        for sid in call_sids:
            removed.transcript_turns += db.execute("delete from call_turns where call_sid = ?", [sid]).rowcount
            removed.questions += db.execute("delete from call_questions where call_sid = ?", [sid]).rowcount
            removed.checkpoints += db.execute("delete from call_resume where call_sid = ?", [sid]).rowcount
            _mask_fault_numbers(db, "call_sid = ?", [sid])
        removed.call_numbers = db.execute("update calls set caller = null where caller = ?", [number]).rowcount
        bookings = [r[0] for r in db.execute("select id from bookings where caller = ?", [number]).fetchall()]
        removed.bookings_anonymised = _anonymise_bookings(db, bookings, unlink_calls=True)
        voicemails = [Path(r[0]) for r in db.execute(
            "select audio_path from messages where (caller = ? or callback_number = ?) and audio_path is not null",
            [number, number]).fetchall()]
        removed.messages = db.execute(
            "delete from messages where caller = ? or callback_number = ?", [number, number]).rowcount
        db.execute("delete from stream_tokens where caller = ?", [number])
    recordings = [f for sid in call_sids for f in recordings_dir.glob(f"{sid}*.wav")]
    removed.recordings = _delete_files(recordings + voicemails)
    return removed
