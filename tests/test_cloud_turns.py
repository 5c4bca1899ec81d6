"""The cloud path's turns, counted at the stand-ins: one completion per caller turn, early starts, first clauses.

Calls go through the real server with Deepgram (STT and TTS) and OpenAI as
their local protocol stand-ins (bot/standins/), the OpenAI one answering as
the flow says (:func:`bot.standins.flow_host.flow_host`). What is checked is
what the stand-ins were asked, never how long anything took.
"""

import asyncio
import dataclasses

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import TranscriptionFrame, VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.asyncio.task_manager import TaskManager

from bot.audio import PHONE_RATE, load_phone_audio
from bot.call.early_start import EarlyStartUserTurnStopStrategy
from bot.call.pipeline import turn_taking
from bot.call.turn_end import ONSET_WAIT_SECS, WordlessTurnEndStrategy
from bot.metrics import METRICS
from bot.replay.runner import in_process_server, replay_scenario, replay_settings, store_reports
from bot.replay.scenario import Turn, load_scenario
from bot.services.frames import HeardNothingFrame
from bot.services.factory import build_tts
from bot.services.first_clause import FirstClauseTextAggregator
from bot.services.vad import InlineSileroVADAnalyzer
from bot.settings import Provider
from bot.standins.deepgram import DeepgramStandin
from bot.standins.flow_host import flow_host
from bot.standins.openai import OpenAIStandin
from tests.conftest import PROJECT, said_with_a_pause

KEY = "test-key"
ONE_SENTENCE = load_scenario(PROJECT / "recordings" / "one-sentence")
SLOT_BY_SLOT = load_scenario(PROJECT / "recordings" / "slot-by-slot")


def _last_user_words(request: dict) -> str | None:
    messages = request.get("messages", [])
    return messages[-1].get("content") if messages and messages[-1].get("role") == "user" else None


async def _cloud_call(tmp_path, scenario, transcripts, *, first_token_ms=0, **overrides):
    """One call on the cloud path; the result, the OpenAI requests and the Deepgram speak records."""
    async with (
        DeepgramStandin(api_key=KEY, transcripts=transcripts, first_audio_ms=0) as dg,
        OpenAIStandin(api_key=KEY, responder=flow_host, first_token_ms=first_token_ms, token_delay_ms=0) as oa,
    ):
        settings = replay_settings(
            db_path=tmp_path / "bookings.db", recordings_dir=tmp_path / "calls",
            deepgram_api_key=KEY, deepgram_base_url=dg.ws_url, openai_api_key=KEY, openai_base_url=oa.api_base,
            **overrides,
        )
        async with in_process_server(settings) as (url, store):
            result = await replay_scenario(scenario, url, store_reports(store), hang_up_wait=5.0)
        return result, oa.requests, dg


def _early_starts(outcome: str) -> float:
    return METRICS.llm_early_starts.labels(outcome=outcome)._value.get()


def test_a_fixed_line_costs_no_completion_one_per_caller_turn(tmp_path):
    # Without early starts, to count exactly: the greeting, the read-back and the confirmation are the
    # flow's Say lines, spoken from the transition; the model is asked once per caller turn.
    says = [turn.say for turn in ONE_SENTENCE.turns]
    result, requests, _ = asyncio.run(_cloud_call(tmp_path, ONE_SENTENCE, says, llm_early_start=False))
    assert result.expect_met, (result.error, [(t.caller_heard, t.bot_said) for t in result.turns])
    assert [_last_user_words(r) for r in requests] == says
    assert result.turns[0].bot_said == "Thank you for calling The Copper Pot. How can I help you today?"
    assert result.turns[1].bot_said.startswith("Let me read that back: a table for 4 people tomorrow")


def test_an_early_start_on_the_final_transcript_answers_the_turn_once(tmp_path):
    # The model takes longer to its first token than the speech timeout waits, so every early start is
    # confirmed before its tool call: no turn needs a second request.
    says = [turn.say for turn in SLOT_BY_SLOT.turns]
    used, discarded = _early_starts("used"), _early_starts("discarded")
    result, requests, _ = asyncio.run(_cloud_call(tmp_path, SLOT_BY_SLOT, says, first_token_ms=1500))
    assert result.expect_met, (result.error, [(t.caller_heard, t.bot_said) for t in result.turns])
    asked = [_last_user_words(r) for r in requests]
    assert [w for i, w in enumerate(asked) if i == 0 or w != asked[i - 1]] == says
    # Every turn is answered by its early start. On a busy machine the VAD may hear a pause inside a turn
    # and the start is redone: each request past one per turn is then a counted discard, never unaccounted.
    assert _early_starts("used") - used == len(says)
    assert len(asked) - len(says) == _early_starts("discarded") - discarded


def test_an_early_start_is_discarded_when_the_caller_goes_on(tmp_path):
    # "Two people." [pause] "This Friday." in one turn: the VAD's stop after the first part brings a final
    # transcript and an early request; the caller going on within the speech timeout throws it away.
    audio = said_with_a_pause(SLOT_BY_SLOT.turns[1].audio, SLOT_BY_SLOT.turns[2].audio, 0.35, tmp_path / "split.wav")
    scenario = dataclasses.replace(
        SLOT_BY_SLOT, name="split-turn", turns=[SLOT_BY_SLOT.turns[0], Turn(audio=audio)], expect={}
    )
    transcripts = [SLOT_BY_SLOT.turns[0].say, "Two people.", "This Friday."]
    discarded = _early_starts("discarded")
    result, requests, _ = asyncio.run(
        _cloud_call(tmp_path, scenario, transcripts, first_token_ms=1500, user_speech_timeout=1.0)
    )
    asked = [_last_user_words(r) for r in requests]
    assert "Two people." in asked  # the early start, on the words so far
    assert _early_starts("discarded") > discarded
    # The turn is answered for all its words: the date as well as the party size reached the flow.
    assert asked[-1] == "Two people. This Friday."
    assert result.turns[-1].bot_said == "And what time would you like?"


@pytest.mark.parametrize(
    ("tokens", "spoken"),
    [
        (["Of", " course", ", and", " what", " time", " would", " you", " like?"],
         ["Of course,", "and what time would you like?"]),
        (["Sure", ", thanks", ". Next", " one, two", " three."], ["Sure, thanks.", "Next one, two three."]),
        (["It is 7", ",000 people", "."], ["It is 7,000 people."]),
    ],
)
def test_only_a_replys_first_clause_goes_alone_and_not_a_one_word_one(tokens, spoken):
    async def aggregate():
        aggregator, out = FirstClauseTextAggregator(), []
        for token in tokens:
            out += [a.text async for a in aggregator.aggregate(token)]
        out.append((await aggregator.flush()).text)
        return out

    assert asyncio.run(aggregate()) == spoken


@pytest.mark.parametrize("first_clause", [True, False])
def test_the_cloud_tts_takes_the_first_clause_setting(first_clause):
    settings = replay_settings(deepgram_api_key=KEY, deepgram_base_url="ws://127.0.0.1:9", tts_first_clause=first_clause)
    tts = build_tts(settings)
    assert isinstance(tts._text_aggregator, FirstClauseTextAggregator) is first_clause


def test_with_deepgram_an_early_start_asks_for_the_final_sooner_and_the_turn_ends_after_the_same_silence():
    cloud = {"deepgram_api_key": KEY, "openai_api_key": KEY}
    assert turn_taking(replay_settings(**cloud)) == (0.1, 0.4, True)
    assert turn_taking(replay_settings(**cloud, llm_early_start=False)) == (0.2, 0.3, False)
    # The embedded engines answer at once: turn-taking as set.
    assert turn_taking(replay_settings(stt=Provider.LOCAL, llm=Provider.LOCAL, tts=Provider.LOCAL)) == (0.2, 0.3, False)
    # A cloud LLM behind the local Whisper starts early, but the VAD's stop is Whisper's to keep.
    assert turn_taking(replay_settings(openai_api_key=KEY, stt=Provider.LOCAL)) == (0.2, 0.3, True)


async def _turns_ended(*frames, vad: InlineSileroVADAnalyzer | None = None, after: float = 0.3) -> int:
    """How many turn ends the speech timeout's strategy gives for these frames (its timeout 50 ms) ``after``
    seconds."""
    strategy = WordlessTurnEndStrategy(user_speech_timeout=0.05, vad=vad)
    await strategy.setup(FrameProcessorSetup(
        clock=SystemClock(), task_manager=TaskManager(loop=asyncio.get_running_loop()), pipeline_worker=None
    ))
    ended = []

    @strategy.event_handler("on_user_turn_stopped")
    async def on_stopped(_strategy, params):
        ended.append(params)

    for frame in frames:
        await strategy.process_frame(frame)
    await asyncio.sleep(after)
    await strategy.cleanup()
    return len(ended)


@pytest.mark.parametrize(
    ("after_the_stop", "ended"),
    [
        ([HeardNothingFrame()], 1),  # Deepgram's Finalize answered with no words: the turn ends at the timeout
        ([], 0),  # no answer yet: the turn waits for a transcript (the aggregator's watchdog ends it)
        ([TranscriptionFrame("Yes.", "caller", "", finalized=True)], 1),
    ],
)
def test_a_turn_deepgram_heard_no_words_in_ends_at_the_speech_timeout(after_the_stop, ended):
    frames = [VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2), *after_the_stop]
    assert asyncio.run(_turns_ended(*frames)) == ended


def test_speech_after_deepgram_heard_nothing_keeps_the_turn_open():
    frames = [VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2), HeardNothingFrame(),
              VADUserStartedSpeakingFrame()]
    assert asyncio.run(_turns_ended(*frames)) == 0


async def _vad_hearing_voice_not_yet_speech() -> InlineSileroVADAnalyzer:
    """A VAD fed a caller's silence and then their speech up to the first moment it hears voice, and no more:
    it stays undecided (speech only after start_secs of it)."""
    vad = InlineSileroVADAnalyzer(params=VADParams())
    vad.set_sample_rate(PHONE_RATE)
    audio = np.concatenate([np.zeros(PHONE_RATE, np.int16), load_phone_audio(ONE_SENTENCE.turns[0].audio)]).tobytes()
    frame = PHONE_RATE // 50 * 2
    for start in range(0, len(audio), frame):
        if await vad.analyze_audio(audio[start : start + frame]) is VADState.STARTING:
            return vad
    raise AssertionError("the VAD never heard the caller's voice")


def test_a_turn_waits_while_the_vad_hears_voice_not_yet_speech_and_ends_if_it_never_becomes_any():
    frames = [VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2),
              TranscriptionFrame("Two people.", "caller", "", finalized=True)]

    async def ended_while_and_after_the_wait():
        during = await _turns_ended(*frames, vad=await _vad_hearing_voice_not_yet_speech(), after=0.3)
        after = await _turns_ended(*frames, vad=await _vad_hearing_voice_not_yet_speech(), after=ONSET_WAIT_SECS + 0.2)
        return during, after

    assert asyncio.run(ended_while_and_after_the_wait()) == (0, 1)
    assert asyncio.run(_turns_ended(*frames, vad=None)) == 1  # without a VAD to ask, at the timeout as ever


def test_a_turn_waits_for_the_stts_answer_to_its_last_stop_though_an_earlier_answer_came_late():
    # "Hi, [pause] I'd like to book a table...": the first part's transcript reaches the strategy only after
    # the caller went on (Whisper was busy); the second part is still being decoded at the timeout.
    first_part_answered_late = [
        VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2), VADUserStartedSpeakingFrame(),
        TranscriptionFrame("Hi.", "caller", "", finalized=True), VADUserStoppedSpeakingFrame(stop_secs=0.2),
    ]
    rest = TranscriptionFrame("I'd like to book a table for four.", "caller", "", finalized=True)
    assert asyncio.run(_turns_ended(*first_part_answered_late)) == 0
    assert asyncio.run(_turns_ended(*first_part_answered_late, rest)) == 1
    assert asyncio.run(_turns_ended(*first_part_answered_late, HeardNothingFrame())) == 1  # the rest was no words


def test_an_early_start_made_of_an_llm_that_failed_over_is_dropped_and_the_turns_end_asks_again():
    async def events_of_a_turn(switch_llm: bool) -> list[str]:
        strategy = EarlyStartUserTurnStopStrategy(user_speech_timeout=0.05)
        await strategy.setup(FrameProcessorSetup(
            clock=SystemClock(), task_manager=TaskManager(loop=asyncio.get_running_loop()), pipeline_worker=None
        ))
        events = []

        @strategy.event_handler("on_user_turn_inference_triggered")
        async def on_inference(_strategy, speculation):
            events.append("early start" if speculation else "ask")

        @strategy.event_handler("on_user_turn_speculation_cancelled")
        async def on_cancelled(_strategy):
            events.append("dropped")

        @strategy.event_handler("on_user_turn_stopped")
        async def on_stopped(_strategy, params):
            events.append("ended on the early start" if params.confirms_speculation else "ended")

        for frame in (VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(stop_secs=0.2),
                      TranscriptionFrame("Yes.", "caller", "", finalized=True)):
            await strategy.process_frame(frame)
        if switch_llm:
            await strategy.on_llm_switched(None, None)
        await asyncio.sleep(0.3)
        await strategy.cleanup()
        return events

    assert asyncio.run(events_of_a_turn(switch_llm=False)) == ["early start", "ended on the early start"]
    assert asyncio.run(events_of_a_turn(switch_llm=True)) == ["early start", "dropped", "ask", "ended"]
