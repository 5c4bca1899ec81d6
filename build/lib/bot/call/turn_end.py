"""When the caller's turn ends: Pipecat's speech timeout, made to wait for what it cannot see.

The STT answers every stop of the VAD: with a transcript, or with
:class:`~bot.services.frames.HeardNothingFrame` (Deepgram's empty answer to
the Finalize sent at the stop; Whisper's segment decoded to nothing).

- **A turn does not end before the STT has answered each stop.** Pipecat's
  speech timeout waits for the STT only up to its p99 figure, and takes an
  earlier segment's final transcript as covering the turn when it arrives
  after the caller began again: a turn "Hi, [pause] I'd like to book a table
  for four..." ended on "Hi," (heard as "Bye.") while Whisper, queued behind
  other calls, was still decoding the rest; the caller was told goodbye.
  The wait is given up on after :data:`ANSWER_WAIT_SECS`.
- **Nor while the caller has just begun again.** The VAD reports speech only
  after ``start_secs`` (0.2 s) of it, so a caller who pauses mid-answer
  ("Two people, [0.35 s] this Friday") is speaking again before the speech
  timeout runs out, but not yet known to be: the turn would end on the first
  part and the rest start a turn of its own over the bot's next question.
  While the VAD hears voice it has not yet called speech or silence, the end
  waits for it to decide (at most :data:`ONSET_WAIT_SECS`).
- **A turn the STT heard no words in ends at the speech timeout**, not at the
  user aggregator's 5 s ``user_turn_stop_timeout`` (Pipecat's speech timeout
  waits for a transcript that will never come). Pipecat's empty-turn handling
  takes it from there: a turn that cut the bot off has it pick up where it
  was (bot/dialogue/engine.py), an idle one gets no answer.
"""

from __future__ import annotations

import asyncio

from loguru import logger
from pipecat.frames.frames import Frame, TranscriptionFrame, VADUserStoppedSpeakingFrame
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy

from bot.services.frames import HeardNothingFrame
from bot.services.vad import InlineSileroVADAnalyzer

# The longest a turn's end waits on voice the VAD has not decided on: its start_secs decides within
# 0.2 s, so only a line whose noise keeps flickering over the threshold waits this out.
ONSET_WAIT_SECS = 0.6
# The longest it waits on the STT's answer to a VAD stop: a Whisper decode queued behind other calls'
# takes up to about a second on 2 cores; an answer lost to a failing service is given up on.
ANSWER_WAIT_SECS = 3.0
HOLD_POLL_SECS = 0.02


class WordlessTurnEndStrategy(SpeechTimeoutUserTurnStopStrategy):
    """The speech timeout's turn end, which also ends a turn the STT has said holds no words, and holds
    while the STT owes an answer or the caller's voice is starting again."""

    def __init__(self, *, vad: InlineSileroVADAnalyzer | None = None, **kwargs):
        super().__init__(**kwargs)
        self._heard_nothing = False
        self._vad = vad
        self._unanswered_stops = 0  # VAD stops the STT has not yet answered (a transcript, or nothing heard)
        self._hold: asyncio.Task | None = None

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._unanswered_stops += 1
        elif isinstance(frame, HeardNothingFrame) or (isinstance(frame, TranscriptionFrame) and frame.finalized):
            self._unanswered_stops = max(0, self._unanswered_stops - 1)
        if isinstance(frame, HeardNothingFrame) and self._vad_stopped:
            self._stt_wait_done = True
            self._heard_nothing = not self._text
            await self._maybe_trigger_user_turn_stopped()
        return await super().process_frame(frame)

    async def _discard_pending_end_of_turn(self):
        self._heard_nothing = False
        await super()._discard_pending_end_of_turn()

    async def _cancel_all_tasks(self):
        if self._hold:
            await self.task_manager.cancel_task(self._hold)
            self._hold = None
        await super()._cancel_all_tasks()

    def _held_by(self) -> str | None:
        """What the turn's end waits for: the STT's answer to a stop, or the VAD to decide on voice it hears."""
        if self._unanswered_stops:
            return "answer"
        if self._vad is not None and not self._vad_user_speaking and self._vad.hearing_voice:
            return "onset"
        return None

    async def _maybe_trigger_user_turn_stopped(self):
        if self._hold:
            return  # it asks again once the hold is over
        if reason := self._held_by():
            logger.debug(f"{self}: the turn's end waits for the {'STT' if reason == 'answer' else 'VAD'}")
            self._hold = self.task_manager.create_task(self._end_after_the_hold(), f"{self}::hold")
            return
        await self._end_if_due()

    async def _end_after_the_hold(self):
        # The caller speaking again discards the hold (its VADUserStartedSpeakingFrame). Otherwise the
        # turn's end is asked for again once nothing holds it, or when what holds it is given up on.
        loop = asyncio.get_running_loop()
        started = loop.time()
        limits = {"answer": ANSWER_WAIT_SECS, "onset": ONSET_WAIT_SECS}
        while (reason := self._held_by()) and loop.time() - started < limits[reason]:
            await asyncio.sleep(HOLD_POLL_SECS)
        if reason == "answer":
            logger.warning(f"{self}: no answer from the STT within {ANSWER_WAIT_SECS:.0f} s; the turn ends without it")
            self._unanswered_stops = 0
        self._hold = None
        await self._end_if_due()

    async def _end_if_due(self):
        if self._heard_nothing and not self._text:
            if self._user_speech_wait_done and not self._vad_user_speaking:
                await self.trigger_user_turn_stopped()
            return
        await super()._maybe_trigger_user_turn_stopped()
