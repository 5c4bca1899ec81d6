"""Every shipped scenario, replayed through the real server over the Twilio protocol, offline.

The calls run at once against one in-process server (so this is also a small
concurrency test); each must meet its expectations and leave exactly the
expected booking rows in SQLite.
"""

import json
import sqlite3
import subprocess
import sys

import pytest

from bot.replay.scenario import find_scenarios, load_scenario
from tests.conftest import PROJECT

SCENARIOS = {s.name: s for s in map(load_scenario, find_scenarios([PROJECT / "recordings"]))}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    db = tmp_path_factory.mktemp("replay") / "bookings.db"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "recordings", "--json", "--concurrency", "5", "--db", str(db)],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
    )
    results = {r["scenario"]: r for r in map(json.loads, done.stdout.splitlines())}
    return done, results, db


def test_at_least_five_scenarios_ship():
    assert len(SCENARIOS) >= 5


def test_replay_exits_zero_only_when_every_scenario_meets_expectations(replayed):
    done, results, _ = replayed
    failed = {name: r for name, r in results.items() if not r["expect_met"]}
    assert not failed, json.dumps(failed, indent=1)
    assert set(results) == set(SCENARIOS)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_report_follows_the_contract(replayed, name):
    result = replayed[1][name]
    assert {"scenario", "expect_met", "completed", "booking", "turns", "recording"} <= set(result)
    assert result["completed"], "the bot should end every shipped call itself"
    caller_turns = [t for t in result["turns"] if t["caller_heard"]]
    assert len(caller_turns) == len(SCENARIOS[name].turns)
    for turn in caller_turns:
        assert turn["bot_said"] and 0 < turn["latency_ms"] < 10_000
    assert result["recording"] and result["recording"].endswith(".wav")


def test_booking_rows_in_sqlite_are_exactly_the_expected_ones(replayed):
    _, results, db = replayed
    rows = sqlite3.connect(db).execute(
        "select call_sid, caller, party_size, date, time, name, status from bookings"
    ).fetchall()
    by_call = {row[0]: row for row in rows}
    for name, scenario in SCENARIOS.items():
        wanted = scenario.expect["booking"]
        made = [row for sid, row in by_call.items() if sid == results[name]["call_sid"]]
        if wanted is None:
            assert made == [], name
            continue
        (row,) = made
        assert row[1] == scenario.caller and row[6] == "confirmed"
        assert (row[2], row[3], row[4], row[5]) == (
            wanted["party_size"], wanted["date"], wanted["time"], wanted["name"]
        ), name
    history = sqlite3.connect(db).execute("select count(*) from booking_history where action = 'created'").fetchone()
    assert history[0] == len(rows)
