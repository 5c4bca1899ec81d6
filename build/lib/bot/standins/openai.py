"""A local OpenAI Chat Completions API (``POST /v1/chat/completions``, ``GET /v1/models``).

Usage in tests::

    async with OpenAIStandin(replies=[Reply.calling("check_availability", party_size=2),
                                      Reply(text="We have a table.")]) as oa:
        llm = OpenAILLMService(api_key=oa.api_key, base_url=oa.api_base)

From a shell: ``python -m bot.standins.openai --port 8702`` (echoes the user).
"""

import asyncio
import inspect
import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from bot.standins.faults import Fault, FaultMode
from bot.standins.openai_chat import (
    BAD_JSON_CHUNK,
    Completion,
    GarbageKind,
    Reply,
    Responder,
    ScriptedResponder,
    ScriptExhausted,
    echo_responder,
    error_body,
    garbage_reply,
)
from bot.standins.server import LoopbackServer, Rejection, cli_parser, serve_forever


class OpenAIStandin(LoopbackServer):
    """Serves the OpenAI Chat Completions wire protocol on 127.0.0.1.

    What it answers comes from ``responder(request_json) -> Reply`` (sync or
    async); ``replies=[...]`` is shorthand for a ``ScriptedResponder``. A
    request met by a fault never reaches the responder, so a script is not
    consumed by failed requests.

    Attributes:
        api_key: The only key accepted (``Authorization: Bearer <key>``).
        api_base: The base URL to give an OpenAI client (``.../v1``).
        requests: Every authorised request body, in arrival order (including
            those then answered with a fault).
        rejections: Requests refused (bad key, or the ``refuse`` fault).
        first_token_ms / token_delay_ms: Streaming timing.
        fault / garbage: Current fault, changed with ``set_fault``.
    """

    SUPPORTED_FAULTS = ("ok", "refuse", "hang", "drop", "garbage", "error")

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        responder: Responder | None = None,
        replies: Iterable[Reply] | None = None,
        model: str = "gpt-4.1",
        first_token_ms: int = 350,
        token_delay_ms: int = 15,
        fault: FaultMode = "ok",
        drop_after: int = 1,
        garbage: GarbageKind = "bad_arguments",
        port: int = 0,
    ):
        super().__init__(port=port)
        if responder is not None and replies is not None:
            raise ValueError("give either responder or replies, not both")
        self.api_key = api_key
        self.responder: Responder = responder or ScriptedResponder(replies or ())
        self.model = model
        self.first_token_ms = first_token_ms
        self.token_delay_ms = token_delay_ms
        self.requests: list[dict[str, Any]] = []
        self.rejections: list[Rejection] = []
        self.set_fault(fault, drop_after=drop_after, garbage=garbage)

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v1"

    def set_fault(
        self, mode: FaultMode, *, drop_after: int = 1, garbage: GarbageKind = "bad_arguments"
    ) -> None:
        """Switch the fault mode for the requests that arrive from now on.

        ``garbage`` picks the kind of garbage: a tool call with arguments that
        are not JSON (to the first tool offered), a call to a function that was
        not offered, or an SSE chunk that is not JSON.
        """
        if mode not in self.SUPPORTED_FAULTS:
            raise ValueError(f"OpenAIStandin does not support fault {mode!r}")
        self.fault = Fault(mode, drop_after)
        self.garbage: GarbageKind = garbage

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)

    def _refusal(self, request: web.Request) -> web.Response | None:
        if self.fault.mode == "refuse":
            return self._reject(request, 503, "The server is overloaded or not ready yet.", "server_error")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._reject(
                request, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        return None

    def _reject(
        self, request: web.Request, status: int, message: str, error_type: str, code: str | None = None
    ) -> web.Response:
        self.rejections.append(Rejection(request.path, status, message))
        return web.json_response(error_body(message, error_type, code), status=status)

    async def _models(self, request: web.Request) -> web.Response:
        if refusal := self._refusal(request):
            return refusal
        model = {"id": self.model, "object": "model", "created": 1_700_000_000, "owned_by": "standin"}
        return web.json_response({"object": "list", "data": [model]})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        if refusal := self._refusal(request):
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                error_body("Body is not valid JSON.", "invalid_request_error"), status=400
            )
        self.requests.append(body)
        fault = self.fault
        streamed = bool(body.get("stream"))
        if fault.mode == "hang":
            await self.stopping.wait()
            return web.Response(status=503)
        if fault.mode == "error":
            message = "The server had an error while processing your request."
            return web.json_response(error_body(message, "server_error"), status=500)
        if fault.mode == "drop" and (fault.drop_after == 0 or not streamed):
            request.transport.close()  # no response at all
            return web.Response(status=500)

        if fault.mode == "garbage":
            reply = garbage_reply(self.garbage, body)
        else:
            try:
                reply = await self._reply(body)
            except ScriptExhausted as e:
                return web.json_response(error_body(str(e), "server_error"), status=500)
        completion = Completion(reply=reply, model=body.get("model", self.model), request=body)
        garbled = fault.mode == "garbage" and self.garbage == "bad_json"

        if not streamed:
            await asyncio.sleep(self.first_token_ms / 1000)
            if garbled:
                return web.Response(text=BAD_JSON_CHUNK, content_type="application/json")
            return web.json_response(completion.whole())
        return await self._stream(request, completion, fault, garbled=garbled)

    async def _reply(self, body: dict[str, Any]) -> Reply:
        reply = self.responder(body)
        return await reply if inspect.isawaitable(reply) else reply

    async def _stream(
        self, request: web.Request, completion: Completion, fault: Fault, *, garbled: bool
    ) -> web.StreamResponse:
        """Send the completion as server-sent events, paced like token generation."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await asyncio.sleep(self.first_token_ms / 1000)
        try:
            for sent, chunk in enumerate(completion.chunks()):
                if sent:
                    await asyncio.sleep(self.token_delay_ms / 1000)
                if fault.mode == "drop" and sent >= fault.drop_after:
                    request.transport.close()  # mid-stream, without [DONE]
                    return response
                data = BAD_JSON_CHUNK if garbled and sent == 1 else json.dumps(chunk)
                await response.write(f"data: {data}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client gave up on the stream (e.g. after the garbled chunk)
        return response


def main() -> None:
    parser = cli_parser("Local OpenAI Chat Completions stand-in.")
    parser.add_argument(
        "--reply", action="append", help="scripted text reply (repeatable); default: echo the user"
    )
    parser.add_argument("--fault", default="ok", choices=OpenAIStandin.SUPPORTED_FAULTS)
    args = parser.parse_args()
    replies = [Reply(text=text) for text in args.reply] if args.reply else None
    responder = None if replies else echo_responder
    serve_forever(
        OpenAIStandin(
            api_key=args.api_key, responder=responder, replies=replies, fault=args.fault, port=args.port
        )
    )


if __name__ == "__main__":
    main()
