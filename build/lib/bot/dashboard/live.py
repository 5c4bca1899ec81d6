"""The live view's feed: server-sent events from this process's registry of calls in progress.

``GET /dashboard/live/events`` sends a ``snapshot`` of every call on the line, then
``started``, ``turn`` (a completed turn: what the caller was heard to say and what
the bot said, with the flow node then), ``node`` (the flow moved on) and ``ended``
events as they happen (:mod:`bot.call.live`). The browser's ``EventSource``
reconnects by itself; each stream ends after ``STREAM_SECS``, and as soon as the server
starts draining for a restart, so a server never waits on a browser left open; the
reconnect brings a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request

from bot.call.live import LiveCalls

NODE_POLL_SECS = 1.0
HEARTBEAT_SECS = 15.0
STREAM_SECS = 300.0
RETRY_MS = 2000


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def events(
    request: Request, registry: LiveCalls, *, stream_secs: float = STREAM_SECS, stop: Callable[[], bool] = lambda: False
) -> AsyncIterator[str]:
    queue = registry.subscribe()
    try:
        yield f"retry: {RETRY_MS}\n\n"
        yield sse("snapshot", {"calls": registry.snapshot()})
        nodes = registry.nodes()
        started = last_sent = time.monotonic()
        while time.monotonic() - started < stream_secs:
            if stop() or await request.is_disconnected():
                return
            try:
                event = await asyncio.wait_for(queue.get(), NODE_POLL_SECS)
            except TimeoutError:
                event = None
            if event is not None:
                if event["event"] == "started":
                    nodes[event["call"]["call_sid"]] = event["call"]["node"]
                elif event["event"] == "turn":
                    nodes[event["call_sid"]] = event["node"]
                elif event["event"] == "ended":
                    nodes.pop(event["call_sid"], None)
                yield sse(event["event"], event)
                last_sent = time.monotonic()
                continue
            for call_sid, node in registry.nodes().items():
                if nodes.get(call_sid) != node:
                    nodes[call_sid] = node
                    yield sse("node", {"event": "node", "call_sid": call_sid, "node": node})
                    last_sent = time.monotonic()
            if time.monotonic() - last_sent > HEARTBEAT_SECS:
                yield ": still here\n\n"
                last_sent = time.monotonic()
    finally:
        registry.unsubscribe(queue)
