"""Per-turn latency of a call: where the time goes between the caller falling silent and the bot's first audio.

Built on Pipecat's :class:`UserBotLatencyObserver`: with metrics enabled its
``on_latency_breakdown`` event names every part of a caller turn (endpointing
wait, transcription, turn detection, LLM inference, function handlers,
sentence aggregation, speech synthesis, output transport, and the unnamed rest
as "pipeline"), and those parts sum to the interval from the caller's last
voiced audio to the bot starting to speak. This module groups the parts into
a few stages, reads the moments that matter off them, and adds the one moment
Pipecat does not see: the first audio frame of the reply handed to the
websocket (to Twilio), taken from the serializer.

Every caller turn becomes one :class:`TurnLatency`: stored with the call
(``turn_latency`` table), logged as one structured line, and observed in the
Prometheus histograms (:mod:`bot.metrics`).

Moments, in ms after the caller stopped speaking:
    stt_final        the final transcript of the turn
    turn_end         the caller's turn released to the LLM (turn detection done)
    llm_first        the LLM's (dialogue engine's) first token or function call
    tts_first_audio  the TTS's first audio of the reply
    bot_started      the output transport starting to play it
    first_audio_sent the first audio frame written to the websocket = voice to voice

Stages, which add up to voice to voice:
    vad       silence the VAD waits out before it calls the speech over (a setting)
    stt       VAD stop -> final transcript
    turn      final transcript -> turn released (the speech-timeout wait, a setting)
    llm       LLM or dialogue engine, until it has text or a function call
    tools     function handlers (the booking tools) and flow transitions after them
    tts       text -> first audio (sentence aggregation and synthesis)
    output    first audio -> first audio frame sent to the websocket
    pipeline  everything no stage names: frame hops and queueing
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame, OutputAudioRawFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.observers.user_bot_latency_observer import (
    LatencyBreakdown,
    MeasuredFrom,
    UserBotLatencyObserver,
)
from pipecat.processors.frame_processor import FrameProcessor

from bot.metrics import METRICS, BotMetrics

STAGES = ("vad", "stt", "turn", "llm", "tools", "tts", "output", "pipeline")
MOMENTS = ("stt_final", "turn_end", "llm_first", "tts_first_audio", "bot_started", "first_audio_sent")

# Pipecat's contribution keys -> our stages.
STAGE_OF_CONTRIBUTION = {
    "endpointing_wait": "vad",
    "transcription": "stt",
    "turn_detection": "turn",
    "waiting_for_user": "turn",
    "first_request": "llm",
    "llm_inference": "llm",
    "llm_tool_call": "llm",
    "turn_completion": "llm",
    "awaiting_speakable_text": "llm",
    "function_handler": "tools",
    "sentence_aggregation": "tts",
    "speech_synthesis": "tts",
    "output_transport": "output",
    "pipeline": "pipeline",
}

# A gap this long between audio frames sent means the next frame starts a new utterance.
ONSET_GAP_SECS = 0.3


@dataclass
class TurnLatency:
    """One caller turn's figures (times in ms after the caller stopped speaking)."""

    call_sid: str
    turn: int
    caller_stopped_at: float  # unix time of the caller's last voiced audio, per the VAD
    voice_to_voice_ms: float
    stages: dict[str, float]
    moments: dict[str, float | None]
    contributions: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The ``turn_latency`` row: one column per moment and per stage."""
        return {
            "turn": self.turn,
            "caller_stopped_at": self.caller_stopped_at,
            "voice_to_voice_ms": self.voice_to_voice_ms,
            **{f"{name}_ms": value for name, value in self.moments.items()},
            **{f"{stage}_ms": self.stages.get(stage, 0.0) for stage in STAGES},
            "breakdown": json.dumps(self.contributions),
        }

    def log_line(self) -> str:
        fields = {"call_sid": self.call_sid} | asdict(self)
        fields.pop("contributions")
        return "turn_latency " + json.dumps(fields, separators=(",", ":"))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def turn_from_breakdown(
    call_sid: str, turn: int, breakdown: LatencyBreakdown, first_audio_sent: float | None
) -> TurnLatency | None:
    """Group a breakdown's contributions into stages and read the moments off them."""
    start = breakdown.user_turn_start_time
    if start is None or breakdown.measured_from is not MeasuredFrom.USER_SILENCE:
        return None
    stages = dict.fromkeys(STAGES, 0.0)
    ends: dict[str, float] = {}  # contribution key -> end of its first occurrence
    for c in breakdown.contributions:
        stages[STAGE_OF_CONTRIBUTION.get(c.key, "pipeline")] += c.duration_secs
        ends.setdefault(c.key, c.start_time + c.duration_secs)
    bot_started = start + breakdown.total_secs
    sent = first_audio_sent if first_audio_sent is not None else bot_started
    # The write to the websocket comes just after the transport announces the
    # bot speaking; what lies between (or, if the observer saw the frame late,
    # what it overcounted) belongs to the output stage.
    stages["output"] = max(0.0, stages["output"] + (sent - bot_started))
    total = sent - start
    named = sum(v for k, v in stages.items() if k != "pipeline")
    stages["pipeline"] = max(0.0, total - named)

    llm_candidates = [ends[k] for k in ("llm_inference",) if k in ends]
    llm_candidates += [f.start_time for f in breakdown.function_calls]
    moments = {
        "stt_final": ends.get("transcription"),
        "turn_end": start + breakdown.user_turn_secs if breakdown.user_turn_secs is not None else None,
        "llm_first": min(llm_candidates) if llm_candidates else None,
        "tts_first_audio": ends.get("speech_synthesis"),
        "bot_started": bot_started,
        "first_audio_sent": sent,
    }
    return TurnLatency(
        call_sid=call_sid,
        turn=turn,
        caller_stopped_at=round(start, 3),
        voice_to_voice_ms=_ms(total),
        stages={k: _ms(v) for k, v in stages.items()},
        moments={k: (_ms(v - start) if v is not None else None) for k, v in moments.items()},
        contributions=[
            {"key": c.key, "owner": c.owner, "ms": _ms(c.duration_secs)} for c in breakdown.contributions
        ],
    )


class _ErrorCounter(BaseObserver):
    """Counts the ErrorFrames services push, by stage."""

    def __init__(self, metrics: BotMetrics, stages: dict[FrameProcessor, str]):
        super().__init__(observe_every_push=False)
        self._metrics = metrics
        self._stages = stages

    async def on_push_frame(self, data: FramePushed):
        if isinstance(data.frame, ErrorFrame):
            source = data.frame.processor or data.source
            self._metrics.error(self._stages.get(source, "pipeline"))


class LatencyRecorder:
    """Records every caller turn of one call.

    ``attach`` it to the call's worker (and the transport's serializer, for the
    moment audio leaves the server); ``close`` it when the call ends.
    """

    def __init__(self, call_sid: str, store=None, metrics: BotMetrics | None = METRICS):
        self.call_sid = call_sid
        self.turns: list[TurnLatency] = []
        self.observer = UserBotLatencyObserver(min_contribution_secs=0.0)
        self.observer.add_event_handler("on_latency_breakdown", self._on_breakdown)
        self._store = store
        self._metrics = metrics
        self._pending: list[LatencyBreakdown] = []
        self._onsets: list[float] = []
        self._last_audio_sent = 0.0

    def attach(self, worker, serializer=None, stages: dict[FrameProcessor, str] | None = None) -> None:
        worker.add_observer(self.observer)
        if self._metrics is not None:
            worker.add_observer(_ErrorCounter(self._metrics, stages or {}))
        if serializer is not None:
            self.watch_serializer(serializer)

    def watch_serializer(self, serializer) -> None:
        """Note when each utterance's first audio frame is serialized for the websocket."""
        serialize = serializer.serialize

        async def timed_serialize(frame: Frame):
            payload = await serialize(frame)
            if payload and isinstance(frame, OutputAudioRawFrame):
                self._audio_sent(time.time())
            return payload

        serializer.serialize = timed_serialize

    def _audio_sent(self, now: float) -> None:
        if now - self._last_audio_sent > ONSET_GAP_SECS:
            self._onsets.append(now)
            self._resolve()
        self._last_audio_sent = now

    async def _on_breakdown(self, _observer, breakdown: LatencyBreakdown) -> None:
        if breakdown.measured_from is MeasuredFrom.USER_SILENCE and breakdown.user_turn_start_time:
            self._pending.append(breakdown)
            self._resolve()

    def _resolve(self, *, final: bool = False) -> None:
        """Finish the pending turns whose first sent audio is known (all of them if ``final``)."""
        while self._pending:
            breakdown = self._pending[0]
            start = breakdown.user_turn_start_time
            sent = next((t for t in self._onsets if t > start), None)
            if sent is None and not final:
                return
            self._pending.pop(0)
            self._finish(breakdown, sent)

    def _finish(self, breakdown: LatencyBreakdown, sent: float | None) -> None:
        turn = turn_from_breakdown(self.call_sid, len(self.turns) + 1, breakdown, sent)
        if turn is None:
            return
        self.turns.append(turn)
        logger.info(turn.log_line())
        if self._metrics is not None:
            self._metrics.observe_turn(turn.voice_to_voice_ms, turn.stages)
        if self._store is not None:
            self._store.run_soon(self._store.add_turn_latency, self.call_sid, turn.row())

    def close(self) -> None:
        """Record what is still pending (a turn whose audio never reached the websocket)."""
        self._resolve(final=True)
