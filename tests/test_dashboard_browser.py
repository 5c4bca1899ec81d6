"""The staff dashboard in a real browser: Debian's headless Chromium, driven by Selenium, against the real server.

One in-process server (bot.replay.runner) with a staff password serves the
dashboard and takes simulated Twilio calls. Staff log in, watch a replayed call
(``recordings/one-sentence``) appear on the live page turn by turn and its booking
in the day's list, open the call, play a voicemail and mark it done, cancel a
booking and add one taken in person; without logging in every page and feed is
refused. Two more short calls (``hang-up``, ``ask-for-human``) make a set whose
figures are known: one of the two calls that wanted a booking got one, two of the
three calls completed, and the cost per call is the configured prices times what
the store recorded. The bot's lines are short tones (TTS null): what it said is
in the store, and each call takes seconds.

Each page's screenshot is taken at a tablet's width; with DASHBOARD_SCREENSHOTS=docs
they are written to docs/dashboard-*.png (see docs/dashboard.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver  # a dev dependency: `bash scripts/run.sh test` installs it
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.dashboard import queries
from bot.measure.stats import percentiles
from bot.replay.runner import (
    in_process_server,
    replay_scenario,
    replay_settings,
    store_reports,
)
from bot.replay.scenario import load_scenario
from bot.settings import Provider
from tests.conftest import PROJECT

PASSWORD = "front-desk-2026"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TABLET = (1024, 768)
SCENARIO_DAY = "2026-11-25"  # recordings/one-sentence books "tomorrow" from its clock, 2026-11-24
PHONE_PER_MIN = 0.012  # the priced part on the embedded engines (the rest costs 0 there)
LIVE_SID = "CAdashboardlive0000000000000000001"


def scenario(name: str):
    return load_scenario(PROJECT / "recordings" / name)


class Line:
    """The real server on its own event loop in a thread, for a synchronous browser to talk to."""

    def __init__(self, settings):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dashboard-line", daemon=True)
        self.thread.start()
        self._server = in_process_server(settings)
        media_url, self.store = self.run(self._server.__aenter__())
        self.base = media_url.replace("ws://", "http://").removesuffix("/twilio/media")

    def run(self, work, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def call(self, name: str, call_sid: str | None = None):
        """Start replaying a scenario as one call; returns a future of its ReplayResult."""
        url = self.base.replace("http://", "ws://") + "/twilio/media"
        return asyncio.run_coroutine_threadsafe(
            replay_scenario(scenario(name), url, store_reports(self.store), hang_up_wait=5.0, call_sid=call_sid),
            self.loop,
        )

    def close(self) -> None:
        self.run(self._server.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard")
    settings = replay_settings(
        db_path=tmp / "bookings.db", recordings_dir=tmp / "calls", tts=Provider.NULL, staff_password=PASSWORD,
        price_phone_per_min=PHONE_PER_MIN, price_stt_per_min=0.5, price_tts_per_1k_chars=0.5, price_llm_per_turn=0.5,
    )
    running = Line(settings)
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: `bash scripts/run.sh test` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={TABLET[0]},{TABLET[1]}", "--autoplay-policy=no-user-gesture-required",
                     "--mute-audio", "--lang=en-GB"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    wanted = os.environ.get("DASHBOARD_SCREENSHOTS")
    folder = (PROJECT / wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(driver, folder: Path, name: str) -> Path:
    """The whole page at the tablet's width."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": TABLET[0], "height": min(max(height, TABLET[1]), 3000), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    path = folder / f"dashboard-{name}.png"
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert path.stat().st_size > 10_000
    return path


def wait(driver, condition, timeout: float = 30, message: str = ""):
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)).until(
        condition, message
    )


def text_of(driver, selector: str, containing: str, timeout: float = 30) -> str:
    """The text of ``selector`` once it contains ``containing`` (the page may still be loading)."""
    return wait(driver, lambda d: containing in d.find_element(By.CSS_SELECTOR, selector).text
                and d.find_element(By.CSS_SELECTOR, selector).text, timeout, f"no {containing!r} in {selector}")


def css(driver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def get_status(url: str, cookie: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Accept": "text/event-stream"} | ({"Cookie": cookie} if cookie else {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def log_in(driver, line, name: str = "Maria"):
    driver.get(line.base + "/dashboard/login")
    if "/dashboard/login" not in driver.current_url:  # still logged in from an earlier test
        return
    css(driver, "input[name=name]").send_keys(name)
    css(driver, "input[name=password]").send_keys(PASSWORD)
    css(driver, "form button[type=submit]").click()
    wait(driver, lambda d: "/dashboard/bookings" in d.current_url)


# Refused without logging in


def test_without_logging_in_every_page_and_feed_is_refused(line, browser, shots):
    browser.delete_all_cookies()
    for page in ("/dashboard/bookings", "/dashboard/messages", "/dashboard/calls", "/dashboard/line"):
        browser.get(line.base + page)
        assert "/dashboard/login" in browser.current_url, page
        assert css(browser, "input[name=password]").is_displayed()
    # The live feed, recordings and forms answer 401 to a browser with no session.
    assert get_status(line.base + "/dashboard/live/events") == 401
    assert get_status(line.base + "/dashboard/messages/1/audio") == 401
    # A wrong password is refused, and says so.
    css(browser, "input[name=password]").send_keys("not the password")
    css(browser, "form button[type=submit]").click()
    text_of(browser, ".error", "not right")
    assert "/dashboard/login" in browser.current_url and not browser.get_cookies()
    screenshot(browser, shots, "login")


def test_staff_log_in_and_a_replayed_call_appears_live_then_its_booking_in_the_days_list(line, browser, shots):
    log_in(browser, line)
    browser.get(line.base + "/dashboard/calls")
    wait(browser, lambda d: d.find_element(By.ID, "live-status").text.startswith("Live"), message="no live feed")

    call = line.call("one-sentence", call_sid=LIVE_SID)
    card = f"article[data-call='{LIVE_SID}']"
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, card), message="the call never appeared live")
    assert "+15551230001" in css(browser, card).text
    assert css(browser, "#live-count").text.endswith(" live")
    # The caller's words as the bot heard them, while the call is still going.
    heard = wait(browser, lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, f"{card} .transcript .caller")],
                 message="no caller turn appeared live")
    assert "johnson" in heard[0].lower()
    assert css(browser, f"{card} .node").text  # the flow node it is at
    screenshot(browser, shots, "live")
    try:
        wait(browser, lambda d: "ended" in d.find_element(By.CSS_SELECTOR, card).get_attribute("class"), timeout=60)
    except TimeoutException:
        pytest.fail(f"the call did not end on the live page: {css(browser, card).text}")
    result = call.result(60)
    assert result.expect_met, result
    assert "booked" in css(browser, f"{card} .node").text

    for name, size, at in (("Priya Shah", 6, "18:30"), ("Leo Martin", 2, "19:15"), ("Ana Costa", 8, "20:00")):
        line.store.create_booking(name=name, party_size=size, date=dt.date.fromisoformat(SCENARIO_DAY),
                                  time=dt.time.fromisoformat(at), caller="+15550001111", call_sid=None, staff="staff: Sam")
    browser.get(line.base + f"/dashboard/bookings?day={SCENARIO_DAY}")
    booking = css(browser, f"li.booking[data-code='{result.booking['code']}']")
    assert "Sarah Johnson" in booking.text and "19:00" in booking.text and "4 people" in booking.text
    assert css(browser, "[data-testid=booking-count]").text == "4" and css(browser, "[data-testid=covers]").text == "20"
    screenshot(browser, shots, "bookings")
    booking.find_element(By.LINK_TEXT, "the call").click()
    wait(browser, lambda d: LIVE_SID in d.current_url)
    transcript = css(browser, "[data-testid=transcript]").text
    assert "Sarah Johnson" in transcript or "Johnson" in transcript
    recording = css(browser, "audio[data-testid=call-recording]")
    wait(browser, lambda d: d.execute_script("return arguments[0].duration > 1", recording), message="no recording")
    assert browser.find_elements(By.CSS_SELECTOR, "canvas[data-chart=stages-chart]")  # latency by stage, drawn
    screenshot(browser, shots, "call")


def test_a_voicemail_plays_in_the_browser_and_is_marked_done(line, browser, shots, known_calls):
    audio = line.store.path.parent / "calls" / "CAvoicemail-voicemail.wav"
    audio.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "recordings" / "misunderstood" / "05-message.wav", audio)
    message_id = line.store.take_message(
        call_sid="CAvoicemail", caller="+15551230014", name=None, callback_number=None,
        reason="It's about a party for my office.", audio_path=str(audio),
    )
    log_in(browser, line)
    browser.get(line.base + "/dashboard/messages")
    item = f"li[data-message='{message_id}']"
    player = css(browser, f"{item} audio[data-testid=voicemail-audio]")
    browser.execute_script("arguments[0].play()", player)
    wait(browser, lambda d: d.execute_script("return arguments[0].currentTime > 0.3", player), message="did not play")
    assert browser.execute_script("return arguments[0].duration", player) == pytest.approx(2.4, abs=1.5)
    browser.execute_script("arguments[0].pause()", player)
    screenshot(browser, shots, "messages")

    css(browser, f"{item} button[data-testid=done]").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f".messages.done {item}"))
    row = queries.message(line.store, message_id)
    assert row["done_at"] and row["done_by"] == "staff: Maria"


def test_staff_cancel_a_booking_through_the_stores_rules(line, browser, shots):
    made = line.store.upcoming_bookings(dt.date.fromisoformat(SCENARIO_DAY), name="Sarah Johnson")
    assert made, "the replayed call's booking"
    booking = made[0]
    log_in(browser, line)
    browser.get(line.base + f"/dashboard/bookings?day={SCENARIO_DAY}")
    item = css(browser, f"li.booking[data-code='{booking.code}']")
    item.find_element(By.XPATH, ".//summary[normalize-space()='Cancel']").click()
    item.find_element(By.CSS_SELECTOR, "button[data-testid=confirm-cancel]").click()
    text_of(browser, "[data-testid=flash]", f"Cancelled booking {booking.code}")
    assert css(browser, f".cancelled li[data-code='{booking.code}']")
    assert line.store.get(booking.id).status == "cancelled"
    last = line.store.history(booking.id)[-1]
    assert (last["action"], last["call_sid"], last["staff"]) == ("cancelled", None, "staff: Maria")


def _next_open_day(line) -> dt.date:
    day = dt.date.today() + dt.timedelta(days=1)
    while not line.store.business.start_times_on(day):
        day += dt.timedelta(days=1)
    return day


def test_staff_add_a_booking_taken_in_person_and_cannot_double_book(line, browser, shots):
    day = _next_open_day(line)
    for name, size, at in (("Priya Shah", 6, "19:00"), ("Leo Martin", 2, "19:30"), ("Ana Costa", 8, "20:00")):
        line.store.create_booking(name=name, party_size=size, date=day, time=dt.time.fromisoformat(at),
                                  caller="+15550001111", call_sid=None, staff="staff: Sam")
    log_in(browser, line)
    browser.get(line.base + f"/dashboard/bookings?day={day}")

    def add(name: str, party: int, at: str) -> None:
        if not css(browser, "#add").get_attribute("open"):  # open again after a refusal
            css(browser, "#add summary").click()
        css(browser, "#add input[name=name]").clear()
        css(browser, "#add input[name=name]").send_keys(name)
        size = css(browser, "#add input[name=party_size]")
        size.clear()
        size.send_keys(str(party))
        css(browser, f"#add select[name=time] option[value='{at}']").click()
        css(browser, "#add input[name=notes]").clear()
        css(browser, "#add input[name=notes]").send_keys("Window table")
        css(browser, "#add button[type=submit]").click()

    add("Walk In", 3, "18:00")
    flash = text_of(browser, "[data-testid=flash]", "Booked: code")
    code = flash.removeprefix("Booked: code ").rstrip(".")
    made = next(b for b in line.store.upcoming_bookings(day) if b.code == code)
    assert (made.name, made.party_size, made.time, made.call_sid, made.notes) == ("Walk In", 3, dt.time(18), None, "Window table")
    assert line.store.history(made.id)[0]["staff"] == "staff: Maria"
    assert "taken by staff: Maria" in css(browser, f"li.booking[data-code='{code}']").text

    add("Walk In", 3, "18:00")  # the same again: refused, nothing written
    text_of(browser, "[data-testid=error]", "already booked")
    add("Big Party", 12, "18:00")  # past the party limit the phone line keeps to
    text_of(browser, "[data-testid=error]", "up to 8")
    assert sum(b.name in ("Walk In", "Big Party") for b in line.store.upcoming_bookings(day)) == 1
    screenshot(browser, shots, "add-booking")


# Figures whose right answers are known


@pytest.fixture(scope="module")
def known_calls(line):
    """Two more calls: one that wanted a booking and hung up, one that asked for a person and left a message."""
    results = [line.call(name).result(120) for name in ("hang-up", "ask-for-human")]  # one at a time: two cores
    assert all(r.expect_met for r in results), results
    return [LIVE_SID, *(r.call_sid for r in results)]


def test_the_line_page_shows_the_known_booking_success_completion_and_cost(line, browser, shots, known_calls):
    store = line.store
    log_in(browser, line)
    browser.get(line.base + "/dashboard/line")

    def figure(name: str) -> str:
        return css(browser, f"[data-figure={name}]").text

    # one-sentence booked; hang-up wanted a booking and hung up; ask-for-human wanted a person.
    assert figure("calls") == "3"
    assert figure("booking-success") == "50%"
    assert figure("booking-success-counts").startswith("1 of 2 ")
    assert figure("completion") == "67%"  # hang-up was cut off before the flow ended it
    assert figure("messages") == "1"
    assert figure("fallbacks") == "0"
    # Turned-away calls are not in the store: this process's metric, since it started (other tests' too).
    assert figure("turned-away") == str(int(sum(queries.metric_totals("bot_calls_turned_away").values())))

    # Cost: on the embedded engines only the phone line is priced; every minute from the store's own times.
    rows = [store.call_report(sid)["call"] for sid in known_calls]
    minutes = [queries.seconds_between(r["started_at"], r["ended_at"]) / 60 for r in rows]
    assert all(0.05 < m < 2 for m in minutes), minutes
    assert figure("cost-per-call") == f"${PHONE_PER_MIN * sum(minutes) / 3:,.4f}"
    # With every job on a cloud provider: + STT minutes, + TTS characters, + LLM replies, at this module's prices.
    turns = [store.call_report(sid)["turns"] for sid in known_calls]
    expected = sum(
        m * (PHONE_PER_MIN + 0.5) + sum(len(t["bot_said"]) for t in ts) / 1000 * 0.5 + len(ts) * 0.5
        for m, ts in zip(minutes, turns, strict=True)
    ) / 3
    cloud = queries.CostModel(PHONE_PER_MIN, 0.5, 0.5, 0.5, cloud_stt=True, cloud_llm=True, cloud_tts=True)
    today = dt.date.today()
    figures = queries.line_figures(store, cloud, queries.ending_nodes(PROJECT / "flows" / "booking.yaml"), today, today)
    assert figures["cost_per_call"] == pytest.approx(expected)
    # Voice to voice: the store's own turn_latency rows.
    latencies = [r["voice_to_voice_ms"] for sid in known_calls for r in store.turn_latencies(sid)]
    assert figure("p50") == f"{percentiles(latencies)['p50']:,.0f} ms"
    assert "embedded" in css(browser, "table.cost").text  # the page says the embedded engines cost nothing
    canvases = browser.find_elements(By.CSS_SELECTOR, "canvas[data-chart]")
    assert len(canvases) == 5  # drawn by the vendored Chart.js from the figures on the page:
    hours = browser.execute_script("return Chart.getChart(arguments[0]).data.datasets[0].data", canvases[0])
    assert sum(hours) == 3
    screenshot(browser, shots, "line")

    browser.get(line.base + "/dashboard/calls")  # the latest calls, each with how it ended
    rows = browser.find_elements(By.CSS_SELECTOR, "table.calls tbody tr[data-call]")
    assert [r.get_attribute("data-call") for r in rows][-1] == LIVE_SID and len(rows) == 3
    screenshot(browser, shots, "calls")
