"""Draining for a restart and readiness (bot/serving/): what the webhook, the media stream, /healthz and
/readyz say while a server stops, and the drain's own steps. The rolling restart of two real server
processes under calls is tests/test_rolling_restart.py."""

import asyncio
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.serving.drain import Drain, DrainState
from bot.serving.readiness import EngineWarmUp
from bot.settings import load_settings
from server import create_app
from tests.test_server import FORM, _start


def app_and_client(tmp_path, **settings):
    app = create_app(load_settings(db_path=tmp_path / "b.db", **settings))
    return app, TestClient(app)


def test_a_serving_server_is_ready(tmp_path):
    _, client = app_and_client(tmp_path)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "store": "ok", "engines": "ok", "draining": "no", "calls": "0"}
    assert client.get("/healthz").json() == {"status": "ok", "active_calls": 0, "workers": 1}


def test_a_full_server_is_not_ready_so_the_load_balancer_sends_calls_elsewhere(tmp_path):
    _, client = app_and_client(tmp_path, max_calls=1)
    client.post("/twilio/voice", data=FORM | {"CallSid": "CA1"})
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["calls"] == "1/1 (full)"
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_in_the_notice_period_it_is_not_ready_but_still_takes_calls(tmp_path):
    app, client = app_and_client(tmp_path)
    app.state.drain.state = DrainState.NOTICE
    assert client.get("/readyz").status_code == 503 and client.get("/readyz").json()["draining"] == "notice"
    assert client.get("/healthz").json()["status"] == "draining"
    assert ET.fromstring(client.post("/twilio/voice", data=FORM).text).find("./Connect/Stream") is not None


@pytest.mark.parametrize("overflow", [None, "https://second.example.com/twilio/voice"])
def test_a_draining_server_turns_new_calls_away_but_takes_back_a_dropped_one(tmp_path, overflow):
    app, client = app_and_client(tmp_path, overflow_url=overflow)
    app.state.store.call_started("CA0", "+15551230009")  # a call whose line dropped, reconnecting
    app.state.drain.state = DrainState.DRAINING
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json() == {"status": "draining", "active_calls": 0, "workers": 1}
    assert client.get("/readyz").json()["draining"] == "draining"
    turned = ET.fromstring(client.post("/twilio/voice", data=FORM | {"CallSid": "CA9"}).text)
    if overflow:
        assert [(c.tag, c.text) for c in turned] == [("Redirect", overflow)]
    else:
        assert [c.tag for c in turned] == ["Say", "Hangup"]
    assert ET.fromstring(client.post("/twilio/voice", data=FORM | {"CallSid": "CA0"}).text).find("./Connect")
    with client.websocket_connect("/twilio/media") as ws:  # a stream the webhook did not let in
        ws.send_text('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
        ws.send_text(_start("CA8"))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1013


def test_readiness_names_an_unreachable_store_and_engines_that_did_not_load(tmp_path, monkeypatch):
    app, client = app_and_client(tmp_path)

    def broken():
        raise OSError("disk I/O error")

    monkeypatch.setattr(app.state.store, "schema_version", broken)
    assert client.get("/readyz").json()["store"] == "unreachable: OSError: disk I/O error"
    monkeypatch.undo()
    app.state.readiness.engines = engines = EngineWarmUp(app.state.settings)
    engines.state = "loading"
    assert client.get("/readyz").status_code == 503 and client.get("/readyz").json()["engines"] == "loading"


def test_engines_that_fail_to_load_are_reported_not_raised(tmp_path, monkeypatch):
    import bot.services.vad

    def no_model(*_args, **_kwargs):
        raise FileNotFoundError("silero_vad.onnx")

    monkeypatch.setattr(bot.services.vad, "InlineSileroVADAnalyzer", no_model)
    engines = EngineWarmUp(load_settings(db_path=tmp_path / "b.db", stt="null", tts="null"))
    engines._run()
    assert engines.state == "failed: FileNotFoundError: silero_vad.onnx" and not engines.loaded


class FakeCalls:
    """Calls in progress as the drain sees them: each one ends by itself after ``lasts`` seconds, or is handed over."""

    def __init__(self, drain: Drain, lasts: list[float]):
        self.live: set[int] = set()
        self.handed_over: list[int] = []
        self.tasks = []
        for index, secs in enumerate(lasts):
            self.live.add(index)
            ended = drain.register(f"CA{index}", self._hand_over(index))
            self.tasks.append(asyncio.create_task(self._run(index, secs, ended)))

    def _hand_over(self, index):
        async def hand_over():
            self.handed_over.append(index)
            self.live.discard(index)

        return hand_over

    async def _run(self, index, secs, ended):
        await asyncio.sleep(secs)
        self.live.discard(index)
        ended()


async def test_a_drain_lets_short_calls_finish_and_hands_the_long_ones_over():
    live = {}
    drain = Drain(notice_secs=0.05, limit_secs=0.3, calls_in_progress=lambda: len(live["calls"].live))
    live["calls"] = calls = FakeCalls(drain, [0.1, 0.2, 30, 30])
    assert drain.taking_calls
    report = await drain.run()
    assert sorted(calls.handed_over) == [2, 3] and report.finished == 2 and report.handed_over == 2
    assert report.left == 0 and drain.state is DrainState.STOPPED and not drain.taking_calls
    for task in calls.tasks:
        task.cancel()


async def test_a_drain_with_no_calls_is_over_after_the_notice_and_a_second_signal_hurries_it():
    drain = Drain(notice_secs=0.05, limit_secs=60, calls_in_progress=lambda: 0)
    assert (await asyncio.wait_for(drain.run(), 5)).handed_over == 0
    calls = {}
    drain = Drain(notice_secs=60, limit_secs=60, calls_in_progress=lambda: len(calls["c"].live))
    calls["c"] = fake = FakeCalls(drain, [30])
    running = asyncio.create_task(drain.run())
    await asyncio.sleep(0.1)
    drain.hurry()
    report = await asyncio.wait_for(running, 5)
    assert fake.handed_over == [0] and report.handed_over == 1
    fake.tasks[0].cancel()


async def test_sigterm_makes_a_real_server_drain_then_exit_zero_and_a_second_one_hurries_it(tmp_path):
    """``python -m bot serve`` itself (bot/serving/process.py): the signals, not a test's shortcut."""
    import os
    import signal
    import sys

    import aiohttp

    from bot.replay.runner import free_port
    from tests.conftest import PROJECT

    async def serve(notice: str):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TWILIO_", "DEEPGRAM_", "OPENAI_"))}
        env |= {"BOT_PORT": str(port), "BOT_HOST": "127.0.0.1", "BOT_DB_PATH": str(tmp_path / "b.db"),
                "BOT_STT": "null", "BOT_LLM": "null", "BOT_TTS": "null", "BOT_DRAIN_NOTICE_SECS": notice}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", env=env, cwd=PROJECT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as ready:
                        if ready.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        return process, f"http://127.0.0.1:{port}"

    process, base = await serve(notice="1.5")
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as health:
        assert health.status == 503 and (await health.json())["status"] == "draining"
    assert await asyncio.wait_for(process.wait(), 30) == 0
    out = (await process.stdout.read()).decode()
    assert "SIGTERM: draining before exit" in out and "Drained in" in out

    process, _ = await serve(notice="60")  # a second SIGTERM skips the waiting
    for _ in range(2):
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
    code = await asyncio.wait_for(process.wait(), 15)
    out = (await process.stdout.read()).decode()
    assert code == 0 and "SIGTERM again: handing the calls over now" in out, out[-3000:]
