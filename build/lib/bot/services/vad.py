"""Silero voice activity detection for every call of a worker, on one model, in batches.

Pipecat hands every 20 ms frame to a thread for the model. At 8 kHz a Silero
window takes about 0.15 ms on this machine's CPU, less than the hand-over to
the thread and back (0.30 ms per frame measured, the same 2-core machine), and
a phone server runs one analyzer per call: so the model runs on the event loop.

Pipecat's analyzer loads its own ONNX session, about 33 ms of a blocked event
loop at the start of every call, in which every other call of the worker goes
silent. The session holds no state of a stream: each call keeps its own
recurrent state and context (:class:`_Stream`), and a process loads the model
once. The model also takes many streams in one run, and a run of 16 windows
costs about as much as four runs of one (0.042 ms a window against 0.148). So
the windows that all of a worker's calls hand in within a few milliseconds are
scored together (:class:`_WindowBatch`): the busier the worker, the
larger the batch (4.7 windows a run at 20 cloud-sim calls on one worker), at the cost of
GATHER_SECS.

Most of a call the caller is silent, and a silent window cannot start speech:
Pipecat's analyzer also needs the volume. So while the VAD is quiet, a window
under SILENCE_DBFS is not scored; the stream's state is reset instead, as
Pipecat's analyzer resets it in non-speech. Once speech has started every
window is scored, so where a turn ends does not change. Nor is the loudness
of digital silence measured (a BS.1770 measure, as costly as the model): it is
none, and Pipecat's volume reads 0 for it.

Pipecat's VAD controller sees the analyzer's state once per audio frame. A
frame longer than one model window (32 ms at 8 kHz; ``BOT_AUDIO_IN_MS`` joins
Twilio's frames) can pass through SPEAKING and out again unseen, and a short
"Yes." went unheard. So a frame in which the caller was speaking reports
SPEAKING, and whatever followed is reported with the next frame.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from importlib import resources

import numpy as np
import onnxruntime
from loguru import logger
from pipecat.audio.utils import exp_smoothing
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState
from pipecat.audio.volume import VOLUME_WINDOW_SECS


@functools.cache
def _shared_session() -> onnxruntime.InferenceSession:
    # Loaded with Pipecat's own session options (one thread, CPU).
    return SileroOnnxModel(str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))).session


def _context_size(sample_rate: int) -> int:
    """The samples of the previous window the model reads before each window (Silero's own figures)."""
    return 64 if sample_rate == 16000 else 32


class _Stream:
    """One call's model state: the recurrent state and the end of its last window."""

    live: weakref.WeakSet[_Stream] = weakref.WeakSet()  # the process's calls, so a batch knows it may get company

    def __init__(self) -> None:
        self.reset_states()
        _Stream.live.add(self)

    def reset_states(self) -> None:  # the name Pipecat's analyzer calls it by
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context: np.ndarray | None = None


def run_model(windows: np.ndarray, states: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Silero on a batch: each row's speech confidence and next recurrent state."""
    confidences, next_states = _shared_session().run(
        None, {"input": windows, "state": states, "sr": np.array(sample_rate, dtype=np.int64)}
    )
    return confidences, next_states


# A window this quiet is silence to any voice detector (speech on a phone line is 30-50 dB louder; a
# line's idle noise is about -70 dBFS); while the VAD is quiet it is not scored.
SILENCE_DBFS = -60.0
_SILENCE_MEAN_SQUARE = 10 ** (SILENCE_DBFS / 10)


# How long a worker with more than one call gathers windows before it scores them: a model run has a
# fixed cost of about 0.11 ms and each window in it about 0.035 ms more, and most turns of a busy event
# loop hand in one window. It delays each window's state by as much; a turn's end is noticed after the
# VAD's stop_secs (0.2 s) of silence anyway.
GATHER_SECS = 0.005


class _WindowBatch:
    """The windows a worker's calls hand in within GATHER_SECS, scored in one model run."""

    _of_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WindowBatch] = weakref.WeakKeyDictionary()

    @classmethod
    def of_running_loop(cls) -> _WindowBatch:
        loop = asyncio.get_running_loop()
        batch = cls._of_loop.get(loop)
        if batch is None:
            batch = cls._of_loop[loop] = cls()
        return batch

    def __init__(self) -> None:
        self._waiting: dict[int, list[tuple[_Stream, np.ndarray, asyncio.Future[float]]]] = {}

    async def confidence(self, stream: _Stream, window: np.ndarray, sample_rate: int) -> float:
        loop = asyncio.get_running_loop()
        scored = loop.create_future()
        if not self._waiting:
            loop.call_later(GATHER_SECS if len(_Stream.live) > 1 else 0, self._score)
        self._waiting.setdefault(sample_rate, []).append((stream, window, scored))
        return await scored

    def _score(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for sample_rate, entries in waiting.items():
            entries = [entry for entry in entries if not entry[2].done()]  # a call cancelled meanwhile
            if entries:
                self._score_together(sample_rate, entries)

    @staticmethod
    def _score_together(sample_rate: int, entries: list[tuple[_Stream, np.ndarray, asyncio.Future[float]]]) -> None:
        size = _context_size(sample_rate)
        inputs = np.stack(
            [
                np.concatenate((np.zeros(size, np.float32) if s.context is None else s.context, window))
                for s, window, _ in entries
            ]
        )
        try:
            confidences, states = run_model(inputs, np.concatenate([s.state for s, _, _ in entries], axis=1), sample_rate)
        except Exception as e:  # noqa: BLE001 - as Pipecat's analyzer does: a window it cannot score is silence
            logger.error(f"Silero VAD could not score {len(entries)} windows: {e}")
            confidences, states = np.zeros((len(entries), 1), np.float32), None
        for row, (stream, _, scored) in enumerate(entries):
            if states is not None:
                stream.state = states[:, row : row + 1]
                stream.context = inputs[row, -size:]
            scored.set_result(float(confidences[row, 0]))


class InlineSileroVADAnalyzer(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        # SileroVADAnalyzer.__init__ would load a session of its own; the rest of it is these fields.
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        _shared_session()  # loaded now, not at the call's first word
        self._model = _Stream()
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._unscored = b""  # the start of the next window
        self._confidence = 0.0  # the window being analyzed, as the batch scored it
        self._skipping_silence = False
        self._zero_bytes = 0  # how much digital silence the latest audio ends with

    @property
    def hearing_voice(self) -> bool:
        """Whether the newest window held voice, speech already or not yet (the VAD's start_secs not out)."""
        return self._vad_state is not VADState.QUIET

    async def analyze_audio(self, buffer: bytes) -> VADState:
        batch = _WindowBatch.of_running_loop()
        size, audio = self._vad_frames_num_bytes, self._unscored + buffer
        states = []
        for start in range(0, len(audio) - size + 1, size):
            window = audio[start : start + size]
            samples = np.frombuffer(window, np.int16).astype(np.float32) / 32768.0
            if self._vad_state is VADState.QUIET and np.dot(samples, samples) < _SILENCE_MEAN_SQUARE * len(samples):
                if not self._skipping_silence:
                    self._model.reset_states()
                    self._skipping_silence = True
                self._confidence = 0.0
            else:
                self._skipping_silence = False
                self._confidence = await batch.confidence(self._model, samples, self.sample_rate)
            states.append(self._run_analyzer(window))  # Pipecat's state machine, on exactly this window
        self._unscored = audio[len(audio) - len(audio) % size :]
        return VADState.SPEAKING if VADState.SPEAKING in states else (states[-1] if states else self._vad_state)

    def voice_confidence(self, buffer: bytes) -> float:
        self._maybe_reset_model(self._confidence)  # Pipecat's periodic reset of the stream's state
        return self._confidence

    def _get_smoothed_volume(self, audio: bytes) -> float:
        self._zero_bytes = self._zero_bytes + len(audio) if not audio.strip(b"\0") else 0
        if self._zero_bytes < VOLUME_WINDOW_SECS * self.sample_rate * 2:
            return super()._get_smoothed_volume(audio)
        self._volume_tracker.update(audio, self.sample_rate)  # the window Pipecat measures, kept whole
        return exp_smoothing(0.0, self._prev_volume, self._smoothing_factor)
