"""The cloud SDKs' HTTP clients: one per event loop (a worker process has one), shared by its calls.

Every new HTTP client builds an SSL context and loads the CA bundle, about
33 ms on this machine, and Pipecat's OpenAI and Deepgram services each make
one as a call starts: the event loop is blocked meanwhile, and every other
call of the worker goes silent. Shared, a client also keeps its connections
to the provider open between calls, so a call's first request skips the TCP
and TLS handshakes. Connections belong to the loop that opened them, hence
one client per loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

Client = TypeVar("Client")

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


def per_event_loop(name: str, make: Callable[[], Client]) -> Client:
    """The running loop's client called ``name``, made by ``make`` once (a new one where no loop runs)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return make()
    clients = _clients.setdefault(loop, {})
    client = clients.get(name)
    if client is None or client.is_closed:
        client = clients[name] = make()
    return client
