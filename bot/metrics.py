"""The line's Prometheus metrics: per-stage and voice-to-voice latency, calls, bookings, errors.

One registry per process (``METRICS``), served by ``GET /metrics`` in the
Prometheus text format. Latency figures come from
:class:`processors.latency.LatencyRecorder`, one observation per caller turn;
calls and bookings from the server and the call pipeline; errors from the
``ErrorFrame``\\ s the pipeline's services push, counted by the stage that
pushed them.
"""

from __future__ import annotations

from functools import partial

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

# Per-stage buckets reach from a frame hop (a few ms) to a stalled engine.
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
# Voice-to-voice buckets are dense around the targets (0.8 s ours, 1.5 s the callers').
VOICE_TO_VOICE_BUCKETS = (0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0)


class BotMetrics:
    """The metrics of one process; everything is registered on its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)  # memory and CPU: one shared model per process shows here
        counter, gauge, histogram = (partial(kind, registry=self.registry) for kind in (Counter, Gauge, Histogram))
        self.stage_seconds = histogram(
            "bot_stage_latency_seconds",
            "Time each stage of a caller turn took (caller stopped speaking -> bot's first audio sent).",
            ["stage"],
            buckets=STAGE_BUCKETS,
        )
        self.voice_to_voice_seconds = histogram(
            "bot_voice_to_voice_seconds",
            "Caller stopped speaking -> the bot's first audio frame sent to Twilio, per caller turn.",
            buckets=VOICE_TO_VOICE_BUCKETS,
        )
        self.active_calls = gauge("bot_active_calls", "Calls in progress.")
        self.calls = counter("bot_calls", "Calls answered.")
        self.calls_ended = counter(
            "bot_calls_ended", "Calls ended, by outcome (booked, or the flow node the call stopped at).", ["outcome"]
        )
        self.bookings = counter("bot_bookings", "Bookings made.")
        self.calls_turned_away = counter(
            "bot_calls_turned_away", "Calls not taken because the process was at BOT_MAX_CALLS, by what they got"
            " (redirected to BOT_OVERFLOW_URL, or told the lines are busy).", ["to"]
        )
        self.refused = counter(
            "bot_refused", "Requests, media streams, calls and bookings refused (docs/security.md), by reason:"
            " stream_unsigned, stream_bad_signature, stream_not_loopback, stream_token, stream_caller_parameter,"
            " stream_handshake, stream_oversized, call_too_long, webhook_bad_signature, webhook_too_large,"
            " requests_per_source, calls_per_number, bookings_per_number, booking_searches.", ["reason"]
        )
        # Restarts (bot/serving/drain.py) and the store (bot/booking/store.py): what the alert rules in
        # deploy/prometheus/alerts.yml watch besides latency, errors, fallbacks and turned-away calls.
        self.draining = gauge(
            "bot_draining", "1 while this process drains for a restart (not ready, finishing its calls), else 0."
        )
        self.calls_handed_over = counter(
            "bot_calls_handed_over", "Calls still going when a drain's time was up, checkpointed and handed to"
            " another server to resume (outcome=resumable), or cut because none could resume them (outcome=cut).",
            ["outcome"],
        )
        self.store_errors = counter(
            "bot_store_errors", "Writes to the booking database that failed: locked past the busy timeout, or"
            " the database server unreachable (nothing written, the caller is told), or a queued record"
            " (turn, checkpoint, figure) lost.", ["kind"]
        )
        self.llm_early_starts = counter(
            "bot_llm_early_starts", "Cloud LLM requests started on the caller's final transcript before the turn"
            " was over (bot/call/early_start.py), by outcome: used (the turn ended as heard, its answer was"
            " spoken), discarded (the caller went on, or said something else: the request was cancelled).",
            ["outcome"],
        )
        self.errors = counter(
            "bot_errors", "Errors, by the stage that reported them (stt, llm, tts, transport, pipeline, call).", ["stage"]
        )

    def observe_turn(self, voice_to_voice_ms: float, stages_ms: dict[str, float]) -> None:
        self.voice_to_voice_seconds.observe(voice_to_voice_ms / 1000)
        for stage, ms in stages_ms.items():
            self.stage_seconds.labels(stage=stage).observe(ms / 1000)

    def call_started(self) -> None:
        self.calls.inc()
        self.active_calls.inc()

    def call_ended(self, outcome: str, bookings: int = 0) -> None:
        self.active_calls.dec()
        self.calls_ended.labels(outcome=outcome).inc()
        if bookings:
            self.bookings.inc(bookings)

    def error(self, stage: str) -> None:
        self.errors.labels(stage=stage).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


METRICS = BotMetrics()
