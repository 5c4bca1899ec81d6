"""``python -m bot devset OUT``: render a development set of phone calls in voices the bot never tuned to.

Each call is a caller's booking request, its annotated values and a plain line
for the values it leaves out, a name and "yes", rendered in one of
:data:`VOICES` (flite, espeak-ng variants, the bot's own Piper voice shifted
in pitch: never the bot's voice itself) and put through a phone line
(:func:`bot.desk.caller_voice.phone_line`: 300-3400 Hz at 8 kHz, white noise at
one of :data:`NOISE` levels). The requests come from two sources in
recordings/devset/: ``sgd-lines.jsonl``, real callers' lines from the SGD
dataset (CC BY-SA 4.0), and ``our-lines.jsonl``, written by us. Every fourth
line of each is **held out**: it is never looked at while tuning, and is
measured with ``--part held-out``.

OUT holds one scenario folder per call and ``business.yaml``, the flow's
business open at every hour, so only hearing and understanding decide::

    BOT_BUSINESS_FILE=OUT/business.yaml python -m bot replay OUT --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bot.desk.caller_voice import phone_line, render_caller_audio
from bot.measure.understanding import Case, open_all_hours
from bot.settings import PROJECT_DIR

SOURCES = {"sgd": PROJECT_DIR / "recordings" / "devset" / "sgd-lines.jsonl",
           "ours": PROJECT_DIR / "recordings" / "devset" / "our-lines.jsonl"}
VOICES = ("flite:rms", "espeak:en-us+m3", "piper:+250", "flite:kal", "espeak:en-us+f3", "piper:-200",
          "espeak:en-gb", "flite:awb")
NOISE = (0.005, 0.01, 0.02)
NAMES = ("Robin Hayes", "Sarah Miller", "Tom Becker", "Laura Smith", "David Jones", "Emma Brown")
HELD_OUT_EVERY = 4
NOW = "2019-03-01T06:00:00"  # SGD's today, a Friday


def cases(part: str) -> list[tuple[str, Case]]:
    """(source, case) for the part asked: ``tuning``, ``held-out`` or ``all``."""
    chosen = []
    for source, path in SOURCES.items():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for i, row in enumerate(rows):
            held_out = i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
            if part == "all" or (part == "held-out") == held_out:
                chosen.append((source, Case.from_json(row)))
    return chosen


def render(out: Path, part: str = "tuning", limit: int | None = None) -> list[Path]:
    """Write the calls of ``part`` under ``out``; return their folders."""
    out.mkdir(parents=True, exist_ok=True)
    open_all_hours(PROJECT_DIR / "flows" / "booking.business.yaml", out)
    folders = []
    for i, (source, case) in enumerate(cases(part)[:limit]):
        voice, noise, name = VOICES[i % len(VOICES)], NOISE[i % len(NOISE)], NAMES[i % len(NAMES)]
        lines = case.lines()
        lines[-2] = f"The name is {name}."
        folder = out / f"{source}-{i:03d}-{voice.replace(':', '-').replace('+', 'p')}"
        folder.mkdir(exist_ok=True)
        turns: list[dict[str, Any]] = []
        for j, text in enumerate(lines, 1):
            wav = folder / f"{j:02d}.wav"
            phone_line(render_caller_audio(text, wav, voice), noise, seed=i * 10 + j)
            turns.append({"audio": wav.name, "say": text})
        scenario = {
            "description": f"{source} {case.id} ({voice}, noise {noise})", "now": NOW,
            "caller": f"+1555040{i:04d}", "turns": turns,
            "expect": {"booking": {**{k: case.want[k] for k in ("party_size", "date", "time")}, "name": name}},
        }
        (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
        folders.append(folder)
    return folders


def run(args: Any) -> int:
    folders = render(Path(args.out), args.part, args.limit or None)
    print(f"wrote {len(folders)} calls into {args.out}; replay them with\n"
          f"  BOT_BUSINESS_FILE={args.out}/business.yaml python -m bot replay {args.out} --json")
    return 0
