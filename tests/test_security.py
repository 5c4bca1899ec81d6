"""The line as an attacker tries it: who may open a media stream, what caller ID is worth, abuse limits, data kept.

The server-level tests stand a recorder in for the call's pipeline (``server.run_call``): what is under
test is who reaches a call at all, and with which caller and attestation, over the real Twilio wire
protocol, the real ``twilio`` SDK's signatures and the real SQLite store. Every refusal must be counted
in /metrics and logged once, and start no call.
"""

import datetime as dt
import json
import os
import time
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from loguru import logger
from pipecat.flows import FlowConfig
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator
from websockets.exceptions import InvalidStatus

import server
from bot.booking import tools
from bot.booking.retention import FORGOTTEN_NAME
from bot.call.context import CallContext
from bot.call.pipeline import initial_state
from bot.cli import main
from bot.metrics import METRICS
from bot.replay.caller import TwilioCaller
from bot.replay.runner import in_process_server, replay_settings
from bot.settings import ConfigError, load_settings
from bot.telephony import media_stream
from bot.telephony.media_stream import SizeLimitedSocket
from tests.conftest import NOW, PROJECT

SECRET = "secret"
ATTACKER = "+15551230099"  # the attacker's own phone, as the signed webhook sees it
VICTIM = "+15551230007"  # the number whose bookings the attacker is after
VERIFIED = "TN-Validation-Passed-A"
CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
STREAM_URL = "ws://testserver/twilio/media"


def refusals(reason: str) -> float:
    return METRICS.registry.get_sample_value("bot_refused_total", {"reason": reason}) or 0.0


@pytest.fixture
def warnings():
    """The warnings logged while the test runs (as the sinks get them: numbers masked)."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="WARNING")
    yield lines
    logger.remove(sink)


@pytest.fixture
def line(tmp_path, monkeypatch):
    """``line(**settings)``: the app, its store, and the calls it started (the pipeline's stand-in records them)."""

    def make(**overrides):
        settings = load_settings(db_path=tmp_path / "bookings.db", recordings_dir=tmp_path / "calls", **overrides)
        app = server.create_app(settings)
        started: list[CallContext] = []

        async def record_the_call(websocket, start, call, settings, resumed=None, **_):
            started.append(call)
            await websocket.close()  # as the pipeline does when the call ends

        monkeypatch.setattr(server, "run_call", record_the_call)
        return SimpleNamespace(app=app, store=app.state.store, started=started, client=TestClient(app))

    return make


def ring(client, call_sid="CA1", caller=ATTACKER, verstat=VERIFIED, token=SECRET) -> dict[str, str]:
    """Twilio's signed voice webhook for a call; the stream parameters the TwiML gives it."""
    form = {"CallSid": call_sid, "From": caller, "To": "+15550000000"} | ({"StirVerstat": verstat} if verstat else {})
    signature = RequestValidator(token).compute_signature("http://testserver/twilio/voice", form)
    answer = client.post("/twilio/voice", data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    return {p.get("name"): p.get("value") for p in ET.fromstring(answer.text).findall("./Connect/Stream/Parameter")}


def signed(url=STREAM_URL, token=SECRET) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, {})}


def start_message(call_sid: str, parameters: dict[str, str]) -> str:
    return json.dumps({"event": "start", "streamSid": "MZ" + call_sid, "start": {
        "streamSid": "MZ" + call_sid, "callSid": call_sid, "accountSid": "AC1", "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": parameters}})


def stream(client, call_sid: str, parameters: dict[str, str], headers: dict[str, str] | None = None) -> int:
    """Open a media stream as Twilio does; the close code the server ended it with (1000: the call ran)."""
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect("/twilio/media", headers=headers or {}) as ws:
            ws.send_text(CONNECTED)
            ws.send_text(start_message(call_sid, parameters))
            ws.receive_text()
    return closed.value.code


def refused_once(warnings: list[str], reason: str) -> bool:
    return len([line for line in warnings if f"({reason})" in line]) == 1


# The websocket is Twilio's or it is closed


def test_an_unsigned_stream_is_refused(line, warnings):
    line = line(twilio_auth_token=SECRET)
    before = refusals("stream_unsigned")
    assert stream(line.client, "CA1", {"caller": VICTIM, "StirVerstat": VERIFIED}) == 1008
    assert refusals("stream_unsigned") == before + 1 and refused_once(warnings, "stream_unsigned")
    assert line.started == []


def test_a_stream_signed_for_another_url_is_refused(line, warnings):
    line = line(twilio_auth_token=SECRET)
    token = ring(line.client)["stream_token"]
    before = refusals("stream_bad_signature")
    elsewhere = signed("wss://evil.example.com/twilio/media")
    assert stream(line.client, "CA1", {"stream_token": token}, elsewhere) == 1008
    assert refusals("stream_bad_signature") == before + 1 and refused_once(warnings, "stream_bad_signature")
    assert line.started == []


def test_a_signed_stream_needs_the_token_the_webhook_gave_its_call(line, warnings):
    line = line(twilio_auth_token=SECRET)
    before = refusals("stream_token")
    # A valid signature is the same for every call: on its own it lets nobody in.
    assert stream(line.client, "CA1", {}, signed()) == 1008
    token = ring(line.client, call_sid="CA1")["stream_token"]
    assert stream(line.client, "CA2", {"stream_token": token}, signed()) == 1008  # another call's token
    assert refusals("stream_token") == before + 2 and len([w for w in warnings if "(stream_token)" in w]) == 2
    assert line.started == []


def test_a_replayed_stream_token_is_refused(line, warnings):
    line = line(twilio_auth_token=SECRET)
    token = ring(line.client, call_sid="CA1", caller=ATTACKER)["stream_token"]
    assert stream(line.client, "CA1", {"stream_token": token}, signed()) == 1000
    before = refusals("stream_token")
    assert stream(line.client, "CA1", {"stream_token": token}, signed()) == 1008
    assert refusals("stream_token") == before + 1 and refused_once(warnings, "stream_token")
    assert len(line.started) == 1


def test_a_stream_token_expires_with_the_admission(line, monkeypatch):
    line = line(twilio_auth_token=SECRET)
    monkeypatch.setattr(server, "ADMITTED_SECS", 0)
    token = ring(line.client)["stream_token"]
    assert stream(line.client, "CA1", {"stream_token": token}, signed()) == 1008
    assert line.started == []


def test_a_spoofed_caller_parameter_is_refused_and_the_caller_is_the_signed_webhooks_from(line, warnings):
    line = line(twilio_auth_token=SECRET)
    line.store.create_booking(name="Linda Green", party_size=4, date=dt.date(2026, 11, 28), time=dt.time(19, 30),
                              caller=VICTIM, call_sid=None)
    token = ring(line.client, call_sid="CA1", caller=ATTACKER)["stream_token"]
    before = refusals("stream_caller_parameter")
    assert stream(line.client, "CA1", {"stream_token": token, "caller": VICTIM, "StirVerstat": VERIFIED},
                  signed()) == 1008
    assert refusals("stream_caller_parameter") == before + 1 and refused_once(warnings, "stream_caller_parameter")
    assert line.started == []
    # The same call's stream as Twilio opens it: the caller is whoever the signed webhook saw.
    token = ring(line.client, call_sid="CA1", caller=ATTACKER)["stream_token"]
    assert stream(line.client, "CA1", {"stream_token": token}, signed()) == 1000
    (call,) = line.started
    assert (call.caller, call.caller_verified) == (ATTACKER, True)
    assert [b.name for b in line.store.upcoming_bookings(NOW.date(), caller=VICTIM)] == ["Linda Green"]


@pytest.mark.parametrize(
    ("verstat", "verified"),
    [(VERIFIED, True), ("TN-Validation-Passed-B", False), ("TN-Validation-Failed", False), (None, False)],
)
def test_only_full_attestation_verifies_the_callers_number(line, verstat, verified):
    line = line(twilio_auth_token=SECRET)
    token = ring(line.client, caller=ATTACKER, verstat=verstat)["stream_token"]
    assert stream(line.client, "CA1", {"stream_token": token}, signed()) == 1000
    assert [(c.caller, c.caller_verified) for c in line.started] == [(ATTACKER, verified)]


def test_a_withheld_number_is_no_caller_id(line):
    line = line(twilio_auth_token=SECRET)
    token = ring(line.client, caller="anonymous")["stream_token"]
    stream(line.client, "CA1", {"stream_token": token}, signed())
    assert [(c.caller, c.caller_verified) for c in line.started] == [(None, False)]


def test_without_a_token_only_loopback_may_stream_and_the_server_says_so(line, warnings):
    line = line()
    remote = TestClient(line.app, client=("203.0.113.5", 5000))
    before = refusals("stream_not_loopback")
    assert stream(remote, "CA1", {"caller": VICTIM, "StirVerstat": VERIFIED}) == 1008
    assert refusals("stream_not_loopback") == before + 1 and refused_once(warnings, "stream_not_loopback")
    assert line.started == []
    # On loopback (the replay harness, the load test) the stream says who is calling.
    assert stream(line.client, "CA2", {"caller": VICTIM, "StirVerstat": VERIFIED}) == 1000
    assert [(c.caller, c.caller_verified) for c in line.started] == [(VICTIM, True)]
    with TestClient(line.app):
        pass
    assert any("TWILIO_AUTH_TOKEN is not set" in w and "loopback" in w for w in warnings)


async def test_the_replay_caller_dials_a_secured_line_as_twilio_does(tmp_path, monkeypatch):
    """Real uvicorn and a real websocket client: the signed webhook, then the signed stream with its token."""
    started = []

    async def record_the_call(websocket, start, call, *args, **kwargs):
        started.append(call)
        await websocket.close()

    monkeypatch.setattr(server, "run_call", record_the_call)
    settings = replay_settings(tmp_path / "bookings.db", twilio_auth_token=SECRET, recordings_dir=tmp_path / "calls")
    async with in_process_server(settings) as (url, _store):
        async with TwilioCaller(url, caller=VICTIM, stir_verstat=VERIFIED, twilio_auth_token=SECRET) as caller:
            await caller.wait_for_hang_up(10)
        with pytest.raises(InvalidStatus):  # straight to the websocket, as on a line without a token
            async with TwilioCaller(url, caller=VICTIM, stir_verstat=VERIFIED):
                pass
    assert [(c.caller, c.caller_verified) for c in started] == [(VICTIM, True)]


# Endless or oversized input


def test_a_stream_that_never_sends_start_is_closed(line, warnings, monkeypatch):
    line = line()
    monkeypatch.setattr(media_stream, "HANDSHAKE_TIMEOUT_SECS", 0.2)
    before = refusals("stream_handshake")
    for keeps_talking in (False, True):
        with pytest.raises(WebSocketDisconnect) as closed:
            with line.client.websocket_connect("/twilio/media") as ws:
                ws.send_text(CONNECTED)
                if keeps_talking:  # Twilio says "connected" once
                    ws.send_text(CONNECTED)
                ws.receive_text()
        assert closed.value.code == 1008
    assert refusals("stream_handshake") == before + 2
    assert len([w for w in warnings if "(stream_handshake)" in w]) == 2
    assert line.started == [] and line.client.get("/healthz").json()["active_calls"] == 0


def test_a_10_mb_frame_closes_the_stream(line, warnings):
    line = line()
    before = refusals("stream_oversized")
    with pytest.raises(WebSocketDisconnect) as closed:
        with line.client.websocket_connect("/twilio/media") as ws:
            ws.send_text(CONNECTED)
            ws.send_text("x" * 10_000_000)
            ws.receive_text()
    assert closed.value.code == 1009
    assert refusals("stream_oversized") == before + 1 and refused_once(warnings, "stream_oversized")
    assert line.started == []


def test_a_10_mb_frame_during_the_call_closes_it_and_is_not_a_dropped_line(warnings):
    """The socket the call's Pipecat transport reads through, on a real websocket."""
    app = FastAPI()
    seen = []
    sockets = []

    @app.websocket("/media")
    async def media(websocket: WebSocket):
        await websocket.accept()
        socket = SizeLimitedSocket(websocket, "CA1")
        sockets.append(socket)
        while (message := await socket.receive())["type"] == "websocket.receive":
            seen.append(len(message["text"]))

    before = refusals("stream_oversized")
    with pytest.raises(WebSocketDisconnect) as closed:
        with TestClient(app).websocket_connect("/media") as ws:
            ws.send_text('{"event": "media"}')
            ws.send_text("x" * 10_000_000)
            ws.receive_text()
    assert closed.value.code == 1009 and seen == [18]
    assert sockets[0].refused == "stream_oversized"
    assert refusals("stream_oversized") == before + 1 and refused_once(warnings, "stream_oversized")


def test_an_oversized_webhook_form_is_refused(line, warnings):
    line = line(twilio_auth_token=SECRET)
    before = refusals("webhook_too_large")
    answer = line.client.post("/twilio/voice", data={"CallSid": "CA1", "From": ATTACKER, "Body": "x" * 200_000})
    assert answer.status_code == 413
    assert refusals("webhook_too_large") == before + 1 and refused_once(warnings, "webhook_too_large")


def test_an_unsigned_webhook_is_counted(line, warnings):
    line = line(twilio_auth_token=SECRET)
    before = refusals("webhook_bad_signature")
    assert line.client.post("/twilio/voice", data={"CallSid": "CA1", "From": ATTACKER}).status_code == 403
    assert refusals("webhook_bad_signature") == before + 1 and refused_once(warnings, "webhook_bad_signature")


# Abuse limits


def test_forty_calls_from_one_number_past_the_hourly_limit_are_rejected(line, warnings):
    line = line(twilio_auth_token=SECRET, calls_per_number_per_hour=10)
    before = refusals("calls_per_number")
    answers = []
    for n in range(40):
        form = {"CallSid": f"CA{n}", "From": ATTACKER, "StirVerstat": VERIFIED}
        signature = RequestValidator(SECRET).compute_signature("http://testserver/twilio/voice", form)
        answer = line.client.post("/twilio/voice", data=form, headers={"X-Twilio-Signature": signature})
        twiml = ET.fromstring(answer.text)
        answers.append(next((c.tag, c.get("reason")) for c in twiml))
    assert answers.count(("Connect", None)) == 10 and answers.count(("Reject", "busy")) == 30
    assert refusals("calls_per_number") == before + 30
    assert len([w for w in warnings if "(calls_per_number)" in w]) == 30
    assert ATTACKER not in "".join(warnings)  # numbers are masked in logs
    # Another number still gets through.
    assert "stream_token" in ring(line.client, call_sid="CAother", caller=VICTIM)


def test_one_address_past_its_requests_per_minute_is_refused(line, warnings):
    line = line(twilio_auth_token=SECRET, requests_per_source_per_minute=3)
    remote = TestClient(line.app, client=("203.0.113.5", 5000))
    before = refusals("requests_per_source")
    codes = [remote.post("/twilio/voice", data={"CallSid": f"CA{n}"}).status_code for n in range(5)]
    assert codes == [403, 403, 403, 429, 429]
    assert refusals("requests_per_source") == before + 2
    assert stream(remote, "CA9", {}, signed()) == 1008  # its streams too
    assert refusals("requests_per_source") == before + 3


def a_call(store, call_sid: str, caller: str | None, *, verified: bool, limit: int = 0) -> SimpleNamespace:
    call = CallContext(call_sid=call_sid, caller=caller, store=store, clock=lambda: NOW, caller_verified=verified,
                       bookings_per_number=limit)
    store.call_started(call_sid, caller)
    return SimpleNamespace(state=initial_state(call))


async def test_forty_bookings_from_one_number_cannot_book_the_whole_room(store, business, warnings):
    """Forty one-seat calls from one number would fill the 40-seat room; three get a table."""
    assert business.capacity_seats == 40
    before = refusals("bookings_per_number")
    outcomes = []
    for n in range(40):
        fm = a_call(store, f"CA{n}", ATTACKER, verified=True, limit=3)
        result, _ = await tools.collect_booking(fm, party_size=1, date="2026-11-25", time="19:00", name=f"Guest {n}")
        assert result["next"] == "confirm"
        outcomes.append((await tools.confirm_booking(fm, confirmed=True))[0]["next"])
    assert outcomes == ["booked"] * 3 + ["too_many_bookings"] * 37
    assert store.db["bookings"].count == 3 and store.seats_taken(dt.date(2026, 11, 25), dt.time(19, 0)) == 3
    assert refusals("bookings_per_number") == before + 37
    assert len([w for w in warnings if "refused a booking" in w]) == 37
    # A withheld number is one number too; another number is not held back.
    for n in range(4):
        fm = a_call(store, f"CAw{n}", None, verified=False, limit=3)
        await tools.collect_booking(fm, party_size=1, date="2026-11-25", time="19:00", name="Withheld")
        outcomes.append((await tools.confirm_booking(fm, confirmed=True))[0]["next"])
    fm = a_call(store, "CAv", VICTIM, verified=True, limit=3)
    await tools.collect_booking(fm, party_size=2, date="2026-11-25", time="19:00", name="Linda Green")
    assert outcomes[-4:] == ["booked"] * 3 + ["too_many_bookings"]
    assert (await tools.confirm_booking(fm, confirmed=True))[0]["next"] == "booked"


@pytest.mark.parametrize("flow", ["booking", "salon"])
def test_every_refusal_the_tools_return_has_its_words_in_the_flow(flow):
    config = FlowConfig.from_file(PROJECT / "flows" / f"{flow}.yaml")
    confirm = next(f for f in config.nodes["confirm"].functions if f.name == "confirm_booking")
    assert confirm.transition_to.cases["too_many_bookings"] == "too_many_bookings"
    assert "nothing" in config.nodes["too_many_bookings"].task_messages[0].content
    find = next(f for f in config.nodes["not_found"].functions if f.name == "find_booking")
    assert {find.transition_to.cases[c] for c in ("verify", "search_limit")} == {"verify_booking", "find_limit"}


# Caller ID is a hint, not a password


def seed(store, caller=VICTIM):
    return store.create_booking(name="Linda Green", party_size=4, date=dt.date(2026, 11, 28), time=dt.time(19, 30),
                                caller=caller, call_sid=None)


@pytest.mark.parametrize("wants", [tools.check_booking, tools.change_booking, tools.cancel_booking])
async def test_a_number_that_may_be_spoofed_finds_nothing_by_itself(store, wants):
    booking = seed(store)
    fm = a_call(store, "CA1", VICTIM, verified=False)
    result, _ = await wants(fm)
    assert result == {"next": "verify", "expecting": "name"}
    assert not {"found", "found_id", "found_code_spelled", "changing", "candidates"} & set(fm.state)
    # Nor does "cancel it" at the next node reach it.
    assert (await tools.confirm_cancel(fm, confirmed=True))[0]["next"] == "not_found"
    assert store.get(booking.id).status == "confirmed"


async def test_a_verified_number_finds_its_own_booking(store):
    seed(store)
    fm = a_call(store, "CA1", VICTIM, verified=True)
    result, _ = await tools.cancel_booking(fm)
    assert result["next"] == "cancel_found" and "Linda Green" in fm.state["found"]


async def test_the_second_factor_is_the_code_or_the_name_and_the_day(store):
    booking = seed(store)
    fm = a_call(store, "CA1", ATTACKER, verified=False)
    await tools.cancel_booking(fm)
    assert (await tools.find_booking(fm, name="Linda Green"))[0] == {"next": "verify", "expecting": "date", "found": 0}
    assert "found_id" not in fm.state
    result, _ = await tools.find_booking(fm, name="Linda Green", date="2026-11-28")
    assert result["next"] == "cancel_found" and fm.state["found_id"] == booking.id
    fm = a_call(store, "CA2", ATTACKER, verified=False)
    await tools.check_booking(fm)
    assert (await tools.find_booking(fm, confirmation_code=booking.code))[0]["next"] == "check_found"


async def test_three_searches_that_find_nothing_hand_the_caller_to_staff(store, warnings):
    seed(store)
    fm = a_call(store, "CA1", ATTACKER, verified=False)
    await tools.cancel_booking(fm)
    before = refusals("booking_searches")
    guesses = [("Linda Smith", "2026-11-28"), ("Linda Jones", "2026-11-28"), ("Linda Brown", "2026-11-28"),
               ("Linda Green", "2026-11-28")]
    answers = [(await tools.find_booking(fm, name=n, date=d))[0]["next"] for n, d in guesses]
    assert answers == ["not_found", "not_found", "search_limit", "search_limit"]  # the right guess comes too late
    assert "found_id" not in fm.state
    assert refusals("booking_searches") == before + 2


# Data kept only as long as needed


def _days_ago_iso(days: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="milliseconds")


def _old_file(path, days: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_the_server_deletes_recordings_transcripts_and_voicemails_past_the_retention_days(line, tmp_path, database):
    line = line(retention_days=30, **({"database_url": database} if database.startswith("postgresql://") else {}))
    store, calls = line.store, tmp_path / "calls"
    for sid, caller, days in (("CAold", VICTIM, 40), ("CAnew", ATTACKER, 1)):
        store.call_started(sid, caller)
        store.add_turn(sid, 1, "It's Linda Green, my number is the one I'm calling from", "Thank you")
        store.record_question(sid, "Do you have parking?", "parking")
        store.save_call_state(sid, "greeting", {}, [{"role": "user", "content": "hello"}])
        store.take_message(call_sid=sid, caller=caller, name="Linda", callback_number=caller, reason="call me",
                           audio_path=str(calls / f"{sid}-voicemail.wav"))
        for table, column in (("calls", "started_at"), ("call_turns", "at"), ("call_questions", "at"),
                              ("call_resume", "saved_at"), ("messages", "at")):
            store.db.execute(f"update {table} set {column} = ? where call_sid = ?", [_days_ago_iso(days), sid])
        _old_file(calls / f"{sid}.wav", days)
        _old_file(calls / f"{sid}-voicemail.wav", days)
    _old_file(calls / "notes.txt", 40)  # not the server's: left alone
    past = store.create_booking(name="Linda Green", party_size=2, date=dt.date.today() - dt.timedelta(days=40),
                                time=dt.time(19, 0), caller=VICTIM, call_sid="CAold", notes="window seat")
    upcoming = store.create_booking(name="Sam Stone", party_size=2, date=dt.date.today() + dt.timedelta(days=3),
                                    time=dt.time(19, 0), caller=ATTACKER, call_sid="CAnew")

    with TestClient(line.app):  # the job's first sweep runs as the server starts
        pass

    assert sorted(f.name for f in calls.iterdir()) == ["CAnew-voicemail.wav", "CAnew.wav", "notes.txt"]
    for table in ("call_turns", "call_questions", "call_resume", "messages"):
        assert [r["call_sid"] for r in store.db[table].rows] == ["CAnew"], table
    assert {r["call_sid"]: r["caller"] for r in store.db["calls"].rows} == {"CAold": None, "CAnew": ATTACKER}
    kept = store.get(past.id)
    assert (kept.name, kept.caller, kept.notes, kept.party_size) == (FORGOTTEN_NAME, None, None, 2)
    assert "Linda" not in json.dumps(store.history(past.id))
    assert store.get(upcoming.id).name == "Sam Stone"


def test_forget_removes_one_callers_personal_data_and_keeps_their_bookings_as_counts(tmp_path, monkeypatch, business,
                                                                                     capsys, database):
    from bot.booking.store import BookingStore

    calls = tmp_path / "calls"
    monkeypatch.setenv("BOT_DATABASE_URL" if database.startswith("postgresql://") else "BOT_DB_PATH", database)
    monkeypatch.setenv("BOT_RECORDINGS_DIR", str(calls))
    store = BookingStore(database, business)
    for sid, caller in (("CA1", VICTIM), ("CA2", ATTACKER)):
        store.call_started(sid, caller)
        store.add_turn(sid, 1, "I'm Linda Green", "Thank you")
        store.take_message(call_sid=sid, caller=caller, name="Linda", callback_number=caller, reason="call me",
                           audio_path=str(calls / f"{sid}-voicemail.wav"))
        _old_file(calls / f"{sid}.wav", 0)
        _old_file(calls / f"{sid}-voicemail.wav", 0)
    booking = store.create_booking(name="Linda Green", party_size=4, date=dt.date(2026, 11, 28), time=dt.time(19, 30),
                                   caller=VICTIM, call_sid="CA1", notes="nut allergy")
    store.change_booking(booking.id, party_size=5, date=dt.date(2026, 11, 28), time=dt.time(19, 30), call_sid="CA1")

    assert main(["forget", VICTIM]) == 0
    assert "its bookings stay" in capsys.readouterr().out

    forgotten = store.get(booking.id)
    assert (forgotten.status, forgotten.name, forgotten.caller, forgotten.notes) == (
        "confirmed", FORGOTTEN_NAME, None, None)
    assert store.seats_taken(dt.date(2026, 11, 28), dt.time(19, 30)) == 5  # still holds its seats
    assert VICTIM not in json.dumps(store.history(booking.id)) and "Linda" not in json.dumps(store.history(booking.id))
    assert [r["call_sid"] for r in store.db["call_turns"].rows] == ["CA2"]
    assert [r["caller"] for r in store.db["messages"].rows] == [ATTACKER]
    assert {r["call_sid"]: r["caller"] for r in store.db["calls"].rows} == {"CA1": None, "CA2": ATTACKER}
    assert sorted(f.name for f in calls.iterdir()) == ["CA2-voicemail.wav", "CA2.wav"]


def test_forget_wants_a_phone_number(capsys):
    assert main(["forget", "Linda Green"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "E.164" in error


def test_phone_numbers_are_masked_in_logs(line):
    line = line()
    lines = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        line.client.post("/twilio/voice", data={"CallSid": "CA1", "From": VICTIM})
        logger.info(f"texted confirmation ABC to {VICTIM}")
    finally:
        logger.remove(sink)
    assert any("CA1" in entry for entry in lines) and any("0007" in entry for entry in lines)
    assert VICTIM not in "".join(lines)


@pytest.mark.parametrize("setting", [{"BOT_RETENTION_DAYS": "0"}, {"BOT_BOOKINGS_PER_NUMBER_PER_DAY": "many"},
                                     {"BOT_MAX_CALL_SECS": "5"}])
def test_a_bad_security_setting_is_one_line_naming_it(monkeypatch, setting):
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert next(iter(setting)) in str(error.value) and "\n" not in str(error.value)


def test_every_security_setting_is_documented():
    example = (PROJECT / ".env.example").read_text()
    for name in ("BOT_CALLS_PER_NUMBER_PER_HOUR", "BOT_BOOKINGS_PER_NUMBER_PER_DAY",
                 "BOT_REQUESTS_PER_SOURCE_PER_MINUTE", "BOT_MAX_CALL_SECS", "BOT_RETENTION_DAYS"):
        assert f"\n{name}=" in example, name


def test_the_replayed_scenarios_caller_id_counts_as_verified_unless_they_say_otherwise(tmp_path):
    from bot.replay.scenario import load_scenario

    assert load_scenario(PROJECT / "recordings" / "change").stir_verstat == VERIFIED
    scenario = tmp_path / "spoofed"
    scenario.mkdir()
    (scenario / "01.wav").write_bytes(b"")
    (scenario / "scenario.yaml").write_text("caller: '+15551230007'\nstir_verstat: null\nturns: [{audio: 01.wav}]\n")
    assert load_scenario(scenario).stir_verstat is None
