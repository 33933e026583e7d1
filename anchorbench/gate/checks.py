"""The regression gate's checks: every score of every run against a floor and/or a baseline.

A *floor* is a bound in the metric's own direction: a minimum for higher-is-better scores,
a maximum for lower-is-better ones. A *baseline* is an earlier result; a score regresses when
it is worse than the baseline's by more than its tolerance: the metric's statistical band
(:mod:`anchorbench.scoring.tolerance`: binomial over the split's examples for accuracies,
the standard error of a mean for losses, ±1 for counts, widened by the baseline's seed spread), or one absolute
``--tolerance`` when the user gives it. A score with neither floor nor baseline is recorded (and
passes), but a gate must have something to gate on (see ``gate.command``). A run that diverged
fails every one of its scores.
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
    why: str = ""  # how the tolerance was derived
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
                out.append(f"{v:.4g} regressed from baseline {self.baseline:.4g} (tolerance {self.tolerance:.3g})")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def shipped_floors(suite_id: str | None, target: str) -> Path | None:
    """The floors a built-in suite ships (``tasks/floors/<suite>.yaml``); None for other suites."""
    from anchorbench.specs import builtin_tasks_dir, suite_paths

    if suite_id is None or target not in suite_paths():  # a suite YAML of the user's own
        return None
    path = builtin_tasks_dir() / "floors" / f"{suite_id}.yaml"
    return path if path.is_file() else None


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


@dataclass(frozen=True)
class BaselineScore:
    mean: float | None
    values: tuple[float | None, ...] = ()  # per seed, when the baseline recorded them


Baseline = dict[str, dict[str, BaselineScore]]  # entry label -> score -> baseline


def load_baseline(path: Path) -> Baseline:
    """Scores per entry from a results folder of `anchorbench run` / `ci` (its
    ``*/aggregate.json``) or a JSON file written by ``anchorbench ci --save-baseline``."""
    if path.is_dir():
        aggregates = sorted(path.glob("*/aggregate.json"))
        if not aggregates:
            raise UserError(f"{path}: no */aggregate.json (is it a results folder of `anchorbench run`?)")
        out: Baseline = {}
        for agg in aggregates:
            data = json.loads(agg.read_text())
            out[agg.parent.name] = {
                k: BaselineScore(v.get("mean"), tuple(v.get("values") or ())) for k, v in data.get("scores", {}).items()
            }
        return out
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read baseline {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    scores = data.get("scores") if isinstance(data, dict) else None
    if not isinstance(scores, dict) or not all(isinstance(v, dict) for v in scores.values()):
        raise UserError(f"{path}: expected a baseline written by `anchorbench ci --save-baseline`")
    values = data.get("values") or {}  # per-seed values: written since the tolerance became statistical
    return {
        label: {k: BaselineScore(v, tuple(values.get(label, {}).get(k) or ())) for k, v in by_score.items()}
        for label, by_score in scores.items()
    }


def make_checks(runs: list[dict[str, Any]], floors: Scores, baseline: Baseline, tolerance: float | None) -> list[Check]:
    """``runs``: one dict per entry with label, status, seconds, ``scores`` {name: (value,
    direction)}, ``values`` {name: per-seed values} and ``n`` {name: examples the score counts}.
    ``tolerance``: one absolute tolerance for every score, or None for each metric's own band."""
    from anchorbench.registry import METRICS
    from anchorbench.scoring.tolerance import leave_one_out_sd

    checks = []
    for run in runs:
        label = run["label"]
        for score, (value, direction) in run["scores"].items():
            base = baseline.get(label, {}).get(score)
            band, why = (tolerance or 0.0), "absolute (--tolerance)"
            if base is not None and tolerance is None:
                spread = leave_one_out_sd(list(base.values), None) or leave_one_out_sd(run["values"][score], None)
                if finite(value) and finite(base.mean):
                    band, why = METRICS.get(score).tolerance.band(
                        base.mean, value, n=run["n"].get(score), spread=spread, sd=run["sd"].get(score)
                    )  # type: ignore[arg-type]
            checks.append(
                Check(
                    entry=label,
                    score=score,
                    direction=direction,
                    value=value,
                    floor=floors.get(label, {}).get(score),
                    baseline=None if base is None else base.mean,
                    tolerance=band,
                    why=why,
                    status=run["status"],
                    seconds=run["seconds"],
                )  # fmt: skip
            )
    return checks


def finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)
