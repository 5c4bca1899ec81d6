"""Deepgram's STT and TTS as Pipecat provides them, with uncompressed websockets, and guarded for failover.

Audio does not compress, yet websocket clients offer permessage-deflate by
default: on Deepgram's sockets it cost about 6% of the server's CPU at ten
calls (py-spy, ``python -m bot load``) for nothing. Pipecat's TTS opens its
socket itself and takes connect options; the STT's socket is opened inside
the Deepgram SDK, which has no option for it, so its connect function gets
the setting once here. The STT's SDK client is built on the worker's one HTTP
client (bot/services/http_client.py) rather than a new one per call.
"""

import functools
import time

import httpx
from deepgram import AsyncDeepgramClient
from deepgram.listen.v1 import client as _listen_client
from deepgram.listen.v1.types import ListenV1Results
from pipecat.frames.frames import ErrorFrame
from pipecat.services.deepgram import stt as _pipecat_stt
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.deepgram.tts import DeepgramTTSService

from bot.services.errors import GiveUpOnError
from bot.services.first_clause import FirstClauseTextAggregator
from bot.services.frames import HeardNothingFrame
from bot.services.http_client import per_event_loop
from bot.services.tts_chunks import TransportSizedAudio

if not isinstance(_listen_client.websockets_client_connect, functools.partial):
    _listen_client.websockets_client_connect = functools.partial(
        _listen_client.websockets_client_connect, compression=None
    )


def _client_on_the_shared_http_client(**kwargs) -> AsyncDeepgramClient:
    # The STT builds its SDK client inside its __init__; this one has the worker's HTTP client
    # (bot/services/http_client.py) with the SDK's own defaults, instead of a new one per call.
    http = per_event_loop("deepgram", lambda: httpx.AsyncClient(timeout=60, follow_redirects=True))
    return AsyncDeepgramClient(httpx_client=http, **kwargs)


_pipecat_stt.AsyncDeepgramClient = _client_on_the_shared_http_client


class UncompressedDeepgramTTSService(TransportSizedAudio, DeepgramTTSService):
    """Deepgram's TTS over an uncompressed websocket, its audio handed on in the output transport's chunks
    (``chunk_ms``: bot/services/tts_chunks.py); with ``first_clause`` a reply's first clause is synthesised
    on its own (bot/services/first_clause.py)."""

    def __init__(self, *, first_clause: bool = True, **kwargs):
        super().__init__(**kwargs)
        if first_clause:
            self._text_aggregator = FirstClauseTextAggregator(
                aggregation_type=self._text_aggregation_mode, language=self._text_aggregator.language
            )

    async def _websocket_connect(self, uri: str, **kwargs):
        kwargs.setdefault("compression", None)
        return await super()._websocket_connect(uri, **kwargs)


def _answers_finalize_with_no_words(message: object) -> bool:
    if not (isinstance(message, ListenV1Results) and message.is_final and getattr(message, "from_finalize", False)):
        return False
    alternatives = message.channel.alternatives if message.channel else []
    return not (alternatives and alternatives[0].transcript)


class GuardedDeepgramSTTService(GiveUpOnError, DeepgramSTTService):
    """Deepgram STT that fails over on its first connection error instead of backing off."""

    last_answer_at = 0.0  # time.monotonic() of Deepgram's latest result, empty ones included

    async def _on_message(self, message):
        # An empty result is Deepgram saying it heard no words (noise): alive, unlike a stall.
        self.last_answer_at = time.monotonic()
        await super()._on_message(message)
        if _answers_finalize_with_no_words(message):
            await self.push_frame(HeardNothingFrame())

    async def push_error_frame(self, error: ErrorFrame, force_treat_as_permanent: bool = False):
        await super().push_error_frame(error, force_treat_as_permanent)
        # Given up for this call: stop the reconnect loop rather than knock on a dead server.
        # From inside that loop, the cancel takes effect at its next await (the backoff sleep).
        task = getattr(self, "_connection_task", None)
        if task is not None and not task.done():
            task.cancel()


class GuardedDeepgramTTSService(GiveUpOnError, UncompressedDeepgramTTSService):
    """Deepgram TTS that fails over on its first connection error instead of reconnecting."""


__all__ = ["DeepgramSTTService", "GuardedDeepgramSTTService", "GuardedDeepgramTTSService", "UncompressedDeepgramTTSService"]
