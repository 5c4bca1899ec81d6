"""The server's HTTP and websocket surface: TwiML webhook, signatures, health, handshake errors."""

import json
import threading
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator

from bot.booking.store import BookingStore
from bot.settings import load_settings
from server import create_app

FORM = {"CallSid": "CA123", "From": "+15551230001", "To": "+15550000000"}


def client(tmp_path, **settings) -> TestClient:
    return TestClient(create_app(load_settings(db_path=tmp_path / "b.db", **settings)))


def test_webhook_answers_twiml_that_streams_to_our_websocket_with_a_stream_token_not_the_caller(tmp_path):
    response = client(tmp_path).post("/twilio/voice", data=FORM)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream.get("url") == "ws://testserver/twilio/media"
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert list(parameters) == ["stream_token"] and "+15551230001" not in response.text


def test_public_url_makes_a_secure_stream_url(tmp_path):
    response = client(tmp_path, public_url="https://line.example.com").post("/twilio/voice", data=FORM)
    assert ET.fromstring(response.text).find("./Connect/Stream").get("url") == "wss://line.example.com/twilio/media"


def test_signed_webhook_is_accepted(tmp_path):
    signature = RequestValidator("secret").compute_signature("http://testserver/twilio/voice", FORM)
    response = client(tmp_path, twilio_auth_token="secret").post(
        "/twilio/voice", data=FORM, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "forged"}])
def test_unsigned_or_forged_webhook_is_refused(tmp_path, headers):
    response = client(tmp_path, twilio_auth_token="secret").post("/twilio/voice", data=FORM, headers=headers)
    assert response.status_code == 403


def test_signature_over_other_parameters_is_refused(tmp_path):
    signature = RequestValidator("secret").compute_signature("http://testserver/twilio/voice", FORM)
    tampered = FORM | {"From": "+19999999999"}
    response = client(tmp_path, twilio_auth_token="secret").post(
        "/twilio/voice", data=tampered, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


def test_healthz(tmp_path):
    assert client(tmp_path).get("/healthz").json() == {"status": "ok", "active_calls": 0, "workers": 1}


@pytest.mark.parametrize(
    "first_message",
    [
        "not json",
        '{"event": "media", "media": {"payload": "AAAA"}}',  # media before start
        '{"event": "start", "start": {"streamSid": "MZ1"}}',  # no call SID
        '{"event": "start", "start": "nope"}',
        '["a", "list"]',
        '{"event": "start", "start": {"streamSid": "MZ1", "callSid": "CA1", "customParameters": [1]}}',
    ],
)
def test_a_stream_that_does_not_open_like_twilio_is_closed_and_the_server_carries_on(tmp_path, first_message):
    test_client = client(tmp_path)
    with test_client.websocket_connect("/twilio/media") as ws:
        ws.send_text('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
        ws.send_text(first_message)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1008
    assert test_client.get("/healthz").json()["active_calls"] == 0


def test_call_reports_are_for_loopback_or_the_admin_token(tmp_path):
    app = create_app(load_settings(db_path=tmp_path / "b.db", admin_token="t0ken"))
    remote = TestClient(app, client=("203.0.113.5", 5000))
    assert remote.get("/calls/CA1").status_code == 403
    assert remote.get("/calls/CA1", headers={"Authorization": "Bearer t0ken"}).status_code == 404
    app.state.store.call_started("CA1", "+1555")
    assert remote.get("/calls/CA1", headers={"Authorization": "Bearer t0ken"}).json()["call"]["caller"] == "+1555"


def test_webhook_brings_a_dropped_stream_back_and_hangs_up_an_ended_call(tmp_path):
    app = create_app(load_settings(db_path=tmp_path / "b.db"))
    test_client = TestClient(app)
    redirect = ET.fromstring(test_client.post("/twilio/voice", data=FORM).text).find("./Redirect")
    assert redirect.text == "http://testserver/twilio/voice" and redirect.get("method") == "POST"
    app.state.store.call_started("CA123", "+15551230001")
    app.state.store.call_ended("CA123", "booked")
    ended = ET.fromstring(test_client.post("/twilio/voice", data=FORM).text)
    assert [child.tag for child in ended] == ["Hangup"]


def test_a_webhook_that_beats_its_calls_end_waits_for_it_and_hangs_up(tmp_path):
    """Twilio follows the <Redirect> the moment the bot's websocket closes: the call's end is written a
    moment later (here from another connection, as by the worker carrying it)."""
    settings = load_settings(db_path=tmp_path / "b.db")
    app = create_app(settings)
    test_client = TestClient(app)
    app.state.store.call_started("CA123", "+15551230001")
    ending = threading.Timer(0.5, lambda: BookingStore(settings.db_path, settings.business).call_ended("CA123", "booked"))
    ending.start()
    answer = ET.fromstring(test_client.post("/twilio/voice", data=FORM).text)
    ending.join()
    assert [child.tag for child in answer] == ["Hangup"]


def test_a_webhook_for_a_dropped_call_brings_its_stream_back(tmp_path):
    app = create_app(load_settings(db_path=tmp_path / "b.db"))
    store = app.state.store
    store.call_started("CA123", "+15551230001")
    store.save_call_state("CA123", "ask_time", {}, [])
    store.call_interrupted("CA123")
    answer = ET.fromstring(TestClient(app).post("/twilio/voice", data=FORM).text)
    assert answer.find("./Connect/Stream") is not None


def _start(call_sid: str) -> str:
    return json.dumps({"event": "start", "start": {"streamSid": "MZ" + call_sid, "callSid": call_sid,
                                                    "customParameters": {}}})


def test_past_max_calls_a_new_caller_is_told_the_lines_are_busy_and_a_dropped_call_still_comes_back(tmp_path):
    app = create_app(load_settings(db_path=tmp_path / "b.db", max_calls=2))
    test_client = TestClient(app)
    let_in = [ET.fromstring(test_client.post("/twilio/voice", data=FORM | {"CallSid": sid}).text)
              for sid in ("CA1", "CA2")]
    assert all(twiml.find("./Connect/Stream") is not None for twiml in let_in)
    # Twilio may ask again for a call it has been let in: it keeps its place.
    assert ET.fromstring(test_client.post("/twilio/voice", data=FORM | {"CallSid": "CA1"}).text).find("./Connect")
    busy = ET.fromstring(test_client.post("/twilio/voice", data=FORM | {"CallSid": "CA3"}).text)
    assert [child.tag for child in busy] == ["Say", "Hangup"]
    assert busy.find("Say").text == app.state.settings.business.line.lines_busy
    app.state.store.call_started("CA0", "+15551230009")  # a call whose line dropped, reconnecting
    assert ET.fromstring(test_client.post("/twilio/voice", data=FORM | {"CallSid": "CA0"}).text).find("./Connect")
    metrics = test_client.get("/metrics").text
    assert 'bot_calls_turned_away_total{to="busy"}' in metrics


def test_past_max_calls_a_new_caller_goes_to_the_overflow_line(tmp_path):
    overflow = "https://second.example.com/twilio/voice"
    test_client = client(tmp_path, max_calls=1, overflow_url=overflow)
    test_client.post("/twilio/voice", data=FORM | {"CallSid": "CA1"})
    turned = ET.fromstring(test_client.post("/twilio/voice", data=FORM | {"CallSid": "CA2"}).text)
    assert [(c.tag, c.text, c.get("method")) for c in turned] == [("Redirect", overflow, "POST")]


def test_past_max_calls_a_stream_the_webhook_did_not_let_in_is_closed(tmp_path):
    test_client = client(tmp_path, max_calls=1)
    test_client.post("/twilio/voice", data=FORM | {"CallSid": "CA1"})  # holds the one place
    with test_client.websocket_connect("/twilio/media") as ws:
        ws.send_text('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
        ws.send_text(_start("CA2"))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1013  # try again later: Twilio's <Redirect> brings it to the webhook
    assert test_client.get("/healthz").json()["active_calls"] == 0


@pytest.mark.parametrize("setting", [{"BOT_MAX_CALLS": "-1"}, {"BOT_OVERFLOW_URL": "second-server"}])
def test_a_bad_capacity_setting_is_one_line_naming_it(monkeypatch, setting):
    from bot.settings import ConfigError

    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert next(iter(setting)) in str(error.value) and "\n" not in str(error.value)
