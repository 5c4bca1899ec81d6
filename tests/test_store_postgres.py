"""Bookings shared across hosts: what only the PostgreSQL store has (BOT_DATABASE_URL).

The store's own tests (tests/test_store.py) run on both databases; here: the
schema the migrations make is the SQLite one, a failed migration leaves the
database as it was, hosts starting together migrate once, a connection the
server dropped is replaced, a bad BOT_DATABASE_URL is one line at start-up,
and two real ``python -m bot serve`` processes racing for the last seats book
exactly as many as there are.
"""

import asyncio
import contextlib
import datetime as dt
import os
import re
import sqlite3
import sys
import time

import aiohttp
import psycopg
import pytest
from fastapi.testclient import TestClient

from bot.booking.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    AddColumn,
    Migration,
    MigrationFailed,
    migrate,
)
from bot.booking.postgres_db import PostgresSchema
from bot.booking.store import BookingStore, StoreUnavailable
from bot.cli import main
from bot.replay.runner import free_port
from bot.settings import ConfigError, load_settings
from server import create_app
from tests.conftest import PROJECT, open_stores_together

WED = dt.date(2026, 11, 25)
SEVEN = dt.time(19, 0)


def pg_columns(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        found: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'public'"
        ):
            found.setdefault(table, set()).add(column)
        return found


def pg_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return PostgresSchema(conn).version()


def test_the_migrations_make_the_sqlite_schema_in_postgresql_and_keep_its_version_in_a_table(
    postgres_url, tmp_path, business
):
    BookingStore(postgres_url, business)
    with sqlite3.connect(BookingStore(tmp_path / "b.db", business).path) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        sqlite_columns = {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in tables}
    assert pg_columns(postgres_url) == sqlite_columns | {"schema_version": {"version"}}
    assert pg_version(postgres_url) == LATEST_VERSION
    BookingStore(postgres_url, business)  # starting again changes nothing
    assert pg_version(postgres_url) == LATEST_VERSION


BROKEN = Migration(
    LATEST_VERSION + 1, "a migration that fails half-way",
    {"common": ('CREATE TABLE IF NOT EXISTS "half_made" ("x" text)', AddColumn("no_such_table", "x", "TEXT"))},
)


def test_a_failed_migration_leaves_the_postgresql_database_as_it_was(postgres_url, business):
    made = BookingStore(postgres_url, business).create_booking(
        name="Ann Lee", party_size=2, date=WED, time=SEVEN, caller=None, call_sid="CA1")
    before = pg_columns(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn, pytest.raises(MigrationFailed) as failed:
        migrate(PostgresSchema(conn), (*MIGRATIONS, BROKEN))
    assert f"left as it was (schema version {LATEST_VERSION})" in str(failed.value)
    assert pg_columns(postgres_url) == before and pg_version(postgres_url) == LATEST_VERSION
    assert BookingStore(postgres_url, business).get(made.id).code == made.code


def test_hosts_starting_together_on_an_empty_database_migrate_it_once(postgres_url, business):
    assert open_stores_together(postgres_url, business) == [] and pg_version(postgres_url) == LATEST_VERSION


def test_a_connection_the_server_dropped_fails_one_write_whole_then_a_new_one_is_used(postgres_url, business):
    store = BookingStore(postgres_url, business)
    store.call_started("CA1", None)
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # as a database restart or failover would
        admin.execute("select pg_terminate_backend(pid) from pg_stat_activity"
                      " where application_name = 'phone-booking-bot' and datname = current_database()")
    with pytest.raises(StoreUnavailable):
        store.create_booking(name="Ann Lee", party_size=2, date=WED, time=SEVEN, caller=None, call_sid="CA1")
    assert store.schema_version() == LATEST_VERSION  # the readiness check: reachable again
    made = store.create_booking(name="Ann Lee", party_size=2, date=WED, time=SEVEN, caller=None, call_sid="CA1")
    assert [b.id for b in store.upcoming_bookings(WED)] == [made.id] and len(store.history(made.id)) == 1


def test_readyz_says_whether_the_postgresql_database_answers(postgres_url, postgres_server, tmp_path):
    app = create_app(load_settings(database_url=postgres_url, recordings_dir=tmp_path / "calls"))
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["store"] == "ok"
        postgres_server.drop(postgres_url)  # the database is gone: every host's connection to it too
        gone = client.get("/readyz")
        assert gone.status_code == 503 and gone.json()["store"].startswith("unreachable: ")


# A bad BOT_DATABASE_URL: one line naming it, at start-up


def test_a_database_url_that_is_not_postgresql_is_one_line_naming_the_setting():
    with pytest.raises(ConfigError) as error:
        load_settings(database_url="mysql://bot@db/bookings")
    assert str(error.value).startswith("BOT_DATABASE_URL: must be a PostgreSQL URL") and "\n" not in str(error.value)


@pytest.mark.parametrize("where, why", [
    ("127.0.0.1:{port}", "Connection refused"),  # nothing listens there
    ("nosuchhost.invalid", "failed to resolve host"),
    ("127.0.0.1:port", 'invalid integer value "port"'),
])
def test_a_database_that_cannot_be_opened_stops_the_server_at_start_up_with_one_line(where, why, monkeypatch, capsys):
    monkeypatch.setenv("BOT_DATABASE_URL", f"postgresql://bot:s3cret@{where.format(port=free_port())}/bookings")
    monkeypatch.setenv("BOT_PORT", str(free_port()))
    with pytest.raises(ConfigError) as error:
        BookingStore.from_settings(load_settings())
    assert str(error.value).startswith("BOT_DATABASE_URL: cannot open the booking database postgresql://bot@")
    assert why in str(error.value) and "s3cret" not in str(error.value) and "\n" not in str(error.value)
    assert main(["serve"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"configuration error: {error.value}"


def test_backup_and_restore_of_a_postgresql_store_say_to_use_pg_dump(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("BOT_DATABASE_URL", "postgresql://bot@db.internal/bookings")
    for command in ("backup", "restore"):
        assert main([command, str(tmp_path / "copy.db")]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"{command}: BOT_DATABASE_URL is a PostgreSQL database: use pg_dump")
    assert not list(tmp_path.iterdir())


# Two real servers, one database, the last seats


PASSWORD = "front-desk-2026"


def next_wednesday() -> dt.date:
    day = dt.date.today() + dt.timedelta(days=1)
    while day.weekday() != 2 or (day.month, day.day) in {(12, 25), (12, 26), (1, 1)}:
        day += dt.timedelta(days=1)
    return day


async def serve(env: dict[str, str], log_path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", env=env | {"BOT_HOST": "127.0.0.1", "BOT_PORT": str(port)},
            cwd=PROJECT, stdout=log, stderr=asyncio.subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


async def staff_session(base: str, log_path) -> tuple[aiohttp.ClientSession, str]:
    """Logged in to one server's dashboard: the session and its form token."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies for 127.0.0.1
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.post(f"{base}/dashboard/login", data={"password": PASSWORD, "name": base},
                                    allow_redirects=False) as answer:
                if answer.status == 303:
                    break
        assert time.monotonic() < deadline, f"{base} did not start: {log_path.read_text(errors='replace')[-3000:]}"
        await asyncio.sleep(0.3)
    async with session.get(f"{base}/dashboard/bookings") as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    return session, csrf


async def test_two_servers_on_one_database_racing_for_the_last_seats_book_exactly_as_many_as_there_are(
    postgres_url, tmp_path, business
):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TWILIO_", "DEEPGRAM_", "OPENAI_"))}
    env |= {
        "BOT_DATABASE_URL": postgres_url, "BOT_RECORDINGS_DIR": str(tmp_path / "calls"),
        "BOT_STAFF_PASSWORD": PASSWORD, "BOT_STT": "null", "BOT_TTS": "null", "BOT_TTS_CACHE": "false",
        "BOT_LOG_LEVEL": "WARNING", "BOT_REQUESTS_PER_SOURCE_PER_MINUTE": "0",
    }
    # Both start on the empty database at once: one migrates it, the other waits and finds it done.
    servers = [await serve(env, tmp_path / f"server-{n}.log") for n in range(2)]
    day, per_server = next_wednesday(), 6
    try:
        sessions = [await staff_session(base, tmp_path / f"server-{n}.log") for n, (_, base) in enumerate(servers)]
        store = BookingStore(postgres_url, business)
        store.create_booking(name="Big party", party_size=business.capacity_seats - 8, date=day, time=SEVEN,
                             caller=None, call_sid=None)  # 8 seats left: four tables of two

        async def add(session: aiohttp.ClientSession, csrf: str, base: str, name: str) -> int:
            form = {"csrf": csrf, "name": name, "party_size": "2", "date": day.isoformat(), "time": "19:00"}
            async with session.post(f"{base}/dashboard/bookings", data=form, allow_redirects=False) as answer:
                return answer.status

        statuses = await asyncio.gather(*(
            add(session, csrf, base, f"Guest {n} {i}")
            for n, ((session, csrf), (_, base)) in enumerate(zip(sessions, servers))
            for i in range(per_server)
        ))
        for session, _ in sessions:
            await session.close()
    finally:
        for process, _ in servers:
            if process.returncode is None:
                process.terminate()
                await process.wait()
    assert sorted(statuses) == [303] * 4 + [409] * (2 * per_server - 4)  # 303: booked; 409: full, in words
    assert store.seats_taken(day, SEVEN) == business.capacity_seats
    guests = [b for b in store.upcoming_bookings(day) if b.name.startswith("Guest")]
    assert len(guests) == 4 and all(len(store.history(b.id)) == 1 for b in guests)
