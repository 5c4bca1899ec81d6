"""BOT_TRACING: Pipecat's OpenTelemetry tracing gives one trace per call, a span per turn, and the services'
spans under the turns (bot/serving/tracing.py), caught here with the SDK's in-memory exporter."""

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot.replay.runner import (
    in_process_server,
    replay_scenario,
    replay_settings,
    store_reports,
)
from bot.replay.scenario import load_scenario
from bot.serving.tracing import _headers, otlp_exporter, setup_tracing
from bot.settings import load_settings
from tests.conftest import PROJECT

SCENARIO = load_scenario(PROJECT / "recordings" / "one-sentence")


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    import asyncio

    from opentelemetry import trace

    exporter = InMemorySpanExporter()
    settings = replay_settings(tmp_path_factory.mktemp("traced") / "bookings.db", tracing=True)
    setup_tracing(settings, exporter)

    async def call():
        async with in_process_server(settings) as (url, store):
            return await replay_scenario(SCENARIO, url, store_reports(store))

    result = asyncio.run(call())
    trace.get_tracer_provider().force_flush()
    assert result.expect_met, result
    return result.call_sid, exporter.get_finished_spans()


def test_a_call_is_one_trace_with_its_conversation_span(spans):
    call_sid, finished = spans
    (conversation,) = [s for s in finished if s.name == "conversation"]
    assert conversation.attributes["conversation.id"] == call_sid
    assert conversation.attributes["call.resumed"] is False
    assert {s.context.trace_id for s in finished} == {conversation.context.trace_id}
    # One root: FastAPI's span of the media websocket when FastAPI traces too, else the conversation.
    assert len([s for s in finished if s.parent is None]) == 1


def test_each_turn_is_a_span_under_the_call_with_the_services_spans_under_it(spans):
    _, finished = spans
    conversation = next(s for s in finished if s.name == "conversation")
    turns = [s for s in finished if s.name == "turn"]
    assert len(turns) >= 2  # the greeting's, then the caller's (a busy machine may hear two as one)
    assert all(t.parent.span_id == conversation.context.span_id for t in turns)
    turn_ids = {t.context.span_id for t in turns}
    stt = [s for s in finished if s.name == "stt"]
    tts = [s for s in finished if s.name == "tts"]
    assert stt and len(tts) >= 2  # the greeting and the answers
    # The goodbye may be spoken, and the caller's last words heard, after Pipecat closed the last turn
    # (on a busy machine): then that span hangs off the call.
    assert all(s.parent.span_id in turn_ids | {conversation.context.span_id} for s in stt)
    assert sum(s.parent.span_id in turn_ids for s in stt) >= 1
    assert all(s.parent.span_id in turn_ids | {conversation.context.span_id} for s in tts)
    assert sum(s.parent.span_id in turn_ids for s in tts) >= 2
    said = " ".join(str(s.attributes.get("transcript", "")) for s in stt)
    assert "Johnson" in said  # what the caller said is in the trace (docs/operations.md says so)


def test_the_otlp_exporter_follows_the_standard_settings(tmp_path):
    settings = load_settings(
        db_path=tmp_path / "b.db", tracing=True, otlp_endpoint="https://otel.example.com:4318/",
        otlp_headers="authorization=Bearer abc, x-team = line",
    )
    assert otlp_exporter(settings)._endpoint == "https://otel.example.com:4318/v1/traces"
    assert _headers(settings.otlp_headers) == {"authorization": "Bearer abc", "x-team": "line"}
