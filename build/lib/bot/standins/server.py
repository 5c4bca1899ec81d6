"""Running a stand-in's aiohttp application on the loopback interface."""

import argparse
import asyncio
import contextlib
import socket
from dataclasses import dataclass
from typing import Self

from aiohttp import web

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Rejection:
    """A request or websocket upgrade a stand-in turned away."""

    path: str
    status: int
    reason: str


class LoopbackServer:
    """An aiohttp application served on 127.0.0.1 for the span of an ``async with``.

    Subclasses add their routes in ``_add_routes``. Port 0 (the default) takes
    a free port; the one chosen is in ``port`` once the server has started.
    ``stop()`` and a later ``start()`` keep that port, so a test can make the
    service refuse connections for a while and then come back at the same URL.
    """

    def __init__(self, *, port: int = 0) -> None:
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        # Set when the server stops, so that handlers told to hang return
        # instead of holding up shutdown.
        self.stopping = asyncio.Event()

    def _add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _on_shutdown(self, app: web.Application) -> None:
        """Close whatever long-lived connections the subclass keeps open."""

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self._started_port()}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self._started_port()}"

    def _started_port(self) -> int:
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return self.port

    async def start(self) -> None:
        app = web.Application()
        self._add_routes(app)
        app.on_shutdown.append(self._on_shutdown)
        # Binding the socket ourselves is what lets port 0 report the port it got.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, self.port or self._requested_port))
        self.port = sock.getsockname()[1]
        self.stopping.clear()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.stopping.set()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def cli_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every stand-in's command line shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--api-key", default="test-key", help="the only API key accepted")
    return parser


def serve_forever(server: LoopbackServer) -> None:
    """Run a stand-in from the command line until interrupted."""

    async def main() -> None:
        async with server:
            print(f"{type(server).__name__} listening on {server.base_url}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
