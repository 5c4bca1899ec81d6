"""Check that caller WAVs are understood the same way, every time, over a phone line.

Usage: python scripts/check_caller_audio.py [DIR ...] [--quick] [--jobs N] [--window-secs S]
With no DIR, checks every scenario under recordings/.

Each turn WAV is transcribed exactly as the bot would hear it: 8 kHz G.711
mu-law round trip, soxr up to 16 kHz, `bot.audio.trim_silence`, then the shared
Whisper tiny.en model decoding as `LocalWhisperSTTService.run_stt` does
(greedy, temperature 0, no timestamps; turns that fit the bot's short encoder
window, if it has one, are decoded over that window, like the bot).

Tiny.en is fragile: a few milliseconds of timing or a little line noise can
flip a word. So every turn is transcribed under several small perturbations of
what a live call does (extra leading/trailing silence before trimming, faint
white noise, the segment starting a few ms later), and each transcript goes
through `bot.dialogue.parse.extract`. A turn is STABLE when every perturbation
gives the same Extraction and its party size, date, time, name and yes/no are
what the `say:` text itself gives, both parsed with the `expecting=` slot the
bot would be asking for before that turn. A turn without `say:` (a hand-made
recording) only has to agree with itself. Exits 1 if any turn is UNSTABLE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import inspect
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # scripts/ is not a package

from bot.audio import (  # noqa: E402
    PHONE_RATE,
    decode_mulaw,
    encode_mulaw,
    load_phone_audio,
    trim_silence,
)
from bot.booking.business import Business  # noqa: E402
from bot.desk.caller_voice import find_scenario_dirs  # noqa: E402
from bot.dialogue import parse  # noqa: E402
from bot.services import whisper_stt  # noqa: E402
from bot.services.whisper_stt import (  # noqa: E402
    WHISPER_RATE,
    LocalWhisperSTTService,
    bundled_model_path,
    shared_model,
)

BUSINESS_FILE = PROJECT_ROOT / "flows" / "booking.business.yaml"
DEFAULT_TODAY = dt.date(2026, 11, 24)
# What a booking turn is judged on: these must match the `say:` text.
FIELDS = ("party_size", "date", "time", "name", "yes_no")
SLOTS = ("party_size", "date", "time", "name")


@dataclass(frozen=True)
class Perturbation:
    """One way a live call may hand the same speech to the recogniser."""

    lead_s: float = 0.0  # extra silence before the recording (before trimming)
    tail_s: float = 0.0  # ...and after it
    noise: float = 0.0  # white-noise standard deviation, full scale = 1.0
    offset_ms: float = 0.0  # the segment starts this much later (drops the start)

    def label(self) -> str:
        return f"lead {self.lead_s:.3f}s tail {self.tail_s:.3f}s noise {self.noise:g} offset {self.offset_ms:g}ms"


# trim_silence works on 20 ms frames, so silence only matters through where the
# speech falls on that grid (lead - offset, mod 20 ms) and through the noise:
# the leads below put the speech at 0, 15, 10, 2, 3, 8 and 15 ms into a frame.
PERTURBATIONS = (
    Perturbation(),  # as recorded
    Perturbation(lead_s=1.0, tail_s=0.25, noise=1e-3),
    Perturbation(lead_s=0.255, tail_s=1.0),
    Perturbation(lead_s=0.51, tail_s=0.5, noise=5e-4),
    Perturbation(lead_s=0.745, tail_s=0.12, offset_ms=3),
    Perturbation(lead_s=0.13, tail_s=0.87, noise=1e-3, offset_ms=7),
    Perturbation(lead_s=0.99, tail_s=0.99, noise=2e-4, offset_ms=2),
    Perturbation(lead_s=0.0, tail_s=0.6, noise=1e-3, offset_ms=5),
)


def through_phone_line(path: Path, perturbation: Perturbation = Perturbation(), seed: int = 0) -> np.ndarray:
    """What the bot's recogniser gets: perturbed 8 kHz mu-law, back up to 16 kHz and trimmed."""
    line = load_phone_audio(path).astype(np.float64) / 32768
    line = line[int(round(perturbation.offset_ms * PHONE_RATE / 1000)) :]
    line = np.concatenate(
        [
            np.zeros(int(round(perturbation.lead_s * PHONE_RATE))),
            line,
            np.zeros(int(round(perturbation.tail_s * PHONE_RATE))),
        ]
    )
    if perturbation.noise:
        line = line + np.random.default_rng(seed).normal(0.0, perturbation.noise, len(line))
    pcm = np.clip(np.round(line * 32768), -32768, 32767).astype(np.int16)
    # As in run_stt: int16 line audio -> float32, resampled to Whisper's rate, trimmed.
    samples = decode_mulaw(encode_mulaw(pcm)).astype(np.float32) / 32768.0
    samples = soxr.resample(samples, PHONE_RATE, WHISPER_RATE)
    return trim_silence(samples, WHISPER_RATE)


# --------------------------------------------------------------------------- transcription

_model = None
_window_secs: float | None = None


def default_window_secs() -> float | None:
    """The encoder window the bot decodes short turns with (None: Whisper's full 30 s).

    Follows `BOT_WHISPER_WINDOW_SECS`, else `LocalWhisperSTTService`'s default;
    None when this checkout's Whisper service has no short-window path.
    """
    if not hasattr(whisper_stt, "transcribe_window"):
        return None
    if os.environ.get("BOT_WHISPER_WINDOW_SECS"):
        return float(os.environ["BOT_WHISPER_WINDOW_SECS"]) or None
    parameter = inspect.signature(LocalWhisperSTTService.__init__).parameters.get("window_secs")
    return parameter.default if parameter is not None and parameter.default else None


def _load_model(window_secs: float | None = None) -> None:
    global _model, _window_secs
    _model = shared_model(bundled_model_path(), 1)
    _window_secs = window_secs


def transcribe(samples: np.ndarray) -> str:
    """The transcript `LocalWhisperSTTService.run_stt` would produce for these samples."""
    if _model is None:
        _load_model(_window_secs)
    if _window_secs:  # run_stt's short-window path, when the turn fits the window
        text = whisper_stt.transcribe_window(_model, samples, _window_secs)
        if text is not None:
            return text
    segments, _ = _model.transcribe(
        samples,
        language="en",
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=True,
    )
    return " ".join(s.text.strip() for s in segments if s.no_speech_prob < 0.6).strip()


def transcribe_all(audios: list[np.ndarray], jobs: int, window_secs: float | None) -> list[str]:
    if jobs <= 1:
        _load_model(window_secs)
        return [transcribe(a) for a in audios]
    with ProcessPoolExecutor(max_workers=jobs, initializer=_quiet_model_loader, initargs=(window_secs,)) as pool:
        return list(pool.map(transcribe, audios, chunksize=4))


def _quiet_model_loader(window_secs: float | None) -> None:
    from loguru import logger

    logger.remove()
    _load_model(window_secs)


# --------------------------------------------------------------------------- what the bot expects


def infer_expecting(says: list[str | None], today: dt.date, now: dt.datetime, business: Business) -> list[str | None]:
    """The slot the booking line is asking for before each turn (the `expecting=` it parses with).

    A small replay of `bot.booking.tools` on the `say:` texts: slots fill in from what
    was said; a too-large party, an unbookable day or a time outside the
    opening hours is asked for again; with everything known the bot reads the
    booking back and expects yes/no; a yes or a plain no ends the booking talk.
    Capacity (full slots) is not modelled.
    """
    draft: dict[str, object] = {}
    expecting: str | None = None  # the greeting is an open question
    done = False
    result = []
    for say in says:
        result.append(expecting)
        if say is None or done:
            continue
        extraction = parse.extract(say, today, expecting=expecting)
        values = {slot: getattr(extraction, slot) for slot in SLOTS if getattr(extraction, slot) is not None}
        if expecting == "yes_no" and not values and extraction.yes_no is not None:
            done, expecting = True, None
            continue
        draft.update(values)
        expecting = _next_ask(draft, now, business)
    return result


def _next_ask(draft: dict, now: dt.datetime, business: Business) -> str:
    if "party_size" in draft and draft["party_size"] > business.max_party_size:
        return _forget(draft, "party_size")
    day = draft.get("date")
    if day is not None:
        if day < now.date() or (day - now.date()).days > business.booking_horizon_days:
            return _forget(draft, "date")
        if not business.start_times_on(day):
            return _forget(draft, "date")
        if "time" in draft and (
            draft["time"] not in business.start_times_on(day) or dt.datetime.combine(day, draft["time"]) <= now
        ):
            return _forget(draft, "time")
    return next((slot for slot in business.asks_for if slot not in draft), "yes_no")


def _forget(draft: dict, slot: str) -> str:
    draft.pop(slot, None)
    return slot


# --------------------------------------------------------------------------- the check


@dataclass
class TurnCheck:
    scenario: str
    audio: str
    say: str
    expecting: str | None
    intended: parse.Extraction | None
    heard: list[str]
    extractions: list[parse.Extraction]

    @property
    def problems(self) -> list[str]:
        problems = ["varies"] if len(set(self.extractions)) > 1 else []
        if self.intended is None:  # a hand-made recording: it can only be checked for agreeing with itself
            return problems
        for field in FIELDS:
            wanted = getattr(self.intended, field)
            got = {getattr(e, field) for e in self.extractions}
            if got != {wanted}:
                shown = ", ".join(sorted(_show(v) for v in got if v != wanted))
                problems.append(f"{field} {_show(wanted)}->{shown}")
        return problems

    @property
    def stable(self) -> bool:
        return not self.problems


def _show(value: object) -> str:
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return str(value)


def _variants(heard: list[str]) -> list[str]:
    """Distinct transcripts, most common first, with how many perturbations gave each."""
    counts: dict[str, int] = {}
    for text in heard:
        counts[text] = counts.get(text, 0) + 1
    return [f"{n}x {text!r}" for text, n in sorted(counts.items(), key=lambda item: -item[1])]


def print_table(checks: list[TurnCheck]) -> None:
    header = ("scenario", "turn", "expecting", "say", "result", "heard (perturbations x transcript)")
    rows = []
    for check in checks:
        variants = _variants(check.heard)
        result = "STABLE" if check.stable else "UNSTABLE: " + "; ".join(check.problems)
        rows.append((check.scenario, check.audio, check.expecting or "-", check.say, result, variants[0]))
        rows.extend(("", "", "", "", "", variant) for variant in variants[1:])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="scenario directories (default: all under recordings/)")
    parser.add_argument("--quick", action="store_true", help="only the as-recorded transcription, no perturbations")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="transcription processes (default: 2)"
    )
    parser.add_argument(
        "--window-secs",
        type=float,
        default=default_window_secs(),
        help="encoder window for short turns, as the bot's BOT_WHISPER_WINDOW_SECS (default: the bot's; 0: full 30 s)",
    )
    args = parser.parse_args()
    window_secs = args.window_secs or None

    roots = args.dirs or [PROJECT_ROOT / "recordings"]
    scenario_dirs = [d for root in roots for d in find_scenario_dirs(root)]
    if not scenario_dirs:
        print("no scenario.yaml found", file=sys.stderr)
        return 1
    business = Business.from_file(BUSINESS_FILE)
    perturbations = PERTURBATIONS[:1] if args.quick else PERTURBATIONS

    # Build every perturbed input first; identical ones (silence that lands on
    # the same 20 ms grid) are transcribed once.
    turns = []  # (scenario, turn dict, expecting, today, [audio keys])
    audio_by_key: dict[bytes, np.ndarray] = {}
    for scenario_dir in scenario_dirs:
        scenario = yaml.safe_load((scenario_dir / "scenario.yaml").read_text())
        now = scenario.get("now")
        now = now if isinstance(now, dt.datetime) else dt.datetime.fromisoformat(str(now)) if now else None
        now = now or dt.datetime.combine(DEFAULT_TODAY, dt.time(15))
        says = [turn.get("say") for turn in scenario["turns"]]
        expectings = infer_expecting(says, now.date(), now, business)
        for turn, expecting in zip(scenario["turns"], expectings):
            keys = []
            for index, perturbation in enumerate(perturbations):
                samples = through_phone_line(scenario_dir / turn["audio"], perturbation, seed=index)
                key = hashlib.sha1(samples.tobytes()).digest()
                audio_by_key.setdefault(key, samples)
                keys.append(key)
            turns.append((scenario_dir.name, turn, expecting, now.date(), keys))

    unique_keys = list(audio_by_key)
    texts = dict(zip(unique_keys, transcribe_all([audio_by_key[k] for k in unique_keys], args.jobs, window_secs)))

    checks = []
    for scenario_name, turn, expecting, today, keys in turns:
        say = turn.get("say") or ""
        heard = [texts[k] for k in keys]
        checks.append(
            TurnCheck(
                scenario=scenario_name,
                audio=turn["audio"],
                say=say,
                expecting=expecting,
                intended=parse.extract(say, today, expecting=expecting) if say else None,
                heard=heard,
                extractions=[parse.extract(text, today, expecting=expecting) for text in heard],
            )
        )
    print_table(checks)
    unstable = [c for c in checks if not c.stable]
    print(
        f"\n{len(checks) - len(unstable)}/{len(checks)} turns STABLE under {len(perturbations)} perturbation(s)"
        f" ({len(unique_keys)} distinct inputs transcribed,"
        f" {f'{window_secs:g} s' if window_secs else 'full 30 s'} Whisper window)"
    )
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
