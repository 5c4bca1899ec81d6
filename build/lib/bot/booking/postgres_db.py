"""The booking store's database shared by several hosts: PostgreSQL (BOT_DATABASE_URL), through psycopg 3.

No double booking between hosts: a write transaction first takes one
transaction-scoped advisory lock per key it names (the day whose seats it
counts, the caller whose bookings it counts, the call whose checkpoint it
claims), in a fixed order so two transactions never wait on each other in a
circle. It then reads and writes at READ COMMITTED: every statement sees what
the previous holder of the key committed, and no one else can change the seats
of that day until this transaction ends. Bookings on other days, and the
calls' own records, never wait. (SERIALIZABLE would work too, but needs every
write retried on a serialization failure; a lock wait is simpler to reason
about and bounded by ``lock_timeout``, the store's busy timeout.)

The tables are those of the SQLite schema, column for column, with the same
kinds of values (times as sortable ISO text), so the store's SQL is the same
for both; :class:`PostgresConnection` is the part of sqlite-utils' API that
SQL is written against, over one psycopg connection.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlite_utils
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from bot.booking.database import DatabaseUnavailable
from bot.booking.migrations import AddColumn, CreateIndex, Step, migrate

# Connection options the URL may override. Some reads run on the event loop that carries every call's
# audio, so a database host that vanished must be noticed in seconds, not at TCP's default of minutes.
CONNECTION_DEFAULTS = {
    "connect_timeout": "10", "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3",
    "tcp_user_timeout": "10000", "application_name": "phone-booking-bot",
}
# No statement of the store's takes long; one that does is a server in trouble, and is given up.
STATEMENT_TIMEOUT_MS = 15000
# Serialises hosts migrating the same database at start-up.
_MIGRATION_LOCK = "schema migration"
# The migrations' dialect-neutral column types, as PostgreSQL spells them (its REAL is only 4 bytes).
_TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision"}


def lock_id(key: str) -> int:
    """A key's advisory lock number: 64 bits of its hash (a collision only makes two keys wait for each other)."""
    return int.from_bytes(hashlib.blake2b(f"phone-booking-bot:{key}".encode(), digest_size=8).digest(), "big", signed=True)


def _placeholders(sql: str) -> str:
    """The store's ``?`` placeholders as psycopg's ``%s`` (its SQL has no ``?`` or ``%`` of its own otherwise)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def safe_url(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


@dataclass(frozen=True)
class Inserted:
    last_pk: Any


class PostgresTable:
    """One table, as sqlite-utils' ``db["name"]``: the calls the store and its readers make."""

    def __init__(self, db: PostgresConnection, name: str):
        self.db, self.name = db, name

    @property
    def pk(self) -> str:
        return self.db.primary_key(self.name)

    def insert(self, row: dict[str, Any], **_sqlite_utils_options: Any) -> Inserted:
        columns = ", ".join(map(_quoted, row))
        values = ", ".join(["%s"] * len(row))
        sql = f"insert into {_quoted(self.name)} ({columns}) values ({values}) returning {_quoted(self.pk)}"
        return Inserted(self.db.conn.execute(sql, list(row.values())).fetchone()[0])

    def upsert(self, row: dict[str, Any], pk: str) -> None:
        columns = ", ".join(map(_quoted, row))
        values = ", ".join(["%s"] * len(row))
        updates = ", ".join(f"{_quoted(c)} = excluded.{_quoted(c)}" for c in row if c != pk)
        self.db.conn.execute(
            f"insert into {_quoted(self.name)} ({columns}) values ({values})"
            f" on conflict ({_quoted(pk)}) do update set {updates}",
            list(row.values()),
        )

    def update(self, pk_value: Any, change: dict[str, Any]) -> None:
        sets = ", ".join(f"{_quoted(c)} = %s" for c in change)
        self.db.conn.execute(
            f"update {_quoted(self.name)} set {sets} where {_quoted(self.pk)} = %s", [*change.values(), pk_value]
        )

    def get(self, pk_value: Any) -> dict[str, Any]:
        found = list(self.rows_where(f"{_quoted(self.pk)} = ?", [pk_value]))
        if not found:
            raise sqlite_utils.db.NotFoundError  # the store catches sqlite-utils' own
        return found[0]

    def rows_where(self, where: str | None = None, params: Sequence[Any] = (), order_by: str | None = None):
        sql = f"select * from {_quoted(self.name)}"
        if where:
            sql += f" where {where}"
        if order_by:
            sql += f" order by {order_by}"
        return self.db.query(sql, params)

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        return self.rows_where()

    @property
    def count(self) -> int:
        return self.db.execute(f"select count(*) from {_quoted(self.name)}").fetchone()[0]


class PostgresConnection:
    """One psycopg connection (autocommit outside the store's transactions) with sqlite-utils' API."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self._primary_keys: dict[str, str] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self.conn.execute(_placeholders(sql), list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(_placeholders(sql), list(params))
            return iter(cursor.fetchall())

    def __getitem__(self, table: str) -> PostgresTable:
        return PostgresTable(self, table)

    def primary_key(self, table: str) -> str:
        if table not in self._primary_keys:
            row = self.conn.execute(
                "select a.attname from pg_index i join pg_attribute a"
                " on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
                " where i.indrelid = %s::regclass and i.indisprimary",
                [_quoted(table)],
            ).fetchone()
            self._primary_keys[table] = row[0]
        return self._primary_keys[table]


class PostgresSchema:
    """A PostgreSQL database as a migration target; its version is the one row of ``schema_version``."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def version(self) -> int:
        if self.conn.execute("select to_regclass('schema_version')").fetchone()[0] is None:
            return 0
        row = self.conn.execute("select version from schema_version").fetchone()
        return row[0] if row else 0

    def has_tables(self) -> bool:
        return self.conn.execute("select count(*) from pg_tables where schemaname = current_schema()").fetchone()[0] > 0

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Every pending migration in one transaction (PostgreSQL's DDL is transactional), one host at a time."""
        with self.conn.transaction():
            self.conn.execute("select pg_advisory_xact_lock(%s)", [lock_id(_MIGRATION_LOCK)])
            yield

    def apply(self, step: Step) -> None:
        if isinstance(step, AddColumn):
            self.conn.execute(
                f"ALTER TABLE {_quoted(step.table)} ADD COLUMN IF NOT EXISTS {_quoted(step.column)} {_TYPES[step.type]}"
            )
        elif isinstance(step, CreateIndex):
            unique = "UNIQUE " if step.unique else ""
            columns = ", ".join(map(_quoted, step.columns))
            self.conn.execute(
                f"CREATE {unique}INDEX IF NOT EXISTS {_quoted(step.name)} ON {_quoted(step.table)} ({columns})"
            )
        else:
            self.conn.execute(step)

    def set_version(self, version: int) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        self.conn.execute("DELETE FROM schema_version")
        self.conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [int(version)])


class PostgresBackend:
    dialect = "postgresql"
    errors = (psycopg.Error,)
    shared = False

    def __init__(self, url: str, *, busy_timeout_ms: int):
        self.url = url
        self.busy_timeout_ms = busy_timeout_ms
        self._opened: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()
        self._opened_lock = threading.Lock()

    def describe(self) -> str:
        return safe_url(self.url)

    def connect(self) -> PostgresConnection:
        try:
            given = conninfo_to_dict(self.url)
            defaults = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
            conn = psycopg.connect(self.url, autocommit=True, **defaults)
            # A lock held by another host is waited for as long as SQLite's busy timeout, then the write gives up.
            conn.execute(f"SET lock_timeout = {int(self.busy_timeout_ms)}")
            conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        except psycopg.Error as e:  # unreachable, refused, wrong password, no such database, unreadable URL
            raise DatabaseUnavailable("unreachable", e) from e
        with self._opened_lock:
            self._opened.add(conn)
        return PostgresConnection(conn)

    def usable(self, db: PostgresConnection) -> bool:
        return not db.conn.closed and not db.conn.broken

    @contextmanager
    def transaction(self, db: PostgresConnection, keys: Sequence[str]) -> Iterator[None]:
        try:
            with db.conn.transaction():
                for lock in sorted({lock_id(key) for key in keys}):  # one order for everyone: no deadlock
                    db.conn.execute("select pg_advisory_xact_lock(%s)", [lock])
                yield
        except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected) as e:
            raise DatabaseUnavailable("locked", e) from e
        except psycopg.OperationalError as e:
            raise DatabaseUnavailable("unreachable", e) from e

    def migrate(self, db: PostgresConnection) -> None:
        migrate(PostgresSchema(db.conn))  # no file to copy first: back up with pg_dump (docs/deployment.md)

    def schema_version(self, db: PostgresConnection) -> int:
        return PostgresSchema(db.conn).version()

    def group_concat(self, expression: str) -> str:
        return f"string_agg({expression}, ',')"

    def close(self) -> None:
        with self._opened_lock:
            for conn in list(self._opened):
                conn.close()
