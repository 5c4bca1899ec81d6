"""When a cloud provider fails, the call goes on: our failover policy.

With a cloud provider configured, each job is a Pipecat switcher holding the
cloud service first and the embedded engine second:

- LLM: :class:`FallbackLLMSwitcher` (an ``LLMSwitcher``), OpenAI -> the dialogue engine;
- STT: :class:`FallbackSwitcher` (a ``ServiceSwitcher``), Deepgram -> local Whisper (or Moonshine);
- TTS: :class:`FallbackSwitcher`, Deepgram Aura -> Piper -> pre-rendered prompts
  (processors/prompts.py; the last resort is there even without a cloud TTS).

Pipecat fails over when the active service reports itself unusable
(``is_usable`` turns False, which a permanent error category or
``force_treat_as_permanent`` does). Left alone, Pipecat's cloud services treat
a refused connection or a timeout as transient and retry with backoff, which
on a phone line means the caller hears silence. Our policy is stricter,
because a working fallback is always there: the cloud services below are
*guarded* subclasses that treat **any** error they report as the end of that
provider for this call (no switching back mid-call). In particular:

- OpenAI: no client retries; a per-turn budget (``BOT_LLM_TIMEOUT_SECS``) for
  the first useful output (text or a tool call) — a hanging server costs one
  budget, not a call; a reply that is neither text nor a call of a known tool
  with valid JSON arguments (garbage) is an error. The turn that failed is run
  again on the dialogue engine, so the caller still gets an answer to it.
- Deepgram STT/TTS: a refused or failed connection (at start or later) is an
  error; Pipecat's own reconnect/backoff would only add silence.

The FlowManager is given the LLM switcher, registers its tools on both LLMs,
and keeps its state (slots collected so far) across the switch: only the
service answering the context changes, not the context or the flow.

Every fallback that fires is logged as one line, stored in the
``call_faults`` table (:meth:`bot.store.BookingStore.record_fault`, shown in
the call report) and counted in the ``bot_fallbacks`` Prometheus counter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
)
from pipecat.pipeline.llm_switcher import LLMSwitcher
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategyFailover
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallFromLLM
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.utils.errors import ErrorCategory
from prometheus_client import Counter

from bot.services.deepgram import DeepgramSTTService, UncompressedDeepgramTTSService
from bot.services.factory import PHONE_RATE, build_llm, build_stt, build_tts
from bot.services.piper_tts import LocalPiperTTSService
from bot.settings import LocalSTT, Provider, Settings
from bot.store import BookingStore
from processors.metrics import METRICS
from processors.prompts import PromptTTSService, load_prompts

FALLBACKS = Counter(
    "bot_fallbacks",
    "Times a call moved a job (stt, llm, tts) from a failed cloud provider to its embedded fallback.",
    ["job", "provider"],
    registry=METRICS.registry,
)


@dataclass(frozen=True)
class FallbackPolicy:
    """Budgets and order of the fallbacks, from settings."""

    enabled: bool = True  # BOT_FALLBACKS: wrap cloud providers in switchers with the embedded engine behind
    llm_timeout_secs: float = 2.0  # BOT_LLM_TIMEOUT_SECS: first text or tool call of an LLM turn

    @classmethod
    def from_settings(cls, settings: Settings) -> FallbackPolicy:
        return cls(enabled=settings.fallbacks, llm_timeout_secs=settings.llm_timeout_secs)


# ------------------------------------------------------------------ the report


@dataclass
class Fault:
    job: str  # stt | llm | tts
    provider: str  # the one that failed
    reason: str
    fallback: str  # the one that took over


@dataclass
class FaultLog:
    """The fallbacks that fired on one call: logged, stored and counted."""

    call_sid: str
    store: BookingStore | None = None
    faults: list[Fault] = field(default_factory=list)

    def record(self, job: str, provider: str, reason: str, fallback: str) -> None:
        fault = Fault(job, provider, reason, fallback)
        self.faults.append(fault)
        logger.warning(f"{self.call_sid}: {job.upper()} {provider} failed ({reason}) → {fallback}")
        FALLBACKS.labels(job=job, provider=provider).inc()
        if self.store is not None:
            self.store.run_soon(self.store.record_fault, self.call_sid, job, provider, reason, fallback)

    def fell_back_to(self, fallback: str) -> bool:
        return any(fault.fallback == fallback for fault in self.faults)


def describe(error: ErrorFrame | BaseException | str | None) -> str:
    """A short human reason for a failure: "connection refused", "no answer within 2 s", ..."""
    if isinstance(error, ErrorFrame):
        exc, text = error.exception, error.error
    elif isinstance(error, BaseException):
        exc, text = error, str(error)
    else:
        exc, text = None, error or "unknown error"
    seen = exc
    while seen is not None:
        if isinstance(seen, LLMTurnFailed):
            return str(seen)
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        if isinstance(seen, (TimeoutError, asyncio.TimeoutError)):
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    text = (text or (str(exc) if exc else "unknown error")).removeprefix("Error during completion: ")
    if "refused" in text.lower() or "errno 111" in text.lower():
        return "connection refused"
    return text.splitlines()[0][:200] if text else "unknown error"


# ------------------------------------------------------------------ guarded cloud services


class _GiveUpOnError:
    """Any error a guarded service reports leaves it unusable for the rest of the call."""

    failure_reason: str | None = None

    async def push_error_frame(self, error: ErrorFrame, force_treat_as_permanent: bool = False):
        # A failing tool handler (APPLICATION) says nothing about the provider's health.
        if error.category is ErrorCategory.APPLICATION and not force_treat_as_permanent:
            await super().push_error_frame(error)
            return
        if self.is_usable and self.failure_reason is None:
            self.failure_reason = describe(error)
        await super().push_error_frame(error, force_treat_as_permanent=True)


class LLMTurnFailed(Exception):
    """The cloud LLM gave no usable answer to a turn (too slow, or garbage)."""


class GuardedOpenAILLMService(_GiveUpOnError, OpenAILLMService):
    """OpenAI with no client retries, a first-output budget per turn, and garbage detection."""

    def __init__(self, *, turn_budget_secs: float, **kwargs):
        super().__init__(**kwargs)
        self._turn_budget_secs = turn_budget_secs
        self._deadline: asyncio.Timeout | None = None
        self._answered = False

    def create_client(self, *args, **kwargs):
        # Retrying a dead server is the caller's silence: the fallback answers instead.
        return super().create_client(*args, **kwargs).with_options(max_retries=0)

    def _got_output(self) -> None:
        self._answered = True
        if self._deadline is not None:
            self._deadline.reschedule(None)

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        if isinstance(frame, LLMTextFrame) and frame.text:
            self._got_output()
        await super().push_frame(frame, direction)

    async def run_function_calls(self, function_calls: Sequence[FunctionCallFromLLM]):
        unknown = [c.function_name for c in function_calls if not self.has_function(c.function_name)]
        if unknown:
            raise LLMTurnFailed(f"garbage tool call: unknown function {unknown[0]!r}")
        if function_calls:
            self._got_output()
        await super().run_function_calls(function_calls)

    async def _process_context(self, context: LLMContext):
        self._answered = False
        budget = self._turn_budget_secs
        try:
            async with asyncio.timeout(budget) as deadline:
                self._deadline = deadline
                await super()._process_context(context)
        except TimeoutError:
            if not self._answered:
                raise LLMTurnFailed(f"no answer within {budget:g} s") from None
            raise
        finally:
            self._deadline = None
        if not self._answered:
            # Invalid JSON arguments are dropped by Pipecat with a warning: nothing is left.
            raise LLMTurnFailed("garbage reply: no text and no valid tool call")


class GuardedDeepgramSTTService(_GiveUpOnError, DeepgramSTTService):
    """Deepgram STT that fails over on its first connection error instead of backing off."""

    last_answer_at = 0.0  # time.monotonic() of Deepgram's latest result, empty ones included

    async def _on_message(self, message):
        # An empty result is Deepgram saying it heard no words (noise): alive, unlike a stall.
        self.last_answer_at = time.monotonic()
        await super()._on_message(message)

    async def push_error_frame(self, error: ErrorFrame, force_treat_as_permanent: bool = False):
        await super().push_error_frame(error, force_treat_as_permanent)
        # Given up for this call: stop the reconnect loop rather than knock on a dead server.
        # From inside that loop, the cancel takes effect at its next await (the backoff sleep).
        task = getattr(self, "_connection_task", None)
        if task is not None and not task.done():
            task.cancel()


class GuardedDeepgramTTSService(_GiveUpOnError, UncompressedDeepgramTTSService):
    """Deepgram TTS that fails over on its first connection error instead of reconnecting."""


class GuardedPiperTTSService(LocalPiperTTSService):
    """Piper that gives way to the pre-rendered prompts once synthesis fails (a silent reply is no failure).

    The reply that failed is not said again; the prompts take the next one.
    """

    failure_reason: str | None = None

    async def run_tts(self, text: str, context_id: str):
        async for frame in super().run_tts(text, context_id):
            if isinstance(frame, ErrorFrame):
                self.failure_reason = self.failure_reason or describe(frame)
                await self.push_error_frame(frame, force_treat_as_permanent=True)
                continue
            yield frame


# ------------------------------------------------------------------ switchers


class FailoverOnUnusable(ServiceSwitcherStrategyFailover):
    """Failover that also switches when the active service turns unusable without an error
    reaching the switcher (e.g. a connection refused while the pipeline is being set up)."""

    def __init__(self, services: list[FrameProcessor]):
        super().__init__(services)
        for service in services:
            service.add_event_handler("on_usable_changed", self._on_usable_changed)

    async def _on_usable_changed(self, service: FrameProcessor, is_usable: bool):
        if is_usable or service is not self.active_service:
            return
        for candidate in self.services:
            if candidate is not service and candidate.is_usable:
                await self._set_active_if_available(candidate)
                return


class FallbackSwitcher(ServiceSwitcher):
    """A failover ServiceSwitcher that reports each switch to the call's :class:`FaultLog`."""

    def __init__(self, job: str, services: list[FrameProcessor], labels: list[str], faults: FaultLog | None):
        super().__init__(services, strategy_type=FailoverOnUnusable)
        self.job = job
        self._labels = dict(zip(services, labels, strict=True))
        self._faults = faults
        self._previous = services[0]
        self.strategy.add_event_handler("on_service_switched", self._on_switched)

    def label(self, service: FrameProcessor) -> str:
        return self._labels.get(service, service.name)

    async def _on_switched(self, _strategy, service: FrameProcessor):
        failed, self._previous = self._previous, service
        if failed is service:
            return
        reason = getattr(failed, "failure_reason", None) or "unusable"
        if self._faults is not None:
            self._faults.record(self.job, self.label(failed), reason, self.label(service))


class FallbackLLMSwitcher(FallbackSwitcher, LLMSwitcher):
    """The LLM switcher: a turn the failed LLM did not answer is run again on the fallback."""

    def __init__(self, llms: list, labels: list[str], faults: FaultLog | None):
        FallbackSwitcher.__init__(self, "llm", llms, labels, faults)
        self._turn: tuple[LLMContext, FrameProcessor] | None = None  # the open turn and who is answering it

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, LLMContextFrame) and direction is FrameDirection.DOWNSTREAM:
            self._turn = (frame.context, self.strategy.active_service)
        await super().process_frame(frame, direction)

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        await super().push_frame(frame, direction)
        if isinstance(frame, LLMFullResponseEndFrame) and direction is FrameDirection.DOWNSTREAM and self._turn:
            context, answering = self._turn
            self._turn = None
            active = self.strategy.active_service
            if answering is not active and active.is_usable:
                # The failed LLM has closed its (empty) response; the fallback answers the turn.
                await self.queue_frame(LLMContextFrame(context))


# ------------------------------------------------------------------ assembly


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

    if settings.uses_cloud("stt"):
        cloud = GuardedDeepgramSTTService(
            api_key=settings.deepgram_api_key,
            base_url=settings.deepgram_base_url or "",
            sample_rate=sample_rate,
            tag=call_sid,
            settings=DeepgramSTTService.Settings(model=settings.deepgram_stt_model, language="en"),
        )
        stt = FallbackSwitcher(
            "stt", [cloud, build_stt(_local(settings, "stt"), sample_rate)],
            ["deepgram", _local_stt_label(settings)], faults,
        )
    else:
        stt = build_stt(settings, sample_rate, tag=call_sid)

    if settings.uses_cloud("llm"):
        cloud = GuardedOpenAILLMService(
            turn_budget_secs=policy.llm_timeout_secs,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            settings=OpenAILLMService.Settings(model=settings.openai_model, temperature=0.2),
        )
        llm = FallbackLLMSwitcher(
            [cloud, build_llm(_local(settings, "llm"), clock)], ["openai", "dialogue engine"], faults
        )
    else:
        llm = build_llm(settings, clock)

    return stt, llm, _build_tts(settings, sample_rate, faults, can_text)


def _build_tts(settings: Settings, sample_rate: int, faults: FaultLog | None, can_text: bool) -> FrameProcessor:
    """Deepgram (when configured), then Piper, then the pre-rendered prompts (when rendered)."""
    if settings.tts is Provider.NULL:
        return build_tts(settings, sample_rate)
    services, labels = [], []
    if settings.uses_cloud("tts"):
        kwargs = {"base_url": settings.deepgram_base_url} if settings.deepgram_base_url else {}
        services.append(
            GuardedDeepgramTTSService(
                api_key=settings.deepgram_api_key,
                sample_rate=sample_rate,
                settings=UncompressedDeepgramTTSService.Settings(voice=settings.deepgram_tts_voice),
                **kwargs,
            )
        )
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


__all__ = [
    "FALLBACKS", "Fault", "FaultLog", "FallbackLLMSwitcher", "FallbackPolicy", "FallbackSwitcher",
    "GuardedDeepgramSTTService", "GuardedDeepgramTTSService", "GuardedOpenAILLMService", "GuardedPiperTTSService",
    "LLMTurnFailed",
    "build_services", "describe", "stages_of",
]
