"""``python -m bot bench``: replay scenarios one call at a time and report where each turn's time goes.

Every scenario is replayed through the real server in-process (the same path
as ``python -m bot replay``), one call at a time, ``--repeat`` times, each
repeat on a fresh database. For every caller turn two figures of voice to
voice are kept:

- the server's: caller stopped speaking (per the VAD) -> the reply's first
  audio frame handed to the websocket, split into stages by
  :mod:`processors.latency` and stored in the call's ``turn_latency`` rows;
- the caller's: the simulated Twilio caller's last voiced frame sent -> the
  bot's first voiced frame received (what a person on the line lives).

It prints a per-stage table (p50, p95, max, mean) and the voice-to-voice
distribution, or with ``--json`` the same as one JSON object, and writes a PNG
of every turn's stage breakdown (``--plot``). ``--null`` swaps the providers
for instant stand-ins (:mod:`bot.services.null`) to measure the pipeline's own
overhead. ``--profile cloud-sim`` runs the production path instead of the
embedded engines: Deepgram and OpenAI served by the stand-ins with
production-like timing (:mod:`bot.standins.cloud_sim`), each call's STT
answering with its scenario's words. This is a benchmark: it asserts nothing
about time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.measure.stats import percentiles
from bot.metrics import METRICS
from bot.settings import PROJECT_DIR, Provider, Settings
from processors.latency import MOMENTS, STAGES

DEFAULT_SCENARIOS = PROJECT_DIR / "recordings"
DEFAULT_PLOT = PROJECT_DIR / "out" / "bench.png"
PROFILES = ("local", "cloud-sim")
TARGET_MS = {"local": 800, "cloud-sim": 1000}  # our voice-to-voice p95 targets at one call
NULL_JOBS = ("stt", "llm", "tts")
NULL_HANG_UP_WAIT_SECS = 1.0  # the null LLM never ends a call: the caller hangs up at once
HISTOGRAM_EDGES_MS = (500, 600, 700, 800, 900, 1000, 1200, 1500, 2000)

STAGE_COLORS = {
    "vad": "#9e9e9e",
    "stt": "#1f77b4",
    "turn": "#c7c7c7",
    "llm": "#2ca02c",
    "tools": "#98df8a",
    "tts": "#ff7f0e",
    "output": "#9467bd",
    "pipeline": "#d62728",
}
STAGE_TITLES = {
    "vad": "VAD stop wait",
    "stt": "STT (VAD stop -> transcript)",
    "turn": "turn end wait (speech timeout)",
    "llm": "LLM / dialogue engine",
    "tools": "function handlers",
    "tts": "TTS (text -> first audio)",
    "output": "output (-> websocket)",
    "pipeline": "pipeline (unnamed)",
}


@dataclass
class BenchTurn:
    scenario: str
    repeat: int
    turn: int
    server: dict[str, Any]  # a turn_latency row
    caller_ms: float | None  # the simulated caller's voice to voice for the same turn

    @property
    def label(self) -> str:
        return f"{self.scenario} t{self.turn}" + (f" r{self.repeat}" if self.repeat else "")


def histogram(values: list[float]) -> list[dict[str, Any]]:
    """Counts of ``values`` per bucket (``le`` is the bucket's upper edge in ms, None = above the last)."""
    counts = []
    lower = float("-inf")
    for edge in (*HISTOGRAM_EDGES_MS, None):
        upper = float("inf") if edge is None else edge
        counts.append({"le": edge, "count": sum(1 for v in values if lower < v <= upper)})
        lower = upper
    return counts


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "load_avg_1m": round(load[0], 2) if load else None}


def configuration(settings: Settings) -> dict[str, Any]:
    def engine(job: str, local: str) -> str:
        choice = getattr(settings, job)
        if choice is Provider.NULL:
            return "null"
        return "cloud" if settings.uses_cloud(job) else local

    from bot.call.pipeline import turn_taking

    vad_stop_secs, user_speech_timeout, early_start = turn_taking(settings)
    return {
        "stt": engine("stt", str(settings.local_stt)),
        "llm": engine("llm", "dialogue-engine"),
        "tts": engine("tts", "piper"),
        "vad_stop_secs": vad_stop_secs,
        "user_speech_timeout": user_speech_timeout,
        "llm_early_start": early_start,
        "engine_threads": settings.engine_threads,
        **{
            k: getattr(settings, k)
            for k in ("whisper_window_secs", "stt_early", "tts_first_clause", "tts_cache")
            if hasattr(settings, k)
        },
    }


def summarize(turns: list[BenchTurn], results: list, settings: Settings, profile: str = "local") -> dict[str, Any]:
    rows = [t.server for t in turns]
    v2v = [r["voice_to_voice_ms"] for r in rows if r.get("voice_to_voice_ms") is not None]
    waits = (settings.vad_stop_secs + settings.user_speech_timeout) * 1000  # the same silence either way
    failed = sorted({r.scenario for r in results if not r.expect_met})
    return {
        "turns": len(rows),
        "calls": len(results),
        "scenarios_failed": failed,
        "voice_to_voice_ms": percentiles(v2v),
        "caller_voice_to_voice_ms": percentiles([t.caller_ms for t in turns if t.caller_ms is not None]),
        "voice_to_voice_histogram": histogram(v2v),
        "stages": {s: percentiles([r[f"{s}_ms"] for r in rows if r.get(f"{s}_ms") is not None]) for s in STAGES},
        "moments": {m: percentiles([r[f"{m}_ms"] for r in rows if r.get(f"{m}_ms") is not None]) for m in MOMENTS},
        # Voice to voice beyond the turn-taking settings (VAD stop + speech
        # timeout): with --null, the pipeline's own overhead per turn.
        "overhead_ms": percentiles([v - waits for v in v2v]),
        # This process's server: how often a cloud LLM's early start was used or thrown away.
        "llm_early_starts": {
            outcome: int(METRICS.llm_early_starts.labels(outcome=outcome)._value.get())
            for outcome in ("used", "discarded")
        },
        "profile": profile,
        "target_ms": TARGET_MS[profile],
        "per_turn": [
            {"scenario": t.scenario, "repeat": t.repeat, "turn": t.turn, "caller_ms": t.caller_ms}
            | {k: v for k, v in t.server.items() if k.endswith("_ms")}
            for t in turns
        ],
        "config": configuration(settings),
        "machine": machine(),
    }


def _fmt(stats: dict[str, float] | None, key: str) -> str:
    return f"{stats[key]:7.0f}" if stats else "      -"


def print_table(summary: dict[str, Any]) -> None:
    config = summary["config"]
    m = summary["machine"]
    print(
        f"{summary['turns']} caller turns in {summary['calls']} calls, one at a time | "
        f"STT {config['stt']}, LLM {config['llm']}, TTS {config['tts']}, VAD stop {config['vad_stop_secs']}s, "
        f"speech timeout {config['user_speech_timeout']}s | {m['cpus']} CPUs, load {m['load_avg_1m']}"
    )
    print(f"\n{'stage (ms)':34} {'p50':>7} {'p95':>7} {'max':>7} {'mean':>7}")
    for stage in STAGES:
        stats = summary["stages"][stage]
        print(f"{stage:8} {STAGE_TITLES[stage]:25} " + " ".join(_fmt(stats, k) for k in ("p50", "p95", "max", "mean")))
    print(f"\n{'moment (ms after caller stopped)':34} {'p50':>7} {'p95':>7} {'max':>7} {'mean':>7}")
    for moment in MOMENTS:
        stats = summary["moments"][moment]
        print(f"{moment:34} " + " ".join(_fmt(stats, k) for k in ("p50", "p95", "max", "mean")))
    print()
    for key, title in (
        ("voice_to_voice_ms", "voice to voice, server"),
        ("caller_voice_to_voice_ms", "voice to voice, caller"),
        ("overhead_ms", "beyond VAD stop + speech timeout"),
    ):
        print(f"{title:34} " + " ".join(_fmt(summary[key], k) for k in ("p50", "p95", "max", "mean")))
    print(f"\nvoice to voice (server), target p95 <= {summary['target_ms']} ms:")
    total = max(1, summary["turns"])
    lower = 0
    for bucket in summary["voice_to_voice_histogram"]:
        label = f"{lower:>5}-{bucket['le']:<5}" if bucket["le"] else f"{lower:>5}+     "
        print(f"  {label} ms {bucket['count']:4d} {'#' * round(40 * bucket['count'] / total)}")
        lower = bucket["le"] or lower
    if early := summary.get("llm_early_starts"):
        if any(early.values()):
            print(f"\nLLM early starts: {early['used']} used, {early['discarded']} thrown away")
    if summary["scenarios_failed"]:
        print(f"\nscenarios that did not meet their expectations: {', '.join(summary['scenarios_failed'])}")
    if summary.get("plot"):
        print(f"\nplot: {summary['plot']}")


def plot(turns: list[BenchTurn], summary: dict[str, Any], path: Path) -> Path:
    """A PNG: each turn's stages as a stacked bar, and the voice-to-voice distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    height = min(30.0, 1.8 + 0.2 * max(1, len(turns)))
    fig, (bars, dist) = plt.subplots(
        1, 2, figsize=(13, height), gridspec_kw={"width_ratios": [3, 1]}, constrained_layout=True
    )
    ys = list(range(len(turns)))[::-1]
    for y, turn in zip(ys, turns):
        left = 0.0
        for stage in STAGES:
            width = turn.server.get(f"{stage}_ms") or 0.0
            bars.barh(y, width, left=left, color=STAGE_COLORS[stage], height=0.75, linewidth=0)
            left += width
        if turn.caller_ms is not None:
            bars.plot(turn.caller_ms, y, marker="D", color="black", markersize=3.5)
    target = summary["target_ms"]
    bars.axvline(target, color="black", linestyle="--", linewidth=1)
    bars.set_yticks(ys, [t.label for t in turns], fontsize=7)
    bars.set_xlabel("ms after the caller stopped speaking (bar: server stages; diamond: heard by the caller)")
    config = summary["config"]
    bars.set_title(
        f"Per-turn voice to voice ({summary['profile']}): STT {config['stt']}, LLM {config['llm']}, TTS {config['tts']}, "
        f"VAD stop {config['vad_stop_secs']}s, speech timeout {config['user_speech_timeout']}s",
        fontsize=10,
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=STAGE_COLORS[s]) for s in STAGES]
    bars.legend(
        handles, [STAGE_TITLES[s] for s in STAGES], fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.05)
    )
    bars.grid(axis="x", alpha=0.3)

    server = sorted(t.server["voice_to_voice_ms"] for t in turns if t.server.get("voice_to_voice_ms") is not None)
    caller = sorted(t.caller_ms for t in turns if t.caller_ms is not None)
    for values, label, color in ((server, "server", "tab:blue"), (caller, "caller", "black")):
        if values:
            shares = [(i + 1) / len(values) for i in range(len(values))]
            dist.step(values, shares, where="post", label=label, color=color)
    dist.axvline(target, color="black", linestyle="--", linewidth=1, label=f"target {target} ms")
    dist.axhline(0.95, color="tab:red", linestyle=":", linewidth=1, label="95% of turns")
    dist.set_xlabel("voice to voice (ms)")
    dist.set_ylabel("share of turns at or below")
    dist.set_ylim(0, 1.02)
    dist.set_xlim(0, bars.get_xlim()[1])
    dist.set_title("distribution", fontsize=10)
    dist.legend(fontsize=7, loc="lower right")
    dist.grid(alpha=0.3)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


@contextlib.asynccontextmanager
async def _cloud_sim() -> AsyncIterator[tuple[dict[str, Any], Callable[[str, list[str]], None]]]:
    """The simulated cloud on loopback; yields the settings that point a server at it, and how to give
    a call (by its SID) its caller's words."""
    from bot.standins.cloud_sim import server_env, standins

    deepgram, openai = standins()
    async with deepgram, openai:
        by_alias = {field.validation_alias: name for name, field in Settings.model_fields.items()}
        yield {by_alias[key]: value for key, value in server_env(deepgram, openai).items()}, deepgram.script_for


async def run_bench(
    scenario_paths: list[str | Path],
    *,
    repeat: int = 1,
    null: tuple[str, ...] = (),
    profile: str = "local",
) -> tuple[list[BenchTurn], list, Settings]:
    """Replay every scenario ``repeat`` times, one call at a time; return the turns, results and settings."""
    from bot.replay.scenario import find_scenarios, load_scenario

    scenarios = [load_scenario(p) for p in find_scenarios(scenario_paths)]
    overrides: dict[str, Any] = {job: Provider.NULL for job in null}
    if profile != "cloud-sim":
        return await _replay_all(scenarios, repeat, overrides, null)
    if silent := [s.name for s in scenarios if any(t.say is None for t in s.turns)]:
        raise ValueError(f"cloud-sim needs every turn's words (`say:`) for the STT stand-in; missing in {silent}")
    async with _cloud_sim() as (cloud, script_for):
        return await _replay_all(scenarios, repeat, {**cloud, **overrides}, null, script_for)


async def _replay_all(
    scenarios: list,
    repeat: int,
    overrides: dict[str, Any],
    null: tuple[str, ...],
    script_for: Callable[[str, list[str]], None] | None = None,
) -> tuple[list[BenchTurn], list, Settings]:
    from bot.replay import runner
    from bot.replay.caller import new_sid
    from bot.services.factory import warm_up_tts

    # As `serve` does at start-up: the flow's fixed lines go into the TTS cache
    # before the first call, so the figures are those of a running line.
    warm_up_tts(runner.replay_settings(**overrides))
    turns: list[BenchTurn] = []
    results = []
    settings = runner.replay_settings(**overrides)
    for r in range(repeat):
        settings = runner.replay_settings(**overrides)  # a fresh database per repeat
        async with runner.in_process_server(settings) as (media_url, store):
            seed = getattr(runner, "seed_bookings", None)
            for scenario in scenarios:
                if seed is not None and not null:
                    seed(store, scenario)
            for scenario in scenarios:
                call_sid = new_sid("CA")
                if script_for is not None:
                    script_for(call_sid, [turn.say or "" for turn in scenario.turns])
                result = await runner.replay_scenario(
                    scenario,
                    media_url,
                    runner.store_reports(store),
                    hang_up_wait=NULL_HANG_UP_WAIT_SECS if "llm" in null else runner.HANG_UP_WAIT_SECS,
                    call_sid=call_sid,
                )
                results.append(result)
                caller = result.caller_latency_ms
                for row in result.latency:
                    index = row["turn"] - 1
                    caller_ms = caller[index] if 0 <= index < len(caller) else None
                    turns.append(BenchTurn(scenario.name, r if repeat > 1 else 0, row["turn"], row, caller_ms))
    return turns, results, settings


def main(
    scenarios: list[str] | None,
    *,
    repeat: int,
    as_json: bool,
    null: tuple[str, ...],
    plot_path: Path | None,
    profile: str = "local",
) -> int:
    turns, results, settings = asyncio.run(
        run_bench(scenarios or [DEFAULT_SCENARIOS], repeat=max(1, repeat), null=null, profile=profile)
    )
    summary = summarize(turns, results, settings, profile)
    if plot_path is not None and turns:
        summary["plot"] = str(plot(turns, summary, plot_path))
    if as_json:
        print(json.dumps(summary), flush=True)
    else:
        print_table(summary)
    if not turns:
        return 1
    # A faster stack that books the wrong table is no improvement: with real
    # providers, every scenario must still meet its expectations.
    return 1 if summary["scenarios_failed"] and not null else 0
