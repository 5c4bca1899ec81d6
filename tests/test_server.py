"""The server's HTTP and websocket surface: TwiML webhook, signatures, health, handshake errors."""

import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator

from bot.settings import load_settings
from server import create_app

FORM = {"CallSid": "CA123", "From": "+15551230001", "To": "+15550000000"}


def client(tmp_path, **settings) -> TestClient:
    return TestClient(create_app(load_settings(db_path=tmp_path / "b.db", **settings)))


def test_webhook_answers_twiml_that_streams_to_our_websocket_with_the_caller(tmp_path):
    response = client(tmp_path).post("/twilio/voice", data=FORM)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream.get("url") == "ws://testserver/twilio/media"
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {"caller": "+15551230001"}


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
    assert client(tmp_path).get("/healthz").json() == {"status": "ok", "active_calls": 0}


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
