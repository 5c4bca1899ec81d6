"""The phone line's web server: Twilio's voice webhook, the media websocket, health and call reports.

    POST /twilio/voice   TwiML that connects the call's audio to /twilio/media (again, if its stream dropped)
    WS   /twilio/media   one Pipecat pipeline per call (bot.call.pipeline)
    GET  /healthz        liveness and the number of calls in progress
    GET  /metrics        Prometheus metrics: per-stage latency, calls, bookings, errors
    GET  /calls/{sid}    what happened on a call (loopback or BOT_ADMIN_TOKEN)

Run it with ``python -m bot serve`` (or ``uvicorn --factory server:create_app``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from loguru import logger
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from bot.booking.store import BookingStore
from bot.call.context import CallContext, fixed_clock
from bot.call.pipeline import run_call
from bot.metrics import METRICS
from bot.settings import Settings, load_settings
from bot.telephony.media_stream import (
    TRY_AGAIN_LATER,
    HandshakeError,
    read_stream_start,
)

LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
# How long a reconnecting call's new stream waits for its dropped one to finish closing.
HANDOVER_SECS = 3.0
# How long a call let in by the webhook holds its place while Twilio opens its media stream.
ADMITTED_SECS = 15.0


def create_app(settings: Settings | None = None, store: BookingStore | None = None) -> FastAPI:
    settings = settings or load_settings()
    store = store or BookingStore(settings.db_path, settings.business)
    active_calls: set[str] = set()
    admitted: dict[str, float] = {}  # let in, stream not started yet: call SID -> monotonic time
    closers: set[asyncio.Task] = set()

    def admit(call_sid: str) -> bool:
        """Whether a new call fits under BOT_MAX_CALLS; if it does, its place is held until its stream starts."""
        now = time.monotonic()
        for sid, at in list(admitted.items()):
            if sid in active_calls or now - at > ADMITTED_SECS:
                del admitted[sid]
        if settings.max_calls and call_sid not in admitted and len(active_calls) + len(admitted) >= settings.max_calls:
            return False
        admitted[call_sid] = now
        return True

    def turned_away(call_sid: str) -> VoiceResponse:
        """TwiML for a call the process has no room for: to the overflow line, or told the lines are busy."""
        twiml = VoiceResponse()
        if settings.overflow_url:
            twiml.redirect(settings.overflow_url, method="POST")
        else:
            twiml.say(settings.business.line.lines_busy)
            twiml.hangup()
        to = "overflow" if settings.overflow_url else "busy"
        METRICS.calls_turned_away.labels(to=to).inc()
        logger.warning(f"{call_sid}: turned away ({to}): {len(active_calls)} calls in progress")
        return twiml

    async def close_abandoned_calls(after_secs: float) -> None:
        """End the dropped calls that did not reconnect within the grace period."""
        await asyncio.sleep(after_secs)
        for call_sid in await store.run(store.close_abandoned_calls, settings.resume_grace_secs):
            logger.info(f"{call_sid}: the line dropped and the call did not come back; closed")

    def close_later(after_secs: float) -> None:
        task = asyncio.create_task(close_abandoned_calls(after_secs))
        closers.add(task)
        task.add_done_callback(closers.discard)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        logger.info(
            f"Booking line for {settings.business.name}: STT "
            f"{'cloud' if settings.uses_cloud('stt') else 'local'}, LLM "
            f"{'cloud' if settings.uses_cloud('llm') else 'local'}, TTS "
            f"{'cloud' if settings.uses_cloud('tts') else 'local'}; bookings in {settings.db_path}"
        )
        # Calls that dropped before a restart: the stale ones now, the rest when their grace runs out.
        close_later(0)
        close_later(settings.resume_grace_secs + 1)
        yield
        for task in list(closers):
            task.cancel()

    app = FastAPI(title="Phone booking line", lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.active_calls = active_calls

    def _public_url(request: Request) -> str:
        if settings.public_url:
            return settings.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return str(request.url)

    @app.post("/twilio/voice")
    async def twilio_voice(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if settings.twilio_auth_token:
            signature = request.headers.get("X-Twilio-Signature", "")
            validator = RequestValidator(settings.twilio_auth_token)
            if not validator.validate(_public_url(request), form, signature):
                logger.warning(f"Rejected a voice webhook with a bad signature from {request.client}")
                raise HTTPException(status_code=403, detail="invalid Twilio signature")
        call_sid = form.get("CallSid", "?")
        twiml = VoiceResponse()
        if store.call_is_over(call_sid):  # Twilio followed our <Redirect> after the bot ended the call
            twiml.hangup()
            return Response(content=str(twiml), media_type="application/xml")
        if not store.call_is_known(call_sid) and not admit(call_sid):  # a dropped call coming back always fits
            return Response(content=str(turned_away(call_sid)), media_type="application/xml")
        base = settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
        media_url = base.replace("https://", "wss://").replace("http://", "ws://") + "/twilio/media"
        stream = Stream(url=media_url)
        stream.parameter(name="caller", value=form.get("From", ""))
        connect = Connect()
        connect.append(stream)
        twiml.append(connect)
        # When the stream's websocket closes, Twilio goes on to the next verb: this
        # webhook again, which reconnects a dropped call or hangs up an ended one.
        twiml.redirect(_public_url(request), method="POST")
        logger.info(f"Incoming call {call_sid} from {form.get('From', '?')}")
        return Response(content=str(twiml), media_type="application/xml")

    @app.websocket("/twilio/media")
    async def twilio_media(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            start = await read_stream_start(websocket)
        except HandshakeError as e:
            logger.warning(f"Closed a media stream that did not open like Twilio's: {e}")
            await websocket.close(code=1008)
            return
        except WebSocketDisconnect:
            return
        if not store.call_is_known(start.call_sid) and not admit(start.call_sid):
            # Not let in by the webhook (a stream opened straight away): Twilio follows the TwiML's
            # <Redirect> to the webhook, which turns the call away in words.
            logger.warning(f"{start.call_sid}: a media stream past BOT_MAX_CALLS was closed")
            await websocket.close(code=TRY_AGAIN_LATER)
            return
        clock = dt.datetime.now
        if settings.allow_clock_override and (now := start.custom_parameters.get("now")):
            try:
                clock = fixed_clock(dt.datetime.fromisoformat(now))
            except ValueError:
                logger.warning(f"{start.call_sid}: ignored a bad 'now' parameter {now!r}")
        call = CallContext(
            call_sid=start.call_sid,
            caller=start.custom_parameters.get("caller") or None,
            store=store,
            clock=clock,
            transfer=settings.staff_transfer,
        )
        # A call reconnecting after a drop may arrive while its old stream is still closing.
        for _ in range(int(HANDOVER_SECS / 0.1)):
            if start.call_sid not in active_calls:
                break
            await asyncio.sleep(0.1)
        else:
            logger.warning(f"{start.call_sid}: a second media stream for a live call was refused")
            await websocket.close(code=1008)
            return
        resumed = await store.run(store.take_resumable, start.call_sid, settings.resume_grace_secs)
        if resumed is None and store.call_is_known(start.call_sid):
            # Too late to resume (or the call already ended): close it, never start it over.
            await store.run(store.close_abandoned_calls, settings.resume_grace_secs)
            logger.info(f"{start.call_sid}: a stream for a call that cannot resume was closed")
            await websocket.close(code=1000)
            return
        active_calls.add(start.call_sid)
        try:
            if resumed:
                logger.info(f"{start.call_sid}: the line is back; resuming at {resumed['node']}")
            await run_call(websocket, start, call, settings, resumed)
        except Exception:
            logger.exception(f"{start.call_sid}: the call failed")
            METRICS.error("call")
        finally:
            active_calls.discard(start.call_sid)
            if not store.call_is_over(start.call_sid):  # the line dropped: the call may come back
                close_later(settings.resume_grace_secs + 1)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "active_calls": len(active_calls)}

    def _admin(request: Request) -> bool:
        """Loopback, or the admin bearer token when one is set."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return bool(
            hmac.compare_digest(token, settings.admin_token)
            if settings.admin_token
            else (request.client and request.client.host in LOOPBACK)
        )

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if not _admin(request):
            raise HTTPException(status_code=403, detail="metrics need BOT_ADMIN_TOKEN")
        body, content_type = METRICS.render()
        return Response(content=body, media_type=content_type)

    @app.get("/calls/{call_sid}")
    async def call_report(call_sid: str, request: Request) -> JSONResponse:
        if not _admin(request):
            raise HTTPException(status_code=403, detail="call reports need BOT_ADMIN_TOKEN")
        report = store.call_report(call_sid)
        if report is None:
            raise HTTPException(status_code=404, detail="no such call")
        return JSONResponse(report)

    return app


def serve(settings: Settings) -> None:
    import threading

    import uvicorn

    from bot.services.factory import warm_up_tts

    # The flow's fixed lines are synthesized once, in the background, so the
    # first callers' replies start from the TTS cache too.
    threading.Thread(target=warm_up_tts, args=(settings,), name="tts-warm-up", daemon=True).start()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")

