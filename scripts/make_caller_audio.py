"""Render caller WAVs from the `say:` lines of test scenarios.

Usage: python scripts/make_caller_audio.py [DIR ...] [--force]
With no DIR, renders every scenario under recordings/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # scripts/ is not a package

from bot.desk.caller_voice import find_scenario_dirs, render_scenario  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="scenario directories (default: all under recordings/)")
    parser.add_argument("--force", action="store_true", help="re-render WAVs that already exist")
    args = parser.parse_args()

    roots = args.dirs or [PROJECT_ROOT / "recordings"]
    scenario_dirs = [d for root in roots for d in find_scenario_dirs(root)]
    if not scenario_dirs:
        print("no scenario.yaml found", file=sys.stderr)
        return 1

    try:
        for scenario_dir in scenario_dirs:
            rendered = render_scenario(scenario_dir, force=args.force)
            print(f"{scenario_dir.name}: rendered {len(rendered)} turn(s)")
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
