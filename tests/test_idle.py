"""A silent caller is asked once whether they are there, then hung up on; one who asked the line to wait
is given one more timeout first (processors/idle.py). The whole call is in tests/test_absurd_input.py."""

from pipecat.frames.frames import EndFrame, TTSSpeakFrame, UserIdleTimeoutUpdateFrame

from bot.booking.business import LineWords
from bot.dialogue.engine import asked_to_wait
from processors.idle import IdleCaller

WORDS = LineWords()


class Worker:
    def __init__(self):
        self.queued = []

    async def queue_frame(self, frame):
        self.queued.append(frame)

    async def queue_frames(self, frames):
        self.queued.extend(frames)


def said(frames) -> list:
    return [f.text if isinstance(f, TTSSpeakFrame) else type(f) for f in frames]


async def silent_for(timeouts: int, messages: list[dict]) -> list:
    worker = Worker()
    idle = IdleCaller("CA1", WORDS, worker, idle_secs=15, on_hold=lambda: asked_to_wait(messages))
    for _ in range(timeouts):
        await idle.on_idle()
    return worker.queued


ASKED = [{"role": "assistant", "content": "How many people will be joining?"}]


async def test_a_silent_caller_is_asked_once_then_hung_up_on():
    assert said(await silent_for(2, ASKED)) == [WORDS.still_there, WORDS.no_answer, EndFrame]


async def test_a_caller_who_asked_to_wait_gets_one_more_timeout_before_the_prompt():
    held = ASKED + [
        {"role": "user", "content": "Hold on, let me check with my wife."},
        {"role": "assistant", "content": "Of course, take your time."},
    ]
    queued = await silent_for(3, held)
    assert isinstance(queued[0], UserIdleTimeoutUpdateFrame) and queued[0].timeout == 15  # the timer, again
    assert said(queued[1:]) == [WORDS.still_there, WORDS.no_answer, EndFrame]


async def test_an_answer_is_no_request_to_wait():
    answered = ASKED + [{"role": "user", "content": "Four of us."}, {"role": "assistant", "content": "What day?"}]
    assert said(await silent_for(2, answered)) == [WORDS.still_there, WORDS.no_answer, EndFrame]
