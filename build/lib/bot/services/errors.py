"""How a failing service says what went wrong, and the rule that a guarded service gives up on its first error."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import ErrorFrame
from pipecat.utils.errors import ErrorCategory


class LLMTurnFailed(Exception):
    """The cloud LLM gave no usable answer to a turn (too slow, or garbage)."""


def describe(error: ErrorFrame | BaseException | str | None) -> str:
    """A short human reason for a failure: "connection refused", "no answer within 2 s", ..."""
    if isinstance(error, ErrorFrame):
        exc, text = error.exception, error.error
    elif isinstance(error, BaseException):
        exc, text = error, str(error)
    else:
        exc, text = None, error or "unknown error"
    seen = exc
    while seen is not None:
        if isinstance(seen, LLMTurnFailed):
            return str(seen)
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        if isinstance(seen, (TimeoutError, asyncio.TimeoutError)):
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    text = (text or (str(exc) if exc else "unknown error")).removeprefix("Error during completion: ")
    if "refused" in text.lower() or "errno 111" in text.lower():
        return "connection refused"
    return text.splitlines()[0][:200] if text else "unknown error"


class GiveUpOnError:
    """Any error a guarded service reports leaves it unusable for the rest of the call."""

    failure_reason: str | None = None

    async def push_error_frame(self, error: ErrorFrame, force_treat_as_permanent: bool = False):
        # A failing tool handler (APPLICATION) says nothing about the provider's health.
        if error.category is ErrorCategory.APPLICATION and not force_treat_as_permanent:
            await super().push_error_frame(error)
            return
        if self.is_usable and self.failure_reason is None:
            self.failure_reason = describe(error)
        await super().push_error_frame(error, force_treat_as_permanent=True)
