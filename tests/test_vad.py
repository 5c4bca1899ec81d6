"""The caller's speech is found whatever the inbound frame size (bot/services/vad.py),
and the call's worker spares observers the reports they do not read (bot/call/worker.py)."""

import asyncio

import numpy as np
import pytest
from pipecat.audio.utils import calculate_audio_volume
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.frames.frames import EndFrame, InputAudioRawFrame, TextFrame
from pipecat.observers.base_observer import BaseObserver, FrameProcessed, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.workers.runner import WorkerRunner

import bot.services.vad
from bot.audio import PHONE_RATE, load_phone_audio
from bot.call.worker import CallWorker
from bot.services.vad import InlineSileroVADAnalyzer, run_model
from tests.conftest import PROJECT

SECOND = np.zeros(PHONE_RATE, dtype=np.int16)
# The caller's last word in recordings/full-slot: a short "Yes." that once went unheard with 60 ms frames.
YES = np.concatenate([SECOND, load_phone_audio(PROJECT / "recordings/full-slot/04-confirm.wav"), SECOND])


async def states(analyzer_type, pcm: np.ndarray, frame_ms: int) -> list[VADState]:
    """The VAD state after each frame, as Pipecat's VAD controller sees it."""
    analyzer = analyzer_type(params=VADParams())
    analyzer.set_sample_rate(PHONE_RATE)
    audio, step = pcm.tobytes(), PHONE_RATE * frame_ms // 1000 * 2
    return [await analyzer.analyze_audio(audio[i : i + step]) for i in range(0, len(audio), step)]


@pytest.mark.parametrize("frame_ms", [20, 60, 100, 200])
@pytest.mark.parametrize("lead_samples", [0, 96, 200])
async def test_a_short_yes_is_heard_with_any_frame_size(frame_ms, lead_samples):
    pcm = np.concatenate([np.zeros(lead_samples, dtype=np.int16), YES])
    seen = await states(InlineSileroVADAnalyzer, pcm, frame_ms)
    assert VADState.SPEAKING in seen
    assert seen[-1] is VADState.QUIET  # and its end, after the second of silence


def caller_side(*names: str) -> np.ndarray:
    """A call as the caller's microphone has it: each turn after 3 s of silence (the bot speaking)."""
    turns = [(np.zeros(3 * PHONE_RATE, np.int16), load_phone_audio(PROJECT / "recordings" / n)) for n in names]
    return np.concatenate([part for turn in turns for part in turn] + [SECOND])


def turns(seen: list[VADState], merge_frames: int = 15) -> list[tuple[int, int]]:
    """The caller's turns, in 20 ms frames: speech to quiet, pauses shorter than the speech timeout joined."""
    spans: list[list[int]] = []
    start = None
    for i, state in enumerate([*seen, VADState.QUIET]):
        if state is VADState.SPEAKING and start is None:
            start = i
        elif state is VADState.QUIET and start is not None:
            if spans and start - spans[-1][1] < merge_frames:
                spans[-1][1] = i
            else:
                spans.append([start, i])
            start = None
    return [(a, b) for a, b in spans]


async def test_where_the_line_is_never_silent_the_states_are_pipecats_own():
    hiss = np.random.default_rng(1).normal(0, 100, len(YES))  # about -50 dBFS: every window is scored
    noisy = (YES + hiss).clip(-32768, 32767).astype(np.int16)
    assert await states(InlineSileroVADAnalyzer, noisy, 20) == await states(SileroVADAnalyzer, noisy, 20)


async def test_silence_is_not_scored_and_the_turns_are_where_pipecats_analyzer_finds_them(monkeypatch):
    call = caller_side(*(f"slot-by-slot/{n}.wav" for n in ("01-request", "02-party", "03-date", "04-time", "05-name", "06-confirm")))
    scored = []

    def counted(windows, *args):
        scored.append(len(windows))
        return run_model(windows, *args)

    monkeypatch.setattr(bot.services.vad, "run_model", counted)
    ours, pipecats = turns(await states(InlineSileroVADAnalyzer, call, 20)), turns(await states(SileroVADAnalyzer, call, 20))
    assert len(ours) == len(pipecats) == 6
    assert all(abs(a - c) <= 3 and abs(b - d) <= 3 for (a, b), (c, d) in zip(ours, pipecats))  # within 60 ms
    all_windows = len(call) // 256  # Silero's window at 8 kHz
    assert sum(scored) < all_windows / 2  # the 15 s of silence went unscored


async def test_calls_scored_in_one_batch_keep_their_own_state(monkeypatch):
    """Two calls' analyzers, fed frame by frame at once, are scored in the same model runs and each
    see what they would see alone."""
    other = np.concatenate([load_phone_audio(PROJECT / "recordings/full-slot/01-request.wav"), SECOND])
    alone = [await states(InlineSileroVADAnalyzer, pcm, 20) for pcm in (YES, other)]
    batch_sizes = []

    def counted(windows, *args):
        batch_sizes.append(len(windows))
        return run_model(windows, *args)

    monkeypatch.setattr(bot.services.vad, "run_model", counted)
    analyzers = [InlineSileroVADAnalyzer(params=VADParams()) for _ in alone]
    step = PHONE_RATE * 20 // 1000 * 2
    audios = [YES.tobytes(), other.tobytes()]
    together: list[list[VADState]] = [[], []]
    for analyzer in analyzers:
        analyzer.set_sample_rate(PHONE_RATE)
    for i in range(0, max(map(len, audios)), step):
        fed = [(seen, a, audio[i : i + step]) for seen, a, audio in zip(together, analyzers, audios) if i < len(audio)]
        heard = await asyncio.gather(*(analyzer.analyze_audio(frame) for _, analyzer, frame in fed))
        for (seen, _, _), state in zip(fed, heard):
            seen.append(state)
    assert together == alone
    assert VADState.SPEAKING in alone[1]
    assert max(batch_sizes) == 2


class Watcher(BaseObserver):
    def __init__(self):
        super().__init__()
        self.pushed: list[FramePushed] = []
        self.processed: list[FrameProcessed] = []

    async def on_push_frame(self, data: FramePushed):
        self.pushed.append(data)


class ReadsProcessed(Watcher):
    async def on_process_frame(self, data: FrameProcessed):
        self.processed.append(data)


class PassOn(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


async def test_only_observers_that_read_processing_reports_get_them_and_none_gets_the_callers_audio():
    pushes_only, reads = Watcher(), ReadsProcessed()
    worker = CallWorker(
        Pipeline([PassOn(), PassOn()]),
        params=PipelineParams(audio_in_sample_rate=PHONE_RATE),
        observers=[pushes_only, reads],
        idle_timeout_secs=None,
    )
    audio = InputAudioRawFrame(audio=bytes(320), sample_rate=PHONE_RATE, num_channels=1)
    text = TextFrame("Hello")

    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def on_started(_worker, _frame):
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), 10)
    await worker.queue_frame(audio)
    await worker.queue_frame(text)
    await asyncio.sleep(0.3)  # observers hear of it on their own tasks
    await worker.queue_frame(EndFrame())
    await asyncio.wait_for(run, 10)

    assert any(p.frame is text for p in pushes_only.pushed)  # pushes still reach everyone
    assert any(p.frame is text for p in reads.pushed)
    assert pushes_only.processed == []
    assert any(p.frame is text for p in reads.processed)
    seen = [p.frame for p in pushes_only.pushed + reads.pushed + reads.processed]
    assert not any(frame is audio for frame in seen)


async def test_the_volume_of_digital_silence_is_pipecats_without_measuring_it(monkeypatch):
    import pipecat.audio.volume

    ours, pipecats = InlineSileroVADAnalyzer(params=VADParams()), SileroVADAnalyzer(params=VADParams())
    measured = []

    def counted(audio, sample_rate):
        measured.append(len(audio))
        return calculate_audio_volume(audio, sample_rate)

    audio = np.concatenate([SECOND, YES]).tobytes()
    volumes = {}
    for name, analyzer in (("pipecat", pipecats), ("ours", ours)):
        analyzer.set_sample_rate(PHONE_RATE)
        measured.clear()
        monkeypatch.setattr(pipecat.audio.volume, "calculate_audio_volume", counted)
        volumes[name] = []
        for i in range(0, len(audio), 512):  # as Pipecat's analyzer reads it: a volume each window
            analyzer._prev_volume = analyzer._get_smoothed_volume(audio[i : i + 512])
            volumes[name].append(analyzer._prev_volume)
        volumes[name + " measures"] = len(measured)
    assert volumes["ours"] == pytest.approx(volumes["pipecat"])
    assert max(volumes["ours"]) > 0.6  # the "Yes." is loud enough to be speech
    assert volumes["ours measures"] < volumes["pipecat measures"] * 0.6  # 2 s of the 3.6 s are silence
