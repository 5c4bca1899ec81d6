"""``/readyz``: whether this server should be sent calls now.

Ready means all of:

- **store**: the booking database answers, at the schema this release expects;
- **engines**: the embedded models the calls will use are loaded (``serve``
  loads them at start-up in the background, :class:`EngineWarmUp`: Whisper or
  Moonshine, Piper, Silero; with a cloud provider, its embedded fallback);
- **draining**: not stopping for a restart (bot/serving/drain.py);
- **calls**: not at ``BOT_MAX_CALLS``.

A load balancer sends calls only to ready servers (deploy/caddy/Caddyfile
checks ``/readyz`` every second), so a full, draining, starting or broken
server is passed over rather than turning callers away. ``/healthz`` is
liveness: 200 while the process serves (503 only while it drains).
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from bot.booking.migrations import LATEST_VERSION
from bot.booking.store import BookingStore
from bot.serving.drain import Drain
from bot.settings import LocalSTT, Provider, Settings

STORE_CHECK_SECS = 1.0


def _needs_local(settings: Settings, job: str) -> bool:
    """Whether calls will run the embedded engine for ``job``: as the provider, or behind a cloud one."""
    choice = getattr(settings, job)
    if choice is Provider.NULL:
        return False
    return not settings.uses_cloud(job) or settings.fallbacks


def _import_services(settings: Settings) -> None:
    """The providers' modules a call will use, imported now rather than by the first call: some 900 modules
    (the cloud SDKs' types), which the worker then freezes out of the collector's sight with the engines
    (server.py's ``gc.freeze()``), and which no caller waits on."""
    if settings.uses_cloud("stt") or settings.uses_cloud("tts"):
        import bot.services.deepgram  # noqa: F401
    if settings.uses_cloud("llm"):
        import bot.services.openai  # noqa: F401
        import_first_request_modules()
    if _needs_local(settings, "llm"):
        import bot.dialogue.engine  # noqa: F401


# What the OpenAI SDK and its HTTP client import on a client's first request (174 modules, trio's among them):
# imported by the first call otherwise, a stall of 200-270 ms of the worker's loop, every call on it waiting.
FIRST_REQUEST_MODULES = (
    "anyio._backends._asyncio",
    "h2.connection",
    "httpcore2._synchronization",
    "jiter",
    "openai.lib.streaming.chat",
    "openai.pagination",
    "openai.resources.chat.chat",
    "openai.resources.chat.completions.completions",
)


def import_first_request_modules() -> None:
    for module in FIRST_REQUEST_MODULES:
        importlib.import_module(module)


class EngineWarmUp:
    """Loads the embedded engines once per process, off the event loop, then fills Piper's cache."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self.state = "not started"  # "loading", "ok", or "failed: ..."
        self._stopping = threading.Event()
        self._settled = threading.Event()  # loaded, or failed to
        self._thread: threading.Thread | None = None

    @property
    def loaded(self) -> bool:
        return self.state == "ok"

    def start(self) -> None:
        if self._thread is not None:
            return
        self.state = "loading"
        self._thread = threading.Thread(target=self._run, name="engine-warm-up", daemon=True)
        self._thread.start()

    def wait_loaded(self) -> None:
        """Until the engines are loaded or have failed to (the TTS cache goes on filling)."""
        while self.state == "loading":
            self._settled.wait(0.5)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop filling the cache, and wait for the phrase being synthesized: a thread still inside
        the voice model when the interpreter exits can crash it (a segfault instead of exit 0)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        settings = self._settings
        try:
            if _needs_local(settings, "stt"):
                if settings.local_stt is LocalSTT.MOONSHINE:
                    from bot.services.moonshine_stt import bundled_model_dir
                    from bot.services.moonshine_stt import shared_model as moonshine

                    moonshine(str(bundled_model_dir()), settings.engine_threads)
                else:
                    from bot.services.whisper_stt import (
                        bundled_model_path,
                        shared_model,
                    )

                    shared_model(bundled_model_path(), settings.engine_threads)
            if _needs_local(settings, "tts"):
                from bot.services.piper_tts import bundled_voice_path, shared_voice

                shared_voice(str(bundled_voice_path()))
            from bot.services.vad import InlineSileroVADAnalyzer

            InlineSileroVADAnalyzer()
            _import_services(settings)
        except Exception as e:  # noqa: BLE001 - reported by /readyz and the log; the process stays up to say so
            self.state = f"failed: {type(e).__name__}: {e}"[:300]
            logger.opt(exception=e).error(f"The embedded engines did not load: {e}")
            self._settled.set()
            return
        self.state = "ok"
        self._settled.set()
        logger.info("Embedded engines loaded: ready for calls")
        try:
            self._fill_tts_cache()
        except Exception as e:  # noqa: BLE001 - only a cache
            logger.warning(f"The TTS cache was not filled: {e}")

    def _fill_tts_cache(self) -> None:
        """The fixed phrases (bot.services.factory.fixed_phrases), synthesized once, a line at a time so that
        a stop waits for one line only: the first callers' replies start from the cache too."""
        from bot.services.factory import fixed_phrases
        from bot.services.piper_tts import warm_up

        for phrase in fixed_phrases(self._settings):
            if self._stopping.is_set():
                return
            warm_up([phrase], shared_dir=self._settings.tts_cache_dir)


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    checks: dict[str, Any]


class Readiness:
    def __init__(
        self,
        settings: Settings,
        store: BookingStore,
        drain: Drain,
        calls_in_progress: Callable[[], int],
        engines: EngineWarmUp | None = None,
    ):
        self._settings = settings
        self._store = store
        self._drain = drain
        self._calls_in_progress = calls_in_progress
        self.engines = engines  # None: not loaded ahead (in-process servers, tests): the first call loads them

    async def _store_check(self) -> str:
        try:
            # Off the event loop, and not for long: a database that hangs must not stall the calls' audio.
            version = await asyncio.wait_for(asyncio.to_thread(self._store.schema_version), STORE_CHECK_SECS)
        except TimeoutError:
            return f"unreachable: no answer within {STORE_CHECK_SECS:g} s"
        except Exception as e:  # noqa: BLE001 - any failure to read is "not reachable"
            return f"unreachable: {type(e).__name__}: {e}"[:300]
        if version < LATEST_VERSION:
            return f"schema version {version}, this release needs {LATEST_VERSION}"
        return "ok"

    async def check(self) -> ReadinessReport:
        calls, cap = self._calls_in_progress(), self._settings.max_calls
        checks: dict[str, Any] = {
            "store": await self._store_check(),
            "engines": self.engines.state if self.engines is not None else "ok",
            "draining": self._drain.state.value if self._drain.draining else "no",
            "calls": f"{calls}/{cap}" if cap else str(calls),
        }
        full = bool(cap) and calls >= cap
        ready = checks["store"] == "ok" and checks["engines"] == "ok" and not self._drain.draining and not full
        if full:
            checks["calls"] += " (full)"
        return ReadinessReport(ready, checks)
