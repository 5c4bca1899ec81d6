"""The booking store's database on one host: an SQLite file (BOT_DB_PATH), in WAL mode.

A write transaction is ``BEGIN IMMEDIATE``: it holds the file's one write lock
from its start, so whatever it reads (a day's seats) stays as read until it
commits, in every process. A writer waits up to the busy timeout for another
process's lock, then gives up (:class:`DatabaseUnavailable`, nothing written).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from bot.booking.backup import backup_before_upgrade
from bot.booking.database import DatabaseUnavailable
from bot.booking.migrations import SQLiteSchema, migrate, sqlite_version


class SQLiteBackend:
    dialect = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, busy_timeout_ms: int):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        # A private in-memory database exists only in its one connection, which every thread then shares.
        self.shared = str(path) == ":memory:"
        if not self.shared:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return str(self.path)

    def connect(self) -> sqlite_utils.Database:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        self._use_wal(conn)
        return sqlite_utils.Database(conn)

    def usable(self, db: sqlite_utils.Database) -> bool:
        return True  # a file does not hang up

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Put the file in WAL mode, once. While another process opens or checkpoints the file,
        SQLite can answer "database is locked" at once, without its busy handler (a worker
        starting beside one carrying calls): so try again, up to the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextmanager
    def transaction(self, db: sqlite_utils.Database, keys: Sequence[str]) -> Iterator[None]:
        """An immediate write transaction: the file's write lock, which covers every key, from the start."""
        conn = db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise DatabaseUnavailable("locked", e) from e
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def migrate(self, db: sqlite_utils.Database) -> None:
        """Every schema change is a migration in ``bot/booking/migrations.py`` (applied in one
        transaction; an existing file is copied first)."""
        conn = db.conn

        def keep_a_copy(current: int, latest: int) -> None:
            if not self.shared:
                backup_before_upgrade(conn, self.path, current, latest)

        migrate(SQLiteSchema(conn), before_upgrade=keep_a_copy)

    def schema_version(self, db: sqlite_utils.Database) -> int:
        return sqlite_version(db.conn)

    def group_concat(self, expression: str) -> str:
        return f"group_concat({expression})"

    def close(self) -> None:
        pass  # each thread's connection closes with the thread
