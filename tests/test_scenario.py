"""The scenario file contract: what loads, what is refused, and how expectations compare."""

import pytest

from bot.replay.scenario import ScenarioError, load_scenario


def write(tmp_path, text, audio=("01.wav",)):
    for name in audio:
        (tmp_path / name).write_bytes(b"RIFF")
    (tmp_path / "scenario.yaml").write_text(text)
    return tmp_path


GOOD = """
description: d
now: "2026-11-24T15:00:00"
caller: "+15551230001"
turns:
  - audio: 01.wav
expect:
  booking: {party_size: 4, date: "2026-11-25", time: "19:00", name: "Sarah Johnson"}
"""


def test_loads_the_documented_format(tmp_path):
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.caller == "+15551230001" and scenario.now.hour == 15 and len(scenario.turns) == 1
    assert scenario.booking_matches({"party_size": 4, "date": "2026-11-25", "time": "19:00", "name": "Sarah Johnson", "code": "X"})
    assert not scenario.booking_matches({"party_size": 2, "date": "2026-11-25", "time": "19:00", "name": "Sarah Johnson"})
    assert not scenario.booking_matches(None)


def test_null_booking_means_none_may_be_made(tmp_path):
    scenario = load_scenario(write(tmp_path, GOOD.replace('booking: {party_size: 4, date: "2026-11-25", time: "19:00", name: "Sarah Johnson"}', "booking: null")))
    assert scenario.booking_matches(None) and not scenario.booking_matches({"party_size": 1})


@pytest.mark.parametrize(
    "text, problem",
    [
        (GOOD.replace("01.wav", "02.wav"), "no such audio file"),
        (GOOD.replace('"2026-11-24T15:00:00"', '"yesterday"'), "not an ISO"),
        ("description: x\nturns: []\n", "has no turns"),
        ("- just a list", "must be a mapping"),
        ("turns: [{say: hi}]", "needs an 'audio'"),
        (GOOD.replace("booking: {", "booking: [").replace('"Sarah Johnson"}', '"Sarah Johnson"]'), "expect.booking"),
    ],
)
def test_broken_scenarios_are_refused_with_the_reason(tmp_path, text, problem):
    with pytest.raises(ScenarioError, match=problem):
        load_scenario(write(tmp_path, text))
