"""A voicemail when the flow cannot finish: the caller's own voice, kept for staff.

After repeated misunderstandings the flow moves to its ``voicemail`` node: the
bot asks for a message after the tone, and the node's post-action
(``start_voicemail`` in bot/booking/tools.py) has this recorder play the tone and
start keeping the caller's audio. The caller's turn ends as any turn does
(Pipecat's VAD and turn strategy); the flow's ``save_voicemail`` tool then
stops the recorder, which writes the WAV (8 kHz mono, at most
``BOT_VOICEMAIL_MAX_SECS``), and the message is stored with its path.

The recorder sits right after the transport's input, so it hears the caller
exactly as the STT does.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import (
    FrameDirection,
    FrameProcessorSetup,
)

from processors.direct import DirectProcessor

TONE_HZ = 1000.0
TONE_SECS = 0.4


def tone(sample_rate: int) -> bytes:
    """The beep before the recording: a short sine, faded in and out so it does not click."""
    t = np.arange(int(sample_rate * TONE_SECS)) / sample_rate
    fade = np.minimum(1.0, np.minimum(t, TONE_SECS - t) / 0.02)
    return (0.3 * 32767 * fade * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16).tobytes()


class VoicemailRecorder(DirectProcessor):
    """Keeps the caller's audio between :meth:`start` and :meth:`finish`; passes every frame on."""

    def __init__(self, *, path: Path, max_secs: float, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(path)
        self._max_secs = max_secs
        self._audio: bytearray | None = None  # None: not recording
        self._sample_rate = 0  # of the caller's audio
        self._out_rate = 0  # of the bot's

    @property
    def recording(self) -> bool:
        return self._audio is not None

    async def start(self) -> None:
        """Play the tone, then record the caller."""
        self._audio = bytearray()
        await self.push_frame(OutputAudioRawFrame(tone(self._out_rate), self._out_rate, 1))
        logger.info(f"{self}: recording a voicemail")

    def finish(self) -> tuple[Path, float] | None:
        """Stop recording and write the WAV; its path and length, or None if nothing was recorded."""
        audio, self._audio = self._audio, None
        if not audio:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(self.path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self._sample_rate)
            out.writeframes(bytes(audio))
        return self.path, len(audio) / 2 / self._sample_rate

    async def setup(self, setup: FrameProcessorSetup):
        await super().setup(setup)
        self._out_rate = setup.audio_out_sample_rate

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and self._audio is not None and frame.num_channels == 1:
            self._sample_rate = frame.sample_rate
            room = int(self._max_secs * frame.sample_rate) * 2 - len(self._audio)
            self._audio += frame.audio[: max(0, room)]
        await self.push_frame(frame, direction)
