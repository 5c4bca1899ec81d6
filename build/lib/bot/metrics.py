"""The line's Prometheus metrics: per-stage and voice-to-voice latency, calls, bookings, errors.

One registry per process (``METRICS``), served by ``GET /metrics`` in the
Prometheus text format. Under ``serve``'s supervisor (bot/serving/supervisor.py)
the figures are the host's, whichever worker answers the scrape: each worker
writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode, as under gunicorn) and a scrape adds up every worker's,
those of workers that died since included, so a restarted worker's counters
never go back to 0. Latency figures come from
:class:`processors.latency.LatencyRecorder`, one observation per caller turn;
calls and bookings from the server and the call pipeline; errors from the
``ErrorFrame``\\ s the pipeline's services push, counted by the stage that
pushed them.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import partial
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# prometheus-client's own setting: set by the supervisor for its workers, read as the library loads.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# The supervisor's start, written in that directory: the host's counters count from then.
SERVING_SINCE_FILE = "serving_since"

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
        self.active_calls = gauge("bot_active_calls", "Calls in progress.", multiprocess_mode="livesum")
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
            "bot_draining", "1 while this server drains for a restart (not ready, finishing its calls), else 0.",
            multiprocess_mode="livemax",
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

    def host_registry(self) -> CollectorRegistry:
        """What a scrape reads: every worker's figures added up under the supervisor, else this process's
        (with its memory and CPU, which the multiprocess mode does not add up)."""
        if not (directory := os.environ.get(MULTIPROCESS_DIR)):
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        return registry

    def counting_since(self) -> dt.datetime | None:
        """When the figures started counting: the supervisor's start, else this process's."""
        if directory := os.environ.get(MULTIPROCESS_DIR):
            since = Path(directory, SERVING_SINCE_FILE)
            return dt.datetime.fromtimestamp(float(since.read_text())) if since.exists() else None
        for family in self.registry.collect():
            if family.name == "process_start_time_seconds" and family.samples:
                return dt.datetime.fromtimestamp(family.samples[0].value)
        return None

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.host_registry()), CONTENT_TYPE_LATEST


METRICS = BotMetrics()
