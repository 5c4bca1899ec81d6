"""Deepgram's STT and TTS as Pipecat provides them, with uncompressed websockets.

Audio does not compress, yet websocket clients offer permessage-deflate by
default: on Deepgram's sockets it cost about 6% of the server's CPU at ten
calls (py-spy, ``python -m bot load``) for nothing. Pipecat's TTS opens its
socket itself and takes connect options; the STT's socket is opened inside
the Deepgram SDK, which has no option for it, so its connect function gets
the setting once here.
"""

import functools

from deepgram.listen.v1 import client as _listen_client
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.deepgram.tts import DeepgramTTSService

if not isinstance(_listen_client.websockets_client_connect, functools.partial):
    _listen_client.websockets_client_connect = functools.partial(
        _listen_client.websockets_client_connect, compression=None
    )


class UncompressedDeepgramTTSService(DeepgramTTSService):
    async def _websocket_connect(self, uri: str, **kwargs):
        kwargs.setdefault("compression", None)
        return await super()._websocket_connect(uri, **kwargs)


__all__ = ["DeepgramSTTService", "UncompressedDeepgramTTSService"]
