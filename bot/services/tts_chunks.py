"""A streaming TTS's audio handed on in the output transport's chunks, not the provider's messages.

Deepgram's TTS socket delivers a reply as many small binary messages (the
stand-in's are 20 ms). Pipecat makes each one a frame that travels the TTS's
service switcher, its parallel pipeline and the output transport's queue, which
then joins them into ``BOT_AUDIO_OUT_MS`` messages for Twilio anyway: at 20 ms,
five frames' work for one message. :class:`TransportSizedAudio` joins them
before they leave the service, along the transport's own chunk boundaries, so
the transport can send each chunk exactly when it could before: no audio waits
longer. A context's first piece goes on alone and at once (the TTS's
time-to-first-byte is measured on it), and what is held is handed on before
anything else of its context (the stop frame, the end) and dropped with it on an
interruption.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, TTSAudioRawFrame


class TransportSizedAudio:
    """Mixin for a websocket TTS service whose audio arrives in pieces smaller than ``chunk_ms``."""

    def __init__(self, *args, chunk_ms: int = 100, **kwargs):
        super().__init__(*args, **kwargs)
        self._chunk_ms = chunk_ms
        self._held: dict[str, list[TTSAudioRawFrame]] = {}  # per context: pieces not yet handed on
        self._handed_bytes: dict[str, int] = {}  # per context: audio handed on so far

    async def append_to_audio_context(self, context_id: str | None, frame: Frame | None):
        if not context_id:
            return await super().append_to_audio_context(context_id, frame)
        if not isinstance(frame, TTSAudioRawFrame):
            await self._hand_on(context_id)
            if frame is None:  # the context's end
                self._handed_bytes.pop(context_id, None)
            return await super().append_to_audio_context(context_id, frame)
        if context_id not in self._handed_bytes:
            self._handed_bytes[context_id] = len(frame.audio)
            return await super().append_to_audio_context(context_id, frame)
        held = self._held.setdefault(context_id, [])
        held.append(frame)
        chunk = self._chunk_bytes(frame)
        handed = self._handed_bytes[context_id]
        if (handed + sum(len(piece.audio) for piece in held)) // chunk > handed // chunk:
            await self._hand_on(context_id)

    async def on_audio_context_interrupted(self, context_id: str):
        self._held.pop(context_id, None)
        self._handed_bytes.pop(context_id, None)
        await super().on_audio_context_interrupted(context_id)

    def _chunk_bytes(self, frame: TTSAudioRawFrame) -> int:
        return max(2, frame.sample_rate * frame.num_channels * 2 * self._chunk_ms // 1000)

    async def _hand_on(self, context_id: str) -> None:
        held = self._held.pop(context_id, None)
        if not held:
            return
        first = held[0]
        joined = TTSAudioRawFrame(
            b"".join(piece.audio for piece in held), first.sample_rate, first.num_channels, context_id=context_id
        )
        self._handed_bytes[context_id] = self._handed_bytes.get(context_id, 0) + len(joined.audio)
        await super().append_to_audio_context(context_id, joined)
