"""Chart.js configurations for the dashboard's figures (static/dashboard.js draws each one as it is given).

Plain data in, a JSON-able ``{type, data, options}`` out: the numbers are the
queries' own, nothing is computed here but the shape of the chart.
"""

from __future__ import annotations

from typing import Any

from processors.latency import STAGES

BLUE, GREEN, RED, AMBER, GREY = "#2563eb", "#16a34a", "#dc2626", "#d97706", "#9ca3af"
STAGE_COLOURS = {
    "vad": "#94a3b8", "stt": "#2563eb", "turn": "#a5b4fc", "llm": "#16a34a",
    "tools": "#65a30d", "tts": "#d97706", "output": "#db2777", "pipeline": "#6b7280",
}


def _options(y_title: str | None = None, *, stacked: bool = False, legend: bool = True, y_max: float | None = None,
             horizontal: bool = False, whole: bool = True) -> dict[str, Any]:
    value_axis: dict[str, Any] = {"beginAtZero": True, "stacked": stacked}
    if whole:  # counts: no ticks at 0.5 of a call
        value_axis["ticks"] = {"precision": 0}
    if y_title:
        value_axis["title"] = {"display": True, "text": y_title}
    if y_max is not None:
        value_axis["max"] = y_max
    category_axis = {"stacked": stacked, "grid": {"display": False}}
    return {
        "animation": False,
        "maintainAspectRatio": False,
        "indexAxis": "y" if horizontal else "x",
        "interaction": {"mode": "index", "intersect": False},
        "plugins": {"legend": {"display": legend, "position": "bottom"}},
        "scales": {"x": value_axis, "y": category_axis} if horizontal else {"x": category_axis, "y": value_axis},
    }


def _chart(kind: str, labels: list[str], datasets: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "data": {"labels": labels, "datasets": datasets}, "options": options}


def _day_labels(per_day: list[dict[str, Any]]) -> list[str]:
    return [d["day"][5:] for d in per_day]  # "MM-DD" of an ISO day


def _target_line(label: str, value: float, points: int) -> dict[str, Any]:
    """A dashed red line across the chart at a target or a limit."""
    return {"label": label, "data": [value] * points, "borderColor": RED, "borderDash": [6, 4], "pointRadius": 0}


def _daily_lines(per_day: list[dict[str, Any]], series: list[tuple[str, list[float | None], str]], target: float,
                 target_label: str, y_title: str, *, whole: bool = True) -> dict[str, Any]:
    """Figures per day, one line for each ``(label, values, colour)`` of ``series``, against a target.

    A day with no figure (``None``) is bridged rather than drawn as a drop to zero.
    """
    lines = [{"label": label, "data": values, "borderColor": colour, "backgroundColor": colour, "spanGaps": True}
             for label, values, colour in series]
    return _chart("line", _day_labels(per_day), [*lines, _target_line(target_label, target, len(per_day))],
                  _options(y_title, whole=whole))


def seats(slots: list[dict[str, Any]], capacity: int) -> dict[str, Any]:
    """Seats taken per start time, against the room's capacity."""
    colours = [RED if s["free"] == 0 else AMBER if s["free"] < capacity * 0.2 else BLUE for s in slots]
    return _chart(
        "bar",
        [s["time"] for s in slots],
        [
            {"type": "line", **_target_line(f"Capacity ({capacity} seats)", capacity, len(slots)), "borderWidth": 2},
            {"label": "Seats taken", "data": [s["taken"] for s in slots], "backgroundColor": colours},
        ],
        _options("seats", y_max=capacity + max(2, capacity // 10)),
    )


def turn_stages(latency: list[dict[str, Any]]) -> dict[str, Any]:
    """Each caller turn's voice to voice, split by stage."""
    return _chart(
        "bar",
        [f"turn {row['turn']}" for row in latency],
        [
            {"label": stage, "data": [row.get(f"{stage}_ms") or 0 for row in latency],
             "backgroundColor": STAGE_COLOURS[stage]}
            for stage in STAGES
        ],
        _options("ms", stacked=True, horizontal=True),
    )


def calls_per_hour(counts: list[int]) -> dict[str, Any]:
    return _chart("bar", [f"{h:02d}" for h in range(24)],
                  [{"label": "Calls", "data": counts, "backgroundColor": BLUE}], _options("calls", legend=False))


def calls_per_day(per_day: list[dict[str, Any]]) -> dict[str, Any]:
    return _chart(
        "bar",
        _day_labels(per_day),
        [
            {"label": "Calls", "data": [d["calls"] for d in per_day], "backgroundColor": GREY},
            {"label": "Calls that booked", "data": [d["booked"] for d in per_day], "backgroundColor": GREEN},
        ],
        _options("calls"),
    )


def voice_to_voice(per_day: list[dict[str, Any]], target_ms: float) -> dict[str, Any]:
    return _daily_lines(
        per_day,
        [("p50", [d["p50"] for d in per_day], BLUE), ("p95", [d["p95"] for d in per_day], AMBER)],
        target_ms, f"target p95 ≤ {target_ms:g} ms", "ms",
    )


def cost_per_day(per_day: list[dict[str, Any]], target: float) -> dict[str, Any]:
    costs = [round(d["cost"], 4) if d["cost"] is not None else None for d in per_day]
    return _daily_lines(
        per_day, [("Estimated cost per call ($)", costs, GREEN)], target, f"requirement < ${target:.2f}", "$ a call",
        whole=False,
    )


def outcomes(counts: list[tuple[str, int]]) -> dict[str, Any]:
    return _chart("bar", [name.replace("_", " ") for name, _ in counts],
                  [{"label": "Calls", "data": [n for _, n in counts], "backgroundColor": BLUE}],
                  _options("calls", legend=False, horizontal=True))
