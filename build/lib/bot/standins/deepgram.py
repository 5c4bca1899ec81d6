"""A local Deepgram: live STT (``/v1/listen``) and TTS (``/v1/speak``, websocket and HTTP).

Usage in tests::

    async with DeepgramStandin(transcripts=["Table for two, please."]) as dg:
        stt = DeepgramSTTService(api_key=dg.api_key, base_url=dg.ws_url)
        tts = DeepgramTTSService(api_key=dg.api_key, base_url=dg.ws_url)

From a shell: ``python -m bot.standins.deepgram --port 8701 --transcript "Hello"``.
"""

import uuid
from collections import deque
from collections.abc import Iterable
from typing import Literal

from aiohttp import web

from bot.standins.audio import ENCODINGS
from bot.standins.deepgram_listen import ListenConfig, ListenRecord, ListenSession
from bot.standins.deepgram_speak import (
    AudioStreamer,
    SpeakConfig,
    SpeakRecord,
    SpeakSession,
    speak_over_http,
)
from bot.standins.faults import Fault, FaultMode
from bot.standins.server import LoopbackServer, Rejection, cli_parser, serve_forever

Endpoint = Literal["listen", "speak"]

_CONTENT_TYPES = {"linear16": "audio/l16", "mulaw": "audio/pcmu", "alaw": "audio/pcma"}


class DeepgramStandin(LoopbackServer):
    """Serves Deepgram's STT and TTS wire protocols on 127.0.0.1.

    Attributes:
        api_key: The only key accepted (``Authorization: Token <key>``).
        transcripts: Script of final transcripts, consumed one per utterance
            across all connections; an utterance past its end gets ``""``.
        tagged_transcripts: Scripts for connections opened with a ``tag``
            query parameter (the bot tags each call's STT with its call SID),
            so many concurrent calls each hear their own caller.
        listen_config / speak_config: Timing and detection settings.
        listen_fault / speak_fault: Current fault of each endpoint; change them
            with ``set_fault``.
        listens / speaks: One record per accepted connection (or HTTP request).
        rejections: Requests and upgrades refused (bad key, bad params, faults).
    """

    SUPPORTED_FAULTS = ("ok", "refuse", "hang", "drop", "garbage")

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        transcripts: Iterable[str] = (),
        speech_threshold: float = 500.0,
        end_silence_ms: int = 300,
        final_delay_ms: int = 150,
        interim_after_ms: int = 300,
        first_audio_ms: int = 200,
        chunk_ms: int = 20,
        ms_per_char: int = 60,
        max_speech_ms: int = 20_000,
        realtime_factor: float = 1.0,
        fault: FaultMode = "ok",
        drop_after: int = 1,
        port: int = 0,
    ):
        super().__init__(port=port)
        self.api_key = api_key
        self.transcripts: deque[str] = deque(transcripts)
        self.tagged_transcripts: dict[str, deque[str]] = {}
        self.listen_config = ListenConfig(
            speech_threshold=speech_threshold,
            end_silence_ms=end_silence_ms,
            final_delay_ms=final_delay_ms,
            interim_after_ms=interim_after_ms,
        )
        self.speak_config = SpeakConfig(
            first_audio_ms=first_audio_ms,
            chunk_ms=chunk_ms,
            ms_per_char=ms_per_char,
            max_speech_ms=max_speech_ms,
            realtime_factor=realtime_factor,
        )
        self.set_fault(fault, drop_after=drop_after)
        self.listens: list[ListenRecord] = []
        self.speaks: list[SpeakRecord] = []
        self.rejections: list[Rejection] = []
        self._open_sockets: set[web.WebSocketResponse] = set()

    def script_for(self, tag: str, transcripts: Iterable[str]) -> None:
        """Give connections tagged ``tag`` their own script of final transcripts."""
        self.tagged_transcripts[tag] = deque(transcripts)

    def set_fault(self, mode: FaultMode, *, drop_after: int = 1, endpoint: Endpoint | None = None) -> None:
        """Switch one endpoint (or both) into a fault mode; takes effect on live connections too."""
        if mode not in self.SUPPORTED_FAULTS:
            raise ValueError(f"DeepgramStandin does not support fault {mode!r}")
        if endpoint in (None, "listen"):
            self.listen_fault = Fault(mode, drop_after)
        if endpoint in (None, "speak"):
            self.speak_fault = Fault(mode, drop_after)

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/listen", self._listen)
        app.router.add_get("/v1/speak", self._speak_websocket)
        app.router.add_post("/v1/speak", self._speak_http)
        app.router.add_put("/standin/scripts/{tag}", self._put_script)

    async def _put_script(self, request: web.Request) -> web.Response:
        """``script_for`` from another process (the load generator): a JSON list of transcripts."""
        transcripts = await request.json()
        if not isinstance(transcripts, list) or not all(isinstance(t, str) for t in transcripts):
            return web.json_response({"error": "expected a JSON list of strings"}, status=400)
        self.script_for(request.match_info["tag"], transcripts)
        return web.json_response({"tag": request.match_info["tag"], "transcripts": len(transcripts)})

    async def _on_shutdown(self, app: web.Application) -> None:
        for ws in list(self._open_sockets):
            await ws.close(code=1001, message=b"stand-in shutting down")

    def _refusal(self, request: web.Request, fault: Fault) -> web.Response | None:
        """Deepgram's answer to a request it won't serve, or None to serve it."""
        if fault.mode == "refuse":
            return self._reject(
                request, 503, "SERVICE_UNAVAILABLE", "Stand-in refusing requests (fault mode)."
            )
        if request.headers.get("Authorization") != f"Token {self.api_key}":
            return self._reject(request, 401, "INVALID_AUTH", "Invalid credentials.")
        encoding = request.query.get("encoding", "linear16")
        if encoding not in ENCODINGS:
            return self._reject(request, 400, "Bad Request", f"Unsupported encoding {encoding!r}.")
        return None

    def _reject(self, request: web.Request, status: int, code: str, message: str) -> web.Response:
        self.rejections.append(Rejection(request.path, status, message))
        request_id = str(uuid.uuid4())
        # Deepgram explains a refusal in the dg-error header; Pipecat reports it from there.
        return web.json_response(
            {"err_code": code, "err_msg": message, "request_id": request_id},
            status=status,
            headers={"dg-error": message, "dg-request-id": request_id},
        )

    async def _accept(self, request: web.Request, request_id: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        ws.headers["dg-request-id"] = request_id
        await ws.prepare(request)
        self._open_sockets.add(ws)
        return ws

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        if refusal := self._refusal(request, self.listen_fault):
            return refusal
        if "sample_rate" not in request.query and "encoding" in request.query:
            return self._reject(request, 400, "Bad Request", "sample_rate is required with encoding.")
        request_id = str(uuid.uuid4())
        record = ListenRecord(query=_first_values(request), raw_query=request.query_string)
        self.listens.append(record)
        ws = await self._accept(request, request_id)
        session = ListenSession(
            ws=ws,
            request=request,
            record=record,
            script=self.tagged_transcripts.get(record.query.get("tag", ""), self.transcripts),
            config=self.listen_config,
            fault=lambda: self.listen_fault,
            request_id=request_id,
        )
        try:
            await session.run()
        finally:
            self._open_sockets.discard(ws)
        return ws

    async def _speak_websocket(self, request: web.Request) -> web.StreamResponse:
        if refusal := self._refusal(request, self.speak_fault):
            return refusal
        record = SpeakRecord(transport="websocket", query=_first_values(request))
        self.speaks.append(record)
        ws = await self._accept(request, str(uuid.uuid4()))
        session = SpeakSession(
            ws=ws,
            request=request,
            record=record,
            streamer=self._streamer(request),
            fault=lambda: self.speak_fault,
        )
        try:
            await session.run()
        finally:
            self._open_sockets.discard(ws)
        return ws

    async def _speak_http(self, request: web.Request) -> web.StreamResponse:
        if refusal := self._refusal(request, self.speak_fault):
            return refusal
        record = SpeakRecord(transport="http", query=_first_values(request))
        self.speaks.append(record)
        encoding = request.query.get("encoding", "linear16")
        return await speak_over_http(
            request=request,
            record=record,
            streamer=self._streamer(request),
            fault=self.speak_fault,
            content_type=_CONTENT_TYPES[encoding],
            stopping=self.stopping,
        )

    def _streamer(self, request: web.Request) -> AudioStreamer:
        encoding = request.query.get("encoding", "linear16")
        # Deepgram's defaults: 24 kHz for linear16, 8 kHz for the G.711 codecs.
        default_rate = "24000" if encoding == "linear16" else "8000"
        sample_rate = int(request.query.get("sample_rate", default_rate))
        return AudioStreamer(config=self.speak_config, encoding=encoding, sample_rate=sample_rate)


def _first_values(request: web.Request) -> dict[str, str]:
    return {key: request.query.getone(key) for key in request.query}


def main() -> None:
    parser = cli_parser("Local Deepgram stand-in (STT /v1/listen, TTS /v1/speak).")
    parser.add_argument(
        "--transcript", action="append", default=[], help="scripted final transcript (repeatable)"
    )
    parser.add_argument("--fault", default="ok", choices=DeepgramStandin.SUPPORTED_FAULTS)
    args = parser.parse_args()
    serve_forever(
        DeepgramStandin(api_key=args.api_key, transcripts=args.transcript, fault=args.fault, port=args.port)
    )


if __name__ == "__main__":
    main()
