"""Render simulated-caller speech for test scenarios with flite.

The bot speaks with Piper (en_US-joe-medium); callers use flite so the two
sides of a recorded call never share a voice.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import yaml

SAMPLE_RATE = 16_000
LEAD_SILENCE_S = 0.3  # lets voice activity detection see a clean start
TAIL_SILENCE_S = 0.2  # ...and a clean stop
PEAK_DBFS = -3.0
DEFAULT_VOICE = "slt"


def render_caller_audio(text: str, path: Path, voice: str = DEFAULT_VOICE) -> Path:
    """Speak `text` with flite `voice` into a mono 16-bit 16 kHz WAV at `path`."""
    flite = shutil.which("flite")
    if flite is None:
        raise RuntimeError("flite is not installed: run `apt-get install flite`")

    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "flite.wav"
        subprocess.run(
            [flite, "-voice", voice, "-t", text, "-o", str(raw_path)],
            check=True,
            capture_output=True,
        )
        samples, rate = sf.read(raw_path, dtype="float32", always_2d=True)

    samples = samples.mean(axis=1)
    # slt, rms and awb are 16 kHz natively; other voices (e.g. kal) are 8 kHz.
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE)

    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        raise RuntimeError(f"flite produced silence for {text!r} (voice {voice})")
    samples = samples * (10 ** (PEAK_DBFS / 20) / peak)

    samples = np.concatenate(
        [
            np.zeros(int(LEAD_SILENCE_S * SAMPLE_RATE), dtype=np.float32),
            samples.astype(np.float32),
            np.zeros(int(TAIL_SILENCE_S * SAMPLE_RATE), dtype=np.float32),
        ]
    )

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, SAMPLE_RATE, subtype="PCM_16")
    return path


def find_scenario_dirs(root: Path) -> list[Path]:
    """Every directory under `root` (inclusive) that holds a scenario.yaml."""
    return sorted(path.parent for path in Path(root).rglob("scenario.yaml"))


def render_scenario(scenario_dir: Path, *, force: bool = False) -> list[Path]:
    """Render every turn with `say:` in scenario.yaml to its `audio:` file.

    Existing WAVs are kept unless `force`, so hand-made recordings survive.
    Returns the paths that were (re)rendered.
    """
    scenario_dir = Path(scenario_dir)
    scenario = yaml.safe_load((scenario_dir / "scenario.yaml").read_text())
    voice = scenario.get("caller_voice") or DEFAULT_VOICE

    rendered = []
    for turn in scenario["turns"]:
        text = turn.get("say")
        if not text:
            continue
        wav_path = scenario_dir / turn["audio"]
        if wav_path.exists() and not force:
            continue
        rendered.append(render_caller_audio(text, wav_path, voice))
    return rendered
