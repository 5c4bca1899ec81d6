"""The ``serve`` process: uvicorn, with SIGTERM and Ctrl-C draining the calls before it exits.

uvicorn's own handling stops accepting connections at the first signal and
waits for open ones, which would cut every call (and leave the webhook
unanswered). Here the first SIGTERM or SIGINT starts :meth:`Drain.run`
(bot/serving/drain.py) while the server goes on answering; uvicorn's shutdown
starts only when the drain is over. A second signal hands the calls over at
once, a third exits at once. The process exits 0 after a drain.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

import uvicorn
from loguru import logger

from bot.serving.drain import Drain


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Drain):
        super().__init__(config)
        self.drain = drain
        self._signals: list[str] = []  # names of the signals received, in order
        self._handled = 0
        self._drain_task: asyncio.Task | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's (its signal would be raised again at exit, which is not a clean one). A signal
        # handler only takes note: logging here could wait forever on a lock the interrupted code holds.
        self._signals.append(signal.Signals(sig).name)
        if len(self._signals) >= 3:
            self.force_exit = True
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        while self._handled < len(self._signals):
            name, self._handled = self._signals[self._handled], self._handled + 1
            if self._handled == 1:
                logger.warning(f"{name}: draining before exit (again to hand the calls over now, a third time to quit)")
                self._drain_task = asyncio.create_task(self.drain.run(), name="drain")
            elif self._handled == 2:
                logger.warning(f"{name} again: handing the calls over now")
                self.drain.hurry()
            else:
                logger.error(f"{name} a third time: exiting now, calls in progress are cut")
        if self._drain_task is not None and self._drain_task.done():
            self.should_exit = True
        return await super().on_tick(counter)
