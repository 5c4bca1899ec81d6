"""When a cloud provider fails, the call goes on: our failover policy.

With a cloud provider configured, each job is a Pipecat switcher holding the
cloud service first and the embedded engine second:

- LLM: :class:`FallbackLLMSwitcher` (an ``LLMSwitcher``), OpenAI -> the dialogue engine;
- STT: :class:`FallbackSwitcher` (a ``ServiceSwitcher``, its frames routed to the
  active service only: processors/service_switcher.py), Deepgram -> local Whisper (or Moonshine);
- TTS: :class:`FallbackSwitcher`, Deepgram Aura -> Piper -> pre-rendered prompts
  (bot/services/prompt_tts.py; the last resort is there even without a cloud TTS).

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
``call_faults`` table (:meth:`bot.booking.store.BookingStore.record_fault`, shown in
the call report) and counted in the ``bot_fallbacks`` Prometheus counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loguru import logger
from pipecat.frames.frames import Frame, LLMContextFrame, LLMFullResponseEndFrame
from pipecat.pipeline.llm_switcher import LLMSwitcher
from pipecat.pipeline.service_switcher import ServiceSwitcherStrategyFailover
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from prometheus_client import Counter

from bot.booking.store import BookingStore
from bot.metrics import METRICS
from bot.settings import Settings
from processors.service_switcher import ActiveServiceSwitcher

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


class FallbackSwitcher(ActiveServiceSwitcher):
    """A failover service switcher that reports each switch to the call's :class:`FaultLog`."""

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
