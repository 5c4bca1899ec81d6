"""``python -m bot``: serve the line, run the demo call, replay scenarios, try the flow at your desk."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

from loguru import logger

from bot.booking.migrations import MigrationFailed
from bot.flowfile.cli import add_flows_commands
from bot.settings import PROJECT_DIR, ConfigError, load_settings

DEMO_SCENARIO = PROJECT_DIR / "recordings" / "slot-by-slot"


def _configure_logging(level: str) -> None:
    from bot.telephony.caller_id import mask_numbers_in_logs

    logger.remove()
    logger.add(sys.stderr, level=level, format="{time:HH:mm:ss.SSS} {level: <7} {message}")
    mask_numbers_in_logs()


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
    from bot.replay.runner import (
        http_reports,
        in_process_server,
        replay_scenario,
        replay_settings,
        seed_bookings,
        store_reports,
    )
    from bot.replay.scenario import ScenarioError, find_scenarios, load_scenario

    try:
        scenarios = [load_scenario(p) for p in find_scenarios(paths)]
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = []
    calls_at_once = asyncio.Semaphore(1 if live else concurrency)
    # A server at --url may check Twilio's signatures: with its token the calls dial through its signed webhook.
    twilio_auth_token = os.environ.get("TWILIO_AUTH_TOKEN") if url else None

    async def run_one(scenario, media_url, report, recordings_dir):
        async with calls_at_once:
            if live:
                print(f"\n=== {scenario.name}: {scenario.description}\n", flush=True)
            result = await replay_scenario(
                scenario, media_url, report, recordings_dir=recordings_dir, on_turn=_print_turn if live else None,
                twilio_auth_token=twilio_auth_token,
            )
        results.append(result)
        _print_result(result, as_json)

    async def run_all(media_url, report, recordings_dir):
        await asyncio.gather(*(run_one(s, media_url, report, recordings_dir) for s in scenarios))

    if url:
        if seeded := [s.name for s in scenarios if s.given_bookings]:
            print(f"error: {', '.join(seeded)}: 'given.bookings' can only be seeded in-process (drop --url)", file=sys.stderr)
            return 2
        await run_all(url, http_reports(url, os.environ.get("BOT_ADMIN_TOKEN")), None)
    else:
        settings = replay_settings(db)
        async with in_process_server(settings) as (media_url, store):
            for scenario in scenarios:
                seed_bookings(store, scenario)
            await run_all(media_url, store_reports(store), settings.recordings_dir)
        if live:
            for result in results:
                print(f"booking in {settings.db_path}: {result.booking}")
                print(f"call recording: {result.recording}")
    return 0 if results and all(r.expect_met for r in results) else 1


def _iso_datetime(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r} (e.g. 2026-11-24T15:00)") from None


def _add_desk_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--flow", type=Path, metavar="FILE", help="the flow file to try (default: BOT_FLOW_FILE)")
    command.add_argument(
        "--now", type=_iso_datetime, metavar="ISO_DATETIME", help="the call's clock (default: now): 2026-11-24T15:00"
    )
    command.add_argument("--db", type=Path, metavar="FILE", help="booking database (default: BOT_DB_PATH)")
    command.add_argument(
        "--caller", metavar="NUMBER", help="the caller's number, as caller ID gives it (finds their bookings)"
    )
    command.add_argument(
        "--save-scenario", type=Path, metavar="DIR", help="save the session as a replayable scenario in DIR"
    )


def _desk(args: argparse.Namespace) -> int:
    """``chat`` and ``local``: one call at the desk, then what it did (and the scenario saved)."""
    if args.flow and not args.flow.is_file():
        print(f"error: --flow: no such file: {args.flow}", file=sys.stderr)
        return 2
    overrides = {name: value for name, value in (("flow_file", args.flow), ("db_path", args.db)) if value}
    settings = load_settings(**overrides)
    from bot.desk.scenario_writer import CallerTurn, refuse_existing, save_scenario
    from bot.desk.session import describe_outcome
    from bot.flowfile.check import check_flow
    from bot.replay.scenario import ScenarioError

    problems = check_flow(settings.flow_file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if any(problem.severity == "error" for problem in problems):
        return 2
    try:
        if args.save_scenario:
            refuse_existing(args.save_scenario)
    except ScenarioError as e:
        print(f"error: --save-scenario: {e}", file=sys.stderr)
        return 2
    clock = f"{args.now:%A %d %B %Y, %H:%M}" if args.now else "now"
    if args.command == "local":
        from bot.audio import PHONE_RATE
        from bot.desk.local_audio import WIDEBAND_RATE, missing_audio_device, run_local

        sample_rate = WIDEBAND_RATE if args.wideband else PHONE_RATE
        if problem := missing_audio_device(sample_rate):
            print(problem, file=sys.stderr)
            return 2
        print(f"{settings.business.name} on {settings.flow_file.name}, {sample_rate} Hz, clock {clock}.")
        print("Speak after the bot; Ctrl-C hangs up.\n", flush=True)
        result = asyncio.run(
            run_local(settings, now=args.now, caller=args.caller, wideband=args.wideband, barge_in=args.barge_in)
        )
        turns = result.turns
    else:
        from bot.desk.chat import run_chat, terminal_lines

        print(f"{settings.business.name} on {settings.flow_file.name}, clock {clock}.")
        print("Type what the caller says; Ctrl-D or Ctrl-C hangs up.\n", flush=True)
        result = asyncio.run(run_chat(terminal_lines(), settings=settings, now=args.now, caller=args.caller))
        turns = [CallerTurn(text=line) for line in result.lines]
    print(f"\n{describe_outcome(result.outcome)}", flush=True)
    if args.save_scenario:
        try:
            save_scenario(args.save_scenario, turns, result.outcome, source=args.command)
        except (ScenarioError, RuntimeError) as e:
            print(f"scenario not saved: {e}", file=sys.stderr)
            return 1
        saved = args.save_scenario
        print(f"saved {saved / 'scenario.yaml'}: replay it with `python -m bot replay {saved}`")
        if args.command == "chat":  # typed turns are spoken by flite, which Whisper may mishear
            print(f"check the caller voice survives a phone line: python scripts/check_caller_audio.py {saved}")
    return 0


def _forget(number: str) -> int:
    """``forget +1555…``: everything personal about one caller's number, gone now (bot/booking/retention.py)."""
    from bot.booking.retention import forget_caller
    from bot.booking.store import BookingStore
    from bot.telephony.caller_id import phone_number

    if phone_number(number) is None:
        print(f"error: forget: not a phone number in E.164 form (like +15551230001): {number!r}", file=sys.stderr)
        return 2
    settings = load_settings()
    store = BookingStore.from_settings(settings)
    removed = forget_caller(store, number, settings.recordings_dir)
    store.close()
    print(f"{number}: removed {removed}; its bookings stay, without a name, number or note, as counts for capacity")
    return 0


def _render_prompts(files: list[str]) -> int:
    from bot.booking.business import Business
    from bot.flowfile.syntax import find_flows
    from bot.services.prompt_tts import render_prompts

    for flow in [Path(f) for f in files] or find_flows(PROJECT_DIR / "flows"):
        business = Business.from_file(flow.with_suffix(".business.yaml"))
        written = render_prompts(flow, business)
        print(f"{flow}: wrote {', '.join(str(p) for p in written) or 'nothing (no line_trouble_prompts)'}")
    return 0


def _backup_or_restore(args: argparse.Namespace) -> int:
    """``backup PATH`` (online, while calls go on) and ``restore PATH`` (with the server stopped)."""
    from bot.booking import backup

    settings = load_settings()
    if settings.database_url and not args.db:
        print(f"{args.command}: BOT_DATABASE_URL is a PostgreSQL database: use pg_dump and pg_restore "
              '(docs/deployment.md, "Several hosts: PostgreSQL")', file=sys.stderr)
        return 2
    db_path = args.db or settings.db_path
    if args.command == "backup":
        try:
            summary = backup.backup(db_path, args.path, force=args.force, keep=args.keep)
        except backup.BackupError as e:
            print(f"backup failed: {e}", file=sys.stderr)
            return 1
        print(f"backed up {db_path} to {summary.path}: {summary.describe()}")
        return 0
    try:
        result = backup.restore(args.path, db_path, force=args.force)
    except backup.BackupError as e:
        print(f"restore failed: {e}", file=sys.stderr)
        return 1
    if result.replaced:
        print(f"the database as it was is kept in {result.replaced}")
    print(f"restored {db_path} from {args.path}: {result.restored.describe()}")
    if backup.newer_than_release(result.restored):
        print("warning: the backup's schema is newer than this release's: it runs on it, but restore with the "
              "release that made it when you can", file=sys.stderr)
    print("start the server: it upgrades the schema if the backup is older than this release")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Phone booking voice agent")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the phone line's server (Twilio webhook and media websocket)")
    serve.add_argument("--workers", type=int, help="worker processes behind the one port (default: BOT_WORKERS, "
                                                   "else one per core)")
    # How the supervisor starts each of its workers (bot/serving/supervisor.py); not for people.
    serve.add_argument("--worker-socket", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--line-dir", type=Path, help=argparse.SUPPRESS)
    demo = commands.add_parser("demo", help="a demo phone call on the embedded engines, printed live")
    demo.add_argument("scenario", nargs="?", default=str(DEMO_SCENARIO))
    replay = commands.add_parser("replay", help="replay scenario recordings through the whole stack")
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--json", action="store_true", help="one JSON object per scenario")
    replay.add_argument("--url", help="media websocket of a running server (default: start one in-process)")
    replay.add_argument("--db", type=Path, help="booking database for the in-process server (default: a fresh one)")
    replay.add_argument("--concurrency", type=int, default=1, help="calls in progress at once (default 1)")
    bench = commands.add_parser("bench", help="replay scenarios one call at a time and report per-stage latency")
    bench.add_argument("--scenarios", action="append", metavar="DIR", help="scenario folder (default recordings/)")
    bench.add_argument("--repeat", type=int, default=1, help="replay every scenario N times (default 1)")
    bench.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    bench.add_argument(
        "--null", nargs="?", const="stt,llm,tts", default="", metavar="JOBS",
        help="instant stand-ins for these providers (default all: stt,llm,tts) to measure the pipeline's overhead",
    )
    bench.add_argument("--plot", type=Path, default=None, help="PNG of the per-turn breakdown (default out/bench.png)")
    bench.add_argument("--profile", choices=["local", "cloud-sim"], default="local",
                       help="local: the embedded engines; cloud-sim: cloud providers as local stand-ins")
    load = commands.add_parser("load", help="many simulated callers at once against a server on loopback")
    load.add_argument("--calls", type=int, required=True, metavar="N", help="simulated callers")
    load.add_argument("--ramp", type=float, default=0.0, metavar="SECONDS", help="start the callers evenly over this time")
    load.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                      help="after the ramp, callers keep redialing for this long (default: one call each)")
    load.add_argument("--scenarios", action="append", metavar="DIR", help="scenario folder (default recordings/)")
    load.add_argument("--profile", choices=["local", "cloud-sim"], default="cloud-sim",
                      help="cloud-sim: cloud providers as local stand-ins; local: the embedded engines")
    load.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                      help="the server's worker processes (default: one per core, as `serve`)")
    load.add_argument("--one-call-first", type=int, default=2, metavar="N", dest="one_call_first",
                      help="first make N calls one at a time, the one-call figure the load is compared with "
                           "(default 2; 0: none)")
    load.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    load.add_argument("--plot", type=Path, default=None, help="PNG of latency and CPU against calls in progress "
                      "(default out/load-PROFILE.png)")
    understanding = commands.add_parser(
        "understanding", help="type annotated caller lines (SGD jsonl) through the flow; how many book as annotated"
    )
    understanding.add_argument("file", type=Path, help="jsonl of caller lines, e.g. ../shared/data/sgd-bookings-train.jsonl")
    understanding.add_argument("--limit", type=int, default=0, help="only the first N lines (after --skip)")
    understanding.add_argument("--skip", type=int, default=0, help="leave out the first N lines")
    understanding.add_argument("--now", default="2019-03-01T06:00:00", help="the calls' clock (SGD's today: 2019-03-01)")
    understanding.add_argument("--failures", action="store_true", help="print the transcript of each miss")
    understanding.add_argument("--json", action="store_true", help="the summary as one line of JSON")
    backup = commands.add_parser("backup", help="copy the booking database while calls go on (SQLite's online backup)")
    backup.add_argument("path", type=Path, metavar="PATH", help="the backup file, or a folder for bookings-<UTC time>.db")
    backup.add_argument("--keep", type=int, metavar="N", help="with a folder: then delete all but the newest N backups")
    restore = commands.add_parser("restore", help="replace the booking database with a backup (server stopped)")
    restore.add_argument("path", type=Path, metavar="PATH", help="a file made by `backup`")
    for command in (backup, restore):
        command.add_argument("--db", type=Path, metavar="FILE", help="the booking database (default: BOT_DB_PATH)")
        command.add_argument("--force", action="store_true",
                             help="backup: replace PATH if it exists; restore: even while a server uses the database")
    devset = commands.add_parser("devset", help="render the development set of calls in unfamiliar voices (bot/measure/devset.py)")
    devset.add_argument("out", type=Path, help="folder to write the calls into")
    devset.add_argument("--part", choices=["tuning", "held-out", "all"], default="tuning",
                        help="which calls: the ones tuned on, the held-out ones, or all (default tuning)")
    devset.add_argument("--limit", type=int, default=0, help="only the first N calls")
    flows = commands.add_parser("flows", help="check or draw flow files (flows/*.yaml)")
    add_flows_commands(flows)
    forget = commands.add_parser("forget", help="remove one caller's personal data (their bookings stay, as counts)")
    forget.add_argument("number", help="the caller's number in E.164 form, e.g. +15551230001")
    prompts = commands.add_parser("prompts", help="pre-rendered prompts for when no text-to-speech works")
    prompts.add_argument("action", choices=["render"], help="render: make each flow's prompts with Piper")
    prompts.add_argument("files", nargs="*", metavar="FILE", help="flow files (default: every flow in flows/)")
    chat = commands.add_parser("chat", help="type as the caller: the flow and booking store, without audio")
    _add_desk_arguments(chat)
    local = commands.add_parser("local", help="talk to the bot through this computer's microphone and speakers")
    _add_desk_arguments(local)
    local.add_argument("--wideband", action="store_true", help="16 kHz audio instead of the phone's 8 kHz")
    local.add_argument(
        "--barge-in", action="store_true", help="let the caller interrupt the bot, as on a phone (use headphones)"
    )
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            if args.workers is not None and not 1 <= args.workers <= 64:
                parser.error("--workers must be between 1 and 64")
            # Before Pipecat is imported, so a bad value is the only output.
            settings = load_settings(**({"workers": args.workers} if args.workers else {}))
            _configure_logging(settings.log_level)
            if args.worker_socket is not None:
                from server import serve_worker

                serve_worker(settings, args.worker_socket, args.line_dir)
                return 0
            # The supervisor imports no engine nor Pipecat: its workers do (server.serve_worker).
            from bot.booking.store import BookingStore
            from bot.serving.supervisor import Supervisor, worker_count

            # Opened once here: a database that cannot be opened is one line before any worker starts,
            # and the workers find its schema already migrated.
            BookingStore.from_settings(settings).close()

            return Supervisor(settings, worker_count(settings)).run()
        _configure_logging(os.environ.get("BOT_LOG_LEVEL", "WARNING"))
        if args.command in ("backup", "restore"):
            if args.command == "backup" and args.keep is not None and args.keep < 1:
                parser.error("--keep must be at least 1")
            return _backup_or_restore(args)
        if args.command == "flows":
            return args.run_flows(args)
        if args.command == "forget":
            return _forget(args.number)
        if args.command == "prompts":
            return _render_prompts(args.files)
        if args.command == "bench":
            from bot.measure import bench

            null = tuple(job for job in args.null.split(",") if job)
            if unknown := set(null) - set(bench.NULL_JOBS):
                print(f"error: --null takes {','.join(bench.NULL_JOBS)}, not {','.join(sorted(unknown))}", file=sys.stderr)
                return 2
            return bench.main(
                args.scenarios, repeat=args.repeat, as_json=args.json, null=null,
                plot_path=args.plot or bench.DEFAULT_PLOT, profile=args.profile,
            )
        if args.command == "load":
            from bot.measure import load

            return load.main(
                calls=args.calls, ramp=args.ramp, hold=args.hold, scenario_dirs=args.scenarios, profile=args.profile,
                workers=args.workers, as_json=args.json, plot_path=args.plot or Path(str(load.DEFAULT_PLOT).format(profile=args.profile)),
                one_call_first=args.one_call_first,
            )
        if args.command == "devset":
            from bot.measure import devset

            return devset.run(args)
        if args.command == "understanding":
            from bot.measure import understanding

            return understanding.run(args)
        if args.command == "demo":
            demo_db = PROJECT_DIR / "data" / "demo.db"
            return asyncio.run(_replay([args.scenario], None, demo_db, live=True, as_json=False))
        if args.command in ("chat", "local"):
            return _desk(args)
        return asyncio.run(
            _replay(args.paths, args.url, args.db, live=False, as_json=args.json, concurrency=max(1, args.concurrency))
        )
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    except MigrationFailed as e:
        print(f"database error: {e}", file=sys.stderr)
        return 1
