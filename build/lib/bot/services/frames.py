"""Frames our speech-to-text services push besides Pipecat's own."""

from dataclasses import dataclass

from pipecat.frames.frames import SystemFrame


@dataclass
class HeardNothingFrame(SystemFrame):
    """The STT has answered the speech up to the VAD's stop with no words: no transcript is coming for it.

    Deepgram says so by answering the Finalize sent at the stop with an empty final; a segmented STT
    (Whisper, Moonshine) after decoding a segment to nothing. bot/call/turn_end.py waits for each stop's
    answer before it ends a turn, and ends a turn that holds no words at all at the speech timeout.
    """
