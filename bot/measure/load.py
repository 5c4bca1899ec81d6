"""``python -m bot load``: many simulated Twilio callers at once against our server, on loopback.

The server runs as its own processes (``python -m bot serve --workers N``: a
supervisor and N workers behind one port), exactly as in production, so its
CPU and memory can be measured apart from the load generator's, each worker's
apart from the others'. N callers (the replay harness's :class:`~bot.replay.caller.TwilioCaller`)
dial it from this process with asyncio, started evenly over ``--ramp``
seconds; with ``--hold`` each keeps redialing until the ramp and the hold are
over. Every call replays a scenario and is checked against its expectations.

Two profiles:

- ``cloud-sim``: the server uses Deepgram and OpenAI, served by our protocol
  stand-ins in a process of their own (:mod:`bot.standins.cloud_sim`) with realistic timing (STT final 150 ms after
  speech ends, LLM first token 350 ms, TTS first audio 200 ms then real-time
  audio). The stand-in LLM follows the flow (:mod:`bot.standins.flow_host`),
  and the stand-in STT answers each call with its own scenario's words (the
  server tags each call's STT connection with the call SID).
- ``local``: the embedded engines (Whisper, the dialogue engine, Piper) on this machine's CPU.

Many callers share one booking database, so each call is made distinct the
way real callers are: its own phone number, and its own dates (the
scenario's clock, expected and seeded bookings moved by whole years of 52
weeks, which keeps weekdays), so no call takes another's table.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvloop

from bot.booking.store import BookingStore
from bot.measure.bench import machine
from bot.measure.stats import percentiles
from bot.replay.caller import AUDIO_GAP_SECS, new_sid
from bot.replay.runner import free_port, http_reports, replay_scenario, seed_bookings
from bot.replay.scenario import Scenario, find_scenarios, load_scenario
from bot.services.factory import warm_up_tts
from bot.settings import PROJECT_DIR, Provider, load_settings

PROFILES = ("local", "cloud-sim")
MAX_CALLS = 500
MAX_ONE_CALL_FIRST = 20
MAX_WORKERS = 64
MAX_SECONDS = 3600.0
SAMPLE_SECS = 1.0
REDIAL_AFTER_BUSY_SECS = 5.0
# The yardsticks for a load: p95 within this much of one call's, measured in the same run, and no turn
# longer than this.
P95_OVER_ONE_CALL_MS = 150
LONGEST_TURN_MS = 3000
REQUIREMENT_MS = 1500  # the product's voice-to-voice p95
DEFAULT_PLOT = PROJECT_DIR / "out" / "load-{profile}.png"
YEAR_OF_WEEKS = dt.timedelta(weeks=52)


@dataclass
class CallOutcome:
    caller: int
    scenario: str
    call_sid: str
    ok: bool
    started_s: float  # since the load began
    ended_s: float
    latencies_ms: list[float | None]
    gaps_over_60ms: int  # silences the caller heard mid-word (Twilio's queue ran dry)
    gaps: list[tuple[float, float]] = field(default_factory=list)  # each: when it ended (since the load began), ms
    late_messages_over_60ms: int = 0  # pauses between media messages mid-word, heard or not
    error: str | None = None
    turned_away: bool = False  # the server was at BOT_MAX_CALLS: not answered, by design


@dataclass
class Sample:
    t_s: float
    active_calls: int
    cpu_percent: float  # the server, its supervisor and workers together; of one core: 200 is both of 2 cores
    rss_mb: float
    worker_cpu_percent: dict[int, float]  # each worker process (by pid: a restarted worker is another)
    host_cpu_percent: float  # the whole machine, everything on it (the callers, the stand-ins, others' work)
    load_cpu_percent: float  # this process: the callers, on the same machine
    standins_cpu_percent: float  # the simulated cloud's process (cloud-sim only)


@dataclass
class TurnPoint:
    t_s: float
    active_calls: int
    latency_ms: float | None


@dataclass
class LoadRun:
    outcomes: list[CallOutcome] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    turns: list[TurnPoint] = field(default_factory=list)
    active: int = 0
    peak_active: int = 0
    # This process's event loop, late by this much (seconds) at t_s: the callers hear what it reads late.
    loop_lags: list[tuple[float, float]] = field(default_factory=list)


def personalised(scenario: Scenario, index: int) -> Scenario:
    """``scenario`` as the ``index``-th caller of a load makes it: own phone numbers, own dates."""
    shift = YEAR_OF_WEEKS * index

    def number(phone: str | None) -> str | None:
        # Keep distinct numbers distinct (a call from "another phone" must stay another phone).
        return None if phone is None else f"+1999{index:05d}{phone[-4:]}"

    def moved(day: Any) -> str:
        return (dt.date.fromisoformat(str(day)) + shift).isoformat()

    expect = dict(scenario.expect)
    if isinstance(expect.get("booking"), dict) and "date" in expect["booking"]:
        expect["booking"] = {**expect["booking"], "date": moved(expect["booking"]["date"])}
    given = [
        {**row, "date": moved(row["date"]), "caller": number(row.get("caller"))} for row in scenario.given_bookings
    ]
    return dataclasses.replace(
        scenario,
        now=(scenario.now or dt.datetime.now().replace(microsecond=0)) + shift,
        caller=number(scenario.caller),
        expect=expect,
        given_bookings=given,
    )


@contextlib.asynccontextmanager
async def cloud_standins(log_path: Path) -> AsyncIterator[tuple[psutil.Process, dict[str, str], str]]:
    """The simulated cloud in its own process; yields it, the server's env, and the URL for callers' scripts."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.standins.cloud_sim", stdout=asyncio.subprocess.PIPE, stderr=log
        )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"the cloud stand-ins did not start; see {log_path}")
        started = json.loads(line)
        yield psutil.Process(process.pid), started["env"], started["scripts_url"]
    finally:
        await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def server_process(
    env: dict[str, str], log_path: Path, workers: int
) -> AsyncIterator[tuple[psutil.Process, str]]:
    """``python -m bot serve --workers N`` on a free loopback port, all N serving; yields its process and base URL."""
    port = free_port()
    env = {**os.environ, **env, "BOT_HOST": "127.0.0.1", "BOT_PORT": str(port), "BOT_WORKERS": str(workers)}
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(1200):
                if process.returncode is not None:
                    raise RuntimeError(f"the server exited ({process.returncode}); see {log_path}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{base}/healthz") as response:
                        if response.status == 200 and (await response.json())["workers"] == workers:
                            break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the server's {workers} workers did not come up within 120 s; see {log_path}")
        yield psutil.Process(process.pid), base
    finally:
        await _stop(process)


LAG_TICK_SECS = 0.02


async def _watch_loop(run: LoadRun, began: float, stop: asyncio.Event) -> None:
    """How late this process's loop wakes from a 20 ms sleep, whenever late by more than a gap."""
    while not stop.is_set():
        asked = time.monotonic()
        await asyncio.sleep(LAG_TICK_SECS)
        woke = time.monotonic()
        if (lag := woke - asked - LAG_TICK_SECS) > AUDIO_GAP_SECS:
            run.loop_lags.append((round(woke - began, 3), round(lag, 3)))


def gaps_while_callers_late(outcomes: list[CallOutcome], loop_lags: list[tuple[float, float]]) -> int:
    """Gaps the callers may have made themselves: their loop was stalled by more than a gap while the gap
    lasted, so audio that came on time was read late. Counted apart, never subtracted."""
    stalls = [(woke - lag, woke) for woke, lag in loop_lags]
    return sum(
        any(start <= ended and end >= ended - gap_ms / 1000 for start, end in stalls)
        for outcome in outcomes
        for ended, gap_ms in outcome.gaps
    )


async def _sample(
    server: psutil.Process, standins: psutil.Process | None, run: LoadRun, began: float, stop: asyncio.Event
) -> None:
    """CPU and memory once a second: the server (supervisor and each worker), this process, the stand-ins,
    the machine."""
    known: dict[int, psutil.Process] = {}  # one Process per pid, so that each reading counts from the last

    def workers() -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return [known.setdefault(child.pid, child) for child in server.children()]
        return []

    def cpu(process: psutil.Process) -> float:
        with contextlib.suppress(psutil.Error):
            return process.cpu_percent(None)
        return 0.0

    generator, others = psutil.Process(), [standins] if standins else []
    for process in [generator, *others, server, *workers()]:  # the first reading only starts the count
        cpu(process)
    psutil.cpu_percent(None)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_SECS)
        children = workers()
        per_worker = {worker.pid: round(cpu(worker), 1) for worker in children}
        rss = 0
        for process in [server, *children]:
            with contextlib.suppress(psutil.Error):
                rss += process.memory_info().rss
        run.samples.append(
            Sample(
                t_s=round(time.monotonic() - began, 2),
                active_calls=run.active,
                cpu_percent=round(cpu(server) + sum(per_worker.values()), 1),
                rss_mb=round(rss / 2**20, 1),
                worker_cpu_percent=per_worker,
                host_cpu_percent=round(psutil.cpu_percent(None) * (os.cpu_count() or 1), 1),
                load_cpu_percent=round(cpu(generator), 1),
                standins_cpu_percent=round(sum(map(cpu, others)), 1),
            )
        )


async def _caller(
    index: int,
    scenarios: list[Scenario],
    *,
    media_url: str,
    store: BookingStore,
    scripts_url: str | None,
    run: LoadRun,
    began: float,
    start_at: float,
    redial_until: float,
    call_numbers: Iterator[int],
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    report = http_reports(media_url)
    while True:
        number = next(call_numbers)
        scenario = personalised(scenarios[number % len(scenarios)], number)
        call_sid = new_sid("CA")
        seed_bookings(store, scenario)
        if scripts_url is not None:
            async with aiohttp.ClientSession() as session:
                await session.put(f"{scripts_url}/{call_sid}", json=[turn.say or "" for turn in scenario.turns])

        def on_latency(latency_ms: float | None) -> None:
            run.turns.append(TurnPoint(round(time.monotonic() - began, 2), run.active, latency_ms))

        started = time.monotonic()
        run.active += 1
        run.peak_active = max(run.peak_active, run.active)
        turned_away = False
        try:
            result = await replay_scenario(scenario, media_url, report, on_latency=on_latency, call_sid=call_sid)
            ok, error, latencies = result.expect_met, result.error, result.caller_latency_ms
            gaps = [(round(end - began, 3), ms) for end, ms in zip(result.audio_gap_ends, result.audio_gaps_ms)]
            late, turned_away = result.late_audio_ms, result.turned_away
        except Exception as e:  # one broken call is a failed call, not a broken load
            ok, error, latencies, gaps, late = False, f"{type(e).__name__}: {e}", [], [], []
        finally:
            run.active -= 1
        run.outcomes.append(
            CallOutcome(
                caller=index,
                scenario=scenario.name,
                call_sid=call_sid,
                ok=ok,
                started_s=round(started - began, 2),
                ended_s=round(time.monotonic() - began, 2),
                latencies_ms=latencies,
                gaps_over_60ms=len(gaps),
                gaps=gaps,
                late_messages_over_60ms=len(late),
                error=error,
                turned_away=turned_away,
            )
        )
        if time.monotonic() >= redial_until:
            return
        if turned_away:  # as a person would, not at once
            await asyncio.sleep(REDIAL_AFTER_BUSY_SECS)


async def run_load(
    *, calls: int, ramp: float, hold: float, scenario_paths: list[Path], profile: str, workers: int, work_dir: Path,
    one_call_first: int = 0,
) -> tuple[LoadRun, LoadRun, dict[str, Any]]:
    """The load, and before it ``one_call_first`` calls made one at a time on the same server: the one-call
    figure the load's latency is compared with, measured on the same machine in the same minute."""
    scenarios = [load_scenario(path) for path in scenario_paths]
    if profile == "cloud-sim" and (silent := [s.name for s in scenarios if any(t.say is None for t in s.turns)]):
        raise ValueError(f"cloud-sim needs every turn's words (`say:`) for the STT stand-in; missing in {silent}")
    db_path = work_dir / "bookings.db"
    env = {
        "BOT_DB_PATH": str(db_path),
        "BOT_RECORDINGS_DIR": str(work_dir / "calls"),
        "BOT_ALLOW_CLOCK_OVERRIDE": "true",
        "BOT_LOG_LEVEL": os.environ.get("BOT_LOG_LEVEL", "WARNING"),
    }
    settings = load_settings(db_path=db_path)
    store = BookingStore(db_path, settings.business)
    run = LoadRun()
    async with contextlib.AsyncExitStack() as stack:
        standins = scripts_url = None
        if profile == "cloud-sim":
            standins, cloud_env, scripts_url = await stack.enter_async_context(
                cloud_standins(work_dir / "standins.log")
            )
            env |= cloud_env
        else:
            env |= {"BOT_STT": "local", "BOT_LLM": "local", "BOT_TTS": "local"}
        # The flow's fixed lines rendered before the clock starts, as a line kept running has them
        # (bot/services/piper_tts.py): the workers read them rather than render them under the load.
        env["BOT_TTS_CACHE_DIR"] = str(work_dir / "tts-cache")
        if profile == "local":
            local = settings.model_copy(update={"tts": Provider.LOCAL, "tts_cache_dir": work_dir / "tts-cache"})
            await asyncio.to_thread(warm_up_tts, local)
        server, base_url = await stack.enter_async_context(server_process(env, work_dir / "server.log", workers))
        media_url = base_url.replace("http", "ws", 1) + "/twilio/media"
        call_numbers = itertools.count()  # every call of the load is distinct (numbers, dates)
        alone = LoadRun()
        for _ in range(one_call_first):
            now = time.monotonic()
            await _caller(0, scenarios, media_url=media_url, store=store, scripts_url=scripts_url, run=alone,
                          began=now, start_at=now, redial_until=now, call_numbers=call_numbers)
        began = time.monotonic()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(_sample(server, standins, run, began, stop_sampling))
        loop_watch = asyncio.create_task(_watch_loop(run, began, stop_sampling))
        await asyncio.gather(
            *(
                _caller(
                    index,
                    scenarios,
                    media_url=media_url,
                    store=store,
                    scripts_url=scripts_url,
                    run=run,
                    began=began,
                    start_at=began + ramp * index / calls,
                    redial_until=began + ramp + hold,
                    call_numbers=call_numbers,
                )
                for index in range(calls)
            )
        )
        stop_sampling.set()
        await asyncio.gather(sampler, loop_watch)
    return run, alone, {"server_log": str(work_dir / "server.log")}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _per_worker_means(samples: list[Sample]) -> list[float]:
    """Each worker process's mean CPU over the samples it was in, busiest first."""
    readings: dict[int, list[float]] = {}
    for sample in samples:
        for pid, percent in sample.worker_cpu_percent.items():
            readings.setdefault(pid, []).append(percent)
    return sorted((_mean(values) for values in readings.values()), reverse=True)


def _answered(run: LoadRun) -> list[float]:
    return [ms for o in run.outcomes for ms in o.latencies_ms if ms is not None]


def p95_by_load(turns: list[TurnPoint]) -> dict[int, float]:
    """The p95 of the turns answered with each number of calls in progress, by that number, ascending."""
    by_load: dict[int, list[float]] = {}
    for turn in turns:
        if turn.latency_ms is not None:
            by_load.setdefault(turn.active_calls, []).append(turn.latency_ms)
    return {n: percentiles(by_load[n])["p95"] for n in sorted(by_load)}


def knee(p95s: dict[int, float]) -> int | None:
    """The most calls in progress up to which the p95 at every load was within the 1.5 s requirement."""
    within = None
    for calls, p95 in p95s.items():
        if p95 > REQUIREMENT_MS:
            break
        within = calls
    return within


def verdict(summary: dict[str, Any]) -> dict[str, bool | None]:
    """The load against the issue's bar: every call as expected, p95 within 150 ms of one call's (None: no
    one-call figure in this run), no gap heard, no turn over 3 s."""
    p95, one_call = summary["voice_to_voice_ms"]["p95"], (summary["one_call"] or {}).get("voice_to_voice_ms", {})
    return {
        "all_as_expected": summary["ok"] + summary["turned_away"] == summary["calls_made"],
        "p95_within_150ms_of_one_call": (
            None if p95 is None or one_call.get("p95") is None else p95 <= one_call["p95"] + P95_OVER_ONE_CALL_MS
        ),
        "no_gaps_heard": summary["gaps_over_60ms"] == 0,
        "no_turn_over_3s": (summary["voice_to_voice_ms"]["max"] or 0) <= LONGEST_TURN_MS
        and summary["unanswered_turns"] == 0,
    }


def summarize(
    run: LoadRun, *, calls: int, ramp: float, hold: float, profile: str, workers: int, alone: LoadRun | None = None
) -> dict[str, Any]:
    voice = percentiles(_answered(run)) or {}
    one_call = percentiles(_answered(alone)) if alone and alone.outcomes else None
    cpu = [s.cpu_percent for s in run.samples]
    peak_load = max(1, run.peak_active * 0.9)
    at_peak = [s for s in run.samples if s.active_calls >= peak_load]
    at_peak_turns = [t.latency_ms for t in run.turns if t.latency_ms is not None and t.active_calls >= peak_load]
    peak_voice = percentiles(at_peak_turns) or {}
    busy = [s.cpu_percent for s in at_peak]
    # What one call costs: the server's CPU over the calls in progress, in the seconds with calls.
    per_call = [s.cpu_percent / s.active_calls for s in run.samples if s.active_calls]
    failed = [o for o in run.outcomes if not o.ok and not o.turned_away]
    return {
        "profile": profile,
        "workers": workers,
        "calls": calls,
        "ramp_s": ramp,
        "hold_s": hold,
        "calls_made": len(run.outcomes),
        "peak_concurrent_calls": run.peak_active,
        "ok": sum(o.ok for o in run.outcomes),
        "turned_away": sum(o.turned_away for o in run.outcomes),
        "unanswered_turns": sum(ms is None for o in run.outcomes for ms in o.latencies_ms),
        "voice_to_voice_ms": {k: voice.get(k) for k in ("p50", "p95", "max")},
        "knee_calls": knee(p95_by_load(run.turns)),  # p95 within 1.5 s at every load up to this many calls
        # The turns answered with the load at its peak (90% of it or more): what `--hold` keeps there.
        "voice_to_voice_ms_at_peak": {k: peak_voice.get(k) for k in ("p50", "p95", "max")} | {"turns": len(at_peak_turns)},
        # The same server with one call at a time, just before the load: what the load's latency adds to.
        "one_call": None if one_call is None else {
            "calls": len(alone.outcomes),
            "ok": sum(o.ok for o in alone.outcomes),
            "voice_to_voice_ms": {k: one_call.get(k) for k in ("p50", "p95", "max")},
        },
        "gaps_over_60ms": sum(o.gaps_over_60ms for o in run.outcomes),
        "calls_with_gaps": sum(o.gaps_over_60ms > 0 for o in run.outcomes),
        "late_messages_over_60ms": sum(o.late_messages_over_60ms for o in run.outcomes),
        # Of the gaps, those heard while this process's loop was itself stalled longer than a gap.
        "gaps_while_callers_late": gaps_while_callers_late(run.outcomes, run.loop_lags),
        "callers_loop_stalls_over_60ms": len(run.loop_lags),
        "callers_loop_stall_max_ms": round(max((lag for _, lag in run.loop_lags), default=0) * 1000),
        "cpu_percent": _mean(cpu),
        "cpu_percent_at_peak": _mean(busy),
        "worker_cpu_percent": _per_worker_means(run.samples),
        "worker_cpu_percent_at_peak": _per_worker_means(at_peak),
        "cpu_percent_per_call": _mean(per_call),
        "host_cpu_percent": _mean([s.host_cpu_percent for s in run.samples]),
        "host_cpu_percent_at_peak": _mean([s.host_cpu_percent for s in at_peak]),
        "rss_mb_max": max((s.rss_mb for s in run.samples), default=None),
        # When either nears one core, the callers or the stand-ins, not the server, set the pace.
        "load_generator_cpu_percent": _mean([s.load_cpu_percent for s in run.samples]),
        "standins_cpu_percent": _mean([s.standins_cpu_percent for s in run.samples]) if profile == "cloud-sim" else None,
        "failed": [{"scenario": o.scenario, "call_sid": o.call_sid, "error": o.error} for o in failed],
        "machine": machine(),
    }


def _active_at(run: LoadRun, t_s: float) -> int:
    """The calls in progress at ``t_s`` (since the load began), as the last sample before it counted them."""
    times = [s.t_s for s in run.samples]
    return run.samples[max(0, bisect.bisect_right(times, t_s) - 1)].active_calls if run.samples else run.peak_active


def plot(run: LoadRun, summary: dict[str, Any], path: Path) -> Path:
    """Voice-to-voice per turn, and the CPU of the server, of each of its workers and of the whole machine,
    against the calls in progress at that moment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (latency_ax, cpu_ax) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    answered = [t for t in run.turns if t.latency_ms is not None]
    latency_ax.scatter([t.active_calls for t in answered], [t.latency_ms for t in answered], s=8, alpha=0.5,
                       label="one turn (caller-measured)")
    p95s = p95_by_load(run.turns)
    latency_ax.plot(list(p95s), list(p95s.values()), color="crimson", label="p95 at that load")
    latency_ax.axhline(REQUIREMENT_MS, color="grey", linestyle="--", linewidth=1, label="1.5 s requirement")
    if gaps := [(at, ms) for o in run.outcomes for at, ms in o.gaps]:
        latency_ax.scatter([_active_at(run, at) for at, _ in gaps], [ms for _, ms in gaps], s=14, marker="x",
                           color="crimson", alpha=0.7, label=f"a gap heard mid-word, its length ({len(gaps)})")
    if summary["one_call"] and (alone_p95 := summary["one_call"]["voice_to_voice_ms"]["p95"]) is not None:
        latency_ax.axhline(alone_p95 + P95_OVER_ONE_CALL_MS, color="seagreen", linestyle=":", linewidth=1.5,
                           label=f"one call's p95 ({alone_p95:.0f} ms, this run) + {P95_OVER_ONE_CALL_MS} ms")
    latency_ax.set_ylabel("voice-to-voice (ms)")
    latency_ax.legend(loc="upper left", fontsize=8)
    latency_ax.set_title(
        f"python -m bot load --profile {summary['profile']} --calls {summary['calls']} --ramp {summary['ramp_s']:g}"
        f" --workers {summary['workers']}"
        f" — {summary['ok']}/{summary['calls_made']} calls ok"
        + (f" ({summary['turned_away']} turned away, full)" if summary["turned_away"] else "")
        + f", {summary['gaps_over_60ms']} gaps > 60 ms",
        fontsize=9,
    )
    cpu_ax.scatter([s.active_calls for s in run.samples], [s.host_cpu_percent for s in run.samples], s=10,
                   color="black", marker="x", alpha=0.5, label="whole machine (everything on it)")
    cpu_ax.scatter([s.active_calls for s in run.samples], [s.cpu_percent for s in run.samples], s=10,
                   color="darkorange", label=f"server CPU ({summary['workers']} workers together), 1 s samples")
    pids = sorted({pid for s in run.samples for pid in s.worker_cpu_percent}, key=lambda pid: min(
        s.t_s for s in run.samples if pid in s.worker_cpu_percent))
    if summary["workers"] > 1:
        for number, pid in enumerate(pids, 1):
            mine = [s for s in run.samples if pid in s.worker_cpu_percent]
            cpu_ax.plot([s.active_calls for s in mine], [s.worker_cpu_percent[pid] for s in mine], ".", markersize=3,
                        alpha=0.6, label=f"worker {number} (pid {pid})")
    cpu_ax.scatter([s.active_calls for s in run.samples], [s.load_cpu_percent for s in run.samples], s=6,
                   color="grey", alpha=0.6, label="load generator CPU (callers)")
    if summary["profile"] == "cloud-sim":
        cpu_ax.scatter([s.active_calls for s in run.samples], [s.standins_cpu_percent for s in run.samples], s=6,
                       color="teal", alpha=0.6, label="cloud stand-ins CPU")
    cpu_ax.axhline(100 * (os.cpu_count() or 1), color="grey", linestyle="--", linewidth=1, label="all cores")
    cpu_ax.set_ylabel("CPU (% of one core)")
    cpu_ax.set_xlabel(f"calls in progress ({summary['machine']['cpus']} × {summary['machine']['cpu']})")
    cpu_ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_summary(summary: dict[str, Any]) -> None:
    v = summary["voice_to_voice_ms"]
    print(
        f"{summary['profile']}: {summary['calls']} callers, {summary['calls_made']} calls, "
        f"peak {summary['peak_concurrent_calls']} at once"
    )
    print(f"  outcomes as expected  {summary['ok']}/{summary['calls_made']}")
    if summary["turned_away"]:
        print(f"  turned away (full)    {summary['turned_away']} (BOT_MAX_CALLS)")
    print(f"  voice-to-voice        p50 {v['p50']} ms, p95 {v['p95']} ms, max {v['max']} ms")
    peak = summary["voice_to_voice_ms_at_peak"]
    print(f"  at the peak           p50 {peak['p50']} ms, p95 {peak['p95']} ms, max {peak['max']} ms "
          f"({peak['turns']} turns with 90% of the peak's calls or more in progress)")
    print(f"  the knee              p95 within 1.5 s up to {summary['knee_calls']} calls in progress")
    if summary["one_call"]:
        alone = summary["one_call"]["voice_to_voice_ms"]
        print(f"  one call at a time    p50 {alone['p50']} ms, p95 {alone['p95']} ms, max {alone['max']} ms "
              f"({summary['one_call']['calls']} calls just before the load, the same server)")
    print(f"  unanswered turns      {summary['unanswered_turns']}")
    print(f"  audio gaps > {AUDIO_GAP_SECS * 1000:.0f} ms    {summary['gaps_over_60ms']} (in {summary['calls_with_gaps']} calls), "
          f"heard by the caller; {summary['late_messages_over_60ms']} media messages that late, Twilio's queue covering the rest")
    print(f"  callers' own loop      stalled over {AUDIO_GAP_SECS * 1000:.0f} ms {summary['callers_loop_stalls_over_60ms']} times "
          f"(longest {summary['callers_loop_stall_max_ms']} ms); {summary['gaps_while_callers_late']} of the gaps were heard then")
    print(f"  server CPU            mean {summary['cpu_percent']}%, at peak {summary['cpu_percent_at_peak']}% (100% = one core)")
    print(f"  per worker            mean {summary['worker_cpu_percent']}%, at peak {summary['worker_cpu_percent_at_peak']}% "
          f"({summary['workers']} workers)")
    print(f"  per call              {summary['cpu_percent_per_call']}% of one core (server CPU / calls in progress)")
    print(f"  whole machine         mean {summary['host_cpu_percent']}%, at peak {summary['host_cpu_percent_at_peak']}% "
          f"of {100 * summary['machine']['cpus']}%")
    print(f"  server memory         max {summary['rss_mb_max']} MB")
    print(f"  load generator CPU    mean {summary['load_generator_cpu_percent']}% (the callers, same machine)")
    if summary["standins_cpu_percent"] is not None:
        print(f"  cloud stand-ins CPU   mean {summary['standins_cpu_percent']}% (same machine)")
    met = summary["targets_met"]
    print("  targets               " + ", ".join(
        f"{name.replace('_', ' ')}: {'n/a' if ok is None else 'yes' if ok else 'NO'}" for name, ok in met.items()))
    for failure in summary["failed"][:10]:
        print(f"  failed: {failure['scenario']} {failure['call_sid']}: {failure['error'] or 'outcome not as expected'}")
    if summary.get("plot"):
        print(f"  plot: {summary['plot']}")


def main(
    *,
    calls: int,
    ramp: float,
    hold: float,
    scenario_dirs: list[str] | None,
    profile: str,
    workers: int,
    as_json: bool,
    plot_path: Path | None,
    one_call_first: int = 0,
) -> int:
    if not 1 <= calls <= MAX_CALLS:
        print(f"error: --calls must be between 1 and {MAX_CALLS}", file=sys.stderr)
        return 2
    if not 1 <= workers <= MAX_WORKERS:
        print(f"error: --workers must be between 1 and {MAX_WORKERS}", file=sys.stderr)
        return 2
    if not 0 <= one_call_first <= MAX_ONE_CALL_FIRST:
        print(f"error: --one-call-first must be between 0 and {MAX_ONE_CALL_FIRST}", file=sys.stderr)
        return 2
    if not (0 <= ramp <= MAX_SECONDS and 0 <= hold <= MAX_SECONDS):
        print(f"error: --ramp and --hold must be between 0 and {MAX_SECONDS:.0f} seconds", file=sys.stderr)
        return 2
    paths = find_scenarios(scenario_dirs or [PROJECT_DIR / "recordings"])
    with tempfile.TemporaryDirectory(prefix="load-") as work:
        run, alone, files = uvloop.run(  # the workers' loop: the callers take less of the cores they share
            run_load(calls=calls, ramp=ramp, hold=hold, scenario_paths=paths, profile=profile, workers=workers,
                     work_dir=Path(work), one_call_first=one_call_first)
        )
        summary = summarize(run, calls=calls, ramp=ramp, hold=hold, profile=profile, workers=workers, alone=alone)
        summary["targets_met"] = verdict(summary)
        if summary["failed"]:
            summary["server_log_tail"] = Path(files["server_log"]).read_text(errors="replace")[-4000:]
    if plot_path is not None and run.turns:
        summary["plot"] = str(plot(run, summary, plot_path))
    if as_json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
    return 1 if summary["failed"] else 0
