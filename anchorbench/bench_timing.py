"""What every ``anchorbench bench`` measurement is built from: a timed workload, the alternating
baseline-vs-contender ratio, and the row a benchmark reports."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Workload = Callable[[], Any]


@dataclass
class Outcome:
    name: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool


def seconds(work: Workload) -> float:
    t = time.perf_counter()
    work()
    return time.perf_counter() - t


def alternate(ours: Workload, baseline: Workload, rounds: int) -> tuple[float, float, float]:
    """Median seconds of each, and the median per-round speed ratio baseline_time / our_time."""
    ta, tb, ratios = [], [], []
    for _ in range(rounds):
        a, b = seconds(ours), seconds(baseline)
        ta.append(a)
        tb.append(b)
        ratios.append(b / a)
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)
