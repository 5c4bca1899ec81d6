"""Schema migrations (bot/booking/migrations.py): existing databases are recognised and upgraded at start-up,
a failed migration leaves the database as it was, and every migration only adds."""

import re
import sqlite3

import pytest

from bot.booking import migrations
from bot.booking.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    AddColumn,
    CreateIndex,
    Migration,
    MigrationFailed,
    SQLiteSchema,
    migrate,
)
from bot.booking.store import BookingStore
from tests.conftest import NOW, PROJECT, open_stores_together

FIXTURES = PROJECT / "tests" / "fixtures" / "databases"
PREVIOUS_RELEASE = FIXTURES / "release-9d6b31b.sql"  # the store as it was before schema versions
RELEASE_BEFORE = FIXTURES / "release-6d991c7.sql"  # one older still: no call_questions table


def made_by(dump, path):
    """A database file as an older release left it."""
    conn = sqlite3.connect(path)
    conn.executescript(dump.read_text())
    conn.close()
    return path


def schema(path) -> dict[str, str | None]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("select name, sql from sqlite_master where name not like 'sqlite_%'"))


def columns(path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        return {t: [r[1:] for r in conn.execute(f'PRAGMA table_info("{t}")')] for t in sorted(tables)}


def version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def dump(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_migration_1_is_exactly_the_schema_the_previous_release_made(tmp_path):
    fresh = tmp_path / "fresh.db"
    with sqlite3.connect(fresh, isolation_level=None) as conn:
        migrate(SQLiteSchema(conn), MIGRATIONS[:1])
    assert schema(fresh) == schema(made_by(PREVIOUS_RELEASE, tmp_path / "old.db"))
    assert version(fresh) == 1


@pytest.mark.parametrize("release", [PREVIOUS_RELEASE, RELEASE_BEFORE], ids=["previous", "one-before"])
def test_a_database_from_an_older_release_is_upgraded_at_start_up_and_keeps_its_rows(tmp_path, business, release):
    old = made_by(release, tmp_path / "bookings.db")
    rows_before = dump(old)
    store = BookingStore(old, business)
    assert version(old) == LATEST_VERSION
    assert columns(old) == columns(BookingStore(tmp_path / "new.db", business).path)  # as if made today
    assert set(schema(old)) == set(schema(tmp_path / "new.db"))
    # What the old release wrote reads back, and the store goes on working on it.
    report = store.call_report("CAold1")
    assert report["call"]["outcome"] == "booked" and [t["turn"] for t in report["turns"]] == [0, 1]
    assert [b["status"] for b in report["bookings"]] == ["cancelled"]
    assert store.close_abandoned_calls(grace_secs=30) == ["CAold3"]  # its checkpoint is long past the grace
    assert store.create_booking(name="New One", party_size=2, date=NOW.date(), time=NOW.time(),
                                caller=None, call_sid="CAnew").code
    # The database as it was is kept beside it, whole.
    (kept,) = tmp_path.glob(f"bookings.db.before-v{LATEST_VERSION}-*.bak")
    assert version(kept) == 0 and dump(kept) == rows_before


def test_opening_an_up_to_date_database_changes_nothing(tmp_path, business):
    path = made_by(PREVIOUS_RELEASE, tmp_path / "bookings.db")
    BookingStore(path, business)
    before = dump(path)
    BookingStore(path, business)
    assert dump(path) == before and len(list(tmp_path.glob("*.bak"))) == 1
    assert not list(tmp_path.glob("fresh*.bak"))
    BookingStore(tmp_path / "fresh.db", business)  # a new database has nothing to keep a copy of
    assert len(list(tmp_path.glob("*.bak"))) == 1


BROKEN = Migration(
    LATEST_VERSION + 1,
    "a migration that fails half-way",
    {"common": (AddColumn("bookings", "deposit", "INTEGER"), CreateIndex("bookings", ("deposit",)),
                "CREATE TABLE IF NOT EXISTS waitlist (id INTEGER PRIMARY KEY)", "ALTER TABLE nowhere ADD COLUMN x TEXT")},
)


@pytest.mark.parametrize("upgraded_first", [False, True], ids=["from-before-versions", "from-the-latest"])
def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path, business, upgraded_first):
    path = made_by(PREVIOUS_RELEASE, tmp_path / "bookings.db")
    if upgraded_first:
        BookingStore(path, business)
    before, version_before = dump(path), version(path)
    with sqlite3.connect(path, isolation_level=None) as conn, pytest.raises(MigrationFailed) as failed:
        migrate(SQLiteSchema(conn), (*MIGRATIONS, BROKEN))
    assert f"schema migration {BROKEN.version} (a migration that fails half-way) failed" in str(failed.value)
    assert f"left as it was (schema version {version_before})" in str(failed.value)
    assert dump(path) == before and version(path) == version_before


def test_a_store_whose_migration_fails_does_not_start(tmp_path, business, monkeypatch):
    path = made_by(PREVIOUS_RELEASE, tmp_path / "bookings.db")
    before = dump(path)
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, BROKEN))
    monkeypatch.setattr(migrations.migrate, "__defaults__", ((*MIGRATIONS, BROKEN),))
    with pytest.raises(MigrationFailed):
        BookingStore(path, business)
    assert dump(path) == before and version(path) == 0


def test_a_database_newer_than_this_release_is_left_alone(tmp_path, business):
    path = tmp_path / "bookings.db"
    BookingStore(path, business)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    before = dump(path)
    store = BookingStore(path, business)  # a rolled-back release on a newer schema: migrations only added
    assert version(path) == LATEST_VERSION + 5 and dump(path) == before
    assert store.schema_version() == LATEST_VERSION + 5


def test_workers_starting_together_upgrade_the_database_once(tmp_path, business):
    path = made_by(PREVIOUS_RELEASE, tmp_path / "bookings.db")
    assert open_stores_together(path, business) == [] and version(path) == LATEST_VERSION


ADDITIVE = re.compile(r"^\s*(CREATE TABLE IF NOT EXISTS|CREATE (UNIQUE )?INDEX IF NOT EXISTS)\s", re.IGNORECASE)


def test_the_migrations_are_numbered_in_order_and_only_add():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    for migration in MIGRATIONS:
        for dialect in migration.steps:
            for step in migration.steps[dialect]:
                # Dropping, renaming or rewriting would strand the previous release (rolling back) and the data.
                assert isinstance(step, AddColumn | CreateIndex) or ADDITIVE.match(step), (migration.version, step)
