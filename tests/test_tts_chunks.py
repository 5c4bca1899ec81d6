"""A streaming TTS's small audio messages joined into the output transport's chunks (bot/services/tts_chunks.py)."""

from pipecat.frames.frames import TTSAudioRawFrame, TTSStoppedFrame

from bot.services.tts_chunks import TransportSizedAudio

PIECE = 320  # 20 ms at 8 kHz, 16-bit: a Deepgram message
CHUNK = 1600  # the transport's 100 ms


class Service:
    """What the mixin hands on to: Pipecat's audio context, as a list."""

    def __init__(self):
        self.appended: list[tuple[str, object]] = []

    async def append_to_audio_context(self, context_id, frame):
        self.appended.append((context_id, frame))

    async def on_audio_context_interrupted(self, context_id):
        pass


class Joining(TransportSizedAudio, Service):
    pass


def piece(n: int, context_id: str = "a") -> TTSAudioRawFrame:
    return TTSAudioRawFrame(bytes([n % 256]) * PIECE, 8000, 1, context_id=context_id)


def audio_of(service: Service, context_id: str = "a") -> list[bytes]:
    return [f.audio for c, f in service.appended if c == context_id and isinstance(f, TTSAudioRawFrame)]


async def test_pieces_are_joined_along_the_transports_chunks_and_nothing_waits_past_its_chunk():
    service = Joining(chunk_ms=100)
    pieces = [piece(n) for n in range(12)]
    for n, frame in enumerate(pieces, 1):
        await service.append_to_audio_context("a", frame)
        handed = sum(map(len, audio_of(service)))
        # Every whole transport chunk is handed on as soon as its last piece is in: it can be sent as before.
        assert handed >= (n * PIECE) // CHUNK * CHUNK
    await service.append_to_audio_context("a", TTSStoppedFrame(context_id="a"))
    await service.append_to_audio_context("a", None)
    sizes = [len(audio) for audio in audio_of(service)]
    assert sizes[0] == PIECE  # the first piece alone, at once (time to first byte is measured on it)
    assert sizes == [PIECE, 4 * PIECE, 5 * PIECE, 2 * PIECE]  # 12 frames become 4
    assert b"".join(audio_of(service)) == b"".join(p.audio for p in pieces)  # every byte, in order
    assert isinstance(service.appended[-2][1], TTSStoppedFrame) and service.appended[-1][1] is None


async def test_an_interruption_drops_what_is_held_and_the_next_reply_starts_afresh():
    service = Joining(chunk_ms=100)
    for n in range(3):
        await service.append_to_audio_context("a", piece(n))
    await service.on_audio_context_interrupted("a")
    await service.append_to_audio_context("a", None)
    assert audio_of(service) == [piece(0).audio]  # the two held pieces were never played
    await service.append_to_audio_context("b", piece(7, "b"))
    assert audio_of(service, "b") == [piece(7).audio]  # a new reply's first piece goes on at once


async def test_two_contexts_are_joined_apart():
    service = Joining(chunk_ms=100)
    for n in range(6):
        await service.append_to_audio_context("a", piece(n, "a"))
        await service.append_to_audio_context("b", piece(100 + n, "b"))
    assert b"".join(audio_of(service, "a")) == b"".join(piece(n).audio for n in range(5))
    assert b"".join(audio_of(service, "b")) == b"".join(piece(100 + n).audio for n in range(5))
