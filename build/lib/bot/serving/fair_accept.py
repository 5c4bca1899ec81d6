"""A worker takes a new connection only while it carries no more than its share of the host's calls.

Every worker accepts from the supervisor's one listening socket (bot/serving/supervisor.py). Left to
itself the kernel wakes them all and the first to call ``accept`` wins, and that is the busiest: its
event loop polls without sleeping, while an idle worker must first be woken (measured: 43% and 21% of a
core for two workers at 12 calls). So ``accept`` here declines (as "no connection waiting") while this
worker's calls exceed the average of the workers on its socket; another of them, at or below it, takes the
connection. Someone always is; and a connection declined for :data:`PATIENCE_SECS` is taken anyway, so
none waits on a share that changes meanwhile.
"""

from __future__ import annotations

import socket
import time

from bot.serving.host_line import HostLine

PATIENCE_SECS = 0.05


class FairShareSocket(socket.socket):
    """The listening socket as one worker sees it (asyncio's accept loop calls :meth:`accept`)."""

    line: HostLine
    _declined_since: float | None

    @classmethod
    def of(cls, fileno: int, line: HostLine) -> FairShareSocket:
        sock = cls(fileno=fileno)
        sock.line, sock._declined_since = line, None
        return sock

    def accept(self):
        if self._over_share():
            now = time.monotonic()
            if self._declined_since is None:
                self._declined_since = now
            if now - self._declined_since < PATIENCE_SECS:
                raise BlockingIOError("another worker takes it")
        connection = super().accept()
        self._declined_since = None
        return connection

    def _over_share(self) -> bool:
        mine, ours, workers = self.line.shares()  # among the workers on this socket, not the host's others
        return workers > 1 and mine * workers > ours
