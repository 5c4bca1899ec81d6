"""The phone line's web server: Twilio's voice webhook, the media websocket, health and call reports.

    POST /twilio/voice   TwiML that connects the call's audio to /twilio/media (again, if its stream dropped)
    WS   /twilio/media   one Pipecat pipeline per call (bot.call.pipeline)
    GET  /healthz        liveness and the number of calls in progress (503 while draining for a restart)
    GET  /readyz         ready for calls: store reachable, engines loaded, not draining, not full (bot/serving/)
    GET  /metrics        Prometheus metrics: per-stage latency, calls, bookings, errors
    GET  /calls/{sid}    what happened on a call (loopback or BOT_ADMIN_TOKEN)
    GET  /dashboard      the staff dashboard: bookings, messages, live calls, figures (bot/dashboard/)

Run it with ``python -m bot serve``: one worker process per core behind one port (bot/serving/supervisor.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from loguru import logger
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from bot.booking import retention
from bot.booking.backup import serving
from bot.booking.store import BookingStore
from bot.call.context import CallContext, fixed_clock
from bot.call.pipeline import run_call
from bot.call.resume import with_booking_made
from bot.dashboard.app import install_dashboard
from bot.metrics import METRICS
from bot.serving.drain import Drain
from bot.serving.host_line import HostLine, StreamClaim
from bot.serving.readiness import EngineWarmUp, Readiness
from bot.settings import Settings, load_settings
from bot.telephony.call_limits import SlidingWindowLimit
from bot.telephony.caller_id import mask_numbers_in_logs, masked, phone_number
from bot.telephony.media_stream import (
    MAX_MESSAGE_BYTES,
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    HandshakeError,
    read_stream_start,
)
from bot.telephony.stream_auth import (
    STREAM_TOKEN_PARAMETER,
    StreamRefused,
    admit_stream,
    issue_stream_token,
    signed_by_twilio,
    stream_url,
)

LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
# How long a reconnecting call's webhook and new stream wait for its old stream to finish closing.
HANDOVER_SECS = 3.0
# How long a call let in by the webhook holds its place while Twilio opens its media stream.
ADMITTED_SECS = 15.0
# How often a worker looks for calls whose worker died mid-call (bot/serving/host_line.py).
ORPHAN_CHECK_SECS = 2.0
# Twilio's voice webhook form is a few kilobytes; a body past this is refused before it is all read.
MAX_FORM_BYTES = 64 * 1024
# uvicorn closes a websocket message over this before reading it whole; smaller ones reach the app,
# which closes (and counts) those over MAX_MESSAGE_BYTES.
WEBSOCKET_MAX_BYTES = 16 * MAX_MESSAGE_BYTES
# A worker's full garbage collection comes after this many of the middle generation's (Python's default: 10).
FULL_COLLECTION_AFTER = 60


def create_app(
    settings: Settings | None = None,
    store: BookingStore | None = None,
    *,
    engines: EngineWarmUp | None = None,
    line: HostLine | None = None,
) -> FastAPI:
    """The app. ``engines`` (``serve``): the embedded engines, loaded at start-up, which /readyz waits for.
    ``line``: the host's calls, shared with the other workers of ``serve --workers`` (else this app's own)."""
    settings = settings or load_settings()
    store = store or BookingStore.from_settings(settings)
    own_line = None
    if line is None:
        own_line = tempfile.TemporaryDirectory(prefix="bot-line-")
        line = HostLine(Path(own_line.name), admitted_secs=ADMITTED_SECS)
    active_calls: set[str] = set()  # this worker's media streams
    closers: set[asyncio.Task] = set()
    mask_numbers_in_logs()
    calls_per_number = SlidingWindowLimit(settings.calls_per_number_per_hour, 3600)
    requests_per_source = SlidingWindowLimit(settings.requests_per_source_per_minute, 60)

    def refused(reason: str, detail: str) -> None:
        """A request, stream or call refused (docs/security.md): counted once and logged once."""
        METRICS.refused.labels(reason=reason).inc()
        logger.warning(f"Refused ({reason}): {detail}")

    def flooding(client) -> bool:
        """Whether this network address is past BOT_REQUESTS_PER_SOURCE_PER_MINUTE (loopback never is)."""
        source = client.host if client else "?"
        if source in LOOPBACK or requests_per_source.allow(source):
            return False
        refused("requests_per_source", f"more than {settings.requests_per_source_per_minute} a minute from {source}")
        return True

    async def read_form(request: Request) -> dict[str, str]:
        """The webhook's form, or 413 past MAX_FORM_BYTES (read no further than that)."""
        declared = request.headers.get("content-length", "")
        too_large = declared.isdigit() and int(declared) > MAX_FORM_BYTES
        body = bytearray()
        if not too_large:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_FORM_BYTES:
                    too_large = True
                    break
        if too_large:
            refused("webhook_too_large", f"a voice webhook over {MAX_FORM_BYTES} bytes from {request.client}")
            raise HTTPException(status_code=413, detail="form too large")
        try:
            return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(status_code=400, detail="not a form") from None

    async def refuse_stream(websocket: WebSocket, reason: str, detail: str, code: int = POLICY_VIOLATION) -> None:
        """Close a media stream that may not carry a call (before it is accepted: HTTP 403)."""
        refused(reason, f"a media stream {detail}")
        await websocket.close(code=code)

    # SIGTERM: stop taking calls, let this worker's finish, hand the rest over (bot/serving/drain.py).
    drain = Drain(
        notice_secs=settings.drain_notice_secs, limit_secs=settings.drain_secs, calls_in_progress=line.own_calls
    )
    # Full or not is the host's: the calls of every worker, and those let in whose stream is awaited.
    readiness = Readiness(settings, store, drain, line.calls, engines=engines)

    def admit(call_sid: str) -> bool:
        """Whether a new call fits under BOT_MAX_CALLS on this host; if it does, its place is held while its
        stream opens (for up to ADMITTED_SECS, on whichever worker)."""
        if not drain.taking_calls:  # stopping for a restart: new calls go elsewhere
            return False
        return line.admit(call_sid, settings.max_calls)

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
        why = "draining for a restart" if drain.draining else f"{line.calls()} calls in progress on this host"
        logger.warning(f"{call_sid}: turned away ({to}): {why}")
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

    async def orphaned(call_sid: str) -> None:
        """A call whose worker died mid-call: interrupted now, so that it resumes wherever Twilio brings it."""
        logger.warning(f"{call_sid}: its worker died during the call; it may resume on another")
        await store.run(store.call_interrupted, call_sid)
        close_later(settings.resume_grace_secs + 1)

    async def adopt_orphans() -> None:
        while True:
            orphans = line.orphans()
            for call_sid in orphans:
                await orphaned(call_sid)
            line.forget_orphans(orphans)
            await asyncio.sleep(ORPHAN_CHECK_SECS)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        logger.info(
            f"Booking line for {settings.business.name}: STT "
            f"{'cloud' if settings.uses_cloud('stt') else 'local'}, LLM "
            f"{'cloud' if settings.uses_cloud('llm') else 'local'}, TTS "
            f"{'cloud' if settings.uses_cloud('tts') else 'local'}; bookings in {store.backend.describe()}"
        )
        if not settings.twilio_auth_token:
            logger.warning(
                "TWILIO_AUTH_TOKEN is not set: only this machine (loopback) may open a media stream, and a stream's "
                "own caller parameters are believed (docs/security.md)"
            )
        # Recordings, transcripts and voicemails past BOT_RETENTION_DAYS: now, then every hour.
        await retention.sweep(store, settings.retention_days, settings.recordings_dir)
        sweeper = retention.keep_sweeping(store, settings.retention_days, settings.recordings_dir)
        closers.add(asyncio.create_task(sweeper))
        # Calls that dropped before a restart: the stale ones now, the rest when their grace runs out.
        close_later(0)
        close_later(settings.resume_grace_secs + 1)
        closers.add(asyncio.create_task(adopt_orphans()))
        if readiness.engines is not None:
            readiness.engines.start()
        with serving(store.path):  # `python -m bot restore` refuses while this is held
            yield
            for task in list(closers):
                task.cancel()
            await store.run(lambda: None)  # the checkpoints and turns queued before the exit are written
            if readiness.engines is not None:
                await asyncio.to_thread(readiness.engines.stop)
            line.close()

    app = FastAPI(title="Phone booking line", lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.active_calls = active_calls
    app.state.line = line
    if own_line is not None:
        app.state.own_line = own_line  # the directory lasts as long as the app
    app.state.drain = drain
    app.state.readiness = readiness
    install_dashboard(app)  # /dashboard: the staff's view of the line (bot/dashboard/)

    def _public_url(request: Request) -> str:
        if settings.public_url:
            return settings.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return str(request.url)

    @app.post("/twilio/voice")
    async def twilio_voice(request: Request) -> Response:
        if flooding(request.client):
            raise HTTPException(status_code=429, detail="too many requests")
        form = await read_form(request)
        if settings.twilio_auth_token:
            signature = request.headers.get("X-Twilio-Signature", "")
            validator = RequestValidator(settings.twilio_auth_token)
            if not validator.validate(_public_url(request), form, signature):
                refused("webhook_bad_signature", f"a voice webhook from {request.client}")
                raise HTTPException(status_code=403, detail="invalid Twilio signature")
        call_sid = form.get("CallSid", "?")
        caller = phone_number(form.get("From"))
        twiml = VoiceResponse()
        # Twilio follows the <Redirect> as soon as a stream's websocket closes, before its call has written
        # how it ended (or a dead worker's call has been seen to): wait for that, so an ended call hangs up.
        for _ in range(int(HANDOVER_SECS / 0.1)):
            if not store.call_on_the_line(call_sid):
                break
            await asyncio.sleep(0.1)
        if store.call_is_over(call_sid):  # Twilio followed our <Redirect> after the bot ended the call
            twiml.hangup()
            return Response(content=str(twiml), media_type="application/xml")
        new_call = not store.call_is_known(call_sid)  # a dropped call coming back is not counted again, and always fits
        if new_call and not calls_per_number.allow(caller or "withheld"):
            refused("calls_per_number", f"{call_sid}: {masked(caller)} called {settings.calls_per_number_per_hour} "
                                        "times in the last hour")
            twiml.reject(reason="busy")  # a rejected call costs nothing: Twilio never answers it
            return Response(content=str(twiml), media_type="application/xml")
        if new_call and not admit(call_sid):
            return Response(content=str(turned_away(call_sid)), media_type="application/xml")
        base = settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
        stream = Stream(url=stream_url(base))
        # Who is calling travels with the stream only as this one-time token (bot/telephony/stream_auth.py).
        token = await issue_stream_token(store, call_sid, caller, form.get("StirVerstat"), ADMITTED_SECS)
        stream.parameter(name=STREAM_TOKEN_PARAMETER, value=token)
        connect = Connect()
        connect.append(stream)
        twiml.append(connect)
        # When the stream's websocket closes, Twilio goes on to the next verb: this
        # webhook again, which reconnects a dropped call or hangs up an ended one.
        twiml.redirect(_public_url(request), method="POST")
        logger.info(f"Incoming call {call_sid} from {masked(caller)}")
        return Response(content=str(twiml), media_type="application/xml")

    @app.websocket("/twilio/media")
    async def twilio_media(websocket: WebSocket) -> None:
        source = websocket.client.host if websocket.client else "?"
        if flooding(websocket.client):
            await websocket.close(code=POLICY_VIOLATION)
            return
        if settings.twilio_auth_token:
            if not signed_by_twilio(websocket, settings.public_url, settings.twilio_auth_token):
                reason = "stream_bad_signature" if websocket.headers.get("X-Twilio-Signature") else "stream_unsigned"
                await refuse_stream(websocket, reason, f"from {source}")
                return
        elif source not in LOOPBACK:
            await refuse_stream(websocket, "stream_not_loopback",
                                f"from {source} (no TWILIO_AUTH_TOKEN: loopback only)")
            return
        await websocket.accept()
        try:
            start = await read_stream_start(websocket)
            admission = await admit_stream(store, start, token_required=bool(settings.twilio_auth_token))
        except HandshakeError as e:
            await refuse_stream(websocket, e.reason, f"from {source} that did not open like Twilio's: {e}", e.code)
            return
        except StreamRefused as e:
            await refuse_stream(websocket, e.reason, f"from {source}: {e}")
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
            caller=admission.caller,
            caller_verified=admission.caller_verified,
            bookings_per_number=settings.bookings_per_number_per_day,
            store=store,
            clock=clock,
            transfer=settings.staff_transfer,
        )
        # A call reconnecting after a drop may arrive while its old stream is still closing, here or on
        # another worker of this host.
        for _ in range(int(HANDOVER_SECS / 0.1)):
            if start.call_sid not in active_calls:
                claim = line.claim_stream(start.call_sid)  # from now on this worker holds the call
                if claim is not StreamClaim.LIVE_ELSEWHERE:
                    break
            await asyncio.sleep(0.1)
        else:
            logger.warning(f"{start.call_sid}: a second media stream for a live call was refused")
            await websocket.close(code=1008)
            return
        if claim is StreamClaim.ORPHANED:
            await orphaned(start.call_sid)
        resumed = await store.run(store.take_resumable, start.call_sid, settings.resume_grace_secs)
        if resumed is not None:
            resumed = with_booking_made(resumed, store, start.call_sid)
        # A call whose worker died before its first checkpoint had heard only the greeting: it starts over.
        starts_over = claim is StreamClaim.ORPHANED and resumed is None
        if resumed is None and store.call_is_known(start.call_sid) and not starts_over:
            # Too late to resume (or the call already ended): close it, never start it over.
            line.stream_ended(start.call_sid)
            await store.run(store.close_abandoned_calls, settings.resume_grace_secs)
            logger.info(f"{start.call_sid}: a stream for a call that cannot resume was closed")
            await websocket.close(code=1000)
            return
        active_calls.add(start.call_sid)
        try:
            if resumed:
                logger.info(f"{start.call_sid}: the line is back; resuming at {resumed['node']}")
            await run_call(websocket, start, call, settings, resumed, drain=drain)
        except Exception:
            logger.exception(f"{start.call_sid}: the call failed")
            METRICS.error("call")
        finally:
            line.stream_ended(start.call_sid)  # with no await between: see the hand-over wait above
            active_calls.discard(start.call_sid)
            if not store.call_is_over(start.call_sid):  # the line dropped: the call may come back
                close_later(settings.resume_grace_secs + 1)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """Liveness; 503 "draining" while the server stops for a restart, so a load balancer moves on."""
        status = "draining" if drain.draining else "ok"
        health = {"status": status, "active_calls": line.streams(), "workers": line.workers()}  # the host's
        return JSONResponse(health, status_code=503 if drain.draining else 200)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready for calls: store reachable, engines loaded, not draining, not full (bot/serving/readiness.py)."""
        report = await readiness.check()
        return JSONResponse({"ready": report.ready, **report.checks}, status_code=200 if report.ready else 503)

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
    def call_report(call_sid: str, request: Request) -> JSONResponse:  # its reads in the threadpool, not the loop
        if not _admin(request):
            raise HTTPException(status_code=403, detail="call reports need BOT_ADMIN_TOKEN")
        report = store.call_report(call_sid)
        if report is None:
            raise HTTPException(status_code=404, detail="no such call")
        return JSONResponse(report)

    return app


def serve_worker(settings: Settings, listening: int, line_dir: Path) -> None:
    """One worker: engines loaded first, then calls from the supervisor's socket until a drain is over."""
    import gc
    import os

    import uvicorn

    from bot.serving.fair_accept import FairShareSocket
    from bot.serving.process import DrainingServer
    from bot.serving.tracing import setup_tracing, shutdown_tracing

    if settings.tracing:
        setup_tracing(settings)
    engines = EngineWarmUp(settings)
    engines.start()
    engines.wait_loaded()  # a worker still loading takes no connection: the others answer meanwhile
    # The supervisor's workers (its children) share a socket; other servers may share the directory.
    line = HostLine(line_dir, admitted_secs=ADMITTED_SECS, group=f"serve-{os.getppid()}")
    app = create_app(settings, engines=engines, line=line)
    config = uvicorn.Config(
        app, log_level="warning",
        loop="uvloop",  # its sockets and callbacks in C: a cloud call costs about 20% less CPU (docs/load.md)
        # After the drain, connections still open (a load balancer's keep-alive) are not waited on for long.
        timeout_graceful_shutdown=5,
        ws_max_size=WEBSOCKET_MAX_BYTES,
    )
    config.load()  # uvicorn's protocol modules, imported now rather than at the first connection
    # The engines', the libraries' and the app's objects live as long as the worker: out of the collector's
    # sight, a full collection no longer walks them while calls wait (70-180 ms before, 20-30 now: docs/load.md).
    gc.collect()
    gc.freeze()
    # A full collection of a busy worker's calls still stops them all for 0.1-0.3 s: made rarer (after 60
    # collections of the middle generation rather than 10), the young ones left as they are.
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)
    try:
        DrainingServer(config, app.state.drain).run(sockets=[FairShareSocket.of(listening, line)])
    finally:
        if settings.tracing:
            shutdown_tracing()
