"""The regression gate's checks: every score of every run against a floor and/or a baseline.

A *floor* is a bound in the metric's own direction: a minimum for higher-is-better scores,
a maximum for lower-is-better ones. A *baseline* is an earlier result; a score regresses when
it is worse than the baseline's by more than the tolerance. A score with neither is recorded
(and passes). A run that diverged fails every one of its scores.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError
from anchorbench.specs import read_yaml

Scores = dict[str, dict[str, float | None]]  # entry label -> score -> value


@dataclass(frozen=True)
class Check:
    entry: str
    score: str
    direction: str  # "higher" | "lower"
    value: float | None
    floor: float | None = None
    baseline: float | None = None
    tolerance: float = 0.0
    status: str = "completed"
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        """Why the check fails; empty when it passes."""
        if self.status != "completed":
            return [f"run {self.status}"]
        v = self.value
        if v is None or not math.isfinite(v):
            return ["no finite value"] if (self.floor is not None or self.baseline is not None) else []
        out = []
        better = (lambda a, b: a >= b) if self.direction == "higher" else (lambda a, b: a <= b)
        if self.floor is not None and not better(v, self.floor):
            word = "below floor" if self.direction == "higher" else "above ceiling"
            out.append(f"{v:.4g} {word} {self.floor:.4g}")
        if self.baseline is not None:
            allowed = self.baseline - self.tolerance if self.direction == "higher" else self.baseline + self.tolerance
            if not better(v, allowed):
                out.append(f"{v:.4g} regressed from baseline {self.baseline:.4g} (tolerance {self.tolerance:g})")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def load_floors(path: Path, entries: dict[str, tuple[str, ...]]) -> Scores:
    """A YAML mapping ``entry label -> score -> bound``, checked against the suite's entries."""
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping 'task -> score -> floor'")
    floors: Scores = {}
    for label, scores in data.items():
        if label not in entries:
            raise UserError(f"{path}: '{label}' is not an entry of the suite ({', '.join(entries)})")
        if not isinstance(scores, dict):
            raise UserError(f"{path}: {label}: expected a mapping 'score -> floor'")
        for score, bound in scores.items():
            if score not in entries[label]:
                raise UserError(f"{path}: {label}: unknown score '{score}' (scores: {', '.join(entries[label])})")
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
                raise UserError(f"{path}: {label}.{score}: floor must be a number, not {bound!r}")
        floors[str(label)] = {str(k): float(v) for k, v in scores.items()}
    return floors


def load_baseline(path: Path) -> Scores:
    """Mean scores per entry from a results folder of `anchorbench run` / `ci` (its
    ``*/aggregate.json``) or a JSON file written by ``anchorbench ci --save-baseline``."""
    if path.is_dir():
        aggregates = sorted(path.glob("*/aggregate.json"))
        if not aggregates:
            raise UserError(f"{path}: no */aggregate.json (is it a results folder of `anchorbench run`?)")
        out: Scores = {}
        for agg in aggregates:
            data = json.loads(agg.read_text())
            out[agg.parent.name] = {k: v.get("mean") for k, v in data.get("scores", {}).items()}
        return out
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read baseline {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    scores = data.get("scores") if isinstance(data, dict) else None
    if not isinstance(scores, dict):
        raise UserError(f"{path}: expected a baseline written by `anchorbench ci --save-baseline`")
    return scores


def make_checks(runs: list[dict[str, Any]], floors: Scores, baseline: Scores, tolerance: float) -> list[Check]:
    """``runs``: one dict per entry with label, status, seconds and scores {name: (value, direction)}."""
    checks = []
    for run in runs:
        label = run["label"]
        for score, (value, direction) in run["scores"].items():
            checks.append(
                Check(
                    entry=label,
                    score=score,
                    direction=direction,
                    value=value,
                    floor=floors.get(label, {}).get(score),
                    baseline=baseline.get(label, {}).get(score),
                    tolerance=tolerance,
                    status=run["status"],
                    seconds=run["seconds"],
                )  # fmt: skip
            )
    return checks
