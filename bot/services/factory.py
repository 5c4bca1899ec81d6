"""Which engine does each job on a call: the cloud provider when configured, else the embedded one.

With a cloud provider and fallbacks on (``BOT_FALLBACKS``), a job is a failover
switcher (processors/fallbacks.py) holding the *guarded* cloud service first
and the embedded engine behind it; TTS ends with the pre-rendered prompts
whenever they are rendered. This module is the one place that decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pipecat.pipeline.service_switcher import ServiceSwitcher
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

from bot.audio import PHONE_RATE
from bot.services.errors import describe
from bot.settings import LocalSTT, Provider, Settings
from processors.fallbacks import (
    FallbackLLMSwitcher,
    FallbackPolicy,
    FallbackSwitcher,
    FaultLog,
)


def build_stt(
    settings: Settings, sample_rate: int = PHONE_RATE, *, tag: str | None = None, guarded: bool = False
) -> STTService:
    """The call's STT; ``tag`` (the call SID) labels a cloud request, so usage and logs can be traced per call."""
    if settings.stt is Provider.NULL:
        from bot.services.null import NullSTTService

        return NullSTTService()
    if settings.uses_cloud("stt"):
        from bot.services.deepgram import DeepgramSTTService, GuardedDeepgramSTTService

        service_type = GuardedDeepgramSTTService if guarded else DeepgramSTTService
        return service_type(
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


def build_llm(
    settings: Settings, clock: Callable[[], dt.datetime], *, turn_budget_secs: float | None = None
) -> LLMService:
    """The call's LLM; a ``turn_budget_secs`` guards a cloud LLM for failover (see bot/services/openai.py)."""
    if settings.llm is Provider.NULL:
        from bot.services.null import NullLLMService

        return NullLLMService()
    if settings.uses_cloud("llm"):
        from bot.services.openai import FlowOpenAILLMService, GuardedOpenAILLMService

        kwargs = {
            "api_key": settings.openai_api_key,
            "base_url": settings.openai_base_url,
            "settings": FlowOpenAILLMService.Settings(model=settings.openai_model, temperature=0.2),
        }
        if turn_budget_secs is None:
            return FlowOpenAILLMService(**kwargs)
        return GuardedOpenAILLMService(turn_budget_secs=turn_budget_secs, **kwargs)
    from bot.dialogue.engine import DialogueEngineLLMService

    return DialogueEngineLLMService(clock=clock)


def build_tts(settings: Settings, sample_rate: int = PHONE_RATE, *, guarded: bool = False) -> TTSService:
    if settings.tts is Provider.NULL:
        from bot.services.null import NullTTSService

        return NullTTSService()
    if settings.uses_cloud("tts"):
        from bot.services.deepgram import (
            GuardedDeepgramTTSService,
            UncompressedDeepgramTTSService,
        )

        service_type = GuardedDeepgramTTSService if guarded else UncompressedDeepgramTTSService
        kwargs = {"base_url": settings.deepgram_base_url} if settings.deepgram_base_url else {}
        return service_type(
            api_key=settings.deepgram_api_key,
            sample_rate=sample_rate,
            settings=UncompressedDeepgramTTSService.Settings(voice=settings.deepgram_tts_voice),
            first_clause=settings.tts_first_clause,
            chunk_ms=settings.audio_out_ms,
            **kwargs,
        )
    from bot.services.piper_tts import LocalPiperTTSService

    return LocalPiperTTSService(first_clause=settings.tts_first_clause, cache=settings.tts_cache)


def fixed_phrases(settings: Settings) -> list[str]:
    """What the embedded TTS can have ready before a call: the flow's fixed lines and the business's answers
    to callers' questions (none when the TTS is a cloud one or keeps no cache)."""
    if settings.tts is Provider.NULL or settings.uses_cloud("tts") or not settings.tts_cache:
        return []
    from bot.services.piper_tts import flow_phrases

    return flow_phrases(settings.flow_file, settings.business.spoken_answers(dt.date.today()))


def warm_up_tts(settings: Settings) -> int:
    """Synthesize :func:`fixed_phrases` into the embedded TTS's cache (blocking); how many were new."""
    from bot.services.piper_tts import warm_up

    return warm_up(fixed_phrases(settings), shared_dir=settings.tts_cache_dir)


def _local(settings: Settings, job: str) -> Settings:
    return settings.model_copy(update={job: Provider.LOCAL})


def _local_stt_label(settings: Settings) -> str:
    return "moonshine" if settings.local_stt is LocalSTT.MOONSHINE else "whisper"


def build_services(
    settings: Settings,
    clock: Callable[[], dt.datetime],
    faults: FaultLog | None = None,
    sample_rate: int = PHONE_RATE,
    can_text: bool = False,
) -> tuple[FrameProcessor, FrameProcessor, FrameProcessor]:
    """The call's STT, LLM and TTS: a failover switcher for each job that uses a cloud provider,
    and for TTS in any case when the prompts are rendered (``can_text``: a confirmation can be texted)."""
    policy = FallbackPolicy.from_settings(settings)
    call_sid = faults.call_sid if faults else None
    if not policy.enabled:
        return (
            build_stt(settings, sample_rate, tag=call_sid),
            build_llm(settings, clock),
            build_tts(settings, sample_rate),
        )

    stt: FrameProcessor = build_stt(settings, sample_rate, tag=call_sid, guarded=True)
    if settings.uses_cloud("stt"):
        stt = FallbackSwitcher(
            "stt", [stt, build_stt(_local(settings, "stt"), sample_rate)],
            ["deepgram", _local_stt_label(settings)], faults,
        )

    llm: FrameProcessor = build_llm(settings, clock, turn_budget_secs=policy.llm_timeout_secs)
    if settings.uses_cloud("llm"):
        llm = FallbackLLMSwitcher([llm, build_llm(_local(settings, "llm"), clock)], ["openai", "dialogue engine"], faults)

    return stt, llm, _build_tts(settings, sample_rate, faults, can_text)


def _build_tts(settings: Settings, sample_rate: int, faults: FaultLog | None, can_text: bool) -> FrameProcessor:
    """Deepgram (when configured), then Piper, then the pre-rendered prompts (when rendered)."""
    if settings.tts is Provider.NULL:
        return build_tts(settings, sample_rate)
    from bot.services.piper_tts import GuardedPiperTTSService, LocalPiperTTSService
    from bot.services.prompt_tts import PromptTTSService, load_prompts

    services, labels = [], []
    if settings.uses_cloud("tts"):
        services.append(build_tts(settings, sample_rate, guarded=True))
        labels.append("deepgram")
    prompts = load_prompts(settings.flow_file, settings.business)
    # With nothing behind it, Piper is left to report its errors as Pipecat does.
    piper_type = GuardedPiperTTSService if prompts is not None else LocalPiperTTSService
    try:
        piper = piper_type(first_clause=settings.tts_first_clause, cache=settings.tts_cache)
    except Exception as e:  # a missing or corrupt voice file
        if prompts is None:
            raise
        if faults is not None:
            faults.record("tts", "piper", f"voice did not load: {describe(e)}", "prompts")
    else:
        services.append(piper)
        labels.append("piper")
    if prompts is not None:
        services.append(PromptTTSService(prompts=prompts, can_text=can_text))
        labels.append("prompts")
    if len(services) == 1:
        return services[0]
    return FallbackSwitcher("tts", services, labels, faults)


def stages_of(stt: FrameProcessor, llm: FrameProcessor, tts: FrameProcessor) -> dict[FrameProcessor, str]:
    """Which stage each processor (a switcher and the services inside it) belongs to, for error counts."""
    stages: dict[FrameProcessor, str] = {}
    for processor, stage in ((stt, "stt"), (llm, "llm"), (tts, "tts")):
        stages[processor] = stage
        for service in getattr(processor, "services", []) if isinstance(processor, ServiceSwitcher) else []:
            stages[service] = stage
    return stages
