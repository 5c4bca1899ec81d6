"""``python -m bot backup`` and ``restore`` (bot/booking/backup.py): online, consistent copies; safe restores."""

import datetime as dt
import sqlite3
import threading

import pytest

from bot.booking import backup
from bot.booking.backup import BackupError
from bot.booking.migrations import LATEST_VERSION
from bot.booking.store import BookingStore
from bot.cli import main
from tests.test_migrations import PREVIOUS_RELEASE, made_by

DAY = dt.date(2026, 11, 25)


def book(store, i, call_sid=None):
    return store.create_booking(name=f"Caller {i}", party_size=1, date=DAY + dt.timedelta(days=i % 60),
                                time=dt.time(12 + i % 9, 0), caller=f"+1555{i:07d}", call_sid=call_sid or f"CA{i}")


def consistent(path) -> tuple[int, str]:
    """Bookings in a backup, after checking every one of them has its history row (one moment, not a blend)."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute(
            "select count(*) from bookings b left join booking_history h on h.booking_id = b.id and h.action = 'created'"
            " where h.id is null"
        ).fetchone() == (0,)
        return conn.execute("select count(*) from bookings").fetchone()[0], conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_backup_taken_while_calls_book_is_one_consistent_moment(tmp_path, business):
    db = tmp_path / "bookings.db"
    store = BookingStore(db, business)
    stop, made = threading.Event(), []

    def calls_booking():
        writer = BookingStore(db, business)  # another connection, as another worker process would have
        i = 0
        while not stop.is_set():
            made.append(book(writer, i))
            writer.call_started(f"CA{i}", None)
            i += 1

    booking = threading.Thread(target=calls_booking)
    booking.start()
    try:
        while len(made) < 20:
            threading.Event().wait(0.01)
        counts = []
        for n in range(3):
            summary = backup.backup(db, tmp_path / f"copy-{n}.db")
            counts.append(consistent(summary.path))
            assert summary.schema_version == LATEST_VERSION and summary.bookings == counts[-1][0]
    finally:
        stop.set()
        booking.join(10)
    assert all(mode == "delete" for _, mode in counts)  # one self-contained file each, no -wal beside it
    assert not list(tmp_path.glob("copy-*.db-wal")) and not list(tmp_path.glob(".copy-*"))
    assert 0 < counts[0][0] <= counts[-1][0] <= store.db["bookings"].count


def test_backups_into_a_folder_are_named_by_time_and_kept_to_a_number(tmp_path, business, monkeypatch):
    db = tmp_path / "bookings.db"
    book(BookingStore(db, business), 1)
    folder = tmp_path / "backups"
    folder.mkdir()
    stamps = iter(["20261125T010000Z", "20261126T010000Z", "20261127T010000Z"])
    monkeypatch.setattr(backup, "_timestamp", lambda: next(stamps))
    for _ in range(3):
        backup.backup(db, folder, keep=2)
    assert sorted(p.name for p in folder.iterdir()) == ["bookings-20261126T010000Z.db", "bookings-20261127T010000Z.db"]


def test_a_backup_never_overwrites_unless_told(tmp_path, business):
    db = tmp_path / "bookings.db"
    BookingStore(db, business)
    (tmp_path / "taken.db").write_text("keep me")
    with pytest.raises(BackupError, match="exists"):
        backup.backup(db, tmp_path / "taken.db")
    assert (tmp_path / "taken.db").read_text() == "keep me"
    backup.backup(db, tmp_path / "taken.db", force=True)
    with pytest.raises(BackupError, match="no such database"):
        backup.backup(tmp_path / "missing.db", tmp_path / "x.db")


def test_restore_brings_the_backup_back_and_keeps_what_it_replaced(tmp_path, business):
    db = tmp_path / "bookings.db"
    store = BookingStore(db, business)
    first = book(store, 1)
    backup.backup(db, tmp_path / "nightly.db")
    later = book(store, 2)
    result = backup.restore(tmp_path / "nightly.db", db)
    assert [r["code"] for r in store.db["bookings"].rows] == [first.code]  # the open store sees it at once
    assert result.restored.bookings == 1
    with sqlite3.connect(result.replaced) as kept:
        assert {r[0] for r in kept.execute("select code from bookings")} == {first.code, later.code}
    book(store, 3)  # and goes on booking


def test_restore_refuses_while_a_server_uses_the_database(tmp_path, business):
    db = tmp_path / "bookings.db"
    book(BookingStore(db, business), 1)
    backup.backup(db, tmp_path / "nightly.db")
    with backup.serving(db):
        assert backup.in_use(db)
        with pytest.raises(BackupError, match="in use by a running server"):
            backup.restore(tmp_path / "nightly.db", db)
        backup.restore(tmp_path / "nightly.db", db, force=True)
    assert not backup.in_use(db)


@pytest.mark.parametrize("content", [b"not a database at all" * 100, b""])
def test_restore_refuses_a_file_that_is_not_a_booking_backup_and_touches_nothing(tmp_path, business, content):
    db = tmp_path / "bookings.db"
    made = book(BookingStore(db, business), 1)
    (tmp_path / "bad.db").write_bytes(content)
    with pytest.raises(BackupError):
        backup.restore(tmp_path / "bad.db", db)
    with pytest.raises(BackupError, match="no such file"):
        backup.restore(tmp_path / "missing.db", db)
    assert [r["code"] for r in BookingStore(db, business).db["bookings"].rows] == [made.code]
    assert not list(tmp_path.glob("*.bak"))


def test_a_backup_from_an_older_release_restores_and_is_upgraded_when_the_store_opens(tmp_path, business):
    old = made_by(PREVIOUS_RELEASE, tmp_path / "old.db")
    db = tmp_path / "new" / "bookings.db"  # a new host: nothing there yet
    result = backup.restore(old, db)
    assert result.replaced is None and result.restored.schema_version == 0
    store = BookingStore(db, business)
    assert store.schema_version() == LATEST_VERSION and store.call_report("CAold1")["call"]["outcome"] == "booked"


def test_the_commands(tmp_path, business, capsys):
    db = tmp_path / "bookings.db"
    book(BookingStore(db, business), 1)
    assert main(["backup", str(tmp_path / "b.db"), "--db", str(db)]) == 0
    assert f"to {tmp_path / 'b.db'}: schema version {LATEST_VERSION}, 1 bookings" in capsys.readouterr().out
    assert main(["backup", str(tmp_path / "b.db"), "--db", str(db)]) == 1
    assert "backup failed:" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "b.db"), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "the database as it was is kept in" in out and "restored" in out
