"""Paired comparison of two arms trained on the same seeds and data.

For every score: the per-seed difference arm - baseline, its mean and 95% t-interval
(a paired test: seed-to-seed variation common to both arms cancels). For speed: the
first evaluated step at which ``split`` accuracy reaches ``threshold`` in each arm, and
the per-seed ratio arm / baseline (below 1: the arm generalizes sooner). A seed where
either arm never reaches the threshold has no ratio; how many reached is reported.
The timing resolution is the evaluation schedule, recorded next to the times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from anchorbench.execution.results import Record, RunResult
from anchorbench.files import read_jsonl
from anchorbench.scoring.stats import mean_ci


class Interval(Record):
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    values: list[float | None]


class StepsTo(Record):
    split: str
    threshold: float
    resolution: str = Field(description="the evaluation schedule that bounds the timing precision")
    baseline: list[int | None] = Field(description="per seed; null: never reached within the budget")
    arm: list[int | None]
    ratio: Interval = Field(description="arm / baseline per seed where both reached")


class Comparison(Record):
    baseline: str
    arm: str
    seeds: list[int]
    deltas: dict[str, Interval] = Field(description="score -> arm minus baseline, paired by seed")
    steps_to: StepsTo


def first_step_reaching(history: list[dict[str, Any]], split: str, threshold: float) -> int | None:
    for record in history:
        acc = record["splits"].get(split, {}).get("accuracy")
        if acc is not None and acc >= threshold:
            return int(record["step"])
    return None


def resolution(train: dict[str, Any]) -> str:
    if train["eval_schedule"] == "linear":
        return f"every {train['eval_every']} steps"
    if train["eval_schedule"] == "dense-log":
        return (
            f"every {train['eval_every']} steps to {train['eval_dense_until']}, then {train['eval_points']} log-spaced"
        )
    return f"{train['eval_points']} log-spaced evaluations"


def compare_arms(
    baseline: tuple[str, list[RunResult], Path],
    arm: tuple[str, list[RunResult], Path],
    split: str = "test",
    threshold: float = 0.9,
) -> Comparison:
    (base_label, base, base_dir), (arm_label, runs, arm_dir) = baseline, arm
    if [r.seed for r in base] != [r.seed for r in runs]:
        raise ValueError("arms must be compared on the same seeds")
    deltas = {}
    for score in base[0].scores:
        values = [
            None if b.scores.get(score) is None or a.scores.get(score) is None else a.scores[score] - b.scores[score]
            for b, a in zip(base, runs)
        ]
        deltas[score] = Interval(values=values, **mean_ci(values))  # type: ignore[arg-type]

    def steps(folder: Path, results: list[RunResult]) -> list[int | None]:
        return [
            first_step_reaching(read_jsonl(folder / f"seed-{r.seed}" / r.history), split, threshold) for r in results
        ]

    sb, sa = steps(base_dir, base), steps(arm_dir, runs)
    ratios = [None if b is None or a is None else a / max(b, 1) for b, a in zip(sb, sa)]
    return Comparison(
        baseline=base_label,
        arm=arm_label,
        seeds=[r.seed for r in base],
        deltas=deltas,
        steps_to=StepsTo(
            split=split,
            threshold=threshold,
            resolution=resolution(base[0].train),
            baseline=sb,
            arm=sa,
            ratio=Interval(values=ratios, **mean_ci(ratios, bounds=(0, None))),  # type: ignore[arg-type]
        ),
    )
