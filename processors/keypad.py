"""When no speech-to-text works, the caller books with the keypad.

Three pieces, one per concern, sharing a :class:`KeypadMode` per call:

- :class:`SpeechWatch` (right after the STT) notices a *stalled* STT: the VAD
  heard the caller speak and no transcript came within ``BOT_STT_STALL_SECS``
  (e.g. a Deepgram that accepts audio and never answers). That STT is given up
  the way every failed provider is (``push_error_frame(...,
  force_treat_as_permanent=True)``: the failover switcher moves to the next one
  and the fault is logged). The stalled turn is not lost: its audio is kept
  and the next STT, when it is a segmented one (Whisper, Moonshine),
  transcribes it at once, so the caller is answered without being asked to
  repeat themselves (a repeat costs them a whole sentence; the re-transcription
  costs one local decode). When no STT is left, keypad mode starts: the bot
  says the business's keypad instructions for the value the flow is asking
  for. A segmented STT's decode that finds no words is an answer, not a
  stall: it is given up only when it also reported an error for that speech.
- :class:`KeypadInput` (after Pipecat's ``DTMFAggregator``) turns a keypad
  entry into the words the caller would have said for the value the flow is
  asking for (4 digits MMDD for a day, HHMM for a time, 1/2 for yes/no), so
  any LLM or the dialogue engine understands it. Keys that make no such value
  (garbage, or keys while nothing keyable is asked) are logged and dropped;
  in keypad mode the caller is told and asked again. Nothing is ever booked
  from them: a booking still needs every value and a "yes" to the read-back.
- :class:`KeypadPrompts` (after the LLM) appends the keypad instruction for
  the next value to every reply while keypad mode is on, and offers the keypad
  for the one value asked when the bot has twice in a row not understood the
  answer (a voice the STT cannot follow still books by keys, value by value).

The words are the business's (``line:`` in ``flows/*.business.yaml``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger
from pipecat.audio.utils import pcm_to_wav
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    FunctionCallsStartedFrame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.service_switcher import ServiceSwitcher
from pipecat.processors.aggregators.dtmf_aggregator import DTMFAggregator
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.utils.time import time_now_iso8601

from bot.booking.business import LineWords
from bot.dialogue.engine import asked_for, failed_tries, is_free_turn
from processors.direct import DirectProcessor
from processors.fallbacks import FallbackSwitcher, FaultLog

# How DTMFAggregator labels a keypad entry in its TranscriptionFrame.
KEYPAD_PREFIX = "keypad:"
# Audio kept from before the VAD's start, which reports speech about 0.2 s late.
PRE_ROLL_SECS = 1.0
MAX_KEYPAD_PARTY = 99
# Replies in a row that did not understand the value asked, after which the keypad is offered for it.
KEYPAD_OFFER_AFTER = 2


@dataclass
class KeypadMode:
    """Whether this call has fallen back to keypad entry."""

    active: bool = False


def _instruction(words: LineWords, asked: str | None) -> str:
    # With nothing asked yet (the greeting), a keypad caller is starting a booking.
    return words.keypad_asks.get(asked or "party_size", "")


def keypad_words(entry: str, asked: str | None, today: dt.date, words: LineWords, *, keypad_mode: bool) -> str | None:
    """What pressing ``entry`` means as an answer to ``asked``, in words; None when it means nothing."""
    keys = entry.removesuffix("#")
    if asked is None and keypad_mode:
        asked = "party_size"
    if asked == "name":
        return words.number_name
    if not keys.isdigit():
        return None
    if asked == "party_size" and 1 <= int(keys) <= MAX_KEYPAD_PARTY:
        return f"{int(keys)} people"
    if asked == "date" and len(keys) == 4:
        try:
            day = dt.date(today.year, int(keys[:2]), int(keys[2:]))
        except ValueError:
            return None
        # MMDD names the next such day: in December, 0105 is January next year.
        return (day if day >= today else day.replace(year=today.year + 1)).isoformat()
    if asked == "time" and len(keys) == 4:
        try:
            return dt.time(int(keys[:2]), int(keys[2:])).strftime("%H:%M")
        except ValueError:
            return None
    if asked == "yes_no" and keys in ("1", "2"):
        return "yes" if keys == "1" else "no"
    return None


def _stt_services(stt: FrameProcessor) -> list[FrameProcessor]:
    return list(stt.services) if isinstance(stt, ServiceSwitcher) else [stt]


class SpeechWatch(DirectProcessor):
    """Gives up a speech-to-text service that hears speech and sends nothing; starts keypad mode when none is left."""

    def __init__(
        self,
        stt: FrameProcessor,
        mode: KeypadMode,
        words: LineWords,
        asked: Callable[[], str | None],
        *,
        stall_secs: float,
        sample_rate: int,
        faults: FaultLog | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._stt = stt
        self._faults = faults
        self._mode = mode
        self._words = words
        self._asked = asked
        self._stall_secs = stall_secs
        self._pre_roll = bytearray()  # the last PRE_ROLL_SECS of audio, whatever the frame size
        self._pre_roll_bytes = int(PRE_ROLL_SECS * sample_rate) * 2
        self._segment: bytearray | None = None  # the caller's audio since the VAD heard them start
        self._heard = False
        self._stall: asyncio.Task | None = None
        self._sample_rate = sample_rate
        self._failed_since_speech: set[FrameProcessor] = set()
        # An STT that failed while the caller was speaking: the next one joined mid-sentence and hears
        # only its end (a segmented STT keeps 1 s before it is told speech started), so the whole
        # turn is transcribed again and what the next STT makes of its tail is dropped.
        self._failed_mid_turn = False
        self._replacing_turn = False
        for service in _stt_services(stt):
            service.add_event_handler("on_error", self._on_stt_error)

    async def _on_stt_error(self, service: FrameProcessor, _error: ErrorFrame):
        self._failed_since_speech.add(service)
        self._failed_mid_turn = self._failed_mid_turn or self._segment is not None

    def _active(self) -> FrameProcessor:
        return self._stt.strategy.active_service if isinstance(self._stt, ServiceSwitcher) else self._stt

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if self._segment is not None:
                self._segment += frame.audio
            else:
                self._pre_roll += frame.audio
                del self._pre_roll[: -self._pre_roll_bytes]
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._cancel_stall()
            self._segment = bytearray(self._pre_roll)
            self._heard = self._failed_mid_turn = self._replacing_turn = False
            self._failed_since_speech.clear()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            next_stt = next(iter(self._usable()), None) if self._failed_mid_turn else None
            if self._segment is not None and isinstance(next_stt, SegmentedSTTService):
                self._replacing_turn = True
                self.create_task(self._transcribe_again(next_stt, bytes(self._segment)))
            elif self._segment is not None and not self._heard and not self._mode.active:
                self._stall = self.create_task(self._wait_for_transcript(bytes(self._segment)))
            self._segment = None
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)) and not frame.text.startswith(
            KEYPAD_PREFIX
        ):
            if self._replacing_turn:
                logger.info(f"{self}: dropped {frame.text!r}, the tail of a turn being transcribed again whole")
                return
            self._heard = True
            await self._cancel_stall()
        await self.push_frame(frame, direction)

    def _usable(self) -> list[FrameProcessor]:
        return [s for s in _stt_services(self._stt) if s.is_usable]

    async def _cancel_stall(self):
        if self._stall is not None:
            await self.cancel_task(self._stall)
            self._stall = None

    async def _wait_for_transcript(self, segment: bytes):
        speech_ended = time.monotonic()
        await asyncio.sleep(self._stall_secs)
        self._stall = None
        stalled = self._active()
        if isinstance(stalled, SegmentedSTTService) and stalled not in self._failed_since_speech:
            return  # it decoded the turn and found no words in it (a cough, the line's noise): an answer
        if getattr(stalled, "last_answer_at", 0.0) >= speech_ended:
            return  # a streaming STT answered with no words: the same
        reason = f"no transcript within {self._stall_secs:g} s"
        logger.warning(f"{self}: {stalled} heard speech and sent no transcript; giving it up")
        await stalled.push_error_frame(ErrorFrame(reason), force_treat_as_permanent=True)
        left = self._usable()
        if not left:
            await self._start_keypad_mode(stalled, reason)
        elif isinstance(left[0], SegmentedSTTService):
            await self._transcribe_again(left[0], segment)

    async def _transcribe_again(self, service: SegmentedSTTService, segment: bytes):
        """The next STT transcribes the turn the stalled one dropped (the caller's turn is still open)."""
        audio = pcm_to_wav(segment, self._sample_rate) if service.wants_wav_segments else segment
        async for frame in service.run_stt(audio):
            if isinstance(frame, TranscriptionFrame):
                frame.finalized = True
                await self.push_frame(frame)

    async def _start_keypad_mode(self, failed: FrameProcessor, reason: str):
        self._mode.active = True
        if self._faults is not None:
            label = self._stt.label(failed) if isinstance(self._stt, FallbackSwitcher) else failed.name
            self._faults.record("stt", label, reason, "keypad")
        await self.push_frame(TTSSpeakFrame(f"{self._words.keypad_start} {_instruction(self._words, self._asked())}"))


class KeypadInput(DirectProcessor):
    """Turns each keypad entry (from Pipecat's DTMFAggregator) into the caller's words for the value asked."""

    def __init__(
        self,
        mode: KeypadMode,
        words: LineWords,
        asked: Callable[[], str | None],
        today: Callable[[], dt.date],
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._mode = mode
        self._words = words
        self._asked = asked
        self._today = today

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if not (isinstance(frame, TranscriptionFrame) and frame.text.startswith(KEYPAD_PREFIX)):
            await self.push_frame(frame, direction)
            return
        entry, asked = frame.text.removeprefix(KEYPAD_PREFIX).strip(), self._asked()
        meaning = keypad_words(entry, asked, self._today(), self._words, keypad_mode=self._mode.active)
        if meaning is None:
            logger.info(f"{self}: keypad entry {entry!r} means nothing while asking for {asked}; ignored")
            if self._mode.active:
                await self.push_frame(
                    TTSSpeakFrame(f"{self._words.keypad_invalid} {_instruction(self._words, asked)}")
                )
            return
        logger.info(f"{self}: keypad entry {entry!r} for {asked}: {meaning!r}")
        await self.push_frame(
            TranscriptionFrame(meaning, frame.user_id, time_now_iso8601(), frame.language, finalized=True)
        )


class KeypadPrompts(DirectProcessor):
    """In keypad mode, ends every spoken reply with how to key in the value asked for next; out of it,
    offers the keypad for the value asked after the second reply in a row that did not understand it."""

    def __init__(
        self,
        mode: KeypadMode,
        words: LineWords,
        asked: Callable[[], str | None],
        misunderstood: Callable[[], int] = lambda: 0,
        free_turn: Callable[[], bool] = lambda: False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._mode = mode
        self._words = words
        self._asked = asked
        self._misunderstood = misunderstood  # caller turns not understood in a row, the pending one excluded
        self._free_turn = free_turn  # the pending turn asks the line to wait (or is back): no failed try, no offer
        self._spoke = False
        self._called_tool = False

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame):
            self._spoke = self._called_tool = False
        elif isinstance(frame, LLMTextFrame) and frame.text.strip():
            self._spoke = True
        elif isinstance(frame, FunctionCallsStartedFrame):
            self._called_tool = True
        elif isinstance(frame, LLMFullResponseEndFrame) and self._spoke:
            # A reply that only called a tool says nothing; the next node's reply gets the instruction.
            instruction = self._words.keypad_asks.get(self._asked() or "")
            if instruction and self._mode.active:
                await self.push_frame(LLMTextFrame(f" {instruction}"))
            elif (
                instruction
                and not self._called_tool
                and self._misunderstood() + 1 == KEYPAD_OFFER_AFTER
                and not self._free_turn()
            ):
                await self.push_frame(LLMTextFrame(f" {self._words.keypad_offer} {instruction}"))
        await self.push_frame(frame, direction)


@dataclass
class KeypadFallback:
    """The call's keypad fallback: ``watch`` and ``entries`` go after the STT, ``prompts`` after the LLM."""

    watch: SpeechWatch
    entries: list[FrameProcessor]
    prompts: KeypadPrompts

    @classmethod
    def build(
        cls,
        stt: FrameProcessor,
        context: LLMContext,
        words: LineWords,
        today: Callable[[], dt.date],
        *,
        stall_secs: float,
        sample_rate: int,
        faults: FaultLog | None = None,
    ) -> KeypadFallback:
        mode = KeypadMode()

        def messages() -> list[dict]:
            return [m for m in context.get_messages() if isinstance(m, dict)]

        def asked() -> str | None:
            return asked_for(messages())

        return cls(
            watch=SpeechWatch(stt, mode, words, asked, stall_secs=stall_secs, sample_rate=sample_rate, faults=faults),
            # Every frame of caller audio passes the aggregator, which only looks at keypad presses: direct.
            entries=[DTMFAggregator(prefix=KEYPAD_PREFIX, enable_direct_mode=True), KeypadInput(mode, words, asked, today)],
            prompts=KeypadPrompts(
                mode, words, asked, lambda: failed_tries(messages()), lambda: is_free_turn(messages())
            ),
        )
