"""``python -m bot chat``: be the caller in the terminal, typing instead of speaking.

Each typed line enters the call's context as the caller's words, where a
transcription would, and the flow, the dialogue engine (or LLM) and the
booking store run exactly as on a call; only STT and TTS are left out::

    typed line -> user aggregator -> LLM or dialogue engine (FlowManager)
               -> ConversationView (prints) -> assistant aggregator
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TextIO

from pipecat.frames.frames import DataFrame, Frame, LLMMessagesAppendFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from bot.call.pipeline import start_flow
from bot.desk.session import (
    CALLER_PROMPT,
    CallOutcome,
    ConversationView,
    close_desk_call,
    ctrl_c_hangs_up,
    open_desk_call,
)
from bot.services.factory import build_llm
from bot.settings import Settings

# A cloud LLM that has not answered in this long is not going to.
BOT_TURN_TIMEOUT_SECS = 60.0


@dataclass(frozen=True)
class ChatResult:
    lines: list[str]  # what the caller typed, in order (blank lines left out)
    outcome: CallOutcome


class _Checkpoint(DataFrame):
    """Queued behind the bot's reply: once it reaches the end, anything queued with the reply
    (such as the flow's hang-up) has gone through too."""


async def terminal_lines(prompt: str = CALLER_PROMPT) -> AsyncIterator[str]:
    """Lines typed at the terminal (with line editing) until Ctrl-D."""
    loop = asyncio.get_running_loop()
    echo = not sys.stdin.isatty()  # piped input: show what was read, as a terminal would
    while True:
        line: asyncio.Future[str | None] = loop.create_future()

        def read(line=line) -> None:
            try:
                text = input(prompt)
                if echo:
                    print(text, flush=True)
            except EOFError:
                text = None
            # The session may have ended (and the loop closed) while this waited for a line.
            try:
                loop.call_soon_threadsafe(lambda: line.done() or line.set_result(text))
            except RuntimeError:
                pass

        # A daemon thread, not an executor: a line still being waited for must not keep the
        # process alive once the bot has hung up.
        threading.Thread(target=read, daemon=True).start()
        text = await line
        if text is None:
            print(flush=True)
            return
        yield text


async def _scripted(lines: Iterable[str], out: TextIO) -> AsyncIterator[str]:
    for line in lines:
        print(f"{CALLER_PROMPT}{line}", file=out, flush=True)
        yield line


async def _first(awaitable, call: asyncio.Task, timeout: float | None = None):
    """Await ``awaitable`` unless the call ends first; returns (finished, value)."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task, call}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return True, task.result()
    task.cancel()
    return False, None


async def run_chat(
    lines: AsyncIterator[str] | Iterable[str],
    *,
    settings: Settings,
    now: dt.datetime | None = None,
    caller: str | None = None,
    out: TextIO = sys.stdout,
) -> ChatResult:
    """Chat with the flow until the lines run out (the caller hangs up) or the bot ends the call."""
    call = open_desk_call(settings, kind="chat", now=now, caller=caller)
    started = call.now()
    llm = build_llm(settings, call.clock)
    # Each typed line is a whole turn: no audio to find turns in (nor a turn model to load).
    aggregators = LLMContextAggregatorPair(
        LLMContext(), user_params=LLMUserAggregatorParams(user_turn_strategies=ExternalUserTurnStrategies())
    )
    view = ConversationView(out)
    pipeline = Pipeline([aggregators.user(), llm, view, aggregators.assistant()])
    # No idle timeout: someone editing a flow may think for a while before typing.
    worker = PipelineWorker(pipeline, idle_timeout_secs=None, conversation_id=call.call_sid)
    flow_manager, flow = start_flow(settings, call, llm, aggregators, worker)
    view.follow(flow_manager)
    checkpoint_passed = asyncio.Event()
    worker.add_reached_downstream_filter((_Checkpoint,))  # after start_flow, which sets the filter

    @worker.event_handler("on_pipeline_started")
    async def on_pipeline_started(_worker, _frame):
        await flow_manager.initialize(flow.initial_node)

    @worker.event_handler("on_frame_reached_downstream")
    async def on_frame_reached_downstream(_worker, frame: Frame):
        if isinstance(frame, _Checkpoint):
            checkpoint_passed.set()

    async def bot_answered() -> bool:
        """Wait for the bot's turn to end; False if the call ended instead."""
        answered, _ = await _first(view.bot_turn_over.wait(), running, BOT_TURN_TIMEOUT_SECS)
        if not answered and not running.done():
            print(f"(no answer from the bot in {BOT_TURN_TIMEOUT_SECS:.0f} s)", file=out, flush=True)
        checkpoint_passed.clear()
        await worker.queue_frame(_Checkpoint())
        passed, _ = await _first(checkpoint_passed.wait(), running)
        return passed

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    source = _scripted(lines, out) if isinstance(lines, Iterable) else lines
    typed: list[str] = []
    with ctrl_c_hangs_up(lambda: asyncio.ensure_future(worker.cancel(reason="hung up"))):
        try:
            while await bot_answered():
                got_line, line = await _first(anext(source, None), running)
                if not got_line or line is None:
                    break
                if not (said := line.strip()):
                    continue
                typed.append(said)
                view.bot_turn_over.clear()
                message = {"role": "user", "content": said}
                await worker.queue_frame(LLMMessagesAppendFrame(messages=[message], run_llm=True))
        finally:
            await worker.cancel(reason="hung up")
            await running
    return ChatResult(lines=typed, outcome=await close_desk_call(call, flow_manager, started))
