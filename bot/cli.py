"""``python -m bot``: serve the line, run the demo call, replay scenarios."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from loguru import logger

from bot.settings import PROJECT_DIR, ConfigError, load_settings

DEMO_SCENARIO = PROJECT_DIR / "recordings" / "slot-by-slot"


def _configure_logging(level: str) -> None:
    logger.remove()
    logger.add(sys.stderr, level=level, format="{time:HH:mm:ss.SSS} {level: <7} {message}")


def _print_turn(turn) -> None:
    latency = f"{turn.latency_ms:.0f} ms" if turn.latency_ms is not None else "-"
    if turn.caller_said or turn.caller_heard:
        print(f"  caller said : {turn.caller_said or '?'}")
        print(f"  bot heard   : {turn.caller_heard or '(nothing)'}")
        print(f"  bot said    : {turn.bot_said}")
        print(f"  latency     : {latency}\n", flush=True)
    else:
        print(f"  bot said    : {turn.bot_said}\n", flush=True)


def _print_result(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json()), flush=True)
        return
    verdict = "PASS" if result.expect_met else "FAIL"
    error = f" error={result.error}" if result.error else ""
    print(f"{verdict} {result.scenario}: booking={result.booking} completed={result.completed}{error}", flush=True)


async def _replay(
    paths: list[str], url: str | None, db: Path | None, *, live: bool, as_json: bool, concurrency: int = 1
) -> int:
    from bot.replay.runner import http_reports, in_process_server, replay_scenario, replay_settings, store_reports
    from bot.replay.scenario import ScenarioError, find_scenarios, load_scenario

    try:
        scenarios = [load_scenario(p) for p in find_scenarios(paths)]
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = []
    calls_at_once = asyncio.Semaphore(1 if live else concurrency)

    async def run_one(scenario, media_url, report, recordings_dir):
        async with calls_at_once:
            if live:
                print(f"\n=== {scenario.name}: {scenario.description}\n", flush=True)
            result = await replay_scenario(
                scenario, media_url, report, recordings_dir=recordings_dir, on_turn=_print_turn if live else None
            )
        results.append(result)
        _print_result(result, as_json)

    async def run_all(media_url, report, recordings_dir):
        await asyncio.gather(*(run_one(s, media_url, report, recordings_dir) for s in scenarios))

    if url:
        await run_all(url, http_reports(url, os.environ.get("BOT_ADMIN_TOKEN")), None)
    else:
        settings = replay_settings(db)
        async with in_process_server(settings) as (media_url, store):
            await run_all(media_url, store_reports(store), settings.recordings_dir)
        if live:
            for result in results:
                print(f"booking in {settings.db_path}: {result.booking}")
                print(f"call recording: {result.recording}")
    return 0 if results and all(r.expect_met for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Phone booking voice agent")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the phone line's server (Twilio webhook and media websocket)")
    demo = commands.add_parser("demo", help="a demo phone call on the embedded engines, printed live")
    demo.add_argument("scenario", nargs="?", default=str(DEMO_SCENARIO))
    replay = commands.add_parser("replay", help="replay scenario recordings through the whole stack")
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--json", action="store_true", help="one JSON object per scenario")
    replay.add_argument("--url", help="media websocket of a running server (default: start one in-process)")
    replay.add_argument("--db", type=Path, help="booking database for the in-process server (default: a fresh one)")
    replay.add_argument("--concurrency", type=int, default=1, help="calls in progress at once (default 1)")
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            settings = load_settings()  # before Pipecat is imported, so a bad value is the only output
            _configure_logging(settings.log_level)
            from server import serve

            serve(settings)
            return 0
        _configure_logging(os.environ.get("BOT_LOG_LEVEL", "WARNING"))
        if args.command == "demo":
            demo_db = PROJECT_DIR / "data" / "demo.db"
            return asyncio.run(_replay([args.scenario], None, demo_db, live=True, as_json=False))
        return asyncio.run(
            _replay(args.paths, args.url, args.db, live=False, as_json=args.json, concurrency=max(1, args.concurrency))
        )
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
