"""``anchorbench leaderboard verify``: re-run recorded seeds and compare their scores.

The run is rebuilt from the submission's names and numbers (task id and params, model name
and config, training config, seed); its config hash must equal the recorded one, so what
is re-run is what was reported. Two verdicts, and the table says which rule applied:

* **exact**: the re-run's code (by source hash) and numerics stack (torch, numpy, CPU
  capability, CPU, BLAS, oneDNN, threads) equal the recorded ones, on a CPU: every score must
  be bitwise equal;
* **consistent**: another stack (or one the record does not name), so each score must lie
  within its metric's statistical band (:mod:`anchorbench.scoring.tolerance`): a binomial
  band over the split's examples for accuracies, the standard error of a mean for losses, ±1
  for counts, each widened by the spread of the submission's other seeds.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from anchorbench.errors import UserError
from anchorbench.execution.numerics import describe, stack_differences
from anchorbench.leaderboard.record import Submission, finite
from anchorbench.scoring.tolerance import EXACT, leave_one_out_sd, split_loss_sd, split_n


@dataclass
class ScoreCheck:
    task: str
    seed: int
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


@dataclass
class Verdict:
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
            f"differs in {because}); each score must lie within its metric's statistical band"
        )


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


def verify(
    sub: Submission, *, tasks: list[str] | None, seed: int | None, progress: bool = False, allow_import: bool = False
) -> list[Verdict]:
    """One verdict per re-run seed."""
    from anchorbench.execution.runner import run_seed
    from anchorbench.registry import METRICS

    labels = tasks or list(sub.tasks)
    for label in labels:
        if label not in sub.tasks:
            raise UserError(f"task '{label}' is not in the submission (it has {', '.join(sub.tasks)})")
    plans = {label: entry_plan(sub, label, allow_import=allow_import) for label in labels}
    verdicts = []
    for label in labels:
        result, plan = sub.tasks[label], plans[label]
        seeds = [s for s in result.seeds if seed is None or s.seed == seed]
        if not seeds:
            have = ", ".join(str(s.seed) for s in result.seeds)
            raise UserError(f"seed {seed} is not in the submission's {label} results (seeds: {have})")
        for recorded in seeds:
            if plan.config_hash(recorded.seed) != recorded.config_hash:
                raise UserError(
                    f"{label} seed {recorded.seed}: the recorded config does not hash to the recorded config_hash"
                )
            with tempfile.TemporaryDirectory(prefix="anchorbench-verify-") as tmp:
                rerun = run_seed(
                    plan, recorded.seed, Path(tmp) / label / f"seed-{recorded.seed}", results_root=Path(tmp),
                    resume=False, progress=progress, threads=sub.env.threads,
                )  # fmt: skip
            differences = stack_differences(
                sub.env, rerun.env, recorded_code=result.model.code_hash, rerun_code=rerun.model.code_hash
            )
            exact = not differences and rerun.env.device == "cpu"
            if not differences and not exact:
                differences = ["GPU kernels are not bitwise deterministic"]
            checks = []
            index = [s.seed for s in result.seeds].index(recorded.seed)
            for score, value in recorded.scores.items():
                again = rerun.scores.get(score)
                if exact:
                    band, why = EXACT, "bitwise (same stack)"
                elif finite(value) and finite(again):
                    per_seed = [s.scores.get(score) for s in result.seeds]
                    tolerance = METRICS.get(score).tolerance
                    band, why = tolerance.band(
                        value,
                        again,
                        n=split_n(rerun.splits, tolerance),
                        spread=leave_one_out_sd(per_seed, index),
                        sd=split_loss_sd(rerun.splits, tolerance),
                    )  # type: ignore[arg-type]
                else:
                    band, why = 0.0, "both must be null"
                checks.append(
                    ScoreCheck(label, recorded.seed, score, value, again, band, "exact" if exact else "consistent", why)
                )
            verdicts.append(
                Verdict("exact" if exact else "consistent", describe(sub.env), describe(rerun.env), differences, checks)
            )
    return verdicts
