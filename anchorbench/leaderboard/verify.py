"""``anchorbench leaderboard verify``: re-run recorded seeds and compare their scores.

The run is rebuilt from the submission's names and numbers (task id and params, model name
and config, training config, seed); its config hash must equal the recorded one, so what
is re-run is what was reported. On a CPU with the recorded thread count the scores must be
equal (training is deterministic for a fixed seed); on a GPU, kernels may sum in another
order, so scores may differ by up to ``GPU_TOLERANCE``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from anchorbench.errors import UserError
from anchorbench.leaderboard.record import Submission, finite

CPU_TOLERANCE = 1e-9
GPU_TOLERANCE = 0.02  # accuracy: a few examples of 1000; losses: 0.02 nats


@dataclass
class ScoreCheck:
    task: str
    seed: int
    score: str
    recorded: float | None
    rerun: float | None
    tolerance: float

    @property
    def ok(self) -> bool:
        if not (finite(self.recorded) and finite(self.rerun)):
            return self.recorded is None and self.rerun is None
        return abs(self.recorded - self.rerun) <= self.tolerance  # type: ignore[operator]


def entry_plan(sub: Submission, label: str):  # -> EntryPlan
    from anchorbench.config import TrainConfig, validate
    from anchorbench.models.build import resolve_model
    from anchorbench.plan import EntryPlan
    from anchorbench.registry import TASKS

    result = sub.tasks[label]
    spec = TASKS.get(result.task.id)
    model_config = dict(result.model.config)
    return EntryPlan(
        label=label,
        task=spec,
        params=spec.resolve_params(result.task.params),
        model=resolve_model(result.model.name, model_config),
        train=validate(TrainConfig, result.train, "train"),
    )


def verify(sub: Submission, *, tasks: list[str] | None, seed: int | None, progress: bool = False) -> list[ScoreCheck]:
    import torch

    from anchorbench.runner import run_seed

    labels = tasks or list(sub.tasks)
    for label in labels:
        if label not in sub.tasks:
            raise UserError(f"task '{label}' is not in the submission (it has {', '.join(sub.tasks)})")
    checks = []
    for label in labels:
        result = sub.tasks[label]
        plan = entry_plan(sub, label)
        seeds = [s for s in result.seeds if seed is None or s.seed == seed]
        if not seeds:
            have = ", ".join(str(s.seed) for s in result.seeds)
            raise UserError(f"seed {seed} is not in the submission's {label} results (seeds: {have})")
        for recorded in seeds:
            if plan.config_hash(recorded.seed) != recorded.config_hash:
                raise UserError(
                    f"{label} seed {recorded.seed}: the recorded config does not hash to the recorded config_hash"
                )
            torch.set_num_threads(sub.env.threads)
            with tempfile.TemporaryDirectory(prefix="anchorbench-verify-") as tmp:
                rerun = run_seed(
                    plan, recorded.seed, Path(tmp) / label / f"seed-{recorded.seed}", results_root=Path(tmp),
                    resume=False, progress=progress,
                )  # fmt: skip
            on_cpu = rerun.env.device == "cpu" and sub.env.device == "cpu"
            tolerance = CPU_TOLERANCE if on_cpu else GPU_TOLERANCE
            for score, value in recorded.scores.items():
                checks.append(ScoreCheck(label, recorded.seed, score, value, rerun.scores.get(score), tolerance))
    return checks
