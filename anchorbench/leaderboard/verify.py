"""``anchorbench leaderboard verify``: re-run recorded seeds and judge the claims by the re-runs.

The run is rebuilt from the submission's names and numbers (task id and params, model name
and config, training config, seed); its config hash must equal the recorded one, so what
is re-run is what was reported. What the submitter controls is everything in the file: the
scores, the environment it names, the parameter count, the timings. What the verifier controls
is the re-run: its code, its machine, its thread count. So every verdict is built from the
re-run, and no number of the submission ever widens the band it is judged by.

Two rules, and the table says which applied to each seed:

* **exact**: the re-run's code (by source hash) and numerics stack (every field of
  :data:`anchorbench.execution.numerics.STACK_FIELDS`, the CPU's identity and ISA included)
  equal the recorded ones, on a CPU: every score, the parameter count and the timings must be
  bitwise equal, seed by seed;
* **consistent**: another stack (or one the record does not fully name). A seed's re-run is then
  a fresh draw from that seed's distribution, not a replay: each claimed value is compared with
  its re-run, and the claimed mean with the re-run mean, within bands built from the split's
  sampling noise at the re-run's value and a seed spread from the re-runs themselves, floored
  by the project's reference spread (:mod:`anchorbench.leaderboard.reference`).

Three re-runs estimate a seed spread badly: where a consistent check fails, the verifier first
trains ``extra_seeds`` fresh seeds of the same configuration (seeds the record does not have)
and judges again with the spread of all its re-runs, so that an honest model whose seeds split
between two outcomes is not called a forgery because its three re-runs happened to agree.

Every recorded seed is re-run by default; ``--seed`` and ``--sample`` re-run fewer and the
verdict names the seeds it did not check.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError
from anchorbench.execution.numerics import describe, stack_differences
from anchorbench.leaderboard.record import Submission, finite
from anchorbench.scoring.tolerance import EXACT, Z, cross_stack_band, seed_sd_estimate, split_loss_sd, split_n

TIMING_Q = "0.95"  # the threshold whose t_gen the board shows
EXTRA_SEEDS = 5  # fresh seeds trained before a cross-stack failure stands (simulated: anchorbench leaderboard power)


@dataclass
class ScoreCheck:
    task: str
    seed: int | None  # None: the mean over the re-run seeds
    score: str
    recorded: float | None
    rerun: float | None
    tolerance: float
    rule: str  # "exact" | "consistent"
    why: str = ""  # how the tolerance was derived

    @property
    def ok(self) -> bool:
        if not (finite(self.recorded) and finite(self.rerun)):
            return self.recorded is None and self.rerun is None
        return abs(self.recorded - self.rerun) <= self.tolerance  # type: ignore[operator]

    @property
    def where(self) -> str:
        return f"seed {self.seed}" if self.seed is not None else "mean"


@dataclass
class Verdict:
    """The re-run of one seed of one entry."""

    task: str
    seed: int
    rule: str  # "exact" | "consistent"
    recorded_stack: str
    rerun_stack: str
    differences: list[str]  # why the stacks differ (empty for exact)
    checks: list[ScoreCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def explain(self) -> str:
        if self.rule == "exact":
            return f"rule: exact (same numerics stack: {self.rerun_stack}); scores must be bitwise equal"
        because = "; ".join(self.differences[:6]) + (" ..." if len(self.differences) > 6 else "")
        return (
            f"rule: consistent (recorded on {self.recorded_stack}; re-run on {self.rerun_stack}; "
            f"differs in {because}); each claim must lie within a band built from the re-runs"
        )


@dataclass
class Report:
    verdicts: list[Verdict]
    means: list[ScoreCheck]  # consistent rule: claimed mean against re-run mean, per entry and score
    rerun: dict[str, list[int]]  # entry -> the seeds re-run
    recorded: dict[str, list[int]]  # entry -> every recorded seed
    threads: int
    drawn: bool = False  # the seeds were drawn by the verifier (--sample)
    extra: dict[str, list[int]] = field(default_factory=dict)  # entry -> fresh seeds trained for the spread
    checks: list[ScoreCheck] = field(init=False)

    def __post_init__(self) -> None:
        self.checks = [c for v in self.verdicts for c in v.checks] + self.means

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def not_covered(self) -> dict[str, list[int]]:
        """Entry -> recorded seeds this verification did not re-run."""
        out = {label: [s for s in seeds if s not in self.rerun.get(label, [])]
               for label, seeds in self.recorded.items()}  # fmt: skip
        return {label: seeds for label, seeds in out.items() if seeds}


def entry_plan(sub: Submission, label: str, *, allow_import: bool = False):  # -> EntryPlan
    from anchorbench.execution.plan import recorded_entry
    from anchorbench.registry import MODELS

    result = sub.tasks[label]
    name = result.model.name
    if name not in MODELS and not allow_import:
        # A submission is data: naming 'module:attr' must not make verify import (run) that code.
        raise UserError(
            f"the submission's model '{name}' is not a registered model; verify imports it only with "
            "--allow-import (it runs that module's code)"
        )
    return recorded_entry(label, result.task.id, result.task.params, (name, result.model.config), result.train)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_threads(threads: int) -> int:
    """The verifier's thread count: its own choice, at least 1 and at most the cores it may use."""
    cores = available_cores()
    if not 1 <= threads <= cores:
        raise UserError(f"--threads must be between 1 and this machine's {cores} usable core(s), not {threads}")
    return threads


def choose_seeds(recorded: list[int], *, seed: int | None, sample: int | None, rng: random.Random) -> list[int]:
    """Which recorded seeds to re-run: all; the one named (``--seed``); or ``sample`` drawn by the
    verifier (``--sample``), in recorded order."""
    if seed is not None:
        return [seed] if seed in recorded else []
    if sample is not None:
        if sample < 1:
            raise UserError(f"--sample must be at least 1, not {sample}")
        chosen = set(rng.sample(recorded, min(sample, len(recorded))))
        return [s for s in recorded if s in chosen]
    return list(recorded)


def verify(
    sub: Submission,
    *,
    tasks: list[str] | None,
    seed: int | None = None,
    sample: int | None = None,
    threads: int = 1,
    progress: bool = False,
    allow_import: bool = False,
    rng: random.Random | None = None,
    extra_seeds: int = EXTRA_SEEDS,
) -> Report:
    """Re-run the chosen seeds of the chosen entries and judge every claim by the re-runs.

    ``threads`` is the verifier's (the record's thread count is a claim like any other); the
    ``--sample`` draw uses ``rng``, by default the operating system's randomness, so that a
    submitter cannot know in advance which seeds will be checked."""
    from anchorbench.execution.runner import run_seed

    if seed is not None and sample is not None:
        raise UserError("--seed and --sample exclude each other: name one seed, or let the verifier draw some")
    threads = check_threads(threads)
    rng = rng or random.SystemRandom()
    labels = tasks or list(sub.tasks)
    for label in labels:
        if label not in sub.tasks:
            raise UserError(f"task '{label}' is not in the submission (it has {', '.join(sub.tasks)})")
    plans = {label: entry_plan(sub, label, allow_import=allow_import) for label in labels}
    chosen: dict[str, list[int]] = {}
    for label in labels:
        recorded = [s.seed for s in sub.tasks[label].seeds]
        chosen[label] = choose_seeds(recorded, seed=seed, sample=sample, rng=rng)
        if not chosen[label]:
            have = ", ".join(map(str, recorded))
            raise UserError(f"seed {seed} is not in the submission's {label} results (seeds: {have})")
        for s in sub.tasks[label].seeds:
            if s.seed in chosen[label] and plans[label].config_hash(s.seed) != s.config_hash:
                raise UserError(f"{label} seed {s.seed}: the recorded config does not hash to the recorded config_hash")
    if extra_seeds < 0:
        raise UserError(f"--extra-seeds must be 0 or more, not {extra_seeds}")
    verdicts: list[Verdict] = []
    means: list[ScoreCheck] = []
    extra: dict[str, list[int]] = {}

    def rerun(label: str, number: int) -> Any:
        with tempfile.TemporaryDirectory(prefix="anchorbench-verify-") as tmp:
            return run_seed(
                plans[label], number, Path(tmp) / label / f"seed-{number}", results_root=Path(tmp),
                resume=False, progress=progress, threads=threads,
            )  # fmt: skip

    for label in labels:
        reruns = {number: rerun(label, number) for number in chosen[label]}
        entry_verdicts, entry_means = judge(sub, label, reruns, list(reruns.values()))
        failed = any(not c.ok for v in entry_verdicts if v.rule == "consistent" for c in v.checks) or any(
            not c.ok for c in entry_means
        )
        if failed and extra_seeds:
            # three re-runs may agree by chance: more evidence of the verifier's own before a verdict
            start = max(s.seed for s in sub.tasks[label].seeds) + 1
            extra[label] = list(range(start, start + extra_seeds))
            pool = list(reruns.values()) + [rerun(label, number) for number in extra[label]]
            entry_verdicts, entry_means = judge(sub, label, reruns, pool)
        verdicts += entry_verdicts
        means += entry_means
    recorded = {label: [s.seed for s in sub.tasks[label].seeds] for label in labels}
    return Report(verdicts, means, chosen, recorded, threads, drawn=sample is not None, extra=extra)


def judge(
    sub: Submission, label: str, reruns: dict[int, Any], pool: list[Any]
) -> tuple[list[Verdict], list[ScoreCheck]]:
    """Per-seed verdicts and, over the seeds judged by the consistent rule, the mean checks; the seed
    spread is taken over ``pool`` (the re-runs, and any fresh seeds the verifier trained)."""
    verdicts = judge_entry(sub, label, reruns, pool)
    consistent = [v.seed for v in verdicts if v.rule == "consistent"]
    means = mean_checks(sub, label, {s: reruns[s] for s in consistent}, pool) if len(consistent) >= 2 else []
    return verdicts, means


def judge_entry(sub: Submission, label: str, reruns: dict[int, Any], pool: list[Any]) -> list[Verdict]:
    """One verdict per re-run seed of one entry: exact where the stack is the same, else consistent."""
    from anchorbench.registry import METRICS

    result = sub.tasks[label]
    by_seed = {s.seed: s for s in result.seeds}
    verdicts = []
    for number, rerun in reruns.items():
        recorded = by_seed[number]
        differences = stack_differences(
            sub.env, rerun.env, recorded_code=result.model.code_hash, rerun_code=rerun.model.code_hash
        )
        exact = not differences and rerun.env.device == "cpu"
        if not differences and not exact:
            differences = ["GPU kernels are not bitwise deterministic"]
        rule = "exact" if exact else "consistent"
        checks = [
            ScoreCheck(label, number, "n_params", result.model.n_params, rerun.model.n_params, 0.0, rule,
                       "the architecture's size: equal on every stack")
        ]  # fmt: skip
        for score, value in recorded.scores.items():
            again = rerun.scores.get(score)
            if exact:
                band, why = EXACT, "bitwise (same stack)"
            elif finite(value) and finite(again):
                tol = METRICS.get(score).tolerance
                sd, source = seed_sd_estimate(tol, [r.scores.get(score) for r in pool], _reference(sub, label, score))
                noise = tol.pair_noise(again, n=split_n(rerun.splits, tol), sd=split_loss_sd(rerun.splits, tol))
                band, why = cross_stack_band(tol, [again], [noise], sd, what=source)
            else:
                band, why = 0.0, "both must be null"
            checks.append(ScoreCheck(label, number, score, value, again, band, rule, why))
        if recorded.timing:
            checks.append(timing_check(label, number, recorded.timing, rerun, pool, exact))
        verdicts.append(Verdict(label, number, rule, describe(sub.env), describe(rerun.env), differences, checks))
    return verdicts


def mean_checks(sub: Submission, label: str, reruns: dict[int, Any], pool: list[Any]) -> list[ScoreCheck]:
    """The consistent rule's two-sample check: the claimed mean of the re-run seeds against the
    re-runs' mean. It catches a small inflation of every seed that each per-seed band lets pass."""
    from anchorbench.registry import METRICS

    result = sub.tasks[label]
    claims = {s.seed: s for s in result.seeds}
    checks = []
    for score in result.scores:
        claimed = [claims[s].scores.get(score) for s in reruns]
        again = [r.scores.get(score) for r in reruns.values()]
        if not (all(finite(v) for v in claimed) and all(finite(v) for v in again)):
            continue  # a null score is judged seed by seed
        tol = METRICS.get(score).tolerance
        sd, source = seed_sd_estimate(tol, [r.scores.get(score) for r in pool], _reference(sub, label, score))
        noises = [tol.pair_noise(v, n=split_n(r.splits, tol), sd=split_loss_sd(r.splits, tol))
                  for v, r in zip(again, reruns.values())]  # fmt: skip
        band, why = cross_stack_band(tol, again, noises, sd, what=source)
        mean_claimed, mean_again = sum(claimed) / len(claimed), sum(again) / len(again)
        checks.append(ScoreCheck(label, None, score, mean_claimed, mean_again, band, "consistent", why))
    return checks


def timing_check(label: str, number: int, claimed: dict[str, Any], rerun: Any, reruns: list[Any], exact: bool):
    """The grokking time of one seed (t_gen at q = 0.95; a run that never generalized counts at its
    budget): equal on the same stack; on another, within Z x sqrt(2) x the re-runs' t_gen spread
    (floored at 5% of the budget) plus two evaluation intervals."""
    mine = claimed.get(TIMING_Q)
    again = rerun.timing.get(TIMING_Q)

    def steps(t: Any, run: Any = None) -> float | None:
        if t is None:
            return None
        data = t if isinstance(t, dict) else t.model_dump()
        if data.get("t_gen") is not None:
            return float(data["t_gen"])
        budget = data.get("budget") or (run.steps_completed if run is not None else None)
        return float(budget) if budget else None

    recorded, measured = steps(mine), steps(again, rerun)
    name = f"t_gen({TIMING_Q})"
    if exact:
        return ScoreCheck(label, number, name, recorded, measured, EXACT, "exact", "bitwise (same stack)")
    budget = float((again.budget if again is not None else None) or rerun.steps_completed)
    spread = [steps(r.timing.get(TIMING_Q), r) for r in reruns]
    spread = [v for v in spread if v is not None]
    own = statistics.stdev(spread) if len(spread) >= 2 else 0.0
    sd = max(own, 0.05 * budget)
    resolution = float((again.resolution_gen if again is not None else None) or 0)
    band = Z * math.sqrt(2) * sd + 2 * resolution
    why = f"{Z:g} x sqrt 2 x t_gen sd {sd:.3g} ({'re-runs' if own > 0.05 * budget else '5% of the budget'}) + 2 evals"
    return ScoreCheck(label, number, name, recorded, measured, band, "consistent", why)


def _reference(sub: Submission, label: str, score: str):  # -> ReferenceSpread | None
    from anchorbench.leaderboard.reference import lookup

    return lookup(sub.suite.id, sub.suite.version, label, score)
