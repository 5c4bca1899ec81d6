"""A worker killed mid-call (SIGKILL) loses no call and no booking: its calls resume on another worker.

One ``python -m bot serve --workers 2`` (bot/serving/supervisor.py) on one loopback port, Twilio played by
bot/replay/twilio_call.py straight at that port (no load balancer: the kernel hands each connection to a
worker). Once a call has heard its request read back, the worker carrying the most calls is sent
SIGKILL: no drain, no checkpoint at the close, no hand-over. Twilio follows the TwiML's ``<Redirect>``;
the webhook and the new stream reach whichever worker accepts them, which finds the call's worker dead
(bot/serving/host_line.py) and resumes the call from its last checkpoint. The supervisor starts the dead
worker again, and the host's count of calls holds nothing of it. ``/metrics`` is the host's too: every
worker's figures, the dead one's included, whichever worker answers the scrape.
"""

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bot.measure.load import personalised
from bot.replay.runner import free_port
from bot.replay.twilio_call import TwilioCall
from tests.conftest import PROJECT
from tests.test_rolling_restart import SCENARIO, call_rows, until

CALLS = 3
MAX_CALLS = 4


def carried(worker: psutil.Process, port: int) -> int:
    """The connections a worker holds open on the line's port (a call's media stream, while it lasts)."""
    with contextlib.suppress(psutil.Error):
        return sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in worker.net_connections("tcp"))
    return 0


def one_heard_its_readback(db, call_sids: list[str]) -> bool:
    """A call has heard its request read back (its turn is stored once the bot has finished saying it)."""
    with contextlib.suppress(sqlite3.Error), sqlite3.connect(db) as conn:
        return conn.execute(
            f"select 1 from call_turns where caller_heard is not null and call_sid in ({','.join('?' * len(call_sids))})",
            call_sids,
        ).fetchone() is not None
    return False


async def health(base: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as answer:
        return await answer.json()


async def host_metrics(base: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as answer:
        text = await answer.text()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in ("bot_calls_total", "bot_active_calls")
    }


async def test_a_worker_killed_mid_call_loses_no_booking_and_its_calls_resume_on_another(tmp_path):
    db, port = tmp_path / "bookings.db", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TWILIO_", "DEEPGRAM_", "OPENAI_"))}
    env |= {
        "BOT_DB_PATH": str(db), "BOT_RECORDINGS_DIR": str(tmp_path / "calls"), "BOT_ALLOW_CLOCK_OVERRIDE": "true",
        "BOT_RESUME_GRACE_SECS": "30", "BOT_TTS_CACHE": "false", "BOT_LOG_LEVEL": "INFO",
        "BOT_MAX_CALLS": str(MAX_CALLS), "BOT_HOST": "127.0.0.1", "BOT_PORT": str(port),
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        supervisor = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "--workers", "2", env=env, cwd=PROJECT, stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )

    def logs(tail: int | None = 5000) -> str:
        text = log_path.read_text(errors="replace")
        return text[-tail:] if tail else text

    async def both_workers_serving() -> bool:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            return (await health(base))["workers"] == 2
        return False

    scenarios = [personalised(SCENARIO, index) for index in range(CALLS)]
    calls = [TwilioCall(scenario, f"{base}/twilio/voice") for scenario in scenarios]
    tasks: list[asyncio.Task] = []
    try:
        await until(both_workers_serving, 120, f"the two workers did not come up: {logs()}")
        workers = psutil.Process(supervisor.pid).children()
        # No BOT_DASHBOARD_SECRET set: the supervisor gives its workers one, so a staff login holds on all of them.
        (dashboard_key,) = {worker.environ().get("BOT_DASHBOARD_SECRET") for worker in workers}
        assert dashboard_key and len(dashboard_key) >= 32
        tasks = [asyncio.create_task(call.run()) for call in calls]

        async def read_back() -> bool:
            return one_heard_its_readback(db, [call.call_sid for call in calls])

        await until(read_back, 90, f"no call got to its read-back: {logs()}")
        victim = max(workers, key=lambda worker: carried(worker, port))
        assert carried(victim, port) > 0
        victim.send_signal(signal.SIGKILL)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 240)
        await until(both_workers_serving, 120, f"the killed worker was not started again: {logs()}")
        after = await health(base)
        assert {w.environ().get("BOT_DASHBOARD_SECRET") for w in psutil.Process(supervisor.pid).children()} == {dashboard_key}
        async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as ready:
            readiness = await ready.json()
        scrapes = [await host_metrics(base) for _ in range(8)]  # reaching either worker
    finally:
        for task in tasks:
            task.cancel()
        if supervisor.returncode is None:
            supervisor.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(supervisor.wait(), 60)
            except TimeoutError:
                supervisor.kill()

    everything = logs(tail=None)
    assert "died (killed by SIGKILL)" in everything
    moved = [result for result in results if result.streams > 1]
    assert moved, f"no call was carried by the killed worker: {results}"
    for scenario, result in zip(scenarios, results):
        assert result.completed, (result, logs())
        call, bookings = call_rows(db, result.call_sid)
        assert call["outcome"] == "booked", (call, result, logs())
        assert len(bookings) == 1 and bookings[0]["status"] == "confirmed", (bookings, logs())
        expected = {k: v for k, v in scenario.expect["booking"].items() if k != "name"}
        assert {k: bookings[0][k] for k in expected} == expected, (bookings, logs())
    assert "the line is back; resuming at" in everything  # from a checkpoint, not started over
    # Nothing of the dead worker's is left on the host's line: no call in progress, every place free.
    assert after["active_calls"] == 0 and readiness["calls"] == f"0/{MAX_CALLS}", (after, readiness)
    # The same figures whichever worker answers: each call's stream counted, and a moved call's first
    # stream on the killed worker too (that worker's own count died with it); none left in progress.
    assert all(scrape == scrapes[0] for scrape in scrapes), scrapes
    assert scrapes[0]["bot_calls_total"] >= CALLS + len(moved) and scrapes[0]["bot_active_calls"] == 0, (
        scrapes, results, logs(tail=None)
    )
    assert supervisor.returncode == 0, logs()
