"""One phone call: the Pipecat pipeline for a Twilio media stream, driven by the flow.

transport in -> voicemail recorder -> STT (failover switcher with a cloud
provider) -> stalled-STT watch and keypad input -> user aggregator (Silero
VAD, turn-taking) -> LLM or dialogue engine (tools from the flow) -> keypad
prompts -> hang-up after the goodbye -> TTS (failover, then pre-rendered
prompts) -> transport out -> stereo recorder (where the audio ends) -> assistant aggregator.
"""

from __future__ import annotations

import datetime as dt
import wave
from pathlib import Path

from fastapi import WebSocket
from loguru import logger
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.flows import Flow, FlowManager
from pipecat.frames.frames import EndFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.service_switcher import ServiceSwitcher
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
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from bot.audio import PHONE_RATE
from bot.booking import spoken, tools
from bot.call.context import CALL_STATE_KEY, CallContext
from bot.call.early_start import EarlyStartUserTurnStopStrategy
from bot.call.handover import Handover
from bot.call.live import ON_THE_LINE
from bot.call.resume import CallCheckpoints, resume_node
from bot.call.turn_end import WordlessTurnEndStrategy
from bot.call.worker import CallWorker
from bot.dialogue.engine import asked_to_wait
from bot.dialogue.listening import SecondHearing
from bot.flowfile.loaded import flow_config
from bot.metrics import METRICS
from bot.services.factory import build_services, stages_of
from bot.services.vad import InlineSileroVADAnalyzer
from bot.serving.drain import Drain
from bot.settings import Settings
from bot.telephony.media_stream import (
    SafeTwilioFrameSerializer,
    SizeLimitedSocket,
    StreamStart,
)
from bot.telephony.playout import TwilioMediaTransport
from bot.telephony.sms import text_confirmations
from processors.caller_audio import CallerAudioBypass
from processors.end_of_call import EndAfterSpeech
from processors.fallbacks import FaultLog
from processors.idle import IdleCaller
from processors.keypad import KeypadFallback
from processors.latency import LatencyRecorder
from processors.transcript import CallTranscript
from processors.voicemail import VoicemailRecorder


def _serializer(settings: Settings, start: StreamStart) -> SafeTwilioFrameSerializer:
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
        inbound_frames=settings.audio_in_ms // 20,
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


def turn_taking(settings: Settings) -> tuple[float, float, bool]:
    """The VAD's stop and the speech timeout after it, and whether a cloud LLM starts early (during the
    timeout, bot/call/early_start.py; the embedded engine answers at once anyway). With Deepgram the
    VAD's stop is what asks it for its final transcript: an early start moves it to the caller's first
    ``BOT_EARLY_START_PAUSE_SECS`` of silence, and the timeout waits the rest, so a turn ends after the
    same silence as ever."""
    silence = settings.vad_stop_secs + settings.user_speech_timeout
    early = settings.llm_early_start and settings.uses_cloud("llm")
    if not (early and settings.uses_cloud("stt")):
        return settings.vad_stop_secs, settings.user_speech_timeout, early
    stop = min(settings.early_start_pause_secs, settings.vad_stop_secs)
    return stop, round(silence - stop, 3), early


def user_turn_params(settings: Settings) -> LLMUserAggregatorParams:
    """How the caller's turns are found in their audio: Silero VAD, then a speech timeout."""
    stop_secs, timeout, early = turn_taking(settings)
    stop_type = EarlyStartUserTurnStopStrategy if early else WordlessTurnEndStrategy
    vad = InlineSileroVADAnalyzer(params=VADParams(stop_secs=stop_secs))
    return LLMUserAggregatorParams(
        user_idle_timeout=settings.idle_secs,
        vad_analyzer=vad,
        user_turn_strategies=UserTurnStrategies(stop=[stop_type(user_speech_timeout=timeout, vad=vad)]),
    )


def call_outcome(flow_manager: FlowManager) -> str:
    """How a call ended, for the calls table: "booked", or the node it stopped at."""
    return "booked" if "booking_id" in flow_manager.state else flow_manager.current_node or "ended"


def call_wanted(flow_manager: FlowManager) -> str | None:
    """What the caller came for, from the flow state: "booking" once a new booking's draft was started
    (collect_booking), "change", "cancel" or "check" for an existing one; None when neither."""
    state = flow_manager.state
    if state.get("changing"):
        return "change"
    if "booking" in state:
        return "booking"
    return state.get("purpose")


def start_flow(
    settings: Settings,
    call: CallContext,
    llm: LLMService,
    aggregators: LLMContextAggregatorPair,
    worker: PipelineWorker,
    transport: BaseTransport | None = None,
) -> tuple[FlowManager, Flow]:
    """The call's flow manager, with its state seeded; ``initialize(flow.initial_node)`` starts it."""
    flow = Flow(flow_config(settings.flow_file), handlers=tools)
    flow_manager = FlowManager(
        llm=llm,
        context_aggregator=aggregators,
        worker=worker,
        transport=transport,
        global_functions=flow.global_functions,
    )
    flow_manager.state.update(initial_state(call))
    _register_builtin_actions_with_two_arguments(flow_manager)
    return flow_manager, flow


def _register_builtin_actions_with_two_arguments(flow_manager: FlowManager) -> None:
    """Pipecat 1.14's own built-in actions take one argument, so its check for legacy one-argument
    handlers prints a deprecation warning at the first action of every call (in ``chat``, to the
    person typing). The same built-ins behind two-argument adapters behave the same and do not."""
    builtins = flow_manager._action_manager._action_handlers
    for action_type in ("tts_say", "end_conversation", "function"):

        async def adapter(action: dict, _flow_manager: FlowManager, builtin=builtins[action_type]) -> None:
            await builtin(action)

        flow_manager.register_action(action_type, adapter)


def _write_recording(path: Path, audio: bytes, sample_rate: int, channels: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(audio)


def _hear_again_what_was_asked(stt: object, context: LLMContext, call: CallContext) -> None:
    """The local Whisper hears a turn again when it gave nothing for the value the bot asked for."""
    hearing = SecondHearing(lambda: [m for m in context.get_messages() if isinstance(m, dict)], lambda: call.now().date())
    for service in [stt, *getattr(stt, "services", [])]:
        if hasattr(service, "second_hearing"):  # the local Whisper (bot/services/whisper_stt.py)
            service.second_hearing = hearing


async def run_call(
    websocket: WebSocket,
    start: StreamStart,
    call: CallContext,
    settings: Settings,
    resumed: dict | None = None,
    *,
    drain: Drain | None = None,
) -> CallTranscript:
    """Run one call's media stream until it ends; return its transcript.

    ``resumed`` is the checkpoint of a call whose earlier stream dropped
    (:meth:`BookingStore.take_resumable`): the call goes on from there. A
    stream that drops leaves the call open for ``BOT_RESUME_GRACE_SECS``.
    ``drain`` is the server's (bot/serving/drain.py): when it stops for a
    restart, a call still going is handed to another server to resume.
    """
    serializer = _serializer(settings, start)
    socket = SizeLimitedSocket(websocket, start.call_sid)
    transport = TwilioMediaTransport(  # its audio kept a little ahead of Twilio's playback
        websocket=socket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_out_10ms_chunks=settings.audio_out_ms // 10,
            add_wav_header=False,
            serializer=serializer,
            session_timeout=settings.max_call_secs,  # then on_session_timeout ends the call
        ),
        cushion_secs=settings.audio_cushion_ms / 1000,
    )
    # With a cloud provider configured, each job is a failover switcher: cloud first, embedded engine second.
    faults = FaultLog(start.call_sid, call.store)
    texter = settings.confirmation_texter
    stt, llm, tts = build_services(settings, call.clock, faults, can_text=bool(texter and call.caller))
    context = LLMContext(resumed["messages"] if resumed else None)
    _hear_again_what_was_asked(stt, context, call)
    user_params = user_turn_params(settings)
    for strategy in user_params.user_turn_strategies.stop:
        if isinstance(strategy, EarlyStartUserTurnStopStrategy) and isinstance(llm, ServiceSwitcher):
            llm.strategy.add_event_handler("on_service_switched", strategy.on_llm_switched)
    aggregators = LLMContextAggregatorPair(context, user_params=user_params)
    keypad = KeypadFallback.build(
        stt, context, call.business.line, lambda: call.now().date(),
        stall_secs=settings.stt_stall_secs, sample_rate=PHONE_RATE, faults=faults,
    )
    # Its work per frame is a copy into the call's buffer: run in the pusher's task (processors/direct.py).
    recorder = AudioBufferProcessor(num_channels=2, enable_direct_mode=True)
    caller_audio = CallerAudioBypass()  # past the aggregator only the recorder reads the caller's audio
    call.voicemail = VoicemailRecorder(
        path=settings.recordings_dir / f"{start.call_sid}-voicemail.wav", max_secs=settings.voicemail_max_secs
    )
    pipeline = Pipeline(
        [
            transport.input(),
            call.voicemail,
            stt,
            keypad.watch,
            *keypad.entries,
            aggregators.user(),
            caller_audio.leave,
            llm,
            keypad.prompts,
            EndAfterSpeech(),
            tts,
            transport.output(),
            caller_audio.rejoin,
            recorder,
            caller_audio.end,
            aggregators.assistant(),
        ]
    )
    worker = CallWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=PHONE_RATE,
            audio_out_sample_rate=PHONE_RATE,
            enable_metrics=True,
        ),
        conversation_id=start.call_sid,
        tracing=settings.tracing,  # one OpenTelemetry trace per call (bot/serving/tracing.py)
        additional_span_attributes={"call.resumed": bool(resumed)},
    )
    transcript = CallTranscript(start.call_sid, call.store, first_turn=call.store.next_turn(start.call_sid))
    transcript.attach(aggregators)
    IdleCaller(
        start.call_sid, call.business.line, worker, idle_secs=settings.idle_secs,
        on_hold=lambda: asked_to_wait([m for m in context.get_messages() if isinstance(m, dict)]),
    ).attach(aggregators)
    latency = LatencyRecorder(start.call_sid, call.store)
    latency.attach(
        worker,
        serializer,
        stages={**stages_of(stt, llm, tts), transport.input(): "transport", transport.output(): "transport"},
    )

    flow_manager, flow = start_flow(settings, call, llm, aggregators, worker, transport)
    if resumed:
        flow_manager.state.update(resumed["state"])
    checkpoints = CallCheckpoints(start.call_sid, call.store, flow_manager, context)
    checkpoints.attach(aggregators)
    # On a restart, a call still going is handed to another server at a quiet moment (bot/call/handover.py).
    handover = Handover(
        start.call_sid, call.store, checkpoints, worker, resumable=settings.resume_grace_secs > 0,
        node_of=lambda: flow_manager.current_node, recording_voicemail=lambda: bool(call.voicemail.recording),
    )
    handover.attach(aggregators, user_params.vad_analyzer)
    # A resumed call's later streams are recorded beside its first.
    part = f"-{start.stream_sid}" if resumed else ""
    recording = settings.recordings_dir / f"{start.call_sid}{part}.wav"
    line_cut = False

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport, _client):
        await recorder.start_recording()
        await flow_manager.initialize(resume_node(flow, resumed, call.business) if resumed else flow.initial_node)

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport, _client):
        nonlocal line_cut
        # Closed without Twilio's "stop", and not by us: the line dropped, nobody hung up.
        line_cut = not serializer.stopped and socket.refused is None
        await worker.cancel()

    @transport.event_handler("on_session_timeout")
    async def on_session_timeout(_transport, _client):
        METRICS.refused.labels(reason="call_too_long").inc()
        logger.warning(f"{start.call_sid}: the call reached BOT_MAX_CALL_SECS ({settings.max_call_secs} s); ending it")
        await worker.queue_frame(EndFrame())

    @recorder.event_handler("on_audio_data")
    async def on_audio_data(_recorder, audio, sample_rate, num_channels):
        _write_recording(recording, audio, sample_rate, num_channels)

    if not resumed:
        await call.store.run(call.store.call_started, start.call_sid, call.caller)
    booked_before = call.store.bookings_made(start.call_sid)
    METRICS.call_started()
    ON_THE_LINE.started(start.call_sid, call.caller, lambda: flow_manager.current_node)
    call_over = drain.register(start.call_sid, handover) if drain else lambda: None
    outcome = "error"
    try:
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()
        outcome = call_outcome(flow_manager)
    finally:
        handover.over = True
        call_over()
        line_cut = line_cut or handover.handed_over
        latency.close()
        call.store.run_soon(call.store.note_call_wanted, start.call_sid, call_wanted(flow_manager))
        if call.voicemail.recording:  # most callers hang up straight after their message
            await tools.keep_voicemail(call, "(the caller hung up while leaving it)")
        if handover.handed_over and handover.resumable:
            outcome = "handed_over"  # checkpointed and marked interrupted before its stream closed
        elif line_cut and settings.resume_grace_secs > 0 and flow_manager.current_node:
            outcome = "interrupted"
            checkpoints.save()
            await call.store.run(call.store.call_interrupted, start.call_sid)
        else:
            outcome = "dropped" if line_cut else outcome
            # Texted once, when the call is over (a stream that may still resume would text twice), and
            # before the call is marked ended, so that its report is complete once it says so.
            if texter and faults.fell_back_to("prompts"):  # the caller may not have heard their confirmation
                await text_confirmations(call, texter, faults)
            await call.store.run(call.store.call_ended, start.call_sid, outcome)
        METRICS.call_ended(outcome, bookings=call.store.bookings_made(start.call_sid) - booked_before)
        ON_THE_LINE.ended(start.call_sid, outcome)
        logger.info(f"{start.call_sid}: call ended ({outcome}) at {dt.datetime.now():%H:%M:%S}")
    return transcript
