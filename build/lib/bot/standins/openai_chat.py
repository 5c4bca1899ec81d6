"""What the OpenAI stand-in answers, and the Chat Completions payloads that carry it."""

import itertools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

GarbageKind = Literal["bad_arguments", "unknown_function", "bad_json"]
UNKNOWN_FUNCTION = "no_such_function"
BAD_ARGUMENTS = '{"arg": "unterminated'
BAD_JSON_CHUNK = '{"id": "chatcmpl-garbage", "choices": [{"delta": '


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks to call; ``arguments`` as a str is sent verbatim
    (so it may be invalid JSON)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One assistant turn: text, tool calls, or both (as OpenAI allows)."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    @classmethod
    def calling(cls, name: str, **arguments: Any) -> "Reply":
        return cls(tool_calls=(ToolCall(name, arguments),))


Responder = Callable[[dict[str, Any]], "Reply | Awaitable[Reply]"]


class ScriptExhausted(LookupError):
    """The scripted responder was asked for more replies than it was given."""


class ScriptedResponder:
    """Answers requests with the given replies, in order, whatever was asked."""

    def __init__(self, replies: Iterable[Reply]):
        self.remaining: deque[Reply] = deque(replies)

    def __call__(self, request: dict[str, Any]) -> Reply:
        if not self.remaining:
            raise ScriptExhausted("the stand-in has no scripted reply left")
        return self.remaining.popleft()


def echo_responder(request: dict[str, Any]) -> Reply:
    """For manual use: repeat the last user message."""
    user_texts = [m.get("content") for m in request.get("messages", []) if m.get("role") == "user"]
    last = user_texts[-1] if user_texts else None
    return Reply(text=f"You said: {last}" if isinstance(last, str) else "Hello from the stand-in.")


def garbage_reply(kind: GarbageKind, request: dict[str, Any]) -> Reply:
    """What a fault answers instead of the responder. For ``bad_json`` the garbage
    is in the encoding (see ``BAD_JSON_CHUNK``), not in this reply."""
    if kind == "unknown_function":
        return Reply.calling(UNKNOWN_FUNCTION)
    if kind == "bad_arguments":
        tools = request.get("tools") or []
        name = tools[0]["function"]["name"] if tools else UNKNOWN_FUNCTION
        return Reply(tool_calls=(ToolCall(name, BAD_ARGUMENTS),))
    return Reply(text="This reply is sent garbled.")


class Completion:
    """Builds the payloads of one chat completion, streamed or whole."""

    _ids = itertools.count(1)

    def __init__(self, *, reply: Reply, model: str, request: dict[str, Any]):
        n = next(self._ids)
        self.reply = reply
        self._model = model
        self._id = f"chatcmpl-standin{n:08d}"
        self._created = int(time.time())
        self._include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        self._prompt_tokens = max(1, len(json.dumps(request.get("messages", []))) // 4)
        self._call_ids = [f"call_standin{n:08d}x{i}" for i in range(len(reply.tool_calls))]
        self._arguments = [call.arguments_json for call in reply.tool_calls]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.reply.tool_calls else "stop"

    def text_pieces(self) -> list[str]:
        # Roughly token-sized: each word with the space before it.
        return re.findall(r"\s*\S+\s*$|\s*\S+", self.reply.text or "")

    def chunks(self) -> list[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects of a streamed answer, in order."""
        first: dict[str, Any] = {"role": "assistant", "content": "" if not self.reply.tool_calls else None}
        deltas: list[dict[str, Any]] = [first]
        deltas += [{"content": piece} for piece in self.text_pieces()]
        for index, call in enumerate(self.reply.tool_calls):
            opening = {
                "index": index,
                "id": self._call_ids[index],
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            if index == 0 and not self.reply.text:
                first["tool_calls"] = [opening]
            else:
                deltas.append({"tool_calls": [opening]})
            arguments = self._arguments[index]
            for start in range(0, len(arguments), 12):
                piece = {"index": index, "function": {"arguments": arguments[start : start + 12]}}
                deltas.append({"tool_calls": [piece]})
        chunks = [
            self._chunk([{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}]) for d in deltas
        ]
        chunks.append(
            self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": self.finish_reason}])
        )
        if self._include_usage:
            chunks.append(self._chunk([], usage=self.usage(len(chunks))))
        return chunks

    def whole(self) -> dict[str, Any]:
        """The ``chat.completion`` object of a non-streamed answer."""
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.text, "refusal": None}
        if self.reply.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": arguments}}
                for call_id, call, arguments in zip(
                    self._call_ids, self.reply.tool_calls, self._arguments, strict=True
                )
            ]
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}
            ],
            "usage": self.usage(len(self.text_pieces()) + sum(map(len, self._arguments)) // 4 + 1),
            "system_fingerprint": "fp_standin",
        }

    def usage(self, completion_tokens: int) -> dict[str, Any]:
        return {
            "prompt_tokens": self._prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self._prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": "fp_standin",
            "choices": choices,
        }
        if self._include_usage:
            chunk["usage"] = usage  # OpenAI sends null on every chunk but the last
        return chunk


def error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}
