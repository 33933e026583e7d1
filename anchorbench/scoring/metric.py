"""Metrics: a function of an :class:`Evaluation`, registered with its direction.

Tables, aggregation and the leaderboard read the direction from here, never from a
hard-coded order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from anchorbench.registry import METRICS
from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.tolerance import RELATIVE, Tolerance


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[Evaluation], float]
    direction: Literal["higher", "lower"]  # which way is better
    description: str
    aggregation: Literal["mean"] = "mean"  # across seeds: mean with a 95% t-interval
    bounds: tuple[float | None, float | None] = (None, None)  # the range values can take
    # How far two honest measurements may differ (verify across stacks, ci --baseline)
    tolerance: Tolerance = RELATIVE
    # A property of the data, not of the model (e.g. what a shortcut scores): tables state it once
    # beside the task instead of showing it as a model's score
    of_data: bool = False
    # Scores this one is computed from (read from the history of earlier evaluations): a task that
    # declares this score must declare them too, checked at planning
    requires: tuple[str, ...] = ()

    def __call__(self, ev: Evaluation) -> float:
        return float(self.fn(ev))

    @property
    def arrow(self) -> str:
        return arrow(self.direction)


def arrow(direction: str) -> str:
    """A score's direction as every output shows it: ↑ higher is better, ↓ lower is better."""
    return "↑" if direction == "higher" else "↓"


def metric(
    name: str,
    direction: Literal["higher", "lower"],
    description: str,
    bounds: tuple[float | None, float | None] = (None, None),
    tolerance: Tolerance = RELATIVE,
    of_data: bool = False,
    requires: tuple[str, ...] = (),
):
    """Decorator: register ``fn(evaluation) -> float`` as metric ``name``."""

    def register(fn: Callable[[Evaluation], float]) -> Metric:
        m = Metric(name, fn, direction, description, bounds=bounds, tolerance=tolerance, of_data=of_data,
                   requires=requires)  # fmt: skip
        METRICS.register(name, m, origin="built-in")
        return m

    return register
