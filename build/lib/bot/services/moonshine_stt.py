"""Moonshine tiny on the CPU through onnxruntime, weights from ``moonshine-voice==0.1.0``, one model per process.

``moonshine-voice`` 0.1.0 ships the tiny English model as two ONNX Runtime
files (an encoder and a merged decoder with a key/value cache) and a
tokenizer; later releases download their weights, so the version is pinned.
The model is an encoder-decoder like Whisper, simple enough to run here
directly: encode the utterance once, then decode greedily token by token,
feeding the decoder's cache back in. Pipecat's own ``MoonshineSTTService``
downloads weights, and ``useful-moonshine-onnx`` pins old dependencies, so
neither is used.

Measured on this project's phone recordings (8 kHz mu-law, resampled to
16 kHz): about a third of Whisper tiny.en's CPU time per utterance, with the
same transcripts on the scenario suite (see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import re
import threading
from collections.abc import AsyncGenerator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soxr
from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.utils.time import time_now_iso8601

from bot.audio import trim_silence
from bot.services.frames import HeardNothingFrame

MOONSHINE_RATE = 16000
START_TOKEN, END_TOKEN = 1, 2
# Moonshine emits well under this many tokens per second of speech; the cap
# only stops a decoder that never says </s> (it happens on noise).
MAX_TOKENS_PER_SEC = 6.5
WORD_START = "\u2581"  # SentencePiece's word-boundary mark
# Moonshine learned some old spellings ("to-morrow", "good-bye"); the parser
# and the transcript want today's.
_OLD_SPELLINGS = re.compile(r"\b(to|good)-(morrow|day|night|bye)\b|\b(to) (morrow)\b", re.IGNORECASE)


def modern_spelling(text: str) -> str:
    return _OLD_SPELLINGS.sub(lambda m: (m[1] or m[3]) + (m[2] or m[4]), text)


def bundled_model_dir() -> Path:
    """The ``tiny-en`` folder shipped in ``moonshine-voice==0.1.0``.

    Found without importing the package, whose own modules load a native
    library and an audio device layer this service does not need.
    """
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("moonshine-voice==0.1.0 is not installed (BOT_LOCAL_STT=moonshine needs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "tiny-en"


def read_tokenizer(path: Path) -> list[bytes]:
    """Moonshine's ``tokenizer.bin``: each token's bytes, length-prefixed (7-bit varint)."""
    data = path.read_bytes()
    tokens: list[bytes] = []
    i = 0
    while i < len(data):
        length = data[i]
        i += 1
        if length >= 0x80:
            length = (length & 0x7F) | (data[i] << 7)
            i += 1
        tokens.append(data[i : i + length])
        i += length
    return tokens


class MoonshineModel:
    """Greedy transcription with Moonshine's encoder and merged (cached) decoder."""

    def __init__(self, model_dir: Path, threads: int = 1):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(str(model_dir / "encoder_model.ort"), options, providers=providers)
        self.decoder = ort.InferenceSession(str(model_dir / "decoder_model_merged.ort"), options, providers=providers)
        self.tokens = read_tokenizer(model_dir / "tokenizer.bin")
        self._cache_inputs = [i.name for i in self.decoder.get_inputs() if i.name.startswith("past_key_values.")]
        self._cache_shape = {i.name: i.shape for i in self.decoder.get_inputs() if i.name in self._cache_inputs}
        # One decode at a time per model: onnxruntime sessions are thread-safe,
        # but two decodes at once on two cores would only slow each other down.
        self._lock = threading.Lock()

    def transcribe(self, samples: np.ndarray) -> str:
        """Text of ``samples`` (float32 mono at 16 kHz)."""
        audio = samples.astype(np.float32)[np.newaxis, :]
        with self._lock:
            return self._decode(audio)

    def _decode(self, audio: np.ndarray) -> str:
        audio_mask = np.ones(audio.shape, dtype=np.int64)
        (hidden,) = self.encoder.run(None, {"input_values": audio, "attention_mask": audio_mask})
        encoder_mask = np.ones(hidden.shape[:2], dtype=np.int64)
        cache = {
            name: np.zeros((1, shape[1], 0, shape[3]), dtype=np.float32) for name, shape in self._cache_shape.items()
        }
        max_tokens = max(4, int(audio.shape[1] / MOONSHINE_RATE * MAX_TOKENS_PER_SEC))
        output_names = [o.name for o in self.decoder.get_outputs()]
        token, result = START_TOKEN, []
        for step in range(max_tokens):
            outputs = self.decoder.run(
                None,
                {
                    "input_ids": np.array([[token]], dtype=np.int64),
                    "encoder_hidden_states": hidden,
                    "encoder_attention_mask": encoder_mask,
                    "use_cache_branch": np.array([step > 0]),
                    **cache,
                },
            )
            named = dict(zip(output_names, outputs))
            token = int(np.argmax(named["logits"][0, -1]))
            if token == END_TOKEN:
                break
            result.append(token)
            for name in self._cache_inputs:
                present = name.replace("past_key_values.", "present.")
                # The encoder half of the cache is computed at the first step only.
                if step == 0 or ".decoder." in name:
                    cache[name] = named[present]
        return self.detokenize(result)

    def detokenize(self, ids: list[int]) -> str:
        raw = b"".join(self.tokens[i] for i in ids if i > END_TOKEN and not self.tokens[i].startswith(b"<<"))
        return modern_spelling(raw.decode("utf-8", errors="replace").replace(WORD_START, " ").strip())


@functools.cache
def shared_model(model_dir: str, threads: int) -> MoonshineModel:
    logger.info(f"Loading Moonshine from {model_dir} ({threads} threads)")
    return MoonshineModel(Path(model_dir), threads)


class LocalMoonshineSTTService(SegmentedSTTService):
    """Segmented (VAD-delimited) Moonshine tiny transcription for phone audio."""

    def __init__(self, *, model_dir: Path | None = None, cpu_threads: int = 1, **kwargs):
        super().__init__(
            settings=STTSettings(model="moonshine-tiny-en", language="en"),
            # The segment is trimmed to a fixed margin before decoding, so the
            # base class's trailing padding would only be cut off again.
            trailing_silence_secs=0.0,
            # Measured end of speech -> transcript on this kind of machine (p99).
            ttfs_p99_latency=0.35,
            **kwargs,
        )
        self._model = shared_model(str(model_dir or bundled_model_dir()), cpu_threads)

    @property
    def wants_wav_segments(self) -> bool:
        return False

    def can_generate_metrics(self) -> bool:
        return True

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        if self.sample_rate != MOONSHINE_RATE:
            samples = soxr.resample(samples, self.sample_rate, MOONSHINE_RATE)
        samples = trim_silence(samples, MOONSHINE_RATE)
        await self.start_processing_metrics()
        try:
            text = await asyncio.to_thread(self._model.transcribe, samples)
        except Exception as e:  # a decode failure loses one utterance, never the call
            logger.exception(f"{self}: transcription failed")
            yield ErrorFrame(f"Moonshine transcription failed: {e}")
            yield HeardNothingFrame()
            return
        finally:
            await self.stop_processing_metrics()
        if text:
            logger.debug(f"{self}: heard {text!r}")
            yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), "en", finalized=True)
        else:
            yield HeardNothingFrame()
