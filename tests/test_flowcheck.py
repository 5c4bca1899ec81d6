"""`python -m bot flows check|graph`: every broken fixture is caught at its line; shipped flows pass and are drawn."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml
from pipecat.flows import FlowConfig

from bot.booking import tools
from bot.cli import main
from bot.dialogue import engine
from bot.flowfile.check import (
    FALLBACK_STARTING_KEYS,
    Problem,
    assigned_state_keys,
    check_flow,
    starting_state_keys,
)
from bot.flowfile.graph import build_graph, to_mermaid
from bot.flowfile.syntax import SAY_LINE, find_flows
from tests.conftest import PROJECT

FIXTURES = PROJECT / "tests" / "fixtures" / "flows"
SHIPPED = find_flows(PROJECT / "flows")


def line_of(fixture: str, text: str) -> int:
    """The 1-based line of the fixture where ``text`` first appears (e.g. an ``# expect:`` marker)."""
    for number, line in enumerate((FIXTURES / fixture).read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {fixture}")


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def only_error(fixture: str) -> Problem:
    problems = check_flow(FIXTURES / fixture)
    assert len(problems) == 1, "\n".join(map(str, problems))
    assert problems[0].severity == "error"
    return problems[0]


# The shipped flows


def test_shipped_flows_are_found_and_business_files_are_not():
    assert PROJECT / "flows" / "booking.yaml" in SHIPPED
    assert not [p for p in SHIPPED if p.name.endswith(".business.yaml")]


@pytest.mark.parametrize("flow", SHIPPED, ids=lambda p: p.name)
def test_shipped_flow_is_clean(flow):
    problems = check_flow(flow)
    assert problems == [], "\n".join(map(str, problems))


def test_the_clean_fixture_every_broken_one_starts_from_is_clean():
    assert check_flow(FIXTURES / "ok.yaml") == []


# One mistake per fixture, reported at its line


def test_yaml_syntax_error_at_its_line():
    problem = only_error("syntax_error.yaml")
    assert problem.line == line_of("syntax_error.yaml", "# expect: bad indentation")
    assert problem.message.startswith("YAML syntax error")


def test_schema_errors_unknown_key_and_wrong_types_at_their_lines():
    problems = check_flow(FIXTURES / "schema_error.yaml")
    found = {(p.line, p.message) for p in problems}
    assert len(problems) == 3, "\n".join(map(str, problems))
    assert (
        line_of("schema_error.yaml", "# expect: unknown key"),
        "node 'start': unknown key 'prompt' (allowed: task_messages, role_message, functions, pre_actions, "
        "post_actions, context_strategy, respond_immediately)",
    ) in found
    assert (
        line_of("schema_error.yaml", "# expect: wrong type"),
        "node 'start' respond_immediately: should be true or false, not the string 'yes'",
    ) in found
    assert (
        line_of("schema_error.yaml", "# expect: content type"),
        "node 'goodbye' task_messages[1].content: should be a string, not the number 7",
    ) in found


def test_missing_tool_names_the_module_and_the_nearest_tool():
    problem = only_error("missing_tool.yaml")
    assert problem.line == line_of("missing_tool.yaml", "# expect: no such tool")
    assert problem.message == (
        "node 'start' function 'collect_bookin': no such tool in bot.booking.tools (did you mean 'collect_booking'?)"
    )
    assert str(problem) == f"{FIXTURES / 'missing_tool.yaml'}:{problem.line}: {problem.message}"


def test_unknown_target_is_reported_once_at_the_anchor_its_aliases_share():
    problem = only_error("unknown_target.yaml")
    assert problem.line == line_of("unknown_target.yaml", "# expect: unknown node")
    assert "case 'confirm' transitions to unknown node 'confrim'" in problem.message


def test_unreachable_node():
    problem = only_error("unreachable.yaml")
    assert problem.line == line_of("unreachable.yaml", "# expect: unreachable")
    assert problem.message.startswith("node 'orphan' is unreachable")


def test_dead_end_even_when_global_functions_could_leave_it():
    problem = only_error("dead_end.yaml")
    assert problem.line == line_of("dead_end.yaml", "# expect: dead end")
    assert problem.message.startswith("node 'stuck' is a dead end")


def test_missing_say_line():
    problem = only_error("missing_say.yaml")
    assert problem.line == line_of("missing_say.yaml", "# expect: no Say line")
    assert "no 'Say: \"...\"' line" in problem.message


def test_an_again_line_that_repeats_is_a_warning():
    (problem,) = check_flow(FIXTURES / "repeated_again.yaml")
    assert problem.severity == "warning"
    assert problem.line == line_of("repeated_again.yaml", "# expect: repeated Again line")
    assert "'How many people will be joining?'" in problem.message and "same words" in problem.message


def test_a_system_task_message_is_a_second_system_prompt():
    # The role message is already the LLM's system instruction: a task message of role system beside it is
    # what made Pipecat warn "Both system_instruction and an initial system message" on every request.
    problem = only_error("system_task_message.yaml")
    assert problem.line == line_of("system_task_message.yaml", "# expect: second system prompt")
    assert "role 'system'; use 'developer'" in problem.message


def test_unknown_placeholder_is_a_warning_at_the_line_inside_the_block_scalar():
    (problem,) = check_flow(FIXTURES / "unknown_placeholder.yaml")
    assert problem.severity == "warning"
    assert problem.line == line_of("unknown_placeholder.yaml", "{{ opening_time }}")
    assert "'{{ opening_time }}'" in problem.message and "business_name" not in problem.message


def test_every_problem_at_once(tmp_path):
    flow = tmp_path / "many.yaml"
    flow.write_text(
        (FIXTURES / "ok.yaml")
        .read_text()
        .replace("initial_node: start", "initial_node: strat")
        .replace("name: confirm_booking", "name: confirm_bookings")
        .replace("booked: goodbye", "booked: goodby")
        + "  goodbye:\n    task_messages: []\n"
    )
    messages = [p.message for p in errors(check_flow(flow))]
    assert any("initial_node 'strat' is not a node (did you mean 'start'?)" in m for m in messages)
    assert any("'confirm_bookings': no such tool" in m for m in messages)
    assert any("unknown node 'goodby'" in m for m in messages)
    assert any(m.startswith("duplicate key 'goodbye'") for m in messages)


def test_invalid_direct_function_and_missing_module(tmp_path, monkeypatch):
    (tmp_path / "broken_tools.py").write_text(
        "def collect_booking(flow_manager):\n    '''Not async.'''\n\n"
        "async def confirm_booking(flow_manager, confirmed: bool):\n    '''Fine.'''\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (problem,) = errors(check_flow(FIXTURES / "ok.yaml", handlers="broken_tools"))
    assert "broken_tools.collect_booking is not a valid direct function" in problem.message
    (problem,) = check_flow(FIXTURES / "ok.yaml", handlers="no_such_tools_module")
    assert problem.line is None and "cannot import the handlers module 'no_such_tools_module'" in problem.message


def test_a_business_file_is_not_mistaken_for_a_flow():
    (problem,) = check_flow(PROJECT / "flows" / "booking.business.yaml")
    assert "business data file" in problem.message


# What the checks rely on stays in step with the code


def test_say_pattern_is_the_offline_engines():
    assert engine.SAY_LINE is SAY_LINE


def test_starting_keys_come_from_initial_state_and_the_fallback_list_matches():
    assert starting_state_keys() == FALLBACK_STARTING_KEYS


def test_tool_state_keys_are_found_in_the_source():
    assert {"readback", "alternatives", "found", "confirmation_code_spelled", "booking"} <= assigned_state_keys(tools)


# The command line


def test_cli_check_exit_codes(capsys):
    assert main(["flows", "check", str(PROJECT / "flows" / "booking.yaml")]) == 0
    flow = yaml.safe_load((PROJECT / "flows" / "booking.yaml").read_text())
    functions = [f for n in flow["nodes"].values() for f in n.get("functions") or []] + flow["global_functions"]
    tools_in_file = {f["name"] for f in functions}
    transition_only = {f["name"] for f in functions if f.get("transition_only")}
    assert capsys.readouterr().out.strip().endswith(
        f"booking.yaml: OK, {len(flow['nodes'])} nodes, {len(tools_in_file)} tools ({len(transition_only)} transition-only)"
    )
    assert main(["flows", "check", str(FIXTURES / "missing_tool.yaml")]) == 1
    out = capsys.readouterr().out
    assert f"missing_tool.yaml:{line_of('missing_tool.yaml', '# expect')}: node 'start'" in out
    assert out.strip().endswith("missing_tool.yaml: 1 error")
    warning_only = str(FIXTURES / "unknown_placeholder.yaml")
    assert main(["flows", "check", warning_only]) == 0
    assert main(["flows", "check", "--strict", warning_only]) == 1


def test_python_dash_m_bot_flows_check_runs():
    result = subprocess.run(
        [sys.executable, "-m", "bot", "flows", "check", "tests/fixtures/flows/unreachable.yaml"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    line = line_of("unreachable.yaml", "# expect")
    assert result.stdout.startswith(f"tests/fixtures/flows/unreachable.yaml:{line}: node 'orphan' is unreachable")


# The diagram


def test_graph_writes_mermaid_svg_and_png(tmp_path, capsys):
    assert main(["flows", "graph", str(PROJECT / "flows" / "booking.yaml"), "--out", str(tmp_path)]) == 0
    mmd, svg, png = (tmp_path / f"booking.{ext}" for ext in ("mmd", "svg", "png"))
    assert mmd.exists() and svg.exists() and png.exists()
    text = mmd.read_text()
    config = FlowConfig.from_file(PROJECT / "flows" / "booking.yaml")
    for name in config.nodes:
        assert f"<b>{name}</b>" in text, name
    assert "collect_booking" in text and '"time_past, time_closed, time_full"' in text
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    svg_text = svg.read_text()
    assert all(f">{name}<" in svg_text for name in config.nodes)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_refuses_a_flow_pipecat_cannot_load(tmp_path, capsys):
    assert main(["flows", "graph", str(FIXTURES / "schema_error.yaml"), "--out", str(tmp_path)]) == 1
    assert "not drawn" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_graph_marks_the_start_and_the_ends():
    config = FlowConfig.from_file(FIXTURES / "ok.yaml")
    graph = build_graph(config, "ok.yaml")
    assert [b.name for b in graph.boxes if b.initial] == ["start"]
    assert [b.name for b in graph.boxes if b.ends_call] == ["goodbye"]
    text = to_mermaid(graph)
    assert "call_starts --> n_start" in text and "class n_goodbye fc_ending" in text
    assert 'n_confirm -->|"confirm_booking: booked"| n_goodbye' in text


@pytest.mark.parametrize("flow", SHIPPED, ids=lambda p: p.name)
def test_committed_diagram_is_up_to_date(flow):
    committed = PROJECT / "docs" / "flows" / f"{flow.stem}.mmd"
    expected = to_mermaid(build_graph(FlowConfig.from_file(flow), flow.name))
    assert committed.exists() and committed.read_text() == expected, (
        f"docs/flows/{flow.stem}.* is stale: run `python -m bot flows graph flows/{flow.name}`"
    )
