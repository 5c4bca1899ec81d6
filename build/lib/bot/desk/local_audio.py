"""``python -m bot local``: talk to the bot through this computer's microphone and speakers.

A phone call's pipeline with Pipecat's ``LocalAudioTransport`` (PyAudio) where
the Twilio websocket would be: the same STT, turn-taking, flow, dialogue engine
or LLM, TTS and booking store, at phone quality (8 kHz) unless ``wideband``
(16 kHz)::

    microphone -> STT -> CallerTurnRecorder -> user aggregator (VAD, turns)
               -> LLM or dialogue engine (FlowManager) -> ConversationView (prints)
               -> TTS -> speakers -> assistant aggregator
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_mute.always_user_mute_strategy import AlwaysUserMuteStrategy
from pipecat.workers.runner import WorkerRunner

from bot.audio import PHONE_RATE
from bot.call.pipeline import start_flow, user_turn_params
from bot.desk.scenario_writer import CallerTurn
from bot.desk.session import (
    CallOutcome,
    ConversationView,
    close_desk_call,
    ctrl_c_hangs_up,
    open_desk_call,
)
from bot.services.factory import build_llm, build_stt, build_tts
from bot.settings import Settings
from processors.transcript import CallTranscript

WIDEBAND_RATE = 16_000
# Audio kept from before the turn detector noticed the caller, so a saved turn starts cleanly.
PRE_ROLL_SECS = 0.5


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """PortAudio reports every ALSA or JACK device it fails to open straight to file descriptor 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def missing_audio_device(sample_rate: int) -> str | None:
    """Why this computer cannot be talked to (one line), or None when it can."""
    try:
        import pyaudio
    except ImportError:
        return "local audio needs PyAudio: `bash scripts/run.sh local` installs it; or try `python -m bot chat`"
    with _native_stderr_silenced():
        audio = pyaudio.PyAudio()
        try:
            for kind, default_device in (
                ("input", audio.get_default_input_device_info),
                ("output", audio.get_default_output_device_info),
            ):
                try:
                    device = default_device()
                except OSError:
                    return f"no audio {kind} device found: try `python -m bot chat`"
                try:
                    audio.is_format_supported(
                        sample_rate,
                        **{f"{kind}_device": device["index"], f"{kind}_channels": 1, f"{kind}_format": pyaudio.paInt16},
                    )
                except ValueError:
                    other = "without --wideband" if sample_rate == WIDEBAND_RATE else "with --wideband"
                    return f"the audio {kind} device ({device['name']}) cannot do {sample_rate} Hz: try {other}"
        finally:
            audio.terminate()
    return None


class CallerTurnRecorder(FrameProcessor):
    """Keeps the caller's audio and words of every turn, to save the session as a scenario.

    Sits after STT, so a turn's transcriptions have passed it by the time the
    user aggregator announces (upstream) that the turn is over.
    """

    def __init__(self):
        super().__init__()
        self.turns: list[CallerTurn] = []
        self._before_turn: deque[InputAudioRawFrame] = deque()
        self._audio: list[bytes] | None = None  # None between turns
        self._words: list[str] = []
        self._rate = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._keep(frame)
        elif isinstance(frame, TranscriptionFrame) and self._audio is not None:
            self._words.append(frame.text.strip())
        elif isinstance(frame, UserStartedSpeakingFrame) and self._audio is None:
            self._audio = [f.audio for f in self._before_turn]
            self._before_turn.clear()
        elif isinstance(frame, UserStoppedSpeakingFrame) and self._audio is not None:
            heard = " ".join(w for w in self._words if w)
            if heard:  # a noise the bot did not hear as words is no turn to replay
                self.turns.append(CallerTurn(text=heard, audio=b"".join(self._audio), sample_rate=self._rate))
            self._audio, self._words = None, []
        await self.push_frame(frame, direction)

    def _keep(self, frame: InputAudioRawFrame) -> None:
        self._rate = frame.sample_rate
        if self._audio is not None:
            self._audio.append(frame.audio)
            return
        self._before_turn.append(frame)
        kept = sum(len(f.audio) for f in self._before_turn)
        while kept - len(self._before_turn[0].audio) >= PRE_ROLL_SECS * frame.sample_rate * 2:
            kept -= len(self._before_turn.popleft().audio)


@dataclass(frozen=True)
class LocalResult:
    turns: list[CallerTurn]  # the caller's turns the bot heard words in, with their audio
    outcome: CallOutcome


async def run_local(
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    caller: str | None = None,
    wideband: bool = False,
    barge_in: bool = False,
    out: TextIO = sys.stdout,
) -> LocalResult:
    """Talk through the default microphone and speakers until the flow ends the call or Ctrl-C."""
    from pipecat.transports.local.audio import (
        LocalAudioTransport,
        LocalAudioTransportParams,
    )

    sample_rate = WIDEBAND_RATE if wideband else PHONE_RATE
    call = open_desk_call(settings, kind="local", now=now, caller=caller)
    started = call.now()
    with _native_stderr_silenced():
        transport = LocalAudioTransport(LocalAudioTransportParams(audio_in_enabled=True, audio_out_enabled=True))
    stt = build_stt(settings, sample_rate)
    llm = build_llm(settings, call.clock)
    tts = build_tts(settings, sample_rate)
    user_params = user_turn_params(settings)
    if not barge_in:
        # Without a phone's echo cancellation the microphone hears the speakers: the bot
        # would interrupt itself. Headphones and --barge-in give the phone's behaviour.
        user_params.user_mute_strategies = [AlwaysUserMuteStrategy()]
    aggregators = LLMContextAggregatorPair(LLMContext(), user_params=user_params)
    recorder = CallerTurnRecorder()
    view = ConversationView(out)
    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            recorder,
            aggregators.user(),
            llm,
            view,
            tts,
            transport.output(),
            aggregators.assistant(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=sample_rate, audio_out_sample_rate=sample_rate),
        conversation_id=call.call_sid,
    )
    CallTranscript(call.call_sid, call.store).attach(aggregators)
    flow_manager, flow = start_flow(settings, call, llm, aggregators, worker, transport)
    view.follow(flow_manager)

    @worker.event_handler("on_pipeline_started")
    async def on_pipeline_started(_worker, _frame):
        await flow_manager.initialize(flow.initial_node)

    @aggregators.user().event_handler("on_user_turn_stopped")
    async def on_user_turn_stopped(_aggregator, _strategy, message):
        if message.content and message.content.strip():
            view.show_caller(message.content.strip(), heard=True)

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    with ctrl_c_hangs_up(lambda: asyncio.ensure_future(worker.cancel(reason="hung up"))):
        await runner.run()
    return LocalResult(turns=recorder.turns, outcome=await close_desk_call(call, flow_manager, started))
