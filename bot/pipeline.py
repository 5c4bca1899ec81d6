"""One phone call: the Pipecat pipeline for a Twilio media stream, driven by the flow.

transport in -> STT -> user aggregator (Silero VAD, turn-taking) -> LLM or
dialogue engine (tools from the flow) -> TTS -> transport out -> stereo
recorder -> assistant aggregator.
"""

from __future__ import annotations

import datetime as dt
import wave
from pathlib import Path

from fastapi import WebSocket
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.flows import Flow, FlowConfig, FlowManager
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.llm_service import LLMService
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from bot import spoken, tools
from bot.call_context import CALL_STATE_KEY, CallContext
from bot.services.factory import PHONE_RATE
from bot.settings import Settings
from bot.telephony import SafeTwilioFrameSerializer, StreamStart
from processors.fallbacks import FaultLog, build_services, stages_of
from processors.latency import LatencyRecorder
from processors.metrics import METRICS
from processors.transcript import CallTranscript


def _serializer(settings: Settings, start: StreamStart) -> TwilioFrameSerializer:
    # Hanging up through Twilio's REST API needs credentials; without them the
    # call ends when we close the media stream.
    can_hang_up = bool(settings.twilio_account_sid and settings.twilio_auth_token)
    return SafeTwilioFrameSerializer(
        stream_sid=start.stream_sid,
        call_sid=start.call_sid,
        account_sid=settings.twilio_account_sid or start.account_sid,
        auth_token=settings.twilio_auth_token,
        base_url=settings.twilio_api_base_url,
        params=TwilioFrameSerializer.InputParams(auto_hang_up=can_hang_up),
    )


def initial_state(call: CallContext) -> dict:
    """The flow state a call starts with: the values its prompts refer to."""
    business = call.business
    return {
        CALL_STATE_KEY: call,
        "business_name": business.name,
        "today": f"{spoken.calendar_date(call.now().date())}, {call.now().year}",
        "max_party_size": business.max_party_size,
        "booking_horizon_days": business.booking_horizon_days,
    }


def user_turn_params(settings: Settings) -> LLMUserAggregatorParams:
    """How the caller's turns are found in their audio: Silero VAD, then a speech timeout."""
    return LLMUserAggregatorParams(
        vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=settings.vad_stop_secs)),
        user_turn_strategies=UserTurnStrategies(
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=settings.user_speech_timeout)]
        ),
    )


def call_outcome(flow_manager: FlowManager) -> str:
    """How a call ended, for the calls table: "booked", or the node it stopped at."""
    return "booked" if "booking_id" in flow_manager.state else flow_manager.current_node or "ended"


def start_flow(
    settings: Settings,
    call: CallContext,
    llm: LLMService,
    aggregators: LLMContextAggregatorPair,
    worker: PipelineWorker,
    transport: BaseTransport | None = None,
) -> tuple[FlowManager, Flow]:
    """The call's flow manager, with its state seeded; ``initialize(flow.initial_node)`` starts it."""
    flow = Flow(FlowConfig.from_file(settings.flow_file), handlers=tools)
    flow_manager = FlowManager(
        llm=llm,
        context_aggregator=aggregators,
        worker=worker,
        transport=transport,
        global_functions=flow.global_functions,
    )
    flow_manager.state.update(initial_state(call))
    return flow_manager, flow


def _write_recording(path: Path, audio: bytes, sample_rate: int, channels: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(audio)


async def run_call(websocket: WebSocket, start: StreamStart, call: CallContext, settings: Settings) -> CallTranscript:
    """Run one call until it ends; return its transcript."""
    serializer = _serializer(settings, start)
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    # With a cloud provider configured, each job is a failover switcher: cloud first, embedded engine second.
    faults = FaultLog(start.call_sid, call.store)
    stt, llm, tts = build_services(settings, call.clock, faults)
    context = LLMContext()
    aggregators = LLMContextAggregatorPair(context, user_params=user_turn_params(settings))
    recorder = AudioBufferProcessor(num_channels=2)
    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            aggregators.user(),
            llm,
            tts,
            transport.output(),
            recorder,
            aggregators.assistant(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=PHONE_RATE,
            audio_out_sample_rate=PHONE_RATE,
            enable_metrics=True,
        ),
        conversation_id=start.call_sid,
    )
    transcript = CallTranscript(start.call_sid, call.store)
    transcript.attach(aggregators)
    latency = LatencyRecorder(start.call_sid, call.store)
    latency.attach(
        worker,
        serializer,
        stages={**stages_of(stt, llm, tts), transport.input(): "transport", transport.output(): "transport"},
    )

    flow_manager, flow = start_flow(settings, call, llm, aggregators, worker, transport)
    recording = settings.recordings_dir / f"{start.call_sid}.wav"

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport, _client):
        await recorder.start_recording()
        await flow_manager.initialize(flow.initial_node)

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport, _client):
        await worker.cancel()

    @recorder.event_handler("on_audio_data")
    async def on_audio_data(_recorder, audio, sample_rate, num_channels):
        _write_recording(recording, audio, sample_rate, num_channels)

    call.store.call_started(start.call_sid, call.caller)
    METRICS.call_started()
    outcome = "error"
    try:
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()
        outcome = call_outcome(flow_manager)
    finally:
        latency.close()
        call.store.call_ended(start.call_sid, outcome)
        METRICS.call_ended(outcome, bookings=call.store.bookings_made(start.call_sid))
        logger.info(f"{start.call_sid}: call ended ({outcome}) at {dt.datetime.now():%H:%M:%S}")
    return transcript
