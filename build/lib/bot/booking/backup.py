"""Backups and restores of the booking database, while calls go on.

``python -m bot backup PATH`` copies the database with SQLite's online backup
API in one step: the copy is one consistent moment of the database (one read
transaction), and in WAL mode the calls' writes carry on meanwhile. It is
written beside PATH under a temporary name, checked (``PRAGMA integrity_check``),
switched to a single self-contained file (no ``-wal``), flushed to disk and
only then renamed to PATH, so a PATH that exists is always a whole backup.

``python -m bot restore PATH`` checks the backup the same way, refuses while
a server is using the database (each ``serve`` holds a shared lock on
``<database>.serving``), keeps the database it replaces as
``<database>.before-restore-<time>.bak``, and copies the backup in through the
same API, so SQLite's own locking covers the swap.

Before a migration changes an existing database, the store keeps a copy of it
as ``<database>.before-v<N>-<time>.bak`` (:func:`backup_before_upgrade`): the
way back from a release that went wrong.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from bot.booking.migrations import LATEST_VERSION, sqlite_version

BACKUP_GLOB = "bookings-*.db"
BUSY_TIMEOUT_SECS = 10.0


class BackupError(Exception):
    """A backup or restore that did not happen; the message says why, in one line."""


@dataclass(frozen=True)
class DatabaseSummary:
    path: Path
    schema_version: int
    bookings: int
    calls: int
    messages: int
    size_bytes: int

    def describe(self) -> str:
        return (
            f"schema version {self.schema_version}, {self.bookings} bookings, {self.calls} calls, "
            f"{self.messages} messages, {self.size_bytes / 1e6:.1f} MB"
        )


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECS, isolation_level=None)
    return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECS, isolation_level=None)


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return conn.execute(f'select count(*) from "{table}"').fetchone()[0]
    except sqlite3.OperationalError:  # a database from before that table
        return 0


def _check(conn: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{path} is damaged: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    if not conn.execute("select 1 from sqlite_master where type = 'table' and name = 'bookings'").fetchone():
        raise BackupError(f"{path} has no bookings table: not a booking database")


def summarize(path: Path) -> DatabaseSummary:
    """What a database (or backup) holds; raises :class:`BackupError` for one that is missing or not SQLite."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        with closing(_connect(path, read_only=True)) as conn:
            _check(conn, path)
            return DatabaseSummary(
                path, sqlite_version(conn), _count(conn, "bookings"), _count(conn, "calls"),
                _count(conn, "messages"), path.stat().st_size,
            )
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} is not a readable SQLite database: {e}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_database(source: sqlite3.Connection, dest: Path) -> None:
    """A consistent copy of ``source`` at ``dest``, which appears whole or not at all."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}-{threading.get_ident()}")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(str(partial), isolation_level=None)) as copy:
            source.backup(copy)  # pages=-1: every page in one step, so one read transaction, one moment
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            _check(copy, dest)
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, dest)
        _fsync_dir(dest.parent)
    finally:
        partial.unlink(missing_ok=True)


def backup(db_path: Path, dest: Path, *, force: bool = False, keep: int | None = None) -> DatabaseSummary:
    """Back ``db_path`` up to ``dest`` (a file, or a folder to put ``bookings-<UTC time>.db`` in) while it is in use.

    ``keep`` (with a folder) then deletes all but the newest ``keep`` backups there.
    """
    db_path, dest = Path(db_path), Path(dest)
    if not db_path.is_file():
        raise BackupError(f"{db_path}: no such database (BOT_DB_PATH)")
    folder = dest.is_dir() or str(dest).endswith(os.sep)
    if folder:
        dest = dest / f"bookings-{_timestamp()}.db"
    elif keep is not None:
        raise BackupError("--keep needs a folder to back up into")
    if dest.exists() and not force:
        raise BackupError(f"{dest} exists (choose another name, a folder, or --force to replace it)")
    if dest.resolve() == db_path.resolve():
        raise BackupError("the backup cannot be the database itself")
    try:
        with closing(_connect(db_path)) as source:
            copy_database(source, dest)
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{db_path} could not be backed up: {e}") from None
    if folder and keep:  # the names sort by time: the newest last
        for old in sorted(dest.parent.glob(BACKUP_GLOB))[:-keep]:
            old.unlink()
    return summarize(dest)


@contextmanager
def serving(db_path: Path | None) -> Iterator[None]:
    """Held by a running server for as long as it uses the database file (None: not a file, PostgreSQL):
    restore waits for none."""
    if db_path is None or str(db_path) == ":memory:":
        yield
        return
    lock_path = Path(f"{db_path}.serving")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def in_use(db_path: Path) -> bool:
    """Whether a server holds ``db_path`` (see :func:`serving`)."""
    lock_path = Path(f"{db_path}.serving")
    if not lock_path.exists():
        return False
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


@dataclass(frozen=True)
class RestoreResult:
    restored: DatabaseSummary
    replaced: Path | None  # the database as it was before, kept beside it


def restore(backup_path: Path, db_path: Path, *, force: bool = False) -> RestoreResult:
    """Replace the database at ``db_path`` with the backup at ``backup_path``, keeping the old one beside it."""
    backup_path, db_path = Path(backup_path), Path(db_path)
    summary = summarize(backup_path)
    if backup_path.resolve() == db_path.resolve():
        raise BackupError("the backup is the database itself")
    if not force and in_use(db_path):
        raise BackupError(
            f"{db_path} is in use by a running server: stop it first "
            "(systemctl stop 'phone-booking-bot@*'), or --force to restore under it"
        )
    db_path.parent.mkdir(parents=True, exist_ok=True)
    replaced = None
    try:
        with closing(_connect(db_path)) as live:
            if live.execute("select count(*) from sqlite_master").fetchone()[0]:
                replaced = db_path.with_name(f"{db_path.name}.before-restore-{_timestamp()}.bak")
                copy_database(live, replaced)
            with closing(_connect(backup_path, read_only=True)) as source:
                source.backup(live)
            _check(live, db_path)
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{db_path} could not be restored: {e}") from None
    return RestoreResult(summary, replaced)


def backup_before_upgrade(conn: sqlite3.Connection, db_path: Path, current: int, latest: int) -> Path:
    """Keep a copy of the database as it is before migrations take it from ``current`` to ``latest``."""
    dest = db_path.with_name(f"{db_path.name}.before-v{latest}-{_timestamp()}.bak")
    started = time.monotonic()
    copy_database(conn, dest)
    logger.info(
        f"Database schema {current} -> {latest}: the database as it was is kept in {dest} "
        f"({time.monotonic() - started:.1f} s)"
    )
    return dest


def newer_than_release(summary: DatabaseSummary) -> bool:
    return summary.schema_version > LATEST_VERSION
