"""Timing helpers: repeat a call, then summarise the durations."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def time_calls(call: Callable[[], Any], runs: int, *, warmup: int = 1) -> list[float]:
    """Call ``call`` ``warmup`` times untimed, then ``runs`` times; return the durations in seconds."""
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(durations: list[float]) -> dict[str, float | int]:
    """Summarise latencies in milliseconds: p50, p99, min, max over ``durations``."""
    milliseconds = [value * 1000 for value in durations]
    return {
        "calls": len(milliseconds),
        "p50_ms": statistics.median(milliseconds),
        "p99_ms": percentile(milliseconds, 0.99),
        "min_ms": min(milliseconds),
        "max_ms": max(milliseconds),
    }


def duration_summary(durations: list[float]) -> dict[str, float | int | list[float]]:
    """Summarise whole-run durations in seconds: median, min, max and every run."""
    return {
        "runs": len(durations),
        "median_s": statistics.median(durations),
        "min_s": min(durations),
        "max_s": max(durations),
        "all_s": [round(value, 4) for value in durations],
    }


def rate_summary(rows: int, durations: list[float]) -> dict[str, float | int | list[float]]:
    """Summarise a throughput: rows per second at the median, fastest and slowest run."""
    summary = duration_summary(durations)
    summary["rows"] = rows
    summary["median_rows_per_s"] = rows / statistics.median(durations)
    summary["best_rows_per_s"] = rows / min(durations)
    summary["worst_rows_per_s"] = rows / max(durations)
    return summary
