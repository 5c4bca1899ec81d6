"""The parts of a flow file that more than one tool reads: ``Say:`` lines, placeholders, transitions, endings.

The offline dialogue engine, the checker, the graph and resuming a call all
read a flow the same way; the patterns live here once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# What the offline dialogue engine says at a node, and how it asks again there (one or more
# ``Again:`` lines, used in turn).
SAY_LINE = re.compile(r'\bSay:\s*"([^"]+)"')
AGAIN_LINE = re.compile(r'\bAgain:\s*"([^"]+)"')
# The words a role message gives for a case: 'If the caller asks you to wait ..., say: "Of course, take your time."'
CASE_LINE = re.compile(r'\bsay:\s*"([^"]+)"')
# Pipecat's placeholder pattern (pipecat/flows/manager.py ``_PLACEHOLDER``).
PLACEHOLDER = re.compile(r"(\\?)\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
END_CONVERSATION = "end_conversation"


def find_flows(directory: str | Path) -> list[Path]:
    """The flow files in ``directory``: every ``*.yaml`` except the ``*.business.yaml`` data files."""
    return sorted(p for p in Path(directory).glob("*.yaml") if not p.name.endswith(".business.yaml"))


def entries(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """``(index, item)`` for the mappings in a list; nothing for anything else (the schema reports it)."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def is_ending(node: dict[str, Any]) -> bool:
    """Whether entering this node ends the call (an ``end_conversation`` action)."""
    actions = entries(node.get("pre_actions")) + entries(node.get("post_actions"))
    return any(a.get("type") == END_CONVERSATION for _, a in actions)


def function_targets(function: dict[str, Any]) -> list[tuple[str | None, str]]:
    """``(case, node)`` for every node a function entry can transition to.

    ``case`` is None for a plain ``transition_to: node``, the case key for a
    branch case, and ``"default"`` for a branch default.
    """
    target = function.get("transition_to")
    if isinstance(target, str):
        return [(None, target)]
    if isinstance(target, dict):
        from pipecat.flows.config import case_key

        cases = target.get("cases") if isinstance(target.get("cases"), dict) else {}
        found = [(case_key(k), v) for k, v in cases.items() if isinstance(v, str)]
        if isinstance(target.get("default"), str):
            found.append(("default", target["default"]))
        return found
    return []


def say_line(node: dict[str, Any]) -> str | None:
    """The ``Say: "..."`` text the offline engine speaks at a node (the last one written)."""
    found: list[str] = []
    for _, message in entries(node.get("task_messages")):
        if isinstance(message.get("content"), str):
            found += SAY_LINE.findall(message["content"])
    return found[-1] if found else None


def again_lines(node: dict[str, Any]) -> list[str]:
    """The ``Again: "..."`` lines of a node's task messages, in the order the offline engine uses them."""
    found: list[str] = []
    for _, message in entries(node.get("task_messages")):
        if isinstance(message.get("content"), str):
            found += AGAIN_LINE.findall(message["content"])
    return found
