"""Which engine does each job on a call: the cloud provider when configured, else the embedded one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

from bot.settings import LocalSTT, Provider, Settings

PHONE_RATE = 8000


def build_stt(settings: Settings, sample_rate: int = PHONE_RATE, *, tag: str | None = None) -> STTService:
    """The call's STT; ``tag`` (the call SID) labels a cloud request, so usage and logs can be traced per call."""
    if settings.stt is Provider.NULL:
        from bot.services.null import NullSTTService

        return NullSTTService()
    if settings.uses_cloud("stt"):
        from bot.services.deepgram import DeepgramSTTService

        return DeepgramSTTService(
            api_key=settings.deepgram_api_key,
            base_url=settings.deepgram_base_url or "",
            sample_rate=sample_rate,
            tag=tag,
            settings=DeepgramSTTService.Settings(model=settings.deepgram_stt_model, language="en"),
        )
    if settings.local_stt is LocalSTT.MOONSHINE:
        from bot.services.moonshine_stt import LocalMoonshineSTTService

        return LocalMoonshineSTTService(cpu_threads=settings.engine_threads)
    from bot.services.whisper_stt import LocalWhisperSTTService

    return LocalWhisperSTTService(
        cpu_threads=settings.engine_threads,
        window_secs=settings.whisper_window_secs or None,
        early=settings.stt_early,
    )


def build_llm(settings: Settings, clock: Callable[[], dt.datetime]) -> LLMService:
    if settings.llm is Provider.NULL:
        from bot.services.null import NullLLMService

        return NullLLMService()
    if settings.uses_cloud("llm"):
        from pipecat.services.openai.llm import OpenAILLMService

        return OpenAILLMService(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            settings=OpenAILLMService.Settings(model=settings.openai_model, temperature=0.2),
        )
    from bot.dialogue.engine import DialogueEngineLLMService

    return DialogueEngineLLMService(clock=clock)


def build_tts(settings: Settings, sample_rate: int = PHONE_RATE) -> TTSService:
    if settings.tts is Provider.NULL:
        from bot.services.null import NullTTSService

        return NullTTSService()
    if settings.uses_cloud("tts"):
        from bot.services.deepgram import UncompressedDeepgramTTSService

        kwargs = {"base_url": settings.deepgram_base_url} if settings.deepgram_base_url else {}
        return UncompressedDeepgramTTSService(
            api_key=settings.deepgram_api_key,
            voice=settings.deepgram_tts_voice,
            sample_rate=sample_rate,
            **kwargs,
        )
    from bot.services.piper_tts import LocalPiperTTSService

    return LocalPiperTTSService(first_clause=settings.tts_first_clause, cache=settings.tts_cache)


def warm_up_tts(settings: Settings) -> int:
    """Synthesize the flow's fixed lines into the embedded TTS's cache (blocking); how many were new."""
    if settings.tts is Provider.NULL or settings.uses_cloud("tts") or not settings.tts_cache:
        return 0
    from bot.services.piper_tts import flow_phrases, warm_up

    return warm_up(flow_phrases(settings.flow_file))
