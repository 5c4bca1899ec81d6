"""Render simulated-caller speech for test scenarios: flite, espeak-ng, or Piper at another pitch.

The bot speaks with Piper (en_US-joe-medium); callers never share its voice:
a voice is ``slt`` (a flite voice, the default family), ``flite:kal``,
``espeak:en-us+f2`` (an espeak-ng voice and variant) or ``piper:+200`` (the
bot's Piper voice shifted by that many cents with sox, and a little faster).
:func:`phone_line` then makes a rendering sound like a phone call: the
300-3400 Hz band at 8 kHz, with noise at a given level.
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


def _synthesize(text: str, voice: str, out: Path) -> None:
    """``text`` spoken by ``voice`` into the WAV ``out``, at the engine's own rate."""
    family, _, name = voice.partition(":") if ":" in voice else ("flite", "", voice)
    tool = {"flite": "flite", "espeak": "espeak-ng", "piper": "sox"}.get(family)
    if tool is None:
        raise RuntimeError(f"unknown caller voice {voice!r}: use a flite voice, espeak:VOICE or piper:CENTS")
    if shutil.which(tool) is None:
        raise RuntimeError(f"{tool} is not installed: run `apt-get install {'espeak-ng' if tool == 'espeak-ng' else tool}`")
    if family == "flite":
        subprocess.run(["flite", "-voice", name, "-t", text, "-o", str(out)], check=True, capture_output=True)
    elif family == "espeak":
        subprocess.run(["espeak-ng", "-v", name, "-s", "150", "-w", str(out), text], check=True, capture_output=True)
    else:
        import wave

        from bot.services.piper_tts import bundled_voice_path, shared_voice

        plain = out.with_suffix(".piper.wav")
        with wave.open(str(plain), "wb") as sink:
            shared_voice(str(bundled_voice_path())).synthesize_wav(text, sink)
        subprocess.run(["sox", str(plain), str(out), "pitch", name, "tempo", "1.05"], check=True, capture_output=True)
        plain.unlink()


def render_caller_audio(text: str, path: Path, voice: str = DEFAULT_VOICE) -> Path:
    """Speak `text` with `voice` into a mono 16-bit 16 kHz WAV at `path`."""
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "voice.wav"
        _synthesize(text, voice, raw_path)
        samples, rate = sf.read(raw_path, dtype="float32", always_2d=True)

    samples = samples.mean(axis=1)
    # slt, rms and awb are 16 kHz natively; other voices (e.g. kal) are 8 kHz, espeak-ng 22 kHz.
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE)

    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        raise RuntimeError(f"{voice} produced silence for {text!r}")
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


def phone_line(path: Path, noise: float, seed: int = 0) -> Path:
    """Make the WAV at ``path`` a phone call's audio in place: 8 kHz, the 300-3400 Hz band, and white
    noise at ``noise`` (amplitude, full scale 1.0) under the speech."""
    with tempfile.TemporaryDirectory() as tmp:
        band = Path(tmp) / "band.wav"
        subprocess.run(["sox", str(path), "-r", "8000", "-c", "1", "-b", "16", str(band), "sinc", "300-3400"],
                       check=True, capture_output=True)
        samples, rate = sf.read(band, dtype="float32")
    samples = samples + np.random.default_rng(seed).normal(0.0, noise, len(samples)).astype(np.float32)
    sf.write(path, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16")
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
