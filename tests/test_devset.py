"""The development set: calls in voices the bot was never tuned to, over a phone line (bot/measure/devset.py)."""

import numpy as np
import pytest
import soundfile as sf

from bot.desk.caller_voice import phone_line, render_caller_audio
from bot.measure import devset
from bot.replay.scenario import load_scenario


def test_held_out_lines_are_a_quarter_of_each_source_and_never_tuned_on():
    tuning = {(s, c.id) for s, c in devset.cases("tuning")}
    held_out = {(s, c.id) for s, c in devset.cases("held-out")}
    everything = {(s, c.id) for s, c in devset.cases("all")}
    assert tuning.isdisjoint(held_out) and tuning | held_out == everything
    for source in devset.SOURCES:
        n = sum(s == source for s, _ in everything)
        assert sum(s == source for s, _ in held_out) == n // devset.HELD_OUT_EVERY
    assert len(everything) >= 40 and {s for s, _ in everything} == {"sgd", "ours"}


def test_there_are_six_voices_or_more_and_none_is_the_bots_own():
    assert len(set(devset.VOICES)) >= 6
    assert {v.partition(":")[0] for v in devset.VOICES} == {"flite", "espeak", "piper"}
    assert all(int(v.partition(":")[2]) != 0 for v in devset.VOICES if v.startswith("piper:"))  # always pitch-shifted


@pytest.mark.parametrize("voice", ["flite:kal", "espeak:en-us+f3", "piper:-200"])
def test_each_voice_family_renders_speech_through_a_phone_line(tmp_path, voice):
    wav = phone_line(render_caller_audio("A table for two tomorrow at seven.", tmp_path / "t.wav", voice), 0.01)
    samples, rate = sf.read(wav)
    assert rate == 8000 and len(samples) > rate  # over a second of speech at the phone's rate
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    speech = spectrum[(freqs > 300) & (freqs < 3400)].sum()
    assert spectrum[freqs < 150].sum() < 0.05 * speech  # the phone band: nothing much below 300 Hz


def test_rendered_calls_are_scenarios_that_expect_the_annotated_booking(tmp_path):
    folders = devset.render(tmp_path, "held-out", limit=2)
    assert (tmp_path / "business.yaml").exists() and len(folders) == 2
    for folder, (_, case) in zip(folders, devset.cases("held-out")):
        scenario = load_scenario(folder)
        booking = scenario.expect["booking"]
        assert {k: str(booking[k]) for k in ("party_size", "date", "time")} == case.want
        assert [t.say for t in scenario.turns][-1] == "Yes, please."
        assert all(sf.info(t.audio).samplerate == 8000 for t in scenario.turns)
