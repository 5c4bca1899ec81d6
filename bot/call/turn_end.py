"""When the caller's turn ends: Pipecat's speech timeout, made to hold for what it cannot see.

A turn the STT heard no words in ends at the speech timeout, not at Pipecat's
5 s watchdog. Pipecat's speech timeout ends a turn only once a transcript has
come (``wait_for_transcript``). When the caller's speech had no words in it —
a cough, a breath, or the rest of a sentence after a pause that had already
ended their turn, its words all sent with the turn — Deepgram answers the
Finalize sent at the VAD's stop with an empty final and no transcript ever
comes: the turn waits for the user aggregator's ``user_turn_stop_timeout``
(5 s) while the caller hears nothing. That empty answer
(:class:`~bot.services.deepgram.HeardNothingFrame`) says nothing more is
coming, so the turn ends when the speech timeout does, as any other, and
Pipecat's empty-turn handling takes it from there: a turn that cut the bot
off has it pick up where it was (bot/dialogue/engine.py), an idle one gets no
answer.

Nor does a turn end while the caller has just begun again. The VAD reports
speech only after ``start_secs`` (0.2 s) of it, so a caller who pauses at a
comma ("Yes, [0.4 s] please") is speaking again before the speech timeout
runs out, but not yet known to be: the turn would end on "Yes." and "please"
come as a turn of its own, answered with "Sorry, I didn't catch that". While
the VAD hears voice it has not yet called speech or silence, the turn's end
waits for it to decide (at most :data:`ONSET_WAIT_SECS`).
"""

from __future__ import annotations

import asyncio

from loguru import logger
from pipecat.frames.frames import Frame
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy

from bot.services.deepgram import HeardNothingFrame
from bot.services.vad import InlineSileroVADAnalyzer

# The longest a turn's end waits on voice the VAD has not decided on: its start_secs decides within
# 0.2 s, so only a line whose noise keeps flickering over the threshold waits this out.
ONSET_WAIT_SECS = 0.6
ONSET_POLL_SECS = 0.02


class WordlessTurnEndStrategy(SpeechTimeoutUserTurnStopStrategy):
    """The speech timeout's turn end, which also ends a turn the STT has said holds no words, and waits
    while the caller's voice is starting again."""

    def __init__(self, *, vad: InlineSileroVADAnalyzer | None = None, **kwargs):
        super().__init__(**kwargs)
        self._heard_nothing = False
        self._vad = vad
        self._onset_wait: asyncio.Task | None = None

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, HeardNothingFrame) and self._vad_stopped and not self._text:
            self._heard_nothing = self._stt_wait_done = True
            await self._maybe_trigger_user_turn_stopped()
        return await super().process_frame(frame)

    async def _discard_pending_end_of_turn(self):
        self._heard_nothing = False
        await super()._discard_pending_end_of_turn()

    async def _cancel_all_tasks(self):
        if self._onset_wait:
            await self.task_manager.cancel_task(self._onset_wait)
            self._onset_wait = None
        await super()._cancel_all_tasks()

    async def _maybe_trigger_user_turn_stopped(self):
        if self._onset_wait:
            return  # it asks again once the VAD has decided
        if self._vad is not None and not self._vad_user_speaking and self._vad.hearing_voice:
            logger.debug(f"{self}: the caller's voice is starting again; the turn's end waits for the VAD")
            self._onset_wait = self.task_manager.create_task(self._end_once_the_onset_is_decided(), f"{self}::onset")
            return
        await self._end_if_due()

    async def _end_once_the_onset_is_decided(self):
        # Speech discards this wait (its VADUserStartedSpeakingFrame); voice that came to nothing, or that
        # is still undecided after ONSET_WAIT_SECS (noise, not a caller going on), lets the turn end.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ONSET_WAIT_SECS
        while self._vad.hearing_voice and loop.time() < deadline:
            await asyncio.sleep(ONSET_POLL_SECS)
        self._onset_wait = None
        await self._end_if_due()

    async def _end_if_due(self):
        if self._heard_nothing and not self._text:
            if self._user_speech_wait_done and not self._vad_user_speaking:
                await self.trigger_user_turn_stopped()
            return
        await super()._maybe_trigger_user_turn_stopped()
