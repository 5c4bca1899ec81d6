"""The last resort when no text-to-speech works: pre-rendered prompts.

The business file's ``line_trouble_prompts`` (words, so data) are rendered
ahead of time with Piper into 8 kHz mono WAVs under
``flows/prompts/<flow>/`` (``python -m bot prompts render``), next to a
``prompts.yaml`` naming the text each file says. At run time
:class:`PromptTTSService` is the last service in the TTS failover switcher
(processors/fallbacks.py): it needs no engine, only those files, so it cannot
fail the way a voice can. It does not say the reply it is given: the first
reply of the call becomes "we're having trouble on the line", later ones a
short "please go on". When the confirmation can be texted (Twilio credentials,
``BOT_SMS_FROM`` and the caller's number), the call goes on and the booking,
once made, is texted (bot/telephony/sms.py); when it cannot, the prompt asks the caller
to call back and the call ends.
"""

from __future__ import annotations

import wave
from collections.abc import AsyncGenerator
from pathlib import Path

import numpy as np
import soxr
import yaml
from loguru import logger
from pipecat.frames.frames import EndWorkerFrame, Frame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from bot.audio import PHONE_RATE
from bot.booking.business import Business

MANIFEST = "prompts.yaml"


def prompts_dir(flow_file: Path) -> Path:
    """Where a flow's rendered prompts live: ``flows/prompts/<flow name>/``."""
    return Path(flow_file).parent / "prompts" / Path(flow_file).stem


def prompt_texts(business: Business) -> dict[str, str]:
    return business.line_trouble_prompts.model_dump() if business.line_trouble_prompts else {}


def render_prompts(flow_file: Path, business: Business, voice_path: Path | None = None) -> list[Path]:
    """Render the business's prompts with Piper into 8 kHz WAVs; return the files written."""
    from bot.services.piper_tts import (
        bundled_voice_path,
        shared_voice,
        synthesize,
        trim_leading_quiet,
    )

    voice = shared_voice(str(voice_path or bundled_voice_path()))
    out = prompts_dir(flow_file)
    out.mkdir(parents=True, exist_ok=True)
    texts = prompt_texts(business)
    written = []
    for key, text in texts.items():
        audio = trim_leading_quiet(synthesize(voice, text), voice.config.sample_rate)
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768
        phone = soxr.resample(samples, voice.config.sample_rate, PHONE_RATE)
        path = out / f"{key}.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(PHONE_RATE)
            wav.writeframes(np.clip(np.round(phone * 32767), -32768, 32767).astype(np.int16).tobytes())
        written.append(path)
    (out / MANIFEST).write_text(yaml.safe_dump(texts, sort_keys=True, width=200))
    return written


def stale_prompts(flow_file: Path, business: Business) -> list[str]:
    """The prompts whose audio is missing or says other words than the business file (render again)."""
    folder = prompts_dir(flow_file)
    manifest = folder / MANIFEST
    rendered = (yaml.safe_load(manifest.read_text()) or {}) if manifest.is_file() else {}
    return [
        key
        for key, text in prompt_texts(business).items()
        if rendered.get(key) != text or not (folder / f"{key}.wav").is_file()
    ]


def load_prompts(flow_file: Path, business: Business) -> dict[str, bytes] | None:
    """The rendered prompts' audio (8 kHz mono int16) by name, or None when there are none to play."""
    texts = prompt_texts(business)
    if not texts:
        return None
    if stale := stale_prompts(flow_file, business):
        logger.warning(f"Prompts {', '.join(stale)} for {flow_file} need rendering: python -m bot prompts render")
    audio = {}
    for key in texts:
        path = prompts_dir(flow_file) / f"{key}.wav"
        try:
            with wave.open(str(path), "rb") as wav:
                if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (PHONE_RATE, 1, 2):
                    raise ValueError("not 8 kHz mono 16-bit")
                audio[key] = wav.readframes(wav.getnframes())
        except (OSError, EOFError, ValueError, wave.Error) as e:
            logger.warning(f"No line-trouble prompt {path}: {e}")
            return None
    return audio


class PromptTTSService(TTSService):
    """Speaks no text: plays the pre-rendered prompt that fits, one per reply."""

    def __init__(self, *, prompts: dict[str, bytes], can_text: bool, **kwargs):
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=PHONE_RATE,
            settings=TTSSettings(model="prompts", voice="pre-rendered", language=None),
            **kwargs,
        )
        self._prompts = prompts
        self._can_text = can_text
        self._replies: set[str] = set()  # the reply contexts that have had their prompt

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        if context_id in self._replies:  # the reply's later sentences: its prompt stands for all of it
            return
        first = not self._replies
        self._replies.add(context_id)
        name = ("will_text" if self._can_text else "call_back") if first else "go_on"
        logger.info(f"{self}: no voice for {text!r}; playing the {name!r} prompt")
        await self.stop_ttfb_metrics()
        yield TTSAudioRawFrame(self._prompts[name], PHONE_RATE, 1, context_id=context_id)
        if name == "call_back":
            # Nothing more can be said on this line: end the call once the prompt has played.
            await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)
