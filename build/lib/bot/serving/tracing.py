"""Pipecat's own OpenTelemetry tracing, switched on by ``BOT_TRACING=true``.

Each call is one trace: Pipecat's ``conversation`` span (``conversation.id`` =
the Twilio call SID), a ``turn`` span per exchange under it, and under each
turn the spans of the services that did the work (``stt``, ``llm``, ``tts``,
with their model, text, time to first byte). A call resumed on another server
after a drop or a restart is a second trace with the same ``conversation.id``
and ``call.resumed=true``.

Spans go over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default
``http://localhost:4318``: an OpenTelemetry Collector, Jaeger, Tempo, ...), with
``OTEL_EXPORTER_OTLP_HEADERS`` (``key=value,key2=value2``) and under
``OTEL_SERVICE_NAME``. They carry what callers said and what the bot answered,
names and phone numbers included: the tracing backend holds call content.
"""

from __future__ import annotations

from loguru import logger

from bot.settings import ConfigError, Settings


def _headers(text: str | None) -> dict[str, str]:
    headers = {}
    for pair in (text or "").split(","):
        if pair.strip():
            key, _, value = pair.partition("=")
            headers[key.strip()] = value.strip()
    return headers


def otlp_exporter(settings: Settings):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=f"{settings.otlp_endpoint.rstrip('/')}/v1/traces", headers=_headers(settings.otlp_headers)
    )


def setup_tracing(settings: Settings, exporter=None) -> None:
    """Send this process's spans to ``exporter`` (default: OTLP/HTTP as configured), batched."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from pipecat.utils.tracing.setup import is_tracing_available
    from pipecat.utils.tracing.setup import setup_tracing as pipecat_setup_tracing

    if not is_tracing_available():
        raise ConfigError("BOT_TRACING: the OpenTelemetry SDK is not installed (pip install 'pipecat-ai[tracing]')")
    exporter = exporter or otlp_exporter(settings)
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):  # already set up in this process: the global provider is set once
        provider.add_span_processor(BatchSpanProcessor(exporter))
    elif not pipecat_setup_tracing(service_name=settings.otel_service_name, exporter=exporter):
        raise ConfigError("BOT_TRACING: Pipecat's tracing set-up failed (see the log)")
    logger.info(f"Tracing: one trace per call to {getattr(exporter, '_endpoint', type(exporter).__name__)}")


def shutdown_tracing() -> None:
    """Send the spans still batched (at exit)."""
    from opentelemetry import trace

    shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
    if shutdown is not None:
        shutdown()
