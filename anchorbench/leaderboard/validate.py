"""``anchorbench leaderboard validate``: every check a submission file must pass, per file.

Files are read as bytes and parsed as JSON only; nothing in them is executed. Each problem
names the field it is about. One bad file never stops the others from being checked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from anchorbench.leaderboard.record import MAX_BYTES, Submission, content_hash_of, finite
from anchorbench.leaderboard.suite import PARAM_BUDGET, budget_train, requirement, requirement_for, tuned_requirement
from anchorbench.leaderboard.text import check_text

MIN_SEEDS = 3
DISPLAYED = ("name", "description", "model_name")  # the strings the board shows


@dataclass
class Checked:
    path: Path
    problems: list[str] = field(default_factory=list)
    submission: Submission | None = None
    notes: list[str] = field(default_factory=list)  # not errors: why a valid file is not comparable

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def comparable(self) -> bool:
        return self.ok and not self.notes


def nonfinite_paths(data: Any, at: str = "") -> list[str]:
    """Where NaN or an infinity sits in parsed JSON (``json`` accepts them; we do not)."""
    if isinstance(data, float) and not math.isfinite(data):
        return [at or "(top level)"]
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in nonfinite_paths(v, f"{at}.{k}" if at else str(k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in nonfinite_paths(v, f"{at}[{i}]")]
    return []


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse(path: Path) -> tuple[Any, list[str]]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [f"cannot read: {exc.strerror}"]
    if size > MAX_BYTES:
        return None, [f"file is {size:,} bytes, over the {MAX_BYTES:,}-byte limit"]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [f"not UTF-8 text (byte {exc.start})"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    if not isinstance(data, dict):
        return None, [f"top level must be a JSON object, not {type(data).__name__}"]
    bad = nonfinite_paths(data)
    if bad:
        return None, [f"{p}: NaN and infinities are not allowed" for p in bad]
    return data, []


def check_file(path: Path) -> Checked:
    checked = Checked(path)
    data, problems = parse(path)
    if problems:
        checked.problems = problems
        return checked
    try:
        sub = Submission.model_validate(data)
    except ValidationError as exc:
        checked.problems = [f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors()[:20]]
        return checked
    for key in DISPLAYED:
        problem = check_text(getattr(sub, key))
        if problem:
            checked.problems.append(f"{key}: {problem}")
    if data.get("content_hash") != content_hash_of(data):
        checked.problems.append("content_hash: does not match the file's contents (edited after it was made?)")
    checked.problems += check_against_suite(sub)
    checked.submission = sub
    if checked.ok:
        checked.notes = comparability(sub)
    return checked


def check_against_suite(sub: Submission) -> list[str]:
    req = requirement_for(sub.suite.id)
    if req is None:
        suites = f"'{requirement().id}', or '{tuned_requirement().id}' for the tuned track"
        return [f"suite.id: '{sub.suite.id}' is not the leaderboard's suite ({suites})"]
    problems = []
    if sub.suite.version != req.version:
        problems.append(f"suite.version: {sub.suite.version} is not the current version {req.version}")
    elif sub.suite.spec_hash != req.spec_hash:
        problems.append(f"suite.spec_hash: does not match the current {req.id} suite")
    for label in sorted(set(req.entries) - set(sub.tasks)):
        problems.append(f"tasks.{label}: missing (the suite has {', '.join(req.entries)})")
    for label in sorted(set(sub.tasks) - set(req.entries)):
        problems.append(f"tasks.{label}: not an entry of the suite")
    for label, want in req.entries.items():
        if label in sub.tasks:
            problems += check_task(f"tasks.{label}", sub.tasks[label], want)
            if sub.tasks[label].model.name != sub.model_name:
                problems.append(f"tasks.{label}.model.name: '{sub.tasks[label].model.name}' is not model_name")
    return problems


def check_task(at: str, result: Any, want: Any) -> list[str]:
    problems = []
    if (result.task.id, result.task.version) != (want.task_id, want.task_version):
        problems.append(
            f"{at}.task: {result.task.id} v{result.task.version}, expected {want.task_id} v{want.task_version}"
        )
    elif result.task.spec_hash != want.spec_hash:
        problems.append(f"{at}.task.spec_hash: does not match the current task spec")
    seeds = [s.seed for s in result.seeds]
    if len(set(seeds)) < MIN_SEEDS:
        problems.append(f"{at}.seeds: {len(set(seeds))} distinct seed(s), at least {MIN_SEEDS} required")
    if len(set(seeds)) != len(seeds):
        problems.append(f"{at}.seeds: a seed appears twice")
    for score in want.scores:
        summary = result.scores.get(score)
        if summary is None:
            problems.append(f"{at}.scores.{score}: missing")
            continue
        per_seed = [s.scores.get(score) for s in result.seeds]
        for s, v in zip(result.seeds, per_seed):
            if not finite(v):
                problems.append(f"{at}.seeds[seed {s.seed}].scores.{score}: missing or not a finite number")
        if not finite(summary.mean):
            problems.append(f"{at}.scores.{score}.mean: missing or not a finite number")
        elif all(finite(v) for v in per_seed):
            if summary.values != per_seed:
                problems.append(f"{at}.scores.{score}.values: differ from the per-seed scores")
            elif not math.isclose(summary.mean, sum(per_seed) / len(per_seed), rel_tol=1e-9, abs_tol=1e-12):
                problems.append(f"{at}.scores.{score}.mean: is not the mean of the per-seed scores")
    return problems


def comparability(sub: Submission) -> list[str]:
    """Why a valid submission belongs to the free-for-all section rather than the ranked one (the
    tuned track's cells are checked against their own cell's budget: lr and weight decay included)."""
    req = requirement_for(sub.suite.id)
    assert req is not None  # checked by check_against_suite
    notes = []
    if sub.n_params > PARAM_BUDGET:
        notes.append(f"n_params {sub.n_params:,} exceeds the {PARAM_BUDGET:,} budget")
    for label, want in req.entries.items():
        got = budget_train(sub.tasks[label].train)
        fixed = budget_train(want.train)
        changed = sorted(k for k in fixed if got.get(k) != fixed[k])
        if changed:
            notes.append(f"tasks.{label}.train: {', '.join(changed)} differ from the suite's fixed values")
    return notes


def validate_files(paths: list[Path]) -> list[Checked]:
    return [check_file(p) for p in paths]
