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
from anchorbench.leaderboard.suite import (
    PARAM_BUDGET,
    SuiteRequirement,
    budget_train,
    requirement,
    requirement_for,
    tuned_requirement,
)
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


def check_file(path: Path, req: SuiteRequirement | None = None) -> Checked:
    """Every check of one submission file, against ``req`` (an earlier suite version the board
    keeps) or else the suite its ``suite.id`` names."""
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
    checked.problems += check_against_suite(sub, req)
    if not checked.problems:  # rebuilding models needs the tasks and configs the suite check passed
        checked.problems += check_params(sub)
    checked.submission = sub
    if checked.ok:
        checked.notes = comparability(sub, req)
    return checked


def check_against_suite(sub: Submission, req: SuiteRequirement | None = None) -> list[str]:
    if req is not None and sub.suite.id != req.id:
        return [f"suite.id: '{sub.suite.id}' is not '{req.id}'"]
    req = req or requirement_for(sub.suite.id)
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
            else:
                problems += recompute_summary(f"{at}.scores.{score}", summary, per_seed, score)
    problems += recompute_timing(at, result)
    return problems


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def recompute_summary(at: str, summary: Any, per_seed: list[float], score: str) -> list[str]:
    """The aggregate the board shows (mean, 95% interval, n), recomputed from the per-seed values."""
    from anchorbench.registry import METRICS
    from anchorbench.scoring.stats import mean_ci

    bounds = METRICS.get(score).bounds if score in METRICS else (None, None)
    want = mean_ci(per_seed, bounds)
    for key in ("mean", "ci_low", "ci_high", "n"):
        if not _same(getattr(summary, key), want[key]):
            what = "the mean" if key == "mean" else "n" if key == "n" else "the 95% interval"
            return [f"{at}.{key}: is not {what} of the per-seed scores ({want[key]})"]
    return []


def recompute_timing(at: str, result: Any) -> list[str]:
    """The grokking timing the board shows, recomputed from the per-seed timings (version 3 files;
    an older file's timing cannot be recomputed, and the board does not show it)."""
    from anchorbench.execution.results import timing_summary

    problems = []
    for q, shown in result.timing.items():
        per_seed = [s.timing.get(q) for s in result.seeds]
        if all(t is None for t in per_seed):
            continue  # version 2: nothing to recompute from (timing_recomputable says so to the board)
        if any(t is None for t in per_seed):
            problems.append(f"{at}.seeds: timing at q={q} is missing for some seeds")
            continue
        want = timing_summary([t.t_gen for t in per_seed], [t.budget for t in per_seed], [t.grokked for t in per_seed])
        for key in ("fraction_grokked", "grokked", "n", "km_median_t_gen", "km_ci", "censored"):
            got, expect = shown.get(key), want[key]
            same = (
                isinstance(got, list) and len(got) == len(expect) and all(_same(a, b) for a, b in zip(got, expect))
                if isinstance(expect, list)
                else _same(got, expect)
            )
            if not same:
                problems.append(f"{at}.timing.{q}.{key}: is not what the per-seed timings give ({expect})")
    return problems


def timing_recomputable(result: Any, q: str) -> bool:
    """Whether every seed carries its timing at q, so that validate recomputed the summary."""
    return q in result.timing and all(q in s.timing for s in result.seeds)


def check_params(sub: Submission) -> list[str]:
    """``n_params`` is the largest per-task model's recorded count, and each registered model's
    recorded count is what its recorded config builds (a plug-in's is checked by verify, which
    builds it only with --allow-import)."""
    from anchorbench.registry import MODELS

    problems = []
    largest = max(result.model.n_params for result in sub.tasks.values())
    if sub.n_params != largest:
        problems.append(f"n_params: {sub.n_params:,} is not the largest per-task model's recorded count ({largest:,})")
    for label, result in sub.tasks.items():
        if result.model.name not in MODELS:
            continue
        built = built_params(label, result)
        if built is not None and built != result.model.n_params:
            problems.append(
                f"tasks.{label}.model.n_params: {result.model.n_params:,} recorded, its config builds {built:,}"
            )
    return problems


def built_params(label: str, result: Any) -> int | None:
    """The parameter count of the model the record describes, built (not trained); None when the
    record does not describe a buildable model (its other problems are named elsewhere)."""
    from anchorbench.errors import UserError
    from anchorbench.execution.plan import recorded_entry
    from anchorbench.models.build import count_params

    try:
        plan = recorded_entry(label, result.task.id, result.task.params, (result.model.name, result.model.config),
                              result.train)  # fmt: skip
        return count_params(plan.build_model(0))
    except (UserError, KeyError, ValueError, TypeError):
        return None


def comparability(sub: Submission, req: SuiteRequirement | None = None) -> list[str]:
    """Why a valid submission belongs to the free-for-all section rather than the ranked one (the
    tuned track's cells are checked against their own cell's budget: lr and weight decay included)."""
    req = req or requirement_for(sub.suite.id)
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
