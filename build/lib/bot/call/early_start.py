"""Start the cloud LLM on the caller's final transcript while turn-taking is still deciding.

After the VAD calls the caller's speech over, the speech timeout waits
``BOT_USER_SPEECH_TIMEOUT`` (0.3 s) more in case they go on. Deepgram's final
transcript arrives at the start of that wait (Pipecat asks for it on the VAD's
stop), and a cloud LLM needs ~350 ms to its first token: waiting for the turn
to end before asking it puts both waits end to end. Here the request starts
on the final transcript, as a Pipecat *speculation*: the LLM runs on a
provisional copy of the context and its answer is held by the LLM service's
``SpeculationGate`` until the turn ends, so nothing reaches the caller or the
context early. A tool call is never made speculatively (the service withdraws
the speculation instead), so no booking can come of words the caller had not
finished.

The early start is thrown away (the request is cancelled, which closes its
stream: the model stops generating) when the caller goes on speaking, when
the turn ends with other words than those the request was made for, when
the turn ends some other way, or when the LLM fails over to the dialogue
engine before the turn ends. Each outcome is counted in
``bot_llm_early_starts{outcome}``.
"""

from __future__ import annotations

from loguru import logger
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    LLMRunFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop.eager_match_policy import NormalizedMatch

from bot.call.turn_end import WordlessTurnEndStrategy
from bot.metrics import METRICS


class EarlyStartUserTurnStopStrategy(WordlessTurnEndStrategy):
    """The speech timeout's turn end, with the LLM started on the final transcript during the wait."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._speculation: UserTurnSpeculation | None = None
        self._match = NormalizedMatch()
        self._segments: list[str] = []  # the turn's transcripts, to join as the aggregator joins them
        # The turn ended on an early start's answer, which no speech since has made stale.
        self._answered_early = False

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._answered_early = False
            if self._speculation is not None:
                await self._discard("the caller went on speaking")
        elif isinstance(frame, EagerEndOfTurnCancelFrame) and self._speculation is not None:
            # The LLM withdrew it (it reached a tool call before the turn ended): the turn's end asks again.
            self._speculation = None
            METRICS.llm_early_starts.labels(outcome="discarded").inc()
        elif isinstance(frame, EagerEndOfTurnCancelFrame) and self._answered_early:
            # Withdrawn just as the turn ended on it (its tool call came first): nothing answers the turn,
            # so it is asked now, on the context that holds the turn. Without this the line stays silent.
            self._answered_early = False
            METRICS.llm_early_starts.labels(outcome="discarded").inc()
            await self.push_frame(LLMRunFrame())
        result = await super().process_frame(frame)
        if isinstance(frame, VADUserStoppedSpeakingFrame) and self._segments and self._speculation is None:
            # They paused again after words already transcribed: start on those now; should the STT
            # add words, the start is redone on all of them.
            await self._start_early()
        return result

    async def _handle_vad_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame):
        # Pipecat warns that a stop other than 0.2 s skews its STT p99 table; Deepgram's final is asked for
        # at this stop (Finalize), so the table's wait is cut short by it and the warning says nothing here.
        self._stop_secs_warned = True
        await super()._handle_vad_user_stopped_speaking(frame)

    async def _handle_transcription(self, frame: TranscriptionFrame):
        if frame.text.strip():
            self._segments.append(frame.text.strip())
        await super()._handle_transcription(frame)
        # Only a final transcript after the VAD's stop, with the turn still open (the text not yet taken).
        if not (frame.finalized and self._vad_stopped and not self._vad_user_speaking and self._text):
            return
        if self._speculation is not None:
            if self._match.matches(self._speculation.text, " ".join(self._segments)):
                return
            await self._discard("more words arrived")
        await self._start_early()

    async def on_llm_switched(self, *_args) -> None:
        """The LLM failed over (processors/fallbacks.py): an early start made of the failed one will never
        be answered (its held reply dies with it), so the turn's end asks the fallback instead."""
        if self._speculation is not None:
            await self._discard("the LLM it was made of failed over")

    async def _start_early(self) -> None:
        words = " ".join(self._segments)
        self._speculation = UserTurnSpeculation(text=words)
        logger.debug(f"{self}: starting the LLM early on [{words}]")
        await self.trigger_user_turn_inference_triggered(speculation=self._speculation)

    async def trigger_user_turn_stopped(self, *, enable_user_speaking_frames: bool | None = None):
        speculation, self._speculation = self._speculation, None
        if speculation is not None and self._match.matches(speculation.text, self._text):
            METRICS.llm_early_starts.labels(outcome="used").inc()
            self._answered_early = True
            # The answer is on its way: the turn's end releases it, and no second request is made.
            await self.trigger_user_turn_finalized(
                enable_user_speaking_frames=enable_user_speaking_frames, confirms_speculation=True
            )
            return
        if speculation is not None:
            self._speculation = speculation
            await self._discard("the turn ended with other words")
        await super().trigger_user_turn_stopped(enable_user_speaking_frames=enable_user_speaking_frames)

    async def _reset(self, *, clear_vad_user_speaking: bool):
        if self._speculation is not None:
            await self._discard("the turn ended another way")
        self._segments = []
        await super()._reset(clear_vad_user_speaking=clear_vad_user_speaking)

    async def _discard(self, why: str) -> None:
        logger.debug(f"{self}: early LLM start discarded: {why}")
        self._speculation = None
        METRICS.llm_early_starts.labels(outcome="discarded").inc()
        await self.trigger_user_turn_speculation_cancelled()
