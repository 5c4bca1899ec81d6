"""``python -m bot serve``: one worker process per core, all behind one port, kept running.

Python runs all of a process's calls on one core, so a host serves its calls
from ``BOT_WORKERS`` processes (``--workers``; default: one per core). This
process, the supervisor, does no call work:

- it binds and listens on ``BOT_HOST:BOT_PORT`` once, and every worker accepts
  from that one socket (inherited). The kernel hands each connection to a worker
  that is waiting in ``accept``: a busy worker's event loop comes to it later,
  so new calls lean to the idle ones; a connection queued on the socket when a
  worker dies stays there for another (with a ``SO_REUSEPORT`` socket per worker,
  the kernel would have hashed it to the dead one's queue and reset it);
- a worker joins the socket only once its engines are loaded (Whisper, Piper,
  Silero: seconds), so no call waits on a worker that is still starting; the
  flow's fixed lines are then rendered once for all of them (``BOT_TTS_CACHE_DIR``,
  else a directory of this process's);
- the calls of the host, ``BOT_MAX_CALLS``, ``/healthz`` and ``/readyz`` are the
  host's, whichever worker answers (bot/serving/host_line.py), and so is a
  dashboard login (one key signs the sessions of every worker), and ``/metrics``
  (every worker's figures added up, bot/metrics.py);
- a worker that dies is started again (after 1 s, longer if it keeps dying); its
  calls resume on the others when Twilio comes back (server.py);
- SIGTERM and SIGINT are passed to every worker, which drain as one server would
  (bot/serving/drain.py): again to hurry, a third time to quit. It exits 0 once
  every worker has drained and exited 0; a worker's configuration error (exit 2)
  stops them all, exit 2.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from loguru import logger
from prometheus_client import multiprocess

from bot.metrics import MULTIPROCESS_DIR, SERVING_SINCE_FILE
from bot.settings import Settings

POLL_SECS = 0.2
RESTART_AFTER_SECS = 1.0
RESTART_AFTER_MAX_SECS = 30.0
STABLE_SECS = 60.0  # a worker that lived this long starts its next life without waiting
CONFIG_ERROR = 2  # bot/cli.py's exit status for a configuration error
BACKLOG = 2048


def worker_count(settings: Settings) -> int:
    return settings.workers or os.cpu_count() or 1


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


@dataclass
class _Worker:
    number: int
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    restarts_in_a_row: int = 0
    exit_codes: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(self, settings: Settings, workers: int):
        self.settings = settings
        self.workers = [_Worker(number) for number in range(1, workers + 1)]
        self._signals: list[int] = []
        self._forwarded = 0
        # One dashboard key for the host's workers: a session cookie one signed is good on all of them.
        self._worker_env = os.environ | (
            {} if settings.dashboard_secret else {"BOT_DASHBOARD_SECRET": secrets.token_urlsafe(32)}
        )

    def _handle(self, sig: int, _frame: FrameType | None) -> None:
        self._signals.append(sig)  # only noted: the loop passes it on

    def run(self) -> int:
        try:
            sock = listening_socket(self.settings.host, self.settings.port)
        except OSError as e:
            logger.error(f"BOT_PORT: cannot listen on {self.settings.host}:{self.settings.port}: {e.strerror}")
            return CONFIG_ERROR
        with (
            tempfile.TemporaryDirectory(prefix="bot-line-") as own_dir,
            tempfile.TemporaryDirectory(prefix="bot-metrics-") as metrics_dir,
        ):
            line_dir = self.settings.line_dir or Path(own_dir)
            # The host's metrics (bot/metrics.py): each worker's figures in files here, added up at a scrape.
            Path(metrics_dir, SERVING_SINCE_FILE).write_text(str(time.time()))
            self._metrics_dir = metrics_dir
            self._worker_env = self._worker_env | {MULTIPROCESS_DIR: metrics_dir}
            if not self.settings.tts_cache_dir:  # rendered once for all the workers (bot/services/piper_tts.py)
                self._worker_env = self._worker_env | {"BOT_TTS_CACHE_DIR": str(Path(own_dir, "tts-cache"))}
            before = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
            logger.info(
                f"Serving on {self.settings.host}:{self.settings.port} with {len(self.workers)} worker processes"
                f" (the host's calls in {line_dir})"
            )
            try:
                return self._supervise(sock, line_dir)
            finally:
                sock.close()
                for sig, handler in before.items():
                    signal.signal(sig, handler)

    def _start(self, worker: _Worker, sock: socket.socket, line_dir: Path) -> None:
        command = [sys.executable, "-m", "bot", "serve", "--worker-socket", str(sock.fileno()),
                   "--line-dir", str(line_dir)]
        # Its own process group: a Ctrl-C in a terminal reaches the workers once, through this process.
        worker.process = subprocess.Popen(command, pass_fds=[sock.fileno()], process_group=0, env=self._worker_env)
        worker.started_at = time.monotonic()
        logger.info(f"Worker {worker.number} started (pid {worker.process.pid})")

    def _supervise(self, sock: socket.socket, line_dir: Path) -> int:
        for worker in self.workers:
            self._start(worker, sock, line_dir)
        failed = False
        while True:
            stopping = bool(self._signals)
            while self._forwarded < len(self._signals):
                sig = self._signals[self._forwarded]
                self._forwarded += 1
                for worker in self.workers:
                    if worker.process is not None and worker.process.poll() is None:
                        worker.process.send_signal(sig)
            for worker in self.workers:
                if worker.process is not None and (code := worker.process.poll()) is not None:
                    worker.exit_codes.append(code)
                    multiprocess.mark_process_dead(worker.process.pid, self._metrics_dir)  # its calls in progress
                    worker.process = None
                    if not stopping:
                        failed |= self._died(worker, code)
                elif worker.process is None and not stopping and not failed and time.monotonic() >= worker.restart_at:
                    self._start(worker, sock, line_dir)
            if failed and not stopping:  # a configuration error: every worker would have it
                self._signals.append(signal.SIGTERM)
                continue
            if all(worker.process is None for worker in self.workers) and (stopping or failed):
                break
            time.sleep(POLL_SECS)
        if failed:
            return CONFIG_ERROR
        clean = all(w.exit_codes and w.exit_codes[-1] in (0, -signal.SIGTERM, -signal.SIGINT) for w in self.workers)
        logger.info("Every worker has exited" + ("" if clean else ": not all of them cleanly"))
        return 0 if clean else 1

    def _died(self, worker: _Worker, code: int) -> bool:
        """A worker exited unasked: restart it later; True if it was a configuration error (no restart)."""
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
        if code == CONFIG_ERROR:
            logger.error(f"Worker {worker.number} stopped on a configuration error: stopping the line")
            return True
        lived = time.monotonic() - worker.started_at
        worker.restarts_in_a_row = 0 if lived >= STABLE_SECS else worker.restarts_in_a_row + 1
        wait = min(RESTART_AFTER_MAX_SECS, RESTART_AFTER_SECS * 2 ** max(0, worker.restarts_in_a_row - 1))
        worker.restart_at = time.monotonic() + wait
        resumed_elsewhere = "its calls resume on the other workers when Twilio brings them back"
        logger.error(f"Worker {worker.number} died ({how}) after {lived:.0f} s; {resumed_elsewhere}; "
                     f"starting it again in {wait:g} s")
        return False
