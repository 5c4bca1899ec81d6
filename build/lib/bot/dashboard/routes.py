"""The dashboard's pages and forms: an APIRouter under /dashboard, behind the staff login.

    GET  /dashboard/login, POST /dashboard/login, POST /dashboard/logout
    GET  /dashboard/bookings?day=       a day's bookings, seats per time slot, the next two weeks
    POST /dashboard/bookings            add a booking taken in person
    POST /dashboard/bookings/{id}/change, /cancel
    GET  /dashboard/messages            messages and voicemails to call back; POST .../{id}/done
    GET  /dashboard/messages/{id}/audio a voicemail's recording
    GET  /dashboard/calls               who is on the line now (live), and the latest calls
    GET  /dashboard/live/events         the live view's server-sent events
    GET  /dashboard/calls/{sid}         one call: transcript, recording, latency by stage, faults
    GET  /dashboard/calls/{sid}/recording/{n}
    GET  /dashboard/line?days=          how the line is doing

Pages are read on a worker thread (plain ``def``): the SQLite reads never hold up
the event loop carrying the calls' audio. Every change goes through the store's own
methods on its writer thread, with the same rules as the phone line (opening hours,
the party limit, capacity in one transaction, a history row naming who on staff).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from bot.booking.store import (
    Booking,
    BookingNotFound,
    BookingStore,
    SlotUnavailable,
    StoreUnavailable,
)
from bot.call.live import LiveCalls
from bot.dashboard import charts, live, queries
from bot.dashboard.auth import DashboardAuth, Staff
from bot.settings import Settings

HERE = Path(__file__).resolve().parent
CALL_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PHONE = re.compile(r"^\+?[0-9 ()-]{3,24}$")
NAME_LENGTH, NOTES_LENGTH = 80, 200
LINE_PERIODS = (1, 7, 30)
# Pages are the live state of the line: never cached. Scripts, styles and media only from this server.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=HERE / "templates")
    found.env.filters.update(
        money=lambda v, places=3: "–" if v is None else f"${v:,.{places}f}",
        pct=lambda v: "–" if v is None else f"{v * 100:.0f}%",
        ms=lambda v: "–" if v is None else f"{v:,.0f} ms",
        duration=_duration,
        hm=lambda t: "" if t is None else t.strftime("%H:%M"),
        day=lambda d: "" if d is None else f"{d:%a} {d.day} {d:%b}",
        when=lambda t: "" if t is None else f"{t:%a} {t.day} {t:%b}, {t:%H:%M}",
        node=lambda n: "" if not n else str(n).replace("_", " "),
    )
    return found


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _day(value: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a dashboard page of this server, never another site."""
    if target and target.startswith("/dashboard") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard/bookings"


class BadForm(ValueError):
    """A form field that cannot be used, in words for the person who filled it in."""


def _int(form: dict[str, str], field: str, low: int, high: int, what: str) -> int:
    try:
        value = int(form.get(field, "").strip())
    except ValueError:
        raise BadForm(f"{what}: a number, please.") from None
    if not low <= value <= high:
        raise BadForm(f"{what}: from {low} to {high}.")
    return value


def _date(form: dict[str, str], field: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(form.get(field, "").strip())
    except ValueError:
        raise BadForm("Date: pick a day.") from None


def _time(form: dict[str, str], field: str = "time") -> dt.time:
    try:
        return dt.time.fromisoformat(form.get(field, "").strip()).replace(second=0, microsecond=0)
    except ValueError:
        raise BadForm("Time: pick a time.") from None


async def _fields(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


def _to_day_of(booking: Booking, ok: str) -> Response:
    """Back to the booking's day, saying what was done to it (``ok``)."""
    return RedirectResponse(f"/dashboard/bookings?day={booking.date}&ok={ok}&code={booking.code}", status_code=303)


def dashboard_router(
    settings: Settings,
    store: BookingStore,
    auth: DashboardAuth,
    registry: LiveCalls,
    clock: Callable[[], dt.datetime] = dt.datetime.now,
) -> APIRouter:
    router = APIRouter(prefix="/dashboard", include_in_schema=False)
    pages = templates()
    business = store.business
    costs = queries.CostModel.from_settings(settings)
    endings = queries.ending_nodes(settings.flow_file)

    def page(request: Request, name: str, staff: Staff | None, status: int = 200, **context: Any) -> Response:
        context |= {
            "staff": staff,
            "csrf": auth.csrf_token(staff) if staff else "",
            "business": business,
            "open_messages": queries.open_messages(store) if staff else 0,
            "live_calls": len(registry) if staff else 0,
            "today": clock().date(),
        }
        return pages.TemplateResponse(request, name, context, status_code=status, headers=HEADERS)

    async def signed_form(request: Request) -> tuple[Staff, dict[str, str]]:
        """Who on staff posted, and their form once its CSRF token is checked."""
        staff = auth.require(request)
        form = await _fields(request)
        auth.check_form(request, staff, form.get("csrf"))
        return staff, form

    # Logging in

    @router.get("")
    def home() -> Response:
        return RedirectResponse("/dashboard/bookings", status_code=303)

    @router.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        if not auth.enabled:
            return page(request, "off.html", None, status=503)
        if auth.session(request):
            return RedirectResponse(_safe_next(next), status_code=303)
        return page(request, "login.html", None, next=_safe_next(next), error=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        if not auth.enabled:
            return page(request, "off.html", None, status=503)
        form = await _fields(request)
        target = _safe_next(form.get("next"))
        client = request.client.host if request.client else "?"
        if not auth.same_origin(request):
            return page(request, "login.html", None, status=403, next=target, error="Log in from this site's own page.")
        if auth.locked_out(client):
            return page(request, "login.html", None, status=429, next=target,
                        error="Too many wrong passwords: wait ten minutes, then try again.")
        role = auth.role_for(form.get("password", ""))
        if role is None:
            auth.failed(client)
            return page(request, "login.html", None, status=401, next=target, error="That password is not right.")
        response = RedirectResponse(target, status_code=303)
        auth.issue(response, role, " ".join(form.get("name", "").split()))
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        staff, _ = await signed_form(request)
        response = RedirectResponse("/dashboard/login", status_code=303)
        auth.end(response, staff)
        return response

    # Bookings

    def bookings_page(request: Request, staff: Staff, day: dt.date, status: int = 200, **extra: Any) -> Response:
        today = clock().date()
        listed = queries.bookings_on(store, day)
        confirmed = [b for b in listed if b["booking"].status == "confirmed"]
        slots = queries.seats_by_slot(store, day)
        return page(
            request, "bookings.html", staff, status=status,
            day=day, prev_day=day - dt.timedelta(days=1), next_day=day + dt.timedelta(days=1),
            upcoming=queries.upcoming_days(store, today),
            bookings=confirmed, cancelled=[b for b in listed if b["booking"].status != "confirmed"],
            covers=sum(b["booking"].party_size for b in confirmed),
            slots=slots, seats_chart=charts.seats(slots, business.capacity_seats) if slots else None,
            start_times=[s["time"] for s in slots],
            **({"ok": None, "code": None, "error": None, "form": {}, "about": None} | extra),
        )

    @router.get("/bookings")
    def bookings(request: Request, day: str | None = None, ok: str | None = None, code: str | None = None) -> Response:
        staff = auth.require(request)
        return bookings_page(request, staff, _day(day, clock().date()), ok=ok, code=code)

    def refuse(request: Request, staff: Staff, day: dt.date, error: str, form: dict[str, str], about: int | None = None):
        return run_in_threadpool(
            bookings_page, request, staff, day, 409, error=error, form=form, about=about
        )

    @router.post("/bookings")
    async def add_booking(request: Request) -> Response:
        staff, form = await signed_form(request)
        day = _day(form.get("date"), clock().date())
        try:
            name = " ".join(form.get("name", "").split())
            if not name or len(name) > NAME_LENGTH:
                raise BadForm(f"Name: up to {NAME_LENGTH} characters, please.")
            party = _int(form, "party_size", 1, business.capacity_seats, "People")
            day, moment = _date(form), _time(form)
            phone = form.get("phone", "").strip() or None
            if phone and not PHONE.match(phone):
                raise BadForm("Phone: digits, spaces and a leading +, please.")
            notes = " ".join(form.get("notes", "").split())[:NOTES_LENGTH] or None
            problem = await run_in_threadpool(queries.booking_problem, store, party, day, moment, clock())
            if problem:
                raise BadForm(problem)
            if twin := await run_in_threadpool(queries.same_booking, store, name, day, moment):
                raise BadForm(f"{twin.name} is already booked then (code {twin.code}).")
            made = await store.run(
                store.create_booking, name=name, party_size=party, date=day, time=moment,
                caller=phone, call_sid=None, notes=notes, staff=staff.label,
            )
        except BadForm as e:
            return await refuse(request, staff, day, str(e), form)
        except SlotUnavailable:
            return await refuse(request, staff, day, "Those seats were just taken: pick another time.", form)
        except StoreUnavailable:
            return await refuse(request, staff, day, "The booking database is busy: nothing was saved, try again.", form)
        return _to_day_of(made, "created")

    @router.post("/bookings/{booking_id}/change")
    async def change_booking(request: Request, booking_id: int) -> Response:
        staff, form = await signed_form(request)
        try:
            booking = store.get(booking_id)
        except BookingNotFound:
            return Response("No such booking", status_code=404)
        day = booking.date
        try:
            party = _int(form, "party_size", 1, business.capacity_seats, "People")
            new_day, moment = _date(form), _time(form)
            problem = await run_in_threadpool(
                queries.booking_problem, store, party, new_day, moment, clock(), ignore_booking=booking_id
            )
            if problem:
                raise BadForm(problem)
            made = await store.run(
                store.change_booking, booking_id, party_size=party, date=new_day, time=moment, call_sid=None,
                staff=staff.label,
            )
        except BadForm as e:
            return await refuse(request, staff, day, str(e), form, about=booking_id)
        except SlotUnavailable:
            return await refuse(request, staff, day, "Those seats were just taken: pick another time.", form, booking_id)
        except BookingNotFound:
            return await refuse(request, staff, day, "That booking was cancelled meanwhile.", form, booking_id)
        except StoreUnavailable:
            return await refuse(request, staff, day, "The booking database is busy: nothing was saved.", form, booking_id)
        return _to_day_of(made, "changed")

    @router.post("/bookings/{booking_id}/cancel")
    async def cancel_booking(request: Request, booking_id: int) -> Response:
        staff, form = await signed_form(request)
        try:
            booking = store.get(booking_id)
            await store.run(store.cancel_booking, booking_id, call_sid=None, staff=staff.label)
        except BookingNotFound:
            day = _day(form.get("day"), clock().date())
            return await refuse(request, staff, day, "That booking is already cancelled.", {})
        except StoreUnavailable:
            return await refuse(request, staff, booking.date, "The booking database is busy: nothing was saved.", {})
        return _to_day_of(booking, "cancelled")

    # Messages

    @router.get("/messages")
    def messages(request: Request) -> Response:
        staff = auth.require(request)
        return page(request, "messages.html", staff, messages=queries.messages(store))

    @router.post("/messages/{message_id}/done")
    async def message_done(request: Request, message_id: int) -> Response:
        staff, form = await signed_form(request)
        if queries.message(store, message_id) is None:
            return Response("No such message", status_code=404)
        await store.run(store.mark_message_done, message_id, staff=staff.label, done=form.get("done", "1") == "1")
        return RedirectResponse("/dashboard/messages", status_code=303)

    @router.get("/messages/{message_id}/audio")
    def message_audio(request: Request, message_id: int) -> Response:
        auth.require(request)
        found = queries.message(store, message_id)
        path = Path(found["audio_path"]) if found and found.get("audio_path") else None
        if path is None or path.suffix != ".wav" or not path.is_file():
            return Response("No recording", status_code=404)
        return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})

    # Calls

    @router.get("/calls")
    def calls(request: Request) -> Response:
        staff = auth.require(request)
        return page(request, "calls.html", staff, live=registry.snapshot(),
                    recent=queries.recent_calls(store, costs, endings))

    @router.get("/live/events")
    async def live_events(request: Request) -> Response:
        auth.require(request)
        drain = getattr(request.app.state, "drain", None)  # the server stopping for a restart (bot/serving/)
        return StreamingResponse(
            live.events(request, registry, stop=lambda: bool(drain and drain.draining)), media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/calls/{call_sid}")
    def one_call(request: Request, call_sid: str) -> Response:
        staff = auth.require(request)
        found = queries.one_call(store, call_sid, costs, endings, settings.recordings_dir) if CALL_SID.match(call_sid) else None
        if found is None:
            return page(request, "missing.html", staff, status=404, what=f"No call {call_sid} in the records.")
        return page(
            request, "call.html", staff, **found, live=call_sid in registry.nodes(),
            stages_chart=charts.turn_stages(found["latency"]) if found["latency"] else None,
            cost_lines=costs.lines(), cost_target=queries.COST_TARGET_USD,
        )

    @router.get("/calls/{call_sid}/recording/{part}")
    def call_recording(request: Request, call_sid: str, part: int) -> Response:
        auth.require(request)
        found = queries.call_recordings(settings.recordings_dir, call_sid) if CALL_SID.match(call_sid) else []
        if not 0 <= part < len(found):
            return Response("No recording", status_code=404)
        return FileResponse(found[part], media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})

    # How the line is doing

    @router.get("/line")
    def line(request: Request, days: int = 7) -> Response:
        staff = auth.require(request)
        days = days if days in LINE_PERIODS else 7
        last = clock().date()
        figures = queries.line_figures(store, costs, endings, last - dt.timedelta(days=days - 1), last)
        return page(
            request, "line.html", staff, f=figures, days=days, periods=LINE_PERIODS,
            cost_lines=costs.lines(), cost_target=queries.COST_TARGET_USD,
            voice_target=queries.VOICE_TO_VOICE_TARGET_MS,
            charts={
                "hours": charts.calls_per_hour(figures["calls_per_hour"]),
                "days": charts.calls_per_day(figures["per_day"]),
                "voice": charts.voice_to_voice(figures["per_day"], queries.VOICE_TO_VOICE_TARGET_MS),
                "cost": charts.cost_per_day(figures["per_day"], queries.COST_TARGET_USD),
                "outcomes": charts.outcomes(figures["outcomes"]),
            },
        )

    return router


def login_redirect(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/dashboard/login?next={quote(target, safe='')}"
