import datetime as dt
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest
import soundfile as sf

from bot.audio import PHONE_RATE, load_phone_audio, trim_silence
from bot.booking.business import Business
from bot.booking.store import BookingStore

PROJECT = Path(__file__).resolve().parent.parent
# A Tuesday: the clock every scenario under recordings/ runs at.
NOW = dt.datetime(2026, 11, 24, 15, 0)


def open_stores_together(location, business: Business, count: int = 4) -> list[Exception]:
    """Open ``count`` stores on ``location`` at the same moment (hosts or workers starting together);
    the errors any of them raised."""
    barrier, errors = threading.Barrier(count), []

    def start() -> None:
        barrier.wait()
        try:
            BookingStore(location, business)
        except Exception as e:  # noqa: BLE001 - collected, asserted by the caller
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


@pytest.fixture
def business() -> Business:
    return Business.from_file(PROJECT / "flows" / "booking.business.yaml")


@pytest.fixture
def store(tmp_path, business) -> BookingStore:
    return BookingStore(tmp_path / "bookings.db", business)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (tests/postgres_server.py); skipped only where Debian's
    postgresql package is not installed, and never in CI."""
    from tests.postgres_server import PostgresServer, binaries

    bin_dir = binaries()
    if bin_dir is None:
        why = "PostgreSQL is not installed (bash scripts/run.sh test installs Debian's postgresql package)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: CI must run the PostgreSQL store tests")
        pytest.skip(f"{why}: the PostgreSQL store tests are skipped")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty PostgreSQL database for one test: its BOT_DATABASE_URL."""
    url = postgres_server.fresh_database()
    yield url
    postgres_server.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    """Where a test's bookings are, once in each kind of database: an SQLite file, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "bookings.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def twilio_api():
    """A loopback server that answers Twilio's REST API (call updates, messages) like Twilio, and records each request."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, parse_qs(body), self.headers.get("Authorization")))
            status = 404 if "CAmissing" in self.path else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"sid": "CA1", "status": "in-progress"}' if status == 200 else b'{"code": 20404, "message": "not found", "status": 404}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def share_heard(audio: bytes, heard: bytes, piece_bytes: int = 320) -> float:
    """How much of ``audio`` (16-bit PCM) is in ``heard``, counted in 20 ms pieces at 8 kHz.

    A call recording may pad the bot's channel with silence where its audio came
    late, so a long sound is looked for piece by piece, not whole.
    """
    pieces = [audio[i : i + piece_bytes] for i in range(0, len(audio) - piece_bytes + 1, piece_bytes)]
    return sum(piece in heard for piece in pieces) / len(pieces)


def said_with_a_pause(first: Path, second: Path, pause_secs: float, path: Path) -> Path:
    """One caller turn as a WAV: ``first``'s speech, a pause of ``pause_secs``, then ``second``'s."""

    def speech(audio: Path) -> np.ndarray:
        return trim_silence(load_phone_audio(audio) / 32768, PHONE_RATE, margin_secs=0.0)

    pause = np.zeros(int(PHONE_RATE * pause_secs))
    sf.write(path, np.concatenate([speech(first), pause, speech(second), pause]), PHONE_RATE, subtype="PCM_16")
    return path
