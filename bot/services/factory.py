"""Which engine does each job on a call: the cloud provider when configured, else the embedded one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

from bot.settings import Settings

PHONE_RATE = 8000


def build_stt(settings: Settings) -> STTService:
    if settings.uses_cloud("stt"):
        from pipecat.services.deepgram.stt import DeepgramSTTService

        return DeepgramSTTService(
            api_key=settings.deepgram_api_key,
            base_url=settings.deepgram_base_url or "",
            sample_rate=PHONE_RATE,
            settings=DeepgramSTTService.Settings(model=settings.deepgram_stt_model, language="en"),
        )
    from bot.services.whisper_stt import LocalWhisperSTTService

    return LocalWhisperSTTService(cpu_threads=settings.engine_threads)


def build_llm(settings: Settings, clock: Callable[[], dt.datetime]) -> LLMService:
    if settings.uses_cloud("llm"):
        from pipecat.services.openai.llm import OpenAILLMService

        return OpenAILLMService(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            settings=OpenAILLMService.Settings(model=settings.openai_model, temperature=0.2),
        )
    from bot.dialogue.engine import DialogueEngineLLMService

    return DialogueEngineLLMService(clock=clock)


def build_tts(settings: Settings) -> TTSService:
    if settings.uses_cloud("tts"):
        from pipecat.services.deepgram.tts import DeepgramTTSService

        kwargs = {"base_url": settings.deepgram_base_url} if settings.deepgram_base_url else {}
        return DeepgramTTSService(
            api_key=settings.deepgram_api_key,
            voice=settings.deepgram_tts_voice,
            sample_rate=PHONE_RATE,
            **kwargs,
        )
    from bot.services.piper_tts import LocalPiperTTSService

    return LocalPiperTTSService()
