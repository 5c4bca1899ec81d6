"""Audio the stand-ins hear and produce: G.711/PCM codecs, energy-based
utterance detection and a synthetic speech-like signal."""

import functools
import zlib
from dataclasses import dataclass

import numpy as np

ENCODINGS = ("linear16", "mulaw", "alaw")


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + 0x84 << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (a & 0x70) >> 4
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


_DECODE_TABLES = {"mulaw": _mulaw_table(), "alaw": _alaw_table()}
# Encoding picks the code whose decoded value is nearest, searched in value order.
_ENCODE_ORDER = {name: np.argsort(table, kind="stable") for name, table in _DECODE_TABLES.items()}


def bytes_per_sample(encoding: str) -> int:
    return 2 if encoding == "linear16" else 1


def decode(data: bytes, encoding: str) -> np.ndarray:
    """Raw audio bytes to int16 samples (interleaved if multichannel)."""
    if encoding == "linear16":
        return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2")
    return _DECODE_TABLES[encoding][np.frombuffer(data, dtype=np.uint8)]


def encode(samples: np.ndarray, encoding: str) -> bytes:
    """int16 samples to raw audio bytes."""
    if encoding == "linear16":
        return samples.astype("<i2").tobytes()
    table, order = _DECODE_TABLES[encoding], _ENCODE_ORDER[encoding]
    ordered = table[order].astype(np.int32)
    x = samples.astype(np.int32)
    hi = np.clip(np.searchsorted(ordered, x), 1, len(ordered) - 1)
    nearer_low = (x - ordered[hi - 1]) <= (ordered[hi] - x)
    return order[np.where(nearer_low, hi - 1, hi)].astype(np.uint8).tobytes()


@dataclass(frozen=True)
class Utterance:
    """Where speech started and ended, in seconds of audio since the stream began."""

    start: float
    end: float


class UtteranceDetector:
    """Finds utterances in streamed audio by the RMS energy of 20 ms frames.

    A frame louder than ``threshold`` is speech; an utterance ends once
    ``end_silence_ms`` of quieter frames have followed it.
    """

    FRAME_MS = 20

    def __init__(self, *, sample_rate: int, channels: int, threshold: float, end_silence_ms: int):
        self._frame_len = sample_rate * self.FRAME_MS // 1000 * channels
        self._sample_rate = sample_rate
        self._channels = channels
        self._threshold = threshold
        self._end_silence_frames = max(1, -(-end_silence_ms // self.FRAME_MS))
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames_seen = 0
        self._speech_start: float | None = None
        self._last_speech_end = 0.0
        self._quiet_frames = 0

    @property
    def in_speech(self) -> bool:
        return self._speech_start is not None

    @property
    def speech_start(self) -> float | None:
        return self._speech_start

    @property
    def audio_seconds(self) -> float:
        return self._frames_seen * self.FRAME_MS / 1000

    def feed(self, samples: np.ndarray) -> list[tuple[str, float | Utterance]]:
        """Consume samples; return ("start", seconds) and ("end", Utterance) events in order."""
        audio = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(audio) - len(audio) % self._frame_len
        self._pending = audio[whole:]
        frames = audio[:whole].reshape(-1, self._frame_len).astype(np.float64)
        loud = np.sqrt(np.mean(frames * frames, axis=1)) >= self._threshold  # every frame's RMS at once
        events: list[tuple[str, float | Utterance]] = []
        for frame_is_loud in loud:
            frame_start = self.audio_seconds
            self._frames_seen += 1
            if frame_is_loud:
                if self._speech_start is None:
                    self._speech_start = frame_start
                    events.append(("start", frame_start))
                self._last_speech_end = self.audio_seconds
                self._quiet_frames = 0
            elif self._speech_start is not None:
                self._quiet_frames += 1
                if self._quiet_frames >= self._end_silence_frames:
                    events.append(("end", self.take_utterance()))
        return events

    def take_utterance(self) -> Utterance:
        """End the utterance in progress now (as Finalize does) and return it."""
        start = self._speech_start if self._speech_start is not None else self.audio_seconds
        utterance = Utterance(start=start, end=max(start, self._last_speech_end))
        self._speech_start = None
        self._quiet_frames = 0
        return utterance


def speech_duration_ms(text: str, *, ms_per_char: int, max_ms: int) -> int:
    return min(len(text.strip()) * ms_per_char, max_ms)


@functools.lru_cache(maxsize=512)
def encoded_speech(text: str, sample_rate: int, encoding: str, *, ms_per_char: int, max_ms: int) -> bytes:
    """:func:`synthesize_speech` encoded; a load's many calls say the same lines, made once each."""
    return encode(synthesize_speech(text, sample_rate, ms_per_char=ms_per_char, max_ms=max_ms), encoding)


def synthesize_speech(
    text: str, sample_rate: int, *, ms_per_char: int = 60, max_ms: int = 20_000
) -> np.ndarray:
    """A deterministic speech-like int16 signal for ``text``.

    Each character gets ``ms_per_char``: letters are voiced (a gliding pitch
    with harmonics under a syllable-rate envelope), spaces and punctuation are
    near-silent gaps, so the result has the length and energy contour of
    someone saying the text, and an energy-based VAD hears it as speech.
    """
    text = text.strip()
    total = sample_rate * speech_duration_ms(text, ms_per_char=ms_per_char, max_ms=max_ms) // 1000
    if total == 0:
        return np.zeros(0, dtype=np.int16)
    t = np.arange(total) / sample_rate
    rng = np.random.default_rng(zlib.crc32(text.encode()))

    char_len = sample_rate * ms_per_char / 1000
    char_index = np.minimum((np.arange(total) / char_len).astype(int), len(text) - 1)
    voiced = np.array([c.isalnum() for c in text])[char_index]
    envelope = np.where(voiced, 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2, 0.02)
    # Smooth the envelope over ~15 ms so word edges don't click.
    width = max(1, sample_rate * 15 // 1000)
    envelope = np.convolve(envelope, np.ones(width) / width, mode="same")

    f0 = 120 + 25 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = [k for k in range(1, 12) if 160 * k < sample_rate / 2]
    signal = sum(np.sin(k * phase) / k for k in harmonics)
    signal = signal / np.max(np.abs(signal)) + 0.05 * rng.standard_normal(total)
    return np.clip(signal * envelope * 0.4 * 32767, -32768, 32767).astype(np.int16)
