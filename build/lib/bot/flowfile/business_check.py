"""Check the business file beside a flow: hours, limits, the line's words and the facts it answers with.

The line validates the file when it starts (``bot.booking.business.Business``);
this says every problem at once, each at its line, and warns about facts that
callers cannot reach: an owner's question that one of the built-in kinds would
answer first.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.booking.business import Business
from bot.booking.facts import matching_facts
from bot.flowfile.positions import Positions
from bot.flowfile.problems import Problem


def business_file_of(flow: Path) -> Path:
    """``flows/booking.yaml`` -> ``flows/booking.business.yaml``."""
    return flow.with_suffix(".business.yaml")


def check_business(path: Path) -> list[Problem]:
    """Every problem with the business file at ``path``."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as e:
        return [Problem(file, None, f"cannot read the file: {e.strerror or e}")]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return [Problem(file, mark.line + 1 if mark else None, f"YAML syntax error: {e.problem or e.context}")]
    if root is None or not isinstance(data, dict):
        return [Problem(file, None, "the business file must be a mapping of settings")]
    positions = Positions(root, text)
    try:
        business = Business.model_validate(data)
    except ValidationError as e:
        return [
            Problem(file, positions.line(error["loc"]), f"{'.'.join(map(str, error['loc'])) or 'file'}: {error['msg']}")
            for error in e.errors()
        ]
    problems = []
    for i, entry in enumerate(business.facts.more):
        for j, question in enumerate(entry.questions):
            if matching_facts(question, business.facts)[:1] != [f"more[{i}]"]:
                problems.append(
                    Problem(
                        file,
                        positions.line(["facts", "more", i, "questions", j]),
                        f"facts.more[{i}]: {question!r} is answered by another fact first; word it closer to how"
                        " callers ask, or write that answer in the fact it matches",
                        "warning",
                    )
                )
    return problems
