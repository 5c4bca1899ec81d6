"""The staff dashboard without a browser: the login, its cookie and CSRF checks, the booking rules staff
book under, messages' "done", the live registry and its feed, and the figures on known data.

(tests/test_dashboard_browser.py drives the same pages in headless Chromium with replayed calls.)
"""

import asyncio
import datetime as dt
import json
import re
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from bot.booking.store import BookingStore
from bot.call.live import LiveCalls
from bot.call.pipeline import call_wanted
from bot.dashboard import live, queries
from bot.settings import ConfigError, load_settings
from processors.transcript import TurnRecord
from server import create_app
from tests.conftest import PROJECT

PASSWORD = "front-desk-2026"
HTML = {"Accept": "text/html"}


def _next_weekday(weekday: int) -> dt.date:
    day = dt.date.today() + dt.timedelta(days=1)
    while day.weekday() != weekday or day in {dt.date(day.year, 12, 25), dt.date(day.year, 12, 26), dt.date(day.year, 1, 1)}:
        day += dt.timedelta(days=1)
    return day


WEDNESDAY = _next_weekday(2)  # open 17:00-21:30
MONDAY = _next_weekday(0)  # closed


def make_app(tmp_path, database=None, **settings):
    """The server with its dashboard; ``database`` (the fixture: an SQLite file or a PostgreSQL URL), else b.db."""
    where = {"database_url": database} if str(database).startswith("postgresql://") else {"db_path": database or tmp_path / "b.db"}
    settings = where | {"recordings_dir": tmp_path / "calls", "staff_password": PASSWORD} | settings
    return create_app(load_settings(**settings))


def logged_in(app, name: str = "Maria", password: str = PASSWORD) -> tuple[TestClient, str]:
    client = TestClient(app)
    response = client.post("/dashboard/login", data={"password": password, "name": name}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client, csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/dashboard/bookings").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def book(store: BookingStore, name: str, size: int, day: dt.date, at: str, **kw):
    return store.create_booking(name=name, party_size=size, date=day, time=dt.time.fromisoformat(at), caller=None,
                                call_sid=kw.pop("call_sid", None), **kw)


# Who may see it


def test_with_no_password_or_token_set_the_dashboard_is_off_and_says_what_to_set(tmp_path):
    client = TestClient(make_app(tmp_path, staff_password=None))
    response = client.get("/dashboard/login")
    assert response.status_code == 503 and "BOT_STAFF_PASSWORD" in response.text
    assert client.post("/dashboard/login", data={"password": ""}).status_code == 503
    assert client.get("/dashboard/bookings", headers=HTML, follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "path", ["/dashboard/bookings", "/dashboard/messages", "/dashboard/calls", "/dashboard/calls/CA1", "/dashboard/line"]
)
def test_pages_send_a_browser_without_a_session_to_the_login_and_come_back_after_it(tmp_path, path):
    client = TestClient(make_app(tmp_path))
    response = client.get(path, headers=HTML, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/login?next=")
    login_page = client.get(response.headers["location"])
    assert f'name="next" value="{path}"' in login_page.text
    back = client.post("/dashboard/login", data={"password": PASSWORD, "next": path}, follow_redirects=False)
    assert back.headers["location"] == path


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/dashboard/live/events"), ("GET", "/dashboard/messages/1/audio"),
     ("GET", "/dashboard/calls/CA1/recording/0"), ("POST", "/dashboard/bookings/1/cancel"),
     ("POST", "/dashboard/messages/1/done"), ("POST", "/dashboard/bookings"), ("POST", "/dashboard/logout")],
)
def test_feeds_recordings_and_forms_without_a_session_are_refused(tmp_path, method, path):
    assert TestClient(make_app(tmp_path)).request(method, path).status_code == 401


def test_the_admin_token_logs_in_too_and_a_wrong_password_does_not(tmp_path):
    app = make_app(tmp_path, admin_token="admin-token-123")
    client = TestClient(app)
    wrong = client.post("/dashboard/login", data={"password": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not right" in wrong.text and "bot_dashboard" not in wrong.headers.get("set-cookie", "")
    admin, _ = logged_in(app, name="", password="admin-token-123")
    assert "admin" in admin.get("/dashboard/bookings").text


def test_too_many_wrong_passwords_lock_the_address_out_even_for_the_right_one(tmp_path):
    client = TestClient(make_app(tmp_path))
    for _ in range(10):
        assert client.post("/dashboard/login", data={"password": "guess"}).status_code == 401
    assert client.post("/dashboard/login", data={"password": PASSWORD}).status_code == 429


def test_the_session_cookie_cannot_be_forged_and_ends_with_logout_or_a_new_password(tmp_path):
    secret = "s" * 40
    app = make_app(tmp_path, dashboard_secret=secret)
    client, csrf = logged_in(app)
    cookie = client.cookies.get("bot_dashboard")
    body, signature = cookie.split(".")
    # Another role in the same signed cookie: refused.
    forged = json.loads(queries_b64(body)) | {"role": "admin"}
    stranger = TestClient(app, cookies={"bot_dashboard": f"{b64(json.dumps(forged))}.{signature}"})
    assert stranger.get("/dashboard/bookings", headers=HTML, follow_redirects=False).status_code == 303
    # The same secret with another staff password: the old sessions end.
    moved = make_app(tmp_path, dashboard_secret=secret, staff_password="a-new-password")
    assert TestClient(moved, cookies={"bot_dashboard": cookie}).get("/dashboard/line").status_code == 401
    assert TestClient(make_app(tmp_path, dashboard_secret=secret), cookies={"bot_dashboard": cookie}).get(
        "/dashboard/line").status_code == 200
    # Logging out ends the session, even for a copy of its cookie.
    copy = TestClient(app, cookies={"bot_dashboard": cookie})
    assert client.post("/dashboard/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert copy.get("/dashboard/line").status_code == 401


def b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def queries_b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def test_the_cookie_is_http_only_same_site_and_secure_behind_https(tmp_path):
    plain = TestClient(make_app(tmp_path)).post("/dashboard/login", data={"password": PASSWORD}, follow_redirects=False)
    cookie = plain.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/dashboard" in cookie and "secure" not in cookie
    https = TestClient(make_app(tmp_path, public_url="https://line.example.com")).post(
        "/dashboard/login", data={"password": PASSWORD}, follow_redirects=False)
    assert "secure" in https.headers["set-cookie"].lower()


def test_logging_in_never_sends_the_browser_to_another_site(tmp_path):
    client = TestClient(make_app(tmp_path))
    for target in ("https://evil.example", "//evil.example", "/\\evil.example", "/elsewhere"):
        response = client.post("/dashboard/login", data={"password": PASSWORD, "next": target}, follow_redirects=False)
        assert response.headers["location"] == "/dashboard/bookings", target


def test_pages_are_not_cached_and_allow_no_scripts_or_frames_from_elsewhere(tmp_path):
    client, _ = logged_in(make_app(tmp_path))
    headers = client.get("/dashboard/bookings").headers
    assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in headers["content-security-policy"]


# Forms: CSRF


def test_a_form_without_its_token_or_from_another_site_changes_nothing(tmp_path):
    app = make_app(tmp_path)
    booking = book(app.state.store, "Ann Lee", 2, WEDNESDAY, "19:00")
    client, csrf = logged_in(app)
    assert client.post(f"/dashboard/bookings/{booking.id}/cancel", data={}).status_code == 403
    assert client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"csrf": "forged"}).status_code == 403
    elsewhere = {"Origin": "https://evil.example"}
    assert client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"csrf": csrf}, headers=elsewhere).status_code == 403
    assert app.state.store.get(booking.id).status == "confirmed"
    # Another staff session's token is not this one's.
    _, other_csrf = logged_in(app, name="Sam")
    assert client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"csrf": other_csrf}).status_code == 403
    done = client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and app.state.store.get(booking.id).status == "cancelled"


# Bookings staff make: the phone line's rules


def add(client, csrf, **fields):
    form = {"csrf": csrf, "name": "Walk In", "party_size": "2", "date": WEDNESDAY.isoformat(), "time": "19:00"} | fields
    return client.post("/dashboard/bookings", data=form, follow_redirects=False)


def test_staff_add_a_booking_with_a_history_row_naming_them(tmp_path, database):
    app = make_app(tmp_path, database)
    client, csrf = logged_in(app)
    response = add(client, csrf, name="  Jo   Bloggs ", phone="+44 20 7946 0958", notes="Birthday")
    assert response.status_code == 303 and "ok=created" in response.headers["location"]
    (made,) = app.state.store.upcoming_bookings(WEDNESDAY)
    assert (made.name, made.party_size, made.caller, made.call_sid, made.notes) == (
        "Jo Bloggs", 2, "+44 20 7946 0958", None, "Birthday")
    (history,) = app.state.store.history(made.id)
    assert (history["action"], history["call_sid"], history["staff"]) == ("created", None, "staff: Maria")
    page = client.get(response.headers["location"]).text
    assert f"Booked: code {made.code}" in page and "taken by staff: Maria" in page


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"date": MONDAY.isoformat()}, "closed that day"),
        ({"party_size": "9"}, "up to 8 people"),
        ({"time": "16:00"}, "not one of the start times"),
        ({"time": "19:07"}, "not one of the start times"),
        ({"date": (dt.date.today() - dt.timedelta(days=1)).isoformat()}, "That day has passed"),
        ({"date": (dt.date.today() + dt.timedelta(days=90)).isoformat()}, "60 days ahead"),
        ({"name": ""}, "Name"),
        ({"party_size": "two"}, "a number"),
        ({"phone": "call me"}, "Phone"),
        ({"time": ""}, "pick a time"),
    ],
)
def test_a_booking_the_line_would_refuse_is_refused_in_words_and_nothing_is_written(tmp_path, fields, words):
    app = make_app(tmp_path)
    client, csrf = logged_in(app)
    response = add(client, csrf, **fields)
    assert response.status_code == 409 and words in response.text
    assert not list(app.state.store.db["bookings"].rows)


def test_a_full_slot_is_refused_with_the_nearest_free_times_and_no_double_booking(tmp_path, database):
    app = make_app(tmp_path, database)
    store = app.state.store
    for n in range(5):
        book(store, f"Party {n}", 8, WEDNESDAY, "19:00")  # 40 of 40 seats from 19:00
    client, csrf = logged_in(app)
    full = add(client, csrf, time="19:30")
    assert full.status_code == 409 and "does not fit (40 of 40 seats taken)" in full.text
    assert "Nearest free: 17:30, 20:30" in full.text  # a table from 17:45 would still be there at 19:00
    assert add(client, csrf, time="20:30").status_code == 303
    twice = add(client, csrf, time="20:30", name="walk in")
    assert twice.status_code == 409 and "already booked then" in twice.text
    assert sum(1 for b in store.upcoming_bookings(WEDNESDAY) if b.name == "Walk In") == 1


def test_staff_change_a_booking_under_the_same_rules(tmp_path, database):
    app = make_app(tmp_path, database)
    store = app.state.store
    mine = book(store, "Ann Lee", 2, WEDNESDAY, "18:00", call_sid="CA1")
    for n in range(5):
        book(store, f"Party {n}", 8, WEDNESDAY, "20:00")
    client, csrf = logged_in(app)
    change = {"csrf": csrf, "party_size": "4", "date": WEDNESDAY.isoformat()}
    refused = client.post(f"/dashboard/bookings/{mine.id}/change", data=change | {"time": "20:00"})
    assert refused.status_code == 409 and "Full then" in refused.text and store.get(mine.id).time == dt.time(18)
    moved = client.post(f"/dashboard/bookings/{mine.id}/change", data=change | {"time": "18:15"}, follow_redirects=False)
    assert moved.status_code == 303 and "ok=changed" in moved.headers["location"]
    now = store.get(mine.id)
    assert (now.party_size, now.time) == (4, dt.time(18, 15))
    last = store.history(mine.id)[-1]
    assert (last["action"], last["call_sid"], last["staff"]) == ("changed", None, "staff: Maria")
    page = client.get(moved.headers["location"]).text
    assert "party size 2 → 4" in page and "time 18:00 → 18:15" in page and 'href="/dashboard/calls/CA1"' in page


def test_cancelling_twice_says_so_and_writes_one_history_row(tmp_path, database):
    app = make_app(tmp_path, database)
    booking = book(app.state.store, "Ann Lee", 2, WEDNESDAY, "19:00")
    client, csrf = logged_in(app)
    client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"csrf": csrf})
    again = client.post(f"/dashboard/bookings/{booking.id}/cancel", data={"csrf": csrf, "day": WEDNESDAY.isoformat()})
    assert again.status_code == 409 and "already cancelled" in again.text
    assert [h["action"] for h in app.state.store.history(booking.id)] == ["created", "cancelled"]


def test_the_day_shows_seats_taken_per_start_time_against_capacity(tmp_path, database):
    app = make_app(tmp_path, database)
    store = app.state.store
    book(store, "Ann Lee", 6, WEDNESDAY, "19:00")
    book(store, "Bo Chen", 4, WEDNESDAY, "20:00")
    slots = {s["time"]: s["taken"] for s in queries.seats_by_slot(store, WEDNESDAY)}
    assert slots["17:00"] == 0 and slots["17:30"] == 0 and slots["17:45"] == 6 and slots["19:00"] == 10 and slots["20:30"] == 4
    client, _ = logged_in(app)
    page = client.get(f"/dashboard/bookings?day={WEDNESDAY}").text
    chart = json.loads(re.search(r'<script type="application/json" id="seats-chart">(.*?)</script>', page, re.DOTALL).group(1))
    taken = chart["data"]["datasets"][1]["data"]
    assert taken == [queries.seats_by_slot(store, WEDNESDAY)[i]["taken"] for i in range(len(taken))]
    assert chart["data"]["datasets"][0]["data"][0] == store.business.capacity_seats


# Messages


def test_staff_mark_a_message_done_and_can_undo_it(tmp_path, database):
    app = make_app(tmp_path, database)
    store = app.state.store
    message = store.take_message(call_sid="CA1", caller="+15550001", name="Tom", callback_number=None, reason="umbrella")
    client, csrf = logged_in(app)
    assert 'data-testid="open-messages">1<' in client.get("/dashboard/messages").text
    client.post(f"/dashboard/messages/{message}/done", data={"csrf": csrf, "done": "1"})
    row = queries.message(store, message)
    assert row["done_at"] and row["done_by"] == "staff: Maria"
    assert "Nothing to call back" in client.get("/dashboard/messages").text
    client.post(f"/dashboard/messages/{message}/done", data={"csrf": csrf, "done": "0"})
    assert queries.message(store, message)["done_at"] is None
    assert client.post("/dashboard/messages/999/done", data={"csrf": csrf}).status_code == 404


def test_only_a_messages_own_wav_is_served(tmp_path):
    app = make_app(tmp_path)
    store = app.state.store
    secret = tmp_path / "b.db"
    bad = store.take_message(call_sid="CA1", caller=None, name=None, callback_number=None, reason="x",
                             audio_path=str(secret))
    client, _ = logged_in(app)
    assert client.get(f"/dashboard/messages/{bad}/audio").status_code == 404
    assert client.get("/dashboard/calls/..%2F..%2Fetc/recording/0").status_code == 404


# Calls


def test_a_call_page_shows_the_callers_words_as_text_never_as_markup(tmp_path, database):
    app = make_app(tmp_path, database)
    store = app.state.store
    store.call_started("CA1", "+15550001")
    store.add_turn("CA1", 0, None, "Hello!")
    store.add_turn("CA1", 1, "<script>alert(1)</script>", "Sorry?")
    store.call_ended("CA1", "goodbye")
    client, _ = logged_in(app)
    page = client.get("/dashboard/calls/CA1").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert client.get("/dashboard/calls/CAnone").status_code == 404


def test_what_a_caller_wanted_comes_from_the_flow_state():
    def wanted(**state):
        return call_wanted(SimpleNamespace(state=state))

    assert wanted(booking={"party_size": 2}) == "booking"
    assert wanted(booking={}, changing=3, purpose="change") == "change"
    assert wanted(purpose="cancel") == "cancel"
    assert wanted() is None


async def test_the_live_registry_tells_its_listeners_each_start_turn_and_end():
    registry = LiveCalls()
    queue = registry.subscribe()
    node = {"now": "greeting"}
    registry.started("CA1", "+15550001", lambda: node["now"])
    node["now"] = "ask_time"
    registry.turn(TurnRecord("CA1", 1, "a table for two", "What time?"))
    registry.turn(TurnRecord("CA-other", 1, "x", "y"))  # not a call of this registry: ignored
    registry.ended("CA1", "booked")
    await asyncio.sleep(0)
    events = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [e["event"] for e in events] == ["started", "turn", "ended"]
    assert events[1]["node"] == "ask_time" and events[1]["turn"]["caller_heard"] == "a table for two"
    assert events[2]["outcome"] == "booked" and registry.snapshot() == []


async def test_the_live_feed_sends_a_snapshot_then_the_calls_events():
    registry = LiveCalls()
    registry.started("CA1", "+15550001", lambda: "greeting")

    class Open:
        async def is_disconnected(self):
            return False

    feed = live.events(Open(), registry, stream_secs=5)
    assert (await anext(feed)).startswith("retry:")
    snapshot = await anext(feed)
    assert snapshot.startswith("event: snapshot\n") and '"call_sid":"CA1"' in snapshot
    registry.turn(TurnRecord("CA1", 1, "hi", "Hello"))
    turn = await asyncio.wait_for(anext(feed), 3)
    assert turn.startswith("event: turn\n") and '"bot_said":"Hello"' in turn
    await feed.aclose()
    assert not registry._listeners


# Figures, on data whose answers are known


def test_line_figures_on_known_calls(database, business):
    store = BookingStore(database, business)
    endings = queries.ending_nodes(PROJECT / "flows" / "booking.yaml")
    assert {"booked", "goodbye", "message_taken", "voicemail_saved", "cancelled"} <= endings and "confirm" not in endings
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)

    def call(sid, seconds, outcome, wanted=None, said=("Hello there.",), booked=False):
        store.db["calls"].insert({"call_sid": sid, "caller": "+1555", "started_at": queries.utc_iso(started),
                                  "ended_at": queries.utc_iso(started + dt.timedelta(seconds=seconds)),
                                  "outcome": outcome, "wanted": wanted})
        for n, text in enumerate(said):
            store.add_turn(sid, n, None, text)
        if booked:
            book(store, sid, 2, WEDNESDAY, "19:00", call_sid=sid)

    call("CA1", 60, "booked", "booking", said=("a" * 100, "b" * 100), booked=True)  # 1 min, 200 chars, 2 replies
    call("CA2", 120, "ask_time", "booking")  # wanted one, hung up: not completed
    call("CA3", 30, "message_taken")  # a message: completed, did not want a booking
    call("CA4", 90, "dropped", "booking")  # the line dropped
    costs = queries.CostModel(0.01, 0.02, 0.5, 0.1, cloud_stt=True, cloud_llm=True, cloud_tts=False)
    today = dt.datetime.now().date()
    f = queries.line_figures(store, costs, endings, today - dt.timedelta(days=6), today)
    assert (f["calls"], f["wanted_booking"], f["got_booking"]) == (4, 3, 1)
    assert f["booking_success"] == pytest.approx(1 / 3)
    assert (f["completed"], f["ended"]) == (2, 4) and f["completion"] == 0.5
    minutes = (60 + 120 + 30 + 90) / 60
    replies = 2 + 1 + 1 + 1
    assert f["cost_per_call"] == pytest.approx((minutes * (0.01 + 0.02) + replies * 0.1) / 4)  # TTS embedded: 0
    assert f["cost_parts_per_call"]["tts"] == 0
    assert sum(f["calls_per_hour"]) == 4 and len(f["per_day"]) == 7 and f["per_day"][-1]["calls"] == 4
    (made,) = store.bookings_of_call("CA1")
    listed = {c["call_sid"]: c for c in queries.recent_calls(store, costs, endings)}
    assert listed["CA1"]["codes"] == [(made.code, "confirmed")] and listed["CA2"]["codes"] == []
    assert (listed["CA1"]["booked"], listed["CA1"]["tts_chars"], listed["CA3"]["completed"]) == (1, 200, True)


def test_prices_and_the_staff_password_are_checked_with_one_line_naming_the_setting(monkeypatch):
    for name, value in (("BOT_STAFF_PASSWORD", "short"), ("BOT_PRICE_PHONE_PER_MIN", "-1"),
                        ("BOT_DASHBOARD_SECRET", "too short"), ("BOT_PRICE_LLM_PER_TURN", "cheap")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError) as error:
            load_settings()
        assert str(error.value).startswith(name) and "\n" not in str(error.value)
        monkeypatch.delenv(name)
