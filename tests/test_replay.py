"""Shipped scenarios, replayed through the real server over the Twilio protocol, offline.

CI replays a representative set at once against one in-process server (so
this is also a small concurrency test); `pytest -m replay_all` replays the
rest. Each call must meet its expectations and leave exactly the expected
booking rows in SQLite.
"""

import json
import sqlite3
import subprocess
import sys

import pytest

from bot.replay.scenario import find_scenarios, load_scenario
from tests.conftest import PROJECT

SCENARIOS = {s.name: s for s in map(load_scenario, find_scenarios([PROJECT / "recordings"]))}
# One of each kind of call: new bookings, a change, a cancel, a full slot, a hand-off, a hang-up.
REPRESENTATIVE = [
    "one-sentence", "slot-by-slot", "correction", "closed-time", "declined",
    "change", "cancel", "full-slot", "ask-for-human", "hang-up",
]
OTHERS = sorted(set(SCENARIOS) - set(REPRESENTATIVE))


def replay(names, db):
    done = subprocess.run(
        [sys.executable, "-m", "bot", "replay", *[f"recordings/{n}" for n in names],
         "--json", "--concurrency", "3", "--db", str(db)],
        cwd=PROJECT, capture_output=True, text=True, timeout=900,
    )
    return done, {r["scenario"]: r for r in map(json.loads, done.stdout.splitlines())}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    db = tmp_path_factory.mktemp("replay") / "bookings.db"
    done, results = replay(REPRESENTATIVE, db)
    return done, results, db


def check_results(done, results, names):
    failed = {name: r for name, r in results.items() if not r["expect_met"]}
    assert not failed, json.dumps(failed, indent=1)
    assert set(results) == set(names), done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]


def test_at_least_fifteen_scenarios_ship_and_the_representative_ones_exist():
    assert len(SCENARIOS) >= 15 and set(REPRESENTATIVE) <= set(SCENARIOS)


def test_replay_exits_zero_only_when_every_scenario_meets_expectations(replayed):
    check_results(replayed[0], replayed[1], REPRESENTATIVE)


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_scenario_report_follows_the_contract(replayed, name):
    result, scenario = replayed[1][name], SCENARIOS[name]
    assert {"scenario", "expect_met", "completed", "booking", "turns", "recording"} <= set(result)
    assert result["completed"] == scenario.expect.get("completed", True)
    caller_turns = [t for t in result["turns"] if t["caller_heard"]]
    assert len(caller_turns) == len(scenario.turns)
    for turn in caller_turns:
        assert turn["bot_said"] and 0 < turn["latency_ms"] < 10_000
    assert result["recording"] and result["recording"].endswith(".wav")


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_every_answered_caller_turn_stores_its_stage_timings(replayed, name):
    from tests.test_latency import check_sane

    result = replayed[1][name]
    answered = [ms for ms in result["caller_latency_ms"] if ms is not None]
    # Pipecat measures a clean "caller stopped -> bot started" cycle; a reply
    # the caller talked over (calls at once on two cores are slow) has none.
    assert 1 <= len(result["latency"]) <= len(answered)
    assert [row["turn"] for row in result["latency"]] == list(range(1, len(result["latency"]) + 1))
    for row in result["latency"]:
        check_sane(row)


def test_booking_rows_in_sqlite_are_exactly_the_expected_ones(replayed):
    _, results, db = replayed
    conn = sqlite3.connect(db)
    for name in REPRESENTATIVE:
        scenario, call_sid = SCENARIOS[name], results[name]["call_sid"]
        touched = conn.execute(
            "select b.party_size, b.date, b.time, b.name, b.status, h.action from booking_history h"
            " join bookings b on b.id = h.booking_id where h.call_sid = ? order by h.id", [call_sid]
        ).fetchall()
        wanted = scenario.expect.get("booking")
        live = [row for row in touched if row[5] in ("created", "changed") and row[4] == "confirmed"]
        if wanted is None:
            assert live == [], name
        else:
            assert [row[:4] for row in live][-1:] == [
                (wanted["party_size"], wanted["date"], wanted["time"], wanted["name"])
            ], name
        if scenario.expect.get("cancelled"):
            assert any(row[5] == "cancelled" and row[4] == "cancelled" for row in touched), name
    # A call that hung up mid-flow leaves nothing half-written.
    assert conn.execute(
        "select count(*) from booking_history where call_sid = ?", [results["hang-up"]["call_sid"]]
    ).fetchone() == (0,)


def test_a_message_for_staff_is_stored_with_the_callers_number(replayed):
    _, results, db = replayed
    rows = sqlite3.connect(db).execute(
        "select callback_number, reason from messages where call_sid = ?", [results["ask-for-human"]["call_sid"]]
    ).fetchall()
    assert rows and rows[0][0] == SCENARIOS["ask-for-human"].caller and "umbrella" in rows[0][1].lower()


@pytest.mark.replay_all
def test_every_other_scenario(tmp_path):
    done, results = replay(OTHERS, tmp_path / "bookings.db")
    check_results(done, results, OTHERS)
