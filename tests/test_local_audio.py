"""``python -m bot local`` on a stand-in sound card: a caller speaks a recording, the bot answers aloud."""

import asyncio
import io
import os
import signal
import threading
import time

import numpy as np
import pyaudio
import soundfile as sf

from bot import cli
from bot.audio import PHONE_RATE, load_phone_audio, rms
from bot.desk.local_audio import run_local
from bot.desk.scenario_writer import save_scenario
from bot.replay.scenario import load_scenario
from bot.settings import load_settings
from tests.conftest import NOW, PROJECT

REQUEST = PROJECT / "recordings" / "one-sentence" / "01-request.wav"


class Room:
    """The desk: a microphone that hears the caller and speakers that play the bot.

    The caller waits for the bot to fall quiet, then says their line (once);
    when the bot has answered and fallen quiet again, they press Ctrl-C.
    """

    QUIET_SECS = 2.0
    LOUD = 500  # 16-bit sample peak that counts as the bot making a sound

    def __init__(self, line: np.ndarray):
        self._line: bytes | None = line.tobytes()
        self._saying = b""
        self.played = bytearray()
        self._bot_sounds = 0  # how many times the bot started making sound
        self._last_sound: float | None = None
        self._hung_up = False
        self._lock = threading.Lock()

    def speaker(self, data: bytes) -> None:
        with self._lock:
            self.played += data
            if len(data) and np.abs(np.frombuffer(data, dtype=np.int16)).max() > self.LOUD:
                if self._last_sound is None:
                    self._bot_sounds += 1
                self._last_sound = time.monotonic()

    def microphone(self, size: int) -> bytes:
        with self._lock:
            quiet = self._last_sound is not None and time.monotonic() - self._last_sound > self.QUIET_SECS
            if quiet:
                self._last_sound = None
                if self._line is not None:  # the greeting is over: say the line
                    self._saying, self._line = self._line, None
                elif not self._saying and not self._hung_up:  # the answer is over: hang up
                    self._hung_up = True
                    os.kill(os.getpid(), signal.SIGINT)
            chunk, self._saying = self._saying[:size], self._saying[size:]
        return chunk.ljust(size, b"\0")


class FakeStream:
    """PyAudio's stream: an input one calls back from its own thread every buffer, in real time."""

    def __init__(self, room: Room, *, rate, frames_per_buffer=None, stream_callback=None, **_):
        self._room, self._callback = room, stream_callback
        self._frames = frames_per_buffer or rate // 50
        self._seconds = self._frames / rate
        self._running = threading.Event()

    def start_stream(self):
        if self._callback:
            self._running.set()
            threading.Thread(target=self._listen, daemon=True).start()

    def stop_stream(self):
        self._running.clear()

    close = stop_stream

    def write(self, data):
        self._room.speaker(data)

    def _listen(self):
        due = time.monotonic()
        while self._running.is_set():
            self._callback(self._room.microphone(self._frames * 2), self._frames, {}, 0)
            due += self._seconds
            time.sleep(max(0.0, due - time.monotonic()))


def fake_pyaudio(room: Room):
    class FakePyAudio:
        def get_format_from_width(self, width):
            return pyaudio.paInt16

        def open(self, **kwargs):
            return FakeStream(room, **kwargs)

        def terminate(self):
            pass

    return FakePyAudio


async def test_the_bot_hears_the_caller_and_answers_aloud_then_ctrl_c_hangs_up(tmp_path, monkeypatch):
    room = Room(load_phone_audio(REQUEST))
    monkeypatch.setattr(pyaudio, "PyAudio", fake_pyaudio(room))
    settings = load_settings(db_path=tmp_path / "bookings.db", stt="local", llm="local", tts="local")
    out = io.StringIO()

    result = await asyncio.wait_for(run_local(settings, now=NOW, out=out), 90)

    shown = out.getvalue()
    assert "bot> Thank you for calling The Copper Pot." in shown
    assert "you> (heard) Hi, I'd like to book a table for four people tomorrow" in shown
    assert 'extracted: collect_booking(party_size=4, date="2026-11-25", time="19:00", name="Sarah Johnson")' in shown
    assert "node: confirm" in shown
    assert room._bot_sounds == 2, "the bot should have greeted and answered"
    bot_audio = np.frombuffer(bytes(room.played), dtype=np.int16)
    assert rms(bot_audio) > 300, "the speakers played near-silence"
    # Hung up before saying yes: nothing booked; the recorded turn saves as a scenario.
    assert result.outcome.booking is None and result.outcome.node == "confirm"
    [turn] = result.turns
    assert "Sarah Johnson" in turn.text and turn.sample_rate == PHONE_RATE
    scenario = save_scenario(tmp_path / "spoken", result.turns, result.outcome, source="local")
    assert scenario.expect == {"booking": None} and scenario.turns[0].say is None
    recorded, rate = sf.read(scenario.turns[0].audio, dtype="int16")
    assert rate == PHONE_RATE and len(recorded) > len(load_phone_audio(REQUEST)) * 0.9
    assert "# heard:" in (tmp_path / "spoken" / "scenario.yaml").read_text()
    assert load_scenario(tmp_path / "spoken").now == NOW


def test_without_a_sound_card_local_says_so_in_one_line_and_suggests_chat(tmp_path, monkeypatch, capsys):
    class NoDevices:
        def get_default_input_device_info(self):
            raise OSError("No Default Input Device Available")

        def get_default_output_device_info(self):
            raise OSError("No Default Output Device Available")

        def terminate(self):
            pass

    monkeypatch.setattr(pyaudio, "PyAudio", NoDevices)
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)

    assert cli.main(["local", "--db", str(tmp_path / "b.db")]) == 2

    printed = capsys.readouterr()
    assert printed.err.splitlines() == ["no audio input device found: try `python -m bot chat`"]
    assert printed.out == ""
