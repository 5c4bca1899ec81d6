"""The seam between the booking store and its database: SQLite (one host) or PostgreSQL (several).

The store (bot/booking/store.py) writes its SQL once, with ``?`` placeholders,
against the part of sqlite-utils' API it uses (``db.execute``, ``db.query``,
``db["table"].insert/upsert/update/get/rows_where``). A :class:`Backend` gives
it connections that speak that API, and owns what differs between the two:

- **write transactions**: :meth:`Backend.transaction` holds everything the
  transaction names in ``keys`` (a day's seats, a caller's bookings, one call's
  checkpoint) until it commits. SQLite holds the whole file (``BEGIN
  IMMEDIATE``); PostgreSQL takes one transaction-scoped advisory lock per key,
  so hosts booking different days never wait for each other;
- **the schema**: the migrations' target (bot/booking/migrations.py) and its version;
- the odd function the two dialects spell differently (:meth:`Backend.group_concat`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class DatabaseUnavailable(Exception):
    """No connection could be opened, or a write could not start or finish (locked too long, the server
    gone): nothing was written."""

    def __init__(self, kind: str, error: Exception):
        self.kind = kind  # the bot_store_errors_total label: "locked", "unreachable"
        super().__init__(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)


class Backend(Protocol):
    dialect: str  # "sqlite" or "postgresql": the key of a migration's own steps
    errors: tuple[type[Exception], ...]  # what its driver raises
    shared: bool  # one connection for every thread (SQLite's private in-memory database)

    def describe(self) -> str: ...  # where the bookings are, for the log (no password)

    def connect(self) -> Any: ...  # a connection with sqlite-utils' API (the store keeps one per thread)

    def usable(self, db: Any) -> bool: ...  # False once the server dropped the connection: open another

    def transaction(self, db: Any, keys: Sequence[str]) -> AbstractContextManager[None]: ...

    def migrate(self, db: Any) -> None: ...  # bring the schema to this release's version

    def schema_version(self, db: Any) -> int: ...

    def group_concat(self, expression: str) -> str: ...  # the SQL joining a group's values with commas

    def close(self) -> None: ...


def open_backend(location: str | Path, *, busy_timeout_ms: int) -> Backend:
    """The backend for ``location``: a ``postgresql://`` URL (BOT_DATABASE_URL), else an SQLite file path."""
    if str(location).startswith(POSTGRES_SCHEMES):
        # psycopg is imported only by those who use it.
        from bot.booking.postgres_db import PostgresBackend

        return PostgresBackend(str(location), busy_timeout_ms=busy_timeout_ms)
    from bot.booking.sqlite_db import SQLiteBackend

    return SQLiteBackend(location, busy_timeout_ms=busy_timeout_ms)

