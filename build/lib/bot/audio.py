"""Phone-line audio: G.711 mu-law in numpy, WAV loading at the line's rate, and loudness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

PHONE_RATE = 8_000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz: one Twilio media message


def encode_mulaw(pcm: np.ndarray) -> bytes:
    """16-bit linear samples to G.711 mu-law bytes (bit-exact with the reference codec)."""
    pcm14 = pcm.astype(np.int32) >> 2
    sign = np.where(pcm14 < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(pcm14) + 0x21, 0x1FFF)  # saturate at the top code
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 5
    mantissa = (magnitude >> (exponent + 1)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def decode_mulaw(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes to 16-bit linear samples."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def load_phone_audio(path: str | Path) -> np.ndarray:
    """A WAV of any rate and channel count as 16-bit mono samples at 8 kHz."""
    samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate != PHONE_RATE:
        mono = soxr.resample(mono, rate, PHONE_RATE)
    return np.clip(np.round(mono * 32768), -32768, 32767).astype(np.int16)


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def trim_silence(samples: np.ndarray, rate: int, *, margin_secs: float = 0.25, floor: float = 0.01) -> np.ndarray:
    """Speech with exactly ``margin_secs`` of silence either side (float samples in [-1, 1]).

    A VAD segment's leading and trailing silence varies with timing; small
    speech models decode the same words differently with different padding, so
    every segment is brought to the same shape before transcription.
    """
    frame = rate // 50
    energy = [float(np.sqrt(np.mean(samples[i : i + frame] ** 2))) for i in range(0, len(samples), frame)]
    voiced = [i for i, e in enumerate(energy) if e >= floor]
    if not voiced:
        return samples
    speech = samples[voiced[0] * frame : (voiced[-1] + 1) * frame]
    pad = np.zeros(int(margin_secs * rate), dtype=samples.dtype)
    return np.concatenate([pad, speech, pad])
