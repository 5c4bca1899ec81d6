"""Versioned schema migrations for the booking store, applied at start-up.

The schema has a version number: SQLite keeps it in ``PRAGMA user_version``
(0 in a database from before versions). :func:`migrate` applies, in order,
every migration newer than the database's version, all in one transaction:
either the database reaches this release's version, or a failure rolls it back
and it is left exactly as it was (and the error names the migration).

Rules for adding one (append to :data:`MIGRATIONS`, never edit a released one):

- **only add**: new tables, new nullable columns, new indexes. An older
  release then still runs on the newer schema, which is what makes rolling
  back a release safe (docs/deployment.md, "Rolling back"); the tests refuse
  any SQL step that does something else;
- each step is idempotent where it can be (``IF NOT EXISTS``, :class:`AddColumn`),
  so a database someone patched by hand still upgrades.

Migration 1 is the schema the previous release created without a version
(``bot/booking/store.py`` before migrations), statement for statement, so an
existing database is recognised and adopted: it is stamped version 1, and
anything a still older release lacked (``call_questions``, ``messages.audio_path``)
is added on the way.

PostgreSQL (bot/booking/postgres_db.py) follows the same history: the same
versions with the same meaning, its own statements where the dialects differ
(``Migration.steps`` is keyed by dialect), the dialect-neutral steps
(:class:`AddColumn`, :class:`CreateIndex`) rendered by its own
:class:`SchemaTarget`, and its version kept in a table (``schema_version``)
instead of the pragma.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from loguru import logger


@dataclass(frozen=True)
class AddColumn:
    """A new nullable column; nothing happens if the table already has it."""

    table: str
    column: str
    type: str  # TEXT, INTEGER, REAL: names both dialects know


@dataclass(frozen=True)
class CreateIndex:
    table: str
    columns: tuple[str, ...]
    unique: bool = False

    @property
    def name(self) -> str:  # sqlite-utils' naming, which the released schema uses
        return f"idx_{self.table}_{'_'.join(self.columns)}"


Step = str | AddColumn | CreateIndex


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    # Dialect -> steps in order; "common" steps run after the dialect's own, in every dialect.
    steps: Mapping[str, Sequence[Step]] = field(default_factory=dict)

    def steps_for(self, dialect: str) -> list[Step]:
        return [*self.steps.get(dialect, ()), *self.steps.get("common", ())]


class MigrationFailed(Exception):
    """A migration failed and the database was rolled back to the version it had."""

    def __init__(self, migration: Migration, version: int, error: Exception):
        self.migration, self.version, self.error = migration, version, error
        super().__init__(
            f"schema migration {migration.version} ({migration.name}) failed: {error}; "
            f"the database was left as it was (schema version {version})"
        )


class SchemaTarget(Protocol):
    """A database the migrations can be applied to: :class:`SQLiteSchema`, or PostgreSQL's ``PostgresSchema``."""

    dialect: str

    def version(self) -> int: ...

    def has_tables(self) -> bool: ...

    def exclusive(self) -> AbstractContextManager[None]: ...  # one migrator at a time; rolls back on error

    def apply(self, step: Step) -> None: ...

    def set_version(self, version: int) -> None: ...



# ---------------------------------------------------------------- the history

# Migration 1: exactly what bot/booking/store.py created before versions (sqlite-utils' DDL, whitespace included).
_V1_TABLES = (
    ('CREATE TABLE IF NOT EXISTS "bookings" (\n   "id" INTEGER PRIMARY KEY,\n   "code" TEXT NOT NULL,\n'
    '   "status" TEXT NOT NULL,\n   "name" TEXT NOT NULL,\n   "party_size" INTEGER NOT NULL,\n'
    '   "date" TEXT NOT NULL,\n   "time" TEXT NOT NULL,\n   "caller" TEXT,\n   "call_sid" TEXT,\n'
    '   "notes" TEXT,\n   "created_at" TEXT,\n   "updated_at" TEXT\n)'),
    ('CREATE TABLE IF NOT EXISTS "booking_history" (\n   "id" INTEGER PRIMARY KEY,\n'
    '   "booking_id" INTEGER REFERENCES "bookings"("id"),\n   "action" TEXT,\n   "call_sid" TEXT,\n'
    '   "at" TEXT,\n   "before" TEXT,\n   "after" TEXT\n)'),
    ('CREATE TABLE IF NOT EXISTS "calls" (\n   "call_sid" TEXT PRIMARY KEY,\n   "caller" TEXT,\n'
    '   "started_at" TEXT,\n   "ended_at" TEXT,\n   "outcome" TEXT,\n   "booking_id" INTEGER\n)'),
    ('CREATE TABLE IF NOT EXISTS "call_turns" (\n   "id" INTEGER PRIMARY KEY,\n   "call_sid" TEXT,\n'
    '   "turn" INTEGER,\n   "caller_heard" TEXT,\n   "bot_said" TEXT,\n   "at" TEXT\n)'),
    ('CREATE TABLE IF NOT EXISTS "messages" (\n   "id" INTEGER PRIMARY KEY,\n   "call_sid" TEXT,\n'
    '   "caller" TEXT,\n   "name" TEXT,\n   "callback_number" TEXT,\n   "reason" TEXT,\n   "at" TEXT,\n'
    '   "audio_path" TEXT\n)'),
    ('CREATE TABLE IF NOT EXISTS "turn_latency" (\n   "id" INTEGER PRIMARY KEY,\n   "call_sid" TEXT,\n'
    '   "turn" INTEGER,\n   "at" TEXT,\n   "caller_stopped_at" REAL,\n   "voice_to_voice_ms" REAL,\n'
    '   "stt_final_ms" REAL,\n   "turn_end_ms" REAL,\n   "llm_first_ms" REAL,\n   "tts_first_audio_ms" REAL,\n'
    '   "bot_started_ms" REAL,\n   "first_audio_sent_ms" REAL,\n   "vad_ms" REAL,\n   "stt_ms" REAL,\n'
    '   "turn_ms" REAL,\n   "llm_ms" REAL,\n   "tools_ms" REAL,\n   "tts_ms" REAL,\n   "output_ms" REAL,\n'
    '   "pipeline_ms" REAL,\n   "breakdown" TEXT\n)'),
    ('CREATE TABLE IF NOT EXISTS "call_faults" (\n   "id" INTEGER PRIMARY KEY,\n   "call_sid" TEXT,\n'
    '   "job" TEXT,\n   "provider" TEXT,\n   "reason" TEXT,\n   "fallback" TEXT,\n   "at" TEXT\n)'),
    ('CREATE TABLE IF NOT EXISTS "call_questions" (\n   "id" INTEGER PRIMARY KEY,\n   "call_sid" TEXT,\n'
    '   "question" TEXT,\n   "fact" TEXT,\n   "at" TEXT\n)'),
    ('CREATE TABLE IF NOT EXISTS "call_resume" (\n   "call_sid" TEXT PRIMARY KEY,\n   "node" TEXT,\n'
    '   "state" TEXT,\n   "messages" TEXT,\n   "saved_at" TEXT,\n   "interrupted_at" TEXT\n)'),
)

# The same tables in PostgreSQL (bot/booking/postgres_db.py): the same columns and kinds of values, times as ISO text.
_V1_TABLES_POSTGRESQL = (
    ('CREATE TABLE IF NOT EXISTS "bookings" ("id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
     ' "code" text NOT NULL, "status" text NOT NULL, "name" text NOT NULL, "party_size" integer NOT NULL,'
     ' "date" text NOT NULL, "time" text NOT NULL, "caller" text, "call_sid" text, "notes" text,'
     ' "created_at" text, "updated_at" text)'),
    ('CREATE TABLE IF NOT EXISTS "booking_history" ("id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
     ' "booking_id" bigint REFERENCES "bookings"("id"), "action" text, "call_sid" text, "at" text,'
     ' "before" text, "after" text)'),
    ('CREATE TABLE IF NOT EXISTS "calls" ("call_sid" text PRIMARY KEY, "caller" text, "started_at" text,'
     ' "ended_at" text, "outcome" text, "booking_id" bigint)'),
    ('CREATE TABLE IF NOT EXISTS "call_turns" ("id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
     ' "call_sid" text, "turn" integer, "caller_heard" text, "bot_said" text, "at" text)'),
    ('CREATE TABLE IF NOT EXISTS "messages" ("id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
     ' "call_sid" text, "caller" text, "name" text, "callback_number" text, "reason" text, "at" text,'
     ' "audio_path" text)'),
    ('CREATE TABLE IF NOT EXISTS "turn_latency" ("id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
     ' "call_sid" text, "turn" integer, "at" text, "caller_stopped_at" double precision,'
     ' "voice_to_voice_ms" double precision, "stt_final_ms" double precision, "turn_end_ms" double precision,'
     ' "llm_first_ms" double precision, "tts_first_audio_ms" double precision, "bot_started_ms" double precision,'
     ' "first_audio_sent_ms" double precision, "vad_ms" double precision, "stt_ms" double precision,'
     ' "turn_ms" double precision, "llm_ms" double precision, "tools_ms" double precision,'
     ' "tts_ms" double precision, "output_ms" double precision, "pipeline_ms" double precision,'
     ' "breakdown" text)'),
    ('CREATE TABLE IF NOT EXISTS "call_faults" ("id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
     ' "call_sid" text, "job" text, "provider" text, "reason" text, "fallback" text, "at" text)'),
    ('CREATE TABLE IF NOT EXISTS "call_questions" ("id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,'
     ' "call_sid" text, "question" text, "fact" text, "at" text)'),
    ('CREATE TABLE IF NOT EXISTS "call_resume" ("call_sid" text PRIMARY KEY, "node" text, "state" text,'
     ' "messages" text, "saved_at" text, "interrupted_at" text)'),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the schema of the release before versions",
        {
            "sqlite": _V1_TABLES,
            "postgresql": _V1_TABLES_POSTGRESQL,
            "common": (
                CreateIndex("bookings", ("code",), unique=True),
                CreateIndex("bookings", ("date", "status")),
                CreateIndex("bookings", ("caller", "status")),
                CreateIndex("call_turns", ("call_sid", "turn")),
                CreateIndex("turn_latency", ("call_sid", "turn")),
                CreateIndex("call_questions", ("call_sid",)),
                AddColumn("messages", "audio_path", "TEXT"),  # databases from before voicemail recordings
            ),
        },
    ),
    Migration(
        2,
        "who on staff changed a booking or called back, what each caller came for (the dashboard)",
        {
            "common": (
                AddColumn("booking_history", "staff", "TEXT"),
                AddColumn("calls", "wanted", "TEXT"),
                AddColumn("messages", "done_at", "TEXT"),
                AddColumn("messages", "done_by", "TEXT"),
            ),
        },
    ),
    Migration(
        3,
        "indexes for what every call and call report reads",
        {
            "common": (
                CreateIndex("booking_history", ("booking_id",)),
                CreateIndex("booking_history", ("call_sid",)),
                CreateIndex("messages", ("call_sid",)),
                CreateIndex("call_faults", ("call_sid",)),
                CreateIndex("call_resume", ("interrupted_at",)),
            ),
        },
    ),
    Migration(
        4,
        "one-time media stream tokens: the calls the signed webhook let in (bot/telephony/stream_auth.py)",
        {
            "sqlite": (
                ('CREATE TABLE IF NOT EXISTS "stream_tokens" (\n   "token" TEXT PRIMARY KEY,\n   "call_sid" TEXT,\n'
                '   "caller" TEXT,\n   "stir_verstat" TEXT,\n   "expires_at" TEXT\n)'),
            ),
            "postgresql": (
                ('CREATE TABLE IF NOT EXISTS "stream_tokens" ("token" text PRIMARY KEY, "call_sid" text,'
                 ' "caller" text, "stir_verstat" text, "expires_at" text)'),
            ),
        },
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version


@dataclass(frozen=True)
class MigrationReport:
    before: int
    after: int
    applied: tuple[Migration, ...] = ()


def migrate(
    target: SchemaTarget,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    before_upgrade: Callable[[int, int], None] | None = None,
) -> MigrationReport:
    """Bring ``target`` to the newest version in ``migrations``.

    ``before_upgrade(current, latest)`` runs first when an existing database is
    about to change (the store takes a backup there). A database newer than
    ``migrations`` (an older release after a rollback) is left alone, with a
    warning: migrations only add, so this release can still run on it.
    """
    latest = migrations[-1].version
    current = target.version()
    if current > latest:
        logger.warning(
            f"The database's schema (version {current}) is newer than this release's ({latest}): "
            "running on it (migrations only add), but upgrade again soon (docs/deployment.md, rolling back)"
        )
        return MigrationReport(current, current)
    if current == latest:
        return MigrationReport(current, current)
    if before_upgrade is not None and target.has_tables():
        before_upgrade(current, latest)
    with target.exclusive():
        current = target.version()  # another process may have upgraded it while this one waited
        pending = tuple(m for m in migrations if m.version > current)
        for migration in pending:
            try:
                for step in migration.steps_for(target.dialect):
                    target.apply(step)
            except Exception as e:
                raise MigrationFailed(migration, current, e) from e
        if pending:
            target.set_version(latest)
    for migration in pending:
        logger.info(f"Database schema: applied migration {migration.version} ({migration.name})")
    return MigrationReport(current, max(current, latest), pending)


# ---------------------------------------------------------------- SQLite


class SQLiteSchema:
    """An SQLite connection (autocommit mode, as the store opens it) as a migration target."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def has_tables(self) -> bool:
        return self.conn.execute("select count(*) from sqlite_master where type = 'table'").fetchone()[0] > 0

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One write transaction for every pending migration: SQLite's DDL is transactional."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.conn.execute(f'PRAGMA table_info("{table}")')}

    def apply(self, step: Step) -> None:
        if isinstance(step, AddColumn):
            if not self._columns(step.table):
                raise sqlite3.OperationalError(f"no such table: {step.table}")
            if step.column not in self._columns(step.table):
                self.conn.execute(f'ALTER TABLE "{step.table}" ADD COLUMN "{step.column}" {step.type}')
        elif isinstance(step, CreateIndex):
            columns = ", ".join(f'"{c}"' for c in step.columns)
            unique = "UNIQUE " if step.unique else ""
            self.conn.execute(f'CREATE {unique}INDEX IF NOT EXISTS "{step.name}"\n    ON "{step.table}" ({columns})')
        else:
            self.conn.execute(step)

    def set_version(self, version: int) -> None:
        self.conn.execute(f"PRAGMA user_version = {int(version)}")


def sqlite_version(conn: sqlite3.Connection) -> int:
    """The schema version of an SQLite database (0: from before versions, or empty)."""
    return SQLiteSchema(conn).version()
