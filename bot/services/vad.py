"""Silero voice activity detection, run where the audio arrives, on one model per process.

Pipecat hands every 20 ms frame to a thread for the model. At 8 kHz a Silero
chunk takes about 0.15 ms on this machine's CPU, less than the hand-over to
the thread and back (0.30 ms per frame measured, the same 2-core machine), and
a phone server runs one analyzer per call: so the model runs inline.

Pipecat's analyzer loads its own ONNX session, about 33 ms of a blocked event
loop at the start of every call, in which every other call of the worker goes
silent. The session holds no state of a stream (each analyzer keeps its own
recurrent state and context), so a process loads it once and every call's
analyzer shares it.

Pipecat's VAD controller sees the analyzer's state once per audio frame. A
frame longer than one model window (32 ms at 8 kHz; ``BOT_AUDIO_IN_MS`` joins
Twilio's frames) can pass through SPEAKING and out again unseen, and a short
"Yes." went unheard. So a frame in which the caller was speaking reports
SPEAKING, and whatever followed is reported with the next frame.
"""

import functools
from importlib import resources

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState


@functools.cache
def _shared_session():
    # Loaded with Pipecat's own session options (one thread, CPU).
    return SileroOnnxModel(str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))).session


class _SharedSessionModel(SileroOnnxModel):
    """Pipecat's Silero wrapper (one stream's state) around the process's one session."""

    def __init__(self):
        self.session = _shared_session()
        self.reset_states()
        self.sample_rates = [8000, 16000]


class InlineSileroVADAnalyzer(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        # SileroVADAnalyzer.__init__ would load a session of its own; the rest of it is these fields.
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _SharedSessionModel()
        self._windows_since_reset = 0
        self._low_confidence_windows = 0

    async def analyze_audio(self, buffer: bytes) -> VADState:
        window = self._vad_frames_num_bytes
        states = [self._run_analyzer(buffer[i : i + window]) for i in range(0, len(buffer), window)]
        return VADState.SPEAKING if VADState.SPEAKING in states else (states[-1] if states else self._vad_state)
