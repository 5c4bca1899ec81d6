"""``python -m bot flows check`` and ``python -m bot flows graph``: the flow files' command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.flowfile.check import DEFAULT_HANDLERS, check_flow, summary
from bot.flowfile.syntax import find_flows


def add_flows_commands(flows_parser: Any) -> None:
    """Register ``flows check`` and ``flows graph`` under the ``flows`` command's parser."""
    sub = flows_parser.add_subparsers(dest="flows_command", required=True)
    check = sub.add_parser("check", help="validate flow files; every problem with its file:line")
    check.add_argument("files", nargs="*", metavar="FILE", help="flow files (default: every flow in flows/)")
    check.add_argument("--handlers", default=DEFAULT_HANDLERS, metavar="MODULE", help=f"tools module (default {DEFAULT_HANDLERS})")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.set_defaults(run_flows=_run_check)
    graph = sub.add_parser("graph", help="draw flow files: Mermaid .mmd, and .svg and .png with Graphviz")
    graph.add_argument("files", nargs="*", metavar="FILE", help="flow files (default: every flow in flows/)")
    graph.add_argument("--out", default="docs/flows", metavar="DIR", help="output folder (default docs/flows/)")
    graph.add_argument("--handlers", default=DEFAULT_HANDLERS, metavar="MODULE", help=f"tools module (default {DEFAULT_HANDLERS})")
    graph.set_defaults(run_flows=_run_graph)


def _flow_files(files: list[str]) -> list[Path]:
    if files:
        return [Path(f) for f in files]
    from bot.settings import PROJECT_DIR

    found = find_flows(PROJECT_DIR / "flows")
    cwd = Path.cwd()
    return [p.relative_to(cwd) if p.is_relative_to(cwd) else p for p in found]


def _run_check(args: Any) -> int:
    failed = False
    for path in _flow_files(args.files):
        problems = check_flow(path, args.handlers)
        for problem in problems:
            print(problem)
        print(summary(path, problems))
        failed |= any(p.severity == "error" or args.strict for p in problems)
    return 1 if failed else 0


def _run_graph(args: Any) -> int:
    """Draw each flow Pipecat can load (a dead end or an unreachable node is worth seeing)."""
    from bot.flowfile.graph import GraphvizMissing, draw_flow

    failed = False
    for path in _flow_files(args.files):
        try:
            written = draw_flow(path, args.out)
        except GraphvizMissing as e:
            print(f"{path}: {e}")
            failed = True
            continue
        except Exception:  # noqa: BLE001 - Pipecat cannot load it: say why, line by line
            for problem in check_flow(path, args.handlers):
                if problem.severity == "error":
                    print(problem)
            print(f"{path}: not drawn: fix the problems above first")
            failed = True
            continue
        print(f"{path}: wrote {', '.join(str(p) for p in written)}")
    return 1 if failed else 0
