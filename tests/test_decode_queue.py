"""Every call's decodes in one queue (bot/services/decode_queue.py): a long or speculative one never holds
up a caller's turn."""

import asyncio
import threading

import pytest

from bot.services.decode_queue import DecodeQueue, Speculation


class Work:
    """A decode that runs until released, noting that it started."""

    def __init__(self, name: str, started: list[str]):
        self.name, self._started, self.release = name, started, threading.Event()

    def __call__(self) -> str:
        self._started.append(self.name)
        assert self.release.wait(30)
        return self.name


async def until(check) -> None:
    async with asyncio.timeout(30):
        while not check():
            await asyncio.sleep(0.01)


async def test_a_long_decode_and_a_speculative_one_leave_a_lane_for_a_callers_turn():
    queue, started = DecodeQueue(lanes=2), []
    monologue, pause, turn = Work("monologue", started), Work("pause", started), Work("turn", started)
    long = asyncio.create_task(queue.run(monologue, seconds=25))  # the 30-second path
    await until(lambda: started == ["monologue"])
    early = asyncio.create_task(queue.run(pause, seconds=2, speculation=Speculation()))
    final = asyncio.create_task(queue.run(turn, seconds=2))
    await until(lambda: "turn" in started)
    turn.release.set()
    assert await final == "turn"
    assert started == ["monologue", "turn"]  # the speculative decode waits: one background lane at a time
    monologue.release.set()
    pause.release.set()
    assert (await long, await early) == ("monologue", "pause") and started[-1] == "pause"


async def test_a_callers_turn_goes_before_a_speculative_decode_and_a_shorter_before_a_longer():
    queue, started = DecodeQueue(lanes=2), []
    first, second = Work("first", started), Work("second", started)
    busy = [asyncio.create_task(queue.run(w, seconds=1)) for w in (first, second)]  # both lanes taken
    await until(lambda: len(started) == 2)
    waiting = {name: Work(name, started) for name in ("speculative", "longer", "shorter")}
    runs = [asyncio.create_task(queue.run(waiting["speculative"], seconds=1, speculation=Speculation())),
            asyncio.create_task(queue.run(waiting["longer"], seconds=6)),
            asyncio.create_task(queue.run(waiting["shorter"], seconds=3))]
    await asyncio.sleep(0)
    for work in waiting.values():
        work.release.set()
    first.release.set()  # one lane comes free: the three run on it one after the other, in their order
    await until(lambda: len(started) == 5)
    second.release.set()
    await asyncio.gather(*busy, *runs)
    assert started[2:] == ["shorter", "longer", "speculative"]


async def test_a_speculative_decode_a_caller_waits_for_goes_as_their_turn():
    # Its pause was the end of the turn (bot/services/early_stt.py): it no longer waits behind every other
    # call's turns, and a speculation wanted before it reached the queue is queued as a turn.
    queue, started = DecodeQueue(lanes=2), []
    first, second = Work("first", started), Work("second", started)
    busy = [asyncio.create_task(queue.run(w, seconds=1)) for w in (first, second)]
    await until(lambda: len(started) == 2)
    paused, early = Speculation(), Speculation(wanted=True)
    waiting = {name: Work(name, started) for name in ("paused", "turn", "early")}
    runs = [asyncio.create_task(queue.run(waiting["paused"], seconds=1, speculation=paused)),
            asyncio.create_task(queue.run(waiting["turn"], seconds=3)),
            asyncio.create_task(queue.run(waiting["early"], seconds=2, speculation=early))]
    await asyncio.sleep(0)
    queue.wanted(paused)
    for work in waiting.values():
        work.release.set()
    first.release.set()
    await until(lambda: len(started) == 5)
    second.release.set()
    await asyncio.gather(*busy, *runs)
    assert started[2:] == ["paused", "early", "turn"]  # now by length alone: 1 s, 2 s, 3 s


async def test_a_decode_whose_call_ended_before_its_turn_never_runs_and_a_failure_reaches_its_caller():
    queue, started = DecodeQueue(lanes=1), []
    blocker = Work("blocker", started)
    running = asyncio.create_task(queue.run(blocker, seconds=1))
    await until(lambda: started == ["blocker"])
    gone = asyncio.create_task(queue.run(Work("gone", started), seconds=1))
    await asyncio.sleep(0)
    gone.cancel()

    def broken() -> str:
        raise RuntimeError("the model failed")

    failing = asyncio.create_task(queue.run(broken, seconds=1))
    blocker.release.set()
    await running
    with pytest.raises(RuntimeError, match="the model failed"):
        await failing
    assert started == ["blocker"]
