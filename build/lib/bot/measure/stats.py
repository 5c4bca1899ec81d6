"""Summary figures of a set of measurements, as the bench, the load test and the dashboard report them."""

from __future__ import annotations

import statistics


def percentiles(values: list[float]) -> dict[str, float] | None:
    """p50, p95 (nearest rank), max, mean and min of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(rank(95), 1),
        "max": round(ordered[-1], 1),
        "mean": round(statistics.fmean(ordered), 1),
        "min": round(ordered[0], 1),
    }
