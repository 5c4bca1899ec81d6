"""A turn the STT heard no words in ends at the speech timeout, not at Pipecat's 5 s watchdog.

Pipecat's speech timeout ends a turn only once a transcript has come
(``wait_for_transcript``). When the caller's speech had no words in it — a
cough, a breath, or the rest of a sentence after a pause that had already
ended their turn, its words all sent with the turn — Deepgram answers the
Finalize sent at the VAD's stop with an empty final and no transcript ever
comes: the turn waits for the user aggregator's ``user_turn_stop_timeout``
(5 s) while the caller hears nothing. That empty answer
(:class:`~bot.services.deepgram.HeardNothingFrame`) says nothing more is
coming, so the turn ends when the speech timeout does, as any other, and
Pipecat's empty-turn handling takes it from there: a turn that cut the bot
off has it pick up where it was (bot/dialogue/engine.py), an idle one gets no
answer.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy

from bot.services.deepgram import HeardNothingFrame


class WordlessTurnEndStrategy(SpeechTimeoutUserTurnStopStrategy):
    """The speech timeout's turn end, which also ends a turn the STT has said holds no words."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._heard_nothing = False

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, HeardNothingFrame) and self._vad_stopped and not self._text:
            self._heard_nothing = self._stt_wait_done = True
            await self._maybe_trigger_user_turn_stopped()
        return await super().process_frame(frame)

    async def _discard_pending_end_of_turn(self):
        self._heard_nothing = False
        await super()._discard_pending_end_of_turn()

    async def _maybe_trigger_user_turn_stopped(self):
        if self._heard_nothing and not self._text:
            if self._user_speech_wait_done and not self._vad_user_speaking:
                await self.trigger_user_turn_stopped()
            return
        await super()._maybe_trigger_user_turn_stopped()
