"""The call's transcript: what the caller was heard to say and what the bot said, turn by turn.

Built on the context aggregators' own turn events, so it records exactly the
text the dialogue engine or LLM received and the text that was spoken. Each
completed turn is written to the store and handed to any live listeners (the
replay harness prints them as the call goes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
)

from bot.booking.store import BookingStore


@dataclass(frozen=True)
class TurnRecord:
    call_sid: str
    turn: int
    caller_heard: str | None
    bot_said: str


TurnListener = Callable[[TurnRecord], None]
# Listeners in this process that want every call's turns as they complete.
live_listeners: list[TurnListener] = []


class CallTranscript:
    """Pairs each caller turn with the bot's reply and records the pair."""

    def __init__(self, call_sid: str, store: BookingStore, first_turn: int = 0):
        self.call_sid = call_sid
        self._store = store
        self._turn = first_turn  # a resumed call goes on counting
        self._heard: list[str] = []
        self.turns: list[TurnRecord] = []

    def attach(self, aggregators: LLMContextAggregatorPair) -> None:
        @aggregators.user().event_handler("on_user_turn_stopped")
        async def on_user_turn_stopped(_aggregator, _strategy, message):
            if message.content:
                self._heard.append(message.content.strip())

        @aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def on_assistant_turn_stopped(_aggregator, message):
            if message.content and message.content.strip():
                self.record(message.content.strip())

    def record(self, bot_said: str) -> None:
        heard = " ".join(self._heard) or None
        self._heard.clear()
        record = TurnRecord(self.call_sid, self._turn, heard, bot_said)
        self._turn += 1
        self.turns.append(record)
        logger.info(f"{self.call_sid} turn {record.turn}: heard={heard!r} said={bot_said!r}")
        self._store.run_soon(self._store.add_turn, self.call_sid, record.turn, heard, bot_said)
        for listener in live_listeners:
            listener(record)
