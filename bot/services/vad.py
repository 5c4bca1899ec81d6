"""Silero voice activity detection, run where the audio arrives.

Pipecat hands every 20 ms frame to a thread for the model. At 8 kHz a Silero
chunk takes about 0.15 ms on this machine's CPU, less than the hand-over to
the thread and back (0.30 ms per frame measured, the same 2-core machine), and
a phone server runs one analyzer per call: so the model runs inline.

Pipecat's VAD controller sees the analyzer's state once per audio frame. A
frame longer than one model window (32 ms at 8 kHz; ``BOT_AUDIO_IN_MS`` joins
Twilio's frames) can pass through SPEAKING and out again unseen, and a short
"Yes." went unheard. So a frame in which the caller was speaking reports
SPEAKING, and whatever followed is reported with the next frame.
"""

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState


class InlineSileroVADAnalyzer(SileroVADAnalyzer):
    async def analyze_audio(self, buffer: bytes) -> VADState:
        window = self._vad_frames_num_bytes
        states = [self._run_analyzer(buffer[i : i + window]) for i in range(0, len(buffer), window)]
        return VADState.SPEAKING if VADState.SPEAKING in states else (states[-1] if states else self._vad_state)
