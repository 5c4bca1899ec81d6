"""Save a desk session as a scenario: ``DIR/scenario.yaml`` beside one WAV per caller turn.

The file is in the replay format (recordings/README.md), with what the
session did as its ``expect``, so ``python -m bot replay DIR`` turns a manual
try into a regression test. Typed turns become ``say:`` turns rendered with
a caller voice; spoken turns keep the caller's own recording.

A scenario is only worth saving if the bot hears its caller: each typed turn is
rendered, put through the phone line and transcribed as the bot would, and its
values (party size, day, time, name, yes or no) must come out as typed. The
first of :data:`WRITER_VOICES` the bot hears right on every turn is the one
saved (the default voice when it does).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from bot.audio import (
    PHONE_RATE,
    decode_mulaw,
    encode_mulaw,
    load_phone_audio,
    trim_silence,
)
from bot.desk.caller_voice import DEFAULT_VOICE, render_caller_audio
from bot.desk.session import CallOutcome
from bot.dialogue import parse
from bot.replay.scenario import SCENARIO_FILE, Scenario, ScenarioError, load_scenario

DESCRIPTION_CHARS = 80
WRITER_VOICES = (DEFAULT_VOICE, "rms", "awb", "kal16")


def _values(text: str, today: dt.date) -> tuple:
    found = parse.extract(text, today)
    return found.party_size, found.date, found.time, found.yes_no, (found.name or "").lower()


def heard_as_typed(text: str, wav: Path, today: dt.date) -> bool:
    """Whether the bot, hearing ``wav`` over the phone line, gets the values ``text`` holds."""
    from bot.services.whisper_stt import (
        WHISPER_RATE,
        WINDOW_MARGIN_SECS,
        bundled_model_path,
        shared_model,
        transcribe_window,
    )

    line = decode_mulaw(encode_mulaw(load_phone_audio(wav))).astype(np.float32) / 32768.0
    samples = trim_silence(soxr.resample(line, PHONE_RATE, WHISPER_RATE), WHISPER_RATE, margin_secs=WINDOW_MARGIN_SECS)
    heard = transcribe_window(shared_model(bundled_model_path(), 1), samples, 10.0) or ""
    return _values(heard, today) == _values(text, today)


def _render_heard(turns: list[tuple[str, Path]], today: dt.date) -> str:
    """Render typed ``(text, wav)`` turns in the first voice the bot hears right throughout; return it."""
    for voice in WRITER_VOICES:
        for text, wav in turns:
            render_caller_audio(text, wav, voice)
        if all(heard_as_typed(text, wav, today) for text, wav in turns):
            return voice
    for text, wav in turns:  # none heard throughout: the default, and the replay will say so
        render_caller_audio(text, wav, DEFAULT_VOICE)
    return DEFAULT_VOICE


@dataclass(frozen=True)
class CallerTurn:
    text: str  # what the caller typed, or what the bot heard them say
    audio: bytes | None = None  # their recording (16-bit mono); None: render `text` with a caller voice
    sample_rate: int = 0


def refuse_existing(directory: Path) -> None:
    """Raise :class:`ScenarioError` if ``directory`` already holds a scenario (checked before a session starts)."""
    if (directory / SCENARIO_FILE).exists():
        raise ScenarioError(f"{directory}: already holds a scenario; choose a new folder")


def _inline(mapping: dict[str, Any]) -> str:
    """A flow-style YAML mapping, strings double-quoted (JSON strings are valid YAML)."""
    return "{" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in mapping.items()) + "}"


def _file_name(index: int, text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))[:4]
    return f"{index:02d}-{'-'.join(words) or 'turn'}.wav"


def save_scenario(directory: Path, turns: list[CallerTurn], outcome: CallOutcome, *, source: str) -> Scenario:
    """Write the scenario and its WAVs; return it as the replay will load it."""
    refuse_existing(directory)
    if not turns:
        raise ScenarioError(f"{directory}: nothing to save: the caller said nothing the bot heard")
    directory.mkdir(parents=True, exist_ok=True)
    summary = f"Saved from `python -m bot {source}`: {turns[0].text}"
    lines = [
        f"# Replay with: python -m bot replay {directory}",
        f"description: {json.dumps(summary[:DESCRIPTION_CHARS])}",
        f"now: {json.dumps(outcome.started.isoformat(timespec='seconds'))}",
    ]
    if outcome.caller:
        lines.append(f"caller: {json.dumps(outcome.caller)}")
    typed = [(turn.text, directory / _file_name(i, turn.text)) for i, turn in enumerate(turns, 1) if turn.audio is None]
    if typed:
        lines.append(f"caller_voice: {_render_heard(typed, outcome.started.date())}")
    if outcome.given_bookings:
        lines += ["given:", "  bookings:"] + [f"    - {_inline(booking)}" for booking in outcome.given_bookings]
    lines.append("turns:")
    for index, turn in enumerate(turns, start=1):
        name = _file_name(index, turn.text)
        if turn.audio is None:  # rendered above, in the voice the bot hears
            lines += [f"  - audio: {name}", f"    say: {json.dumps(turn.text)}"]
        else:
            samples = np.frombuffer(turn.audio, dtype=np.int16)
            sf.write(directory / name, samples, turn.sample_rate, subtype="PCM_16")
            lines.append(f"  - audio: {name}  # heard: {json.dumps(turn.text)}")
    booking = outcome.booking
    expected = _inline({k: booking[k] for k in ("party_size", "date", "time", "name")}) if booking else "null"
    lines += ["expect:", f"  booking: {expected}"]
    if outcome.cancelled:
        lines.append("  cancelled: true")
    if outcome.message:
        lines.append("  message: true")
    (directory / SCENARIO_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_scenario(directory)
