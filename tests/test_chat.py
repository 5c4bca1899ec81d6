"""``python -m bot chat``: typing as the caller, and saving the session as a scenario that replays."""

import asyncio
import io
import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time

import pytest

from bot import cli
from bot.desk.chat import run_chat
from bot.desk.scenario_writer import CallerTurn, refuse_existing, save_scenario
from bot.replay.scenario import ScenarioError, load_scenario
from bot.settings import load_settings
from tests.conftest import NOW, PROJECT

ONE_SENTENCE = load_scenario(PROJECT / "recordings" / "one-sentence")
# Embedded engines whatever the developer's environment says.
LOCAL_ENGINES = {"BOT_STT": "local", "BOT_LLM": "local", "BOT_TTS": "local", "BOT_LOG_LEVEL": "ERROR"}


def _settings(tmp_path):
    return load_settings(db_path=tmp_path / "bookings.db", stt="local", llm="local", tts="local")


def _rows(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("select party_size, date, time, name, status from bookings").fetchall()


def _bot(*args, stdin=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=PROJECT,
        env=os.environ | LOCAL_ENGINES,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def test_chat_books_a_table_showing_the_node_and_what_was_extracted(tmp_path):
    out = io.StringIO()
    says = [turn.say for turn in ONE_SENTENCE.turns]

    result = await asyncio.wait_for(run_chat(says, settings=_settings(tmp_path), now=NOW, out=out), 60)

    assert _rows(tmp_path / "bookings.db") == [(4, "2026-11-25", "19:00", "Sarah Johnson", "confirmed")]
    assert result.lines == says
    assert result.outcome.booking | {"code": None} == {
        "party_size": 4, "date": "2026-11-25", "time": "19:00", "name": "Sarah Johnson", "code": None
    }
    assert result.outcome.node == "booked"
    shown = out.getvalue().splitlines()
    assert shown[0] == "bot> Thank you for calling The Copper Pot. How can I help you today?"
    assert shown[1] == "     node: greeting"
    assert shown[2] == f"you> {says[0]}"
    assert shown[3] == (
        '     extracted: collect_booking(party_size=4, date="2026-11-25", time="19:00", name="Sarah Johnson")'
    )
    assert shown[4].startswith('     result: {"next": "confirm"')
    assert shown[5].startswith("bot> Let me read that back: a table for 4 people tomorrow")
    assert shown[6] == "     node: confirm"
    assert "     extracted: confirm_booking(confirmed=true)" in shown
    assert shown[-1] == "     node: booked"


async def test_hanging_up_midway_books_nothing_and_saves_a_scenario_that_expects_no_booking(tmp_path):
    out = io.StringIO()
    lines = ["A table for two on Friday, please.", "  "]
    result = await asyncio.wait_for(run_chat(lines, settings=_settings(tmp_path), now=NOW, out=out), 60)
    assert result.lines == ["A table for two on Friday, please."]
    assert result.outcome.booking is None and result.outcome.node == "ask_time"
    assert _rows(tmp_path / "bookings.db") == []

    scenario = save_scenario(
        tmp_path / "midway", [CallerTurn(text=line) for line in result.lines], result.outcome, source="chat"
    )
    assert scenario.now == NOW and scenario.expect == {"booking": None}
    assert [(t.audio.name, t.say) for t in scenario.turns] == [
        ("01-a-table-for-two.wav", "A table for two on Friday, please.")
    ]
    with pytest.raises(ScenarioError, match="already holds a scenario"):
        refuse_existing(tmp_path / "midway")


def test_chat_in_a_terminal_books_and_the_bot_hangs_up(tmp_path):
    db = tmp_path / "bookings.db"
    lines = iter(
        [
            "Hello, I'd like to make a reservation, please.",
            "Two people.",
            "This Friday at half past seven.",
            "Michael Chen.",
            "Yes, that's right.",
        ]
    )
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--now", NOW.isoformat(), "--db", str(db)],
        cwd=PROJECT, env=os.environ | LOCAL_ENGINES, stdin=child, stdout=child, stderr=child, close_fds=True,
    )
    os.close(child)
    screen, deadline = "", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(main, 4096).decode(errors="replace")
            except OSError:  # the child closed the terminal
                break
            screen += chunk
            if screen.rstrip().endswith("you>"):
                os.write(main, (next(lines) + "\n").encode())
                screen += "\n"
        assert process.wait(timeout=15) == 0, screen
    finally:
        process.kill()
        os.close(main)
    assert "node: ask_party_size" in screen and "node: ask_name" in screen
    assert 'extracted: collect_booking(name="Michael Chen")' in screen
    assert "call over at node booked: booked 2 on 2026-11-27 at 19:30 for Michael Chen" in screen
    assert _rows(db) == [(2, "2026-11-27", "19:30", "Michael Chen", "confirmed")]


CASUAL = [  # typed as people type: lower case, few commas, the time in words
    "hi, a table for two this saturday at eight thirty pm please", "my name is David Miller", "yes that's right",
]


@pytest.mark.parametrize(
    "typed, booking",
    [
        ([turn.say for turn in ONE_SENTENCE.turns],
         {"party_size": 4, "date": "2026-11-25", "time": "19:00", "name": "Sarah Johnson"}),
        (CASUAL, {"party_size": 2, "date": "2026-11-28", "time": "20:30", "name": "David Miller"}),
    ],
    ids=["one-sentence", "casual"],
)
def test_a_chat_saved_as_a_scenario_replays_and_passes(tmp_path, typed, booking):
    saved = tmp_path / "typed-booking"
    says = "\n".join(typed) + "\n"

    chat = _bot(
        "chat", "--now", NOW.isoformat(), "--db", str(tmp_path / "b.db"), "--save-scenario", str(saved), stdin=says
    )

    assert chat.returncode == 0, chat.stderr
    assert f"saved {saved / 'scenario.yaml'}" in chat.stdout
    scenario = load_scenario(saved)
    assert scenario.expect == {"booking": booking}
    assert [t.say for t in scenario.turns] == typed

    replay = _bot("replay", str(saved), "--json", timeout=120)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert json.loads(replay.stdout)["expect_met"] is True


def test_a_broken_flow_is_refused_before_the_chat_starts(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "booking.yaml"
    text = (PROJECT / "flows" / "booking.yaml").read_text().replace("transition_to: goodbye", "transition_to: goodby")
    broken.write_text(text)
    (tmp_path / "booking.business.yaml").write_text((PROJECT / "flows" / "booking.business.yaml").read_text())
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)

    assert cli.main(["chat", "--flow", str(broken), "--db", str(tmp_path / "b.db")]) == 2

    printed = capsys.readouterr()
    line = text.splitlines().index("    transition_to: goodby") + 1
    assert f"{broken}:{line}: global function 'end_call' transitions to unknown node 'goodby'" in printed.err
    assert "bot>" not in printed.out


async def test_a_caller_running_late_is_thanked_and_the_team_told_with_nothing_booked(tmp_path):
    said = "Hi, it's Tom Baker, we have a table tonight and we'll be 10 minutes late."
    out = io.StringIO()
    result = await asyncio.wait_for(run_chat([said], settings=_settings(tmp_path), now=NOW, out=out), 60)
    assert result.outcome.node == "late_noted"
    assert "bot> Thanks for letting us know. I've told the team you're running late." in out.getvalue()
    assert _rows(tmp_path / "bookings.db") == []
    with sqlite3.connect(tmp_path / "bookings.db") as conn:
        assert conn.execute("select reason from messages").fetchall() == [(f"Running late: {said}",)]
