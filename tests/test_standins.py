"""The real Pipecat cloud services, wired against the local stand-ins.

Each service test runs the production client code (Deepgram SDK websockets,
Pipecat's TTS websocket, the OpenAI client's SSE streaming) inside a real
Pipeline/PipelineWorker/WorkerRunner; the fault tests talk the raw protocol.
"""

import asyncio
import contextlib
import json
from collections.abc import Callable

import aiohttp
import numpy as np
import openai
import pytest
from deepgram.core import ApiError
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMAssistantAggregator
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.deepgram.tts import DeepgramHttpTTSService, DeepgramTTSService
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.utils.errors import ErrorCategory
from pipecat.workers.runner import WorkerRunner

from bot.standins import audio
from bot.standins.deepgram import DeepgramStandin
from bot.standins.openai import OpenAIStandin
from bot.standins.openai_chat import BAD_ARGUMENTS, UNKNOWN_FUNCTION, Reply

pytestmark = pytest.mark.asyncio

RATE = 8000  # the phone bot runs its pipeline at 8 kHz
FRAME_MS = 20
WAIT = 5.0  # upper bound on any single wait; the happy paths take well under a second
KEY = "test-key"
AUTH_DG = {"Authorization": f"Token {KEY}"}
AUTH_OA = {"Authorization": f"Bearer {KEY}"}


# ---------------------------------------------------------------- harness


class FrameCollector(FrameProcessor):
    """Records every frame that reaches it, in either direction, and passes it on."""

    def __init__(self):
        super().__init__()
        self.frames: list[Frame] = []
        self._arrived = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        self.frames.append(frame)
        self._arrived.set()
        await self.push_frame(frame, direction)

    def of_type(self, frame_type: type) -> list:
        return [f for f in self.frames if isinstance(f, frame_type)]

    async def wait_for(self, frame_type: type, where: Callable[[Frame], bool] = lambda f: True) -> Frame:
        async def first_match():
            while True:
                for frame in self.of_type(frame_type):
                    if where(frame):
                        return frame
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(first_match(), WAIT)


class PipelineHarness:
    """Runs processors in a real Pipeline under a WorkerRunner for an ``async with``.

    Errors a service pushes upstream are collected in ``errors``.
    """

    def __init__(self, *processors: FrameProcessor):
        self.errors: list[ErrorFrame] = []
        self.worker = PipelineWorker(
            Pipeline(list(processors)),
            params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
            cancel_on_idle_timeout=False,
            enable_rtvi=False,
        )
        self._started = asyncio.Event()
        self._run: asyncio.Task | None = None

        @self.worker.event_handler("on_pipeline_started")
        async def on_started(worker, frame):
            self._started.set()

        @self.worker.event_handler("on_pipeline_error")
        async def on_error(worker, frame):
            self.errors.append(frame)

    async def __aenter__(self) -> "PipelineHarness":
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        self._run = asyncio.create_task(runner.run())
        try:
            await asyncio.wait_for(self._started.wait(), WAIT)
        except TimeoutError:
            self._run.cancel()
            raise
        return self

    async def __aexit__(self, *exc_info):
        await self.worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(self._run), WAIT)
        except TimeoutError:
            await self.worker.cancel()
            await asyncio.wait_for(self._run, WAIT)

    async def send(self, *frames: Frame):
        await self.worker.queue_frames(list(frames))

    async def first_error(self) -> ErrorFrame:
        await eventually(lambda: bool(self.errors))
        return self.errors[0]


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait, bounded, until ``condition()`` holds (e.g. a stand-in has recorded what a client did)."""

    async def poll():
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT)


@contextlib.asynccontextmanager
async def deepgram_socket(dg: DeepgramStandin, path: str):
    """A raw websocket to the Deepgram stand-in, authorised."""
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{dg.ws_url}{path}", headers=AUTH_DG) as ws:
        yield ws


def caller_audio(speech_ms: int, silence_ms: int) -> list[InputAudioRawFrame]:
    """20 ms mono 16-bit frames: a loud 300 Hz tone (speech to an energy VAD), then silence."""
    t = np.arange(RATE * speech_ms // 1000) / RATE
    tone = (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2")
    pcm = np.concatenate([tone, np.zeros(RATE * silence_ms // 1000, dtype="<i2")]).tobytes()
    step = RATE * FRAME_MS // 1000 * 2
    return [InputAudioRawFrame(pcm[i : i + step], RATE, 1) for i in range(0, len(pcm), step)]


# ---------------------------------------------------------------- Deepgram STT


async def test_deepgram_stt_transcribes_an_utterance():
    async with DeepgramStandin(
        api_key=KEY, transcripts=["A table for four, please."], final_delay_ms=50
    ) as dg:
        stt = DeepgramSTTService(api_key=KEY, base_url=dg.ws_url, sample_rate=RATE)
        collector = FrameCollector()
        async with PipelineHarness(stt, collector) as harness:
            await harness.send(*caller_audio(speech_ms=600, silence_ms=400))
            final = await collector.wait_for(TranscriptionFrame)

        await eventually(lambda: dg.listens[0].closed)  # the stand-in has read all the client sent
        assert final.text == "A table for four, please."
        interim = collector.of_type(InterimTranscriptionFrame)
        assert interim and interim[0].text == "A table"  # Pipecat asks for interim results by default
        (listen,) = dg.listens
        assert listen.query["encoding"] == "linear16"
        assert listen.query["sample_rate"] == "8000"
        assert listen.query["channels"] == "1"
        assert listen.query["model"] == "nova-3-general"
        assert listen.query["interim_results"] == "true"
        assert listen.audio_bytes == RATE * 2 * 1000 // 1000  # all 1000 ms of 16-bit audio
        assert listen.controls[-1] == "CloseStream"  # sent when the pipeline ended
        assert harness.errors == []


@pytest.mark.parametrize("encoding", ["linear16", "mulaw"])
async def test_deepgram_stt_finalize_flushes_the_pending_transcript(encoding):
    async with DeepgramStandin(api_key=KEY, transcripts=["Seven o'clock."], final_delay_ms=2000) as dg:
        query = f"model=nova-3&encoding={encoding}&sample_rate={RATE}"
        async with deepgram_socket(dg, f"/v1/listen?{query}") as ws:
            for frame in caller_audio(speech_ms=400, silence_ms=100):
                pcm = np.frombuffer(frame.audio, dtype="<i2")
                await ws.send_bytes(audio.encode(pcm, encoding))
            await ws.send_str(json.dumps({"type": "Finalize"}))
            result = json.loads((await ws.receive(timeout=WAIT)).data)

    assert result["type"] == "Results"
    assert result["channel"]["alternatives"][0]["transcript"] == "Seven o'clock."
    assert result["is_final"] is True and result["from_finalize"] is True


async def test_deepgram_stt_the_rest_of_an_utterance_a_finalize_cut_short_takes_no_new_transcript():
    # One script entry per utterance: speech resumed right after a Finalize is the same utterance going on,
    # so the next entry stays for the next utterance (else every later turn hears the one before's words).
    async with DeepgramStandin(api_key=KEY, transcripts=["Two people.", "Friday."], final_delay_ms=50) as dg:
        async with deepgram_socket(dg, f"/v1/listen?model=nova-3&encoding=linear16&sample_rate={RATE}") as ws:

            async def say(speech_ms: int, silence_ms: int) -> None:
                for frame in caller_audio(speech_ms=speech_ms, silence_ms=silence_ms):
                    await ws.send_bytes(frame.audio)

            async def transcript() -> str:
                while (message := json.loads((await ws.receive(timeout=WAIT)).data))["type"] != "Results":
                    pass
                return message["channel"]["alternatives"][0]["transcript"]

            await say(400, 100)
            await ws.send_str(json.dumps({"type": "Finalize"}))
            cut = await transcript()
            await say(300, 400)  # resumed 100 ms after the cut: within end_silence_ms (300)
            rest = await transcript()
            await say(400, 800)  # a new utterance, after a silence that ended the last one
            after = await transcript()

    assert (cut, rest, after) == ("Two people.", "", "Friday.")


async def test_deepgram_stt_wrong_key_is_a_permanent_auth_error():
    async with DeepgramStandin(api_key=KEY) as dg:
        stt = DeepgramSTTService(api_key="wrong-key", base_url=dg.ws_url, sample_rate=RATE)
        async with PipelineHarness(stt, FrameCollector()) as harness:
            error = await harness.first_error()

    # The SDK's ApiError carries the request's headers, not Deepgram's dg-error reason.
    assert isinstance(error.exception, ApiError) and error.exception.status_code == 401
    assert error.category == ErrorCategory.AUTHENTICATION
    assert "Websocket initialized with invalid credentials." in error.error
    assert dg.rejections[0].status == 401
    assert dg.listens == []
    assert not stt.is_usable  # the SDK raised ApiError(401), so Pipecat gave up at once


# ---------------------------------------------------------------- Deepgram TTS


async def test_deepgram_tts_speaks_text_as_8khz_audio():
    async with DeepgramStandin(api_key=KEY, first_audio_ms=50, realtime_factor=4.0) as dg:
        tts = DeepgramTTSService(api_key=KEY, base_url=dg.ws_url, sample_rate=RATE)
        collector = FrameCollector()
        async with PipelineHarness(tts, collector) as harness:
            await harness.send(TTSSpeakFrame("Hello there"))
            await collector.wait_for(TTSStoppedFrame)

        (speak,) = dg.speaks
        assert speak.query == {"model": "aura-2-helena-en", "encoding": "linear16", "sample_rate": "8000"}
        assert speak.texts == ["Hello there "]  # Pipecat appends a space to every text it sends
        assert speak.controls[:1] == ["Flush"]
        stopped_at = collector.frames.index(collector.of_type(TTSStoppedFrame)[0])
        audio = [f for f in collector.frames[:stopped_at] if isinstance(f, TTSAudioRawFrame)]
        assert audio and all(f.sample_rate == RATE and f.num_channels == 1 for f in audio)
        seconds = sum(len(f.audio) for f in audio) / (RATE * 2)
        assert seconds == pytest.approx(len("Hello there") * 0.060, abs=0.02)
        assert sum(len(f.audio) for f in audio) == speak.audio_bytes


async def test_deepgram_http_tts_speaks_text_as_8khz_audio():
    async with DeepgramStandin(api_key=KEY, first_audio_ms=50, realtime_factor=4.0) as dg:
        async with aiohttp.ClientSession() as session:
            tts = DeepgramHttpTTSService(
                api_key=KEY, aiohttp_session=session, base_url=dg.base_url, sample_rate=RATE
            )
            collector = FrameCollector()
            async with PipelineHarness(tts, collector) as harness:
                await harness.send(TTSSpeakFrame("Hello there"))
                await collector.wait_for(TTSStoppedFrame)

        (speak,) = dg.speaks
        assert speak.transport == "http"
        assert speak.texts == ["Hello there"]  # no trailing space over HTTP, unlike the websocket
        assert speak.query == {
            "model": "aura-2-helena-en",
            "encoding": "linear16",
            "sample_rate": "8000",
            "container": "none",
        }
        stopped_at = collector.frames.index(collector.of_type(TTSStoppedFrame)[0])
        audio = [f for f in collector.frames[:stopped_at] if isinstance(f, TTSAudioRawFrame)]
        assert all(f.sample_rate == RATE for f in audio)
        assert (
            sum(len(f.audio) for f in audio)
            == speak.audio_bytes
            == len("Hello there") * 60 * RATE // 1000 * 2
        )
        assert harness.errors == []


async def test_deepgram_tts_wrong_key_reports_deepgrams_reason():
    async with DeepgramStandin(api_key=KEY) as dg:
        tts = DeepgramTTSService(api_key="wrong-key", base_url=dg.ws_url, sample_rate=RATE)
        async with PipelineHarness(tts, FrameCollector()) as harness:
            error = await harness.first_error()

    assert error.category == ErrorCategory.AUTHENTICATION
    # Pipecat quotes the dg-error header of the refused handshake.
    assert error.error == "Deepgram refused the connection (HTTP 401): Invalid credentials."


# ---------------------------------------------------------------- OpenAI LLM

CHECK_AVAILABILITY = FunctionSchema(
    name="check_availability",
    description="Check whether a table is free.",
    properties={
        "party_size": {"type": "integer", "description": "Number of guests."},
        "date": {"type": "string", "description": "Date, YYYY-MM-DD."},
        "time": {"type": "string", "description": "Time, HH:MM."},
    },
    required=["party_size", "date", "time"],
)


async def test_openai_llm_calls_a_tool_then_answers():
    replies = [
        Reply.calling("check_availability", party_size=4, date="2025-06-14", time="19:30"),
        Reply(text="Good news: we have a table for four at half past seven."),
    ]
    async with OpenAIStandin(api_key=KEY, replies=replies, first_token_ms=20, token_delay_ms=2) as oa:
        llm = OpenAILLMService(
            api_key=KEY,
            base_url=oa.api_base,
            settings=OpenAILLMService.Settings(model="gpt-4.1-mini", system_instruction="You take bookings."),
        )
        handled: list[dict] = []

        async def check_availability(params: FunctionCallParams):
            handled.append(dict(params.arguments))
            await params.result_callback({"available": True})

        llm.register_function("check_availability", check_availability)
        context = LLMContext(
            messages=[{"role": "user", "content": "Table for 4 on 14 June at 7:30pm?"}],
            tools=ToolsSchema(standard_tools=[CHECK_AVAILABILITY]),
        )
        collector = FrameCollector()
        # The assistant aggregator records the tool result and asks the LLM again.
        async with PipelineHarness(llm, collector, LLMAssistantAggregator(context)) as harness:
            await harness.send(LLMContextFrame(context))
            await eventually(lambda: len(oa.requests) == 2)
            await collector.wait_for(LLMFullResponseEndFrame, lambda f: bool(collector.of_type(LLMTextFrame)))

        assert handled == [{"party_size": 4, "date": "2025-06-14", "time": "19:30"}]
        text = "".join(f.text for f in collector.of_type(LLMTextFrame))
        assert text == "Good news: we have a table for four at half past seven."

        first, second = oa.requests
        assert first["model"] == "gpt-4.1-mini" and first["stream"] is True
        assert first["stream_options"] == {"include_usage": True}
        assert first["messages"][0] == {"role": "system", "content": "You take bookings."}
        assert first["messages"][-1] == {"role": "user", "content": "Table for 4 on 14 June at 7:30pm?"}
        (tool,) = first["tools"]
        assert tool["type"] == "function"
        assert tool["function"]["name"] == "check_availability"
        assert tool["function"]["parameters"]["required"] == ["party_size", "date", "time"]
        # The second request carries the call and its result back to the model.
        call_message, result_message = second["messages"][-2:]
        assert call_message["tool_calls"][0]["function"]["name"] == "check_availability"
        assert result_message["role"] == "tool"
        assert result_message["tool_call_id"] == call_message["tool_calls"][0]["id"]
        assert json.loads(result_message["content"]) == {"available": True}
        assert harness.errors == []


async def test_openai_llm_wrong_key_is_an_auth_error():
    async with OpenAIStandin(api_key=KEY, replies=[Reply(text="unused")]) as oa:
        llm = OpenAILLMService(api_key="wrong-key", base_url=oa.api_base)
        context = LLMContext(messages=[{"role": "user", "content": "Hi"}])
        async with PipelineHarness(llm, FrameCollector()) as harness:
            await harness.send(LLMContextFrame(context))
            error = await harness.first_error()

    assert isinstance(error.exception, openai.AuthenticationError)
    assert error.category == ErrorCategory.AUTHENTICATION
    assert error.error == "Error during completion: Error code: 401 - Incorrect API key provided."
    assert oa.requests == []  # refused before the body was looked at


# ---------------------------------------------------------------- fault modes, raw protocol


async def test_deepgram_refuse_rejects_upgrades_and_http_with_503():
    async with DeepgramStandin(api_key=KEY, fault="refuse") as dg, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(
                f"{dg.ws_url}/v1/listen?encoding=linear16&sample_rate=8000", headers=AUTH_DG
            )
        async with http.post(f"{dg.base_url}/v1/speak", json={"text": "Hi"}, headers=AUTH_DG) as response:
            status = response.status

    assert refused.value.status == 503 and status == 503


async def test_deepgram_hang_accepts_then_never_answers():
    async with DeepgramStandin(api_key=KEY, fault="hang", first_audio_ms=0) as dg:
        async with deepgram_socket(dg, "/v1/speak?sample_rate=8000") as ws:
            await ws.send_str(json.dumps({"type": "Speak", "text": "Hello"}))
            await ws.send_str(json.dumps({"type": "Flush"}))
            with pytest.raises(TimeoutError):
                await ws.receive(timeout=0.3)
        assert dg.speaks[0].texts == ["Hello"] and dg.speaks[0].controls == ["Flush"]


async def test_deepgram_drop_cuts_the_speak_socket_after_the_first_audio():
    async with DeepgramStandin(api_key=KEY, first_audio_ms=0, realtime_factor=10.0) as dg:
        dg.set_fault("drop", drop_after=1, endpoint="speak")  # switched at run time
        async with deepgram_socket(dg, "/v1/speak?sample_rate=8000") as ws:
            await ws.send_str(json.dumps({"type": "Speak", "text": "Hello there"}))
            first = await ws.receive(timeout=WAIT)
            after = await ws.receive(timeout=WAIT)

    assert first.type == aiohttp.WSMsgType.BINARY
    assert after.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)  # no close handshake
    assert dg.speaks[0].audio_messages == 1


async def test_deepgram_garbage_sends_mistyped_then_invalid_json():
    async with DeepgramStandin(api_key=KEY, transcripts=["kept"], final_delay_ms=0, fault="garbage") as dg:
        async with deepgram_socket(dg, f"/v1/listen?encoding=linear16&sample_rate={RATE}") as ws:
            for frame in caller_audio(speech_ms=300, silence_ms=400):
                await ws.send_bytes(frame.audio)
            mistyped = json.loads((await ws.receive(timeout=WAIT)).data)
            broken = (await ws.receive(timeout=WAIT)).data

    assert mistyped["type"] == "Results" and not isinstance(mistyped["channel"]["alternatives"], list)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert list(dg.transcripts) == ["kept"]  # a fault does not use up the script


async def test_openai_refuse_and_error_answer_with_openai_error_bodies():
    async with OpenAIStandin(api_key=KEY, fault="refuse") as oa, aiohttp.ClientSession() as http:
        url = f"{oa.api_base}/chat/completions"
        body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}
        async with http.post(url, json=body, headers=AUTH_OA) as response:
            refused = (response.status, await response.json())
        oa.set_fault("error")
        async with http.post(url, json=body, headers=AUTH_OA) as response:
            failed = (response.status, await response.json())

    assert refused[0] == 503 and refused[1]["error"]["type"] == "server_error"
    assert failed[0] == 500 and failed[1]["error"]["type"] == "server_error"


async def test_openai_hang_never_answers():
    async with OpenAIStandin(api_key=KEY, fault="hang") as oa:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(TimeoutError):
                await http.post(
                    f"{oa.api_base}/chat/completions",
                    json={"model": "gpt-4.1", "messages": [], "stream": True},
                    headers=AUTH_OA,
                    timeout=aiohttp.ClientTimeout(total=0.3),
                )
        assert len(oa.requests) == 1


async def _sse_events(oa: OpenAIStandin, **body) -> list[str]:
    async with aiohttp.ClientSession() as http:
        request = {
            "model": "gpt-4.1",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
            **body,
        }
        async with http.post(f"{oa.api_base}/chat/completions", json=request, headers=AUTH_OA) as response:
            text = (await response.read()).decode()
    return [line.removeprefix("data: ") for line in text.split("\n\n") if line]


async def test_openai_garbage_tool_calls():
    tools = [
        {"type": "function", "function": {"name": "check_availability", "parameters": {"type": "object"}}}
    ]
    async with OpenAIStandin(api_key=KEY, first_token_ms=0, token_delay_ms=0, fault="garbage") as oa:
        bad_arguments = await _sse_events(oa, tools=tools)
        oa.set_fault("garbage", garbage="unknown_function")
        unknown = await _sse_events(oa, tools=tools)
        oa.set_fault("garbage", garbage="bad_json")
        bad_json = await _sse_events(oa)

    def tool_call(events):
        calls = [json.loads(e)["choices"][0]["delta"].get("tool_calls") for e in events[:-1]]
        calls = [c[0] for c in calls if c]
        name = calls[0]["function"]["name"]
        return name, "".join(c["function"].get("arguments", "") for c in calls)

    assert tool_call(bad_arguments) == ("check_availability", BAD_ARGUMENTS)
    assert tool_call(unknown) == (UNKNOWN_FUNCTION, "{}")
    assert bad_json[-1] == "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        [json.loads(e) for e in bad_json[:-1]]


async def test_openai_streams_usage_and_answers_non_streaming_and_models():
    replies = [Reply(text="One two three."), Reply.calling("check_availability", party_size=2)]
    async with OpenAIStandin(api_key=KEY, replies=replies, first_token_ms=0, token_delay_ms=0) as oa:
        events = await _sse_events(oa, stream_options={"include_usage": True})
        async with aiohttp.ClientSession() as http:
            body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}
            async with http.post(f"{oa.api_base}/chat/completions", json=body, headers=AUTH_OA) as response:
                whole = await response.json()
            async with http.get(f"{oa.api_base}/models", headers=AUTH_OA) as response:
                models = await response.json()

    chunks = [json.loads(e) for e in events[:-1]]
    assert events[-1] == "[DONE]"
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        == "One two three."
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert whole["object"] == "chat.completion" and whole["choices"][0]["finish_reason"] == "tool_calls"
    call = whole["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "check_availability", "arguments": '{"party_size": 2}'}
    assert models["data"][0]["id"] == "gpt-4.1"


async def test_openai_stopped_server_refuses_connections_then_returns_on_the_same_port():
    async with OpenAIStandin(api_key=KEY, replies=[Reply(text="Back.")], first_token_ms=0) as oa:
        url = oa.api_base
        await oa.stop()
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectorError):
                await http.get(f"{url}/models", headers=AUTH_OA)
        await oa.start()
        events = await _sse_events(oa)

    assert oa.api_base == url
    assert json.loads(events[1])["choices"][0]["delta"]["content"] == "Back."
