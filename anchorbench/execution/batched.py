"""Seeds of one configuration trained as one ensemble (``training/ensemble.py``), written as
separate runs; and the probe that decides whether batching pays (``sweep --batch auto``)."""

from __future__ import annotations

import time
from pathlib import Path

from anchorbench.execution.plan import EntryPlan
from anchorbench.execution.results import RunResult
from anchorbench.training.ensemble import Ensemble, NotBatchable, fit_ensemble


def run_seeds_batched(
    plan: EntryPlan,
    seeds: list[int],
    run_dirs: list[Path],
    *,
    results_root: Path,
    probes: tuple[str, ...] = (),
    threads: int | None = None,
) -> list[RunResult]:
    """Train ``seeds`` of one configuration as one ensemble; writes each seed's run folder
    exactly as :func:`anchorbench.execution.runner.run_seed` does (``threads``, the worker's
    share of the cores, overrides ``train.threads``). Raises NotBatchable."""
    from anchorbench.execution.runner import finish_seed, prepare_seed
    from anchorbench.training.torch_state import isolated

    started = time.perf_counter()
    with isolated(seeds[0], threads or plan.train.threads, plan.train.subnormals):
        trainers = [prepare_seed(plan, s, d, progress=False, probes=probes) for s, d in zip(seeds, run_dirs)]
        outcomes = fit_ensemble(trainers)
        # Wall time is shared: each member is charged an equal part of the ensemble's training time.
        share = (time.perf_counter() - started) / len(seeds)
        results = []
        for s, d, t, o in zip(seeds, run_dirs, trainers, outcomes):
            done = time.perf_counter() - share
            results.append(finish_seed(plan, s, d, t, o, results_root=results_root, started=done))
    return results


# -- when batching pays ---------------------------------------------------------------------
PAYS = 1.1  # batch only when the probe measures a clear gain: a tie is not worth the float reordering


def probe_batching(plan: EntryPlan, seeds: list[int], threads: int, steps: int = 4, repeats: int = 3) -> float:
    """Speed-up of training ``seeds`` as one ensemble over training them one after another,
    from a few timed steps of each (median of ``repeats``), on ``threads`` threads.

    0.0 when the model cannot be batched. The answer depends on the model's size and the
    CPU: on this project's machines an ensemble paid 1.15-1.25x at d_model 32 and lost at
    d_model 64 and up (docs/sweeps.md), which is why ``--batch auto`` asks rather than assumes.
    """
    from anchorbench.training.loop import Trainer
    from anchorbench.training.timing import median_seconds
    from anchorbench.training.torch_state import isolated

    def trainer(seed: int) -> Trainer:
        dataset = plan.task.family_obj.generate(plan.params, seed)
        return Trainer(plan.build_model(seed), dataset, plan.train, seed=seed, progress=False)

    with isolated(seeds[0], threads, plan.train.subnormals):
        single = trainer(seeds[0])
        try:
            ens = Ensemble([trainer(s) for s in seeds])
        except NotBatchable:
            return 0.0
        active = [True] * len(seeds)
        single.step(0), ens.step(0, active)  # warm-up: first-call allocations
        alone = median_seconds(lambda: [single.step(i) for i in range(steps)], repeats)
        together = median_seconds(lambda: [ens.step(i, active) for i in range(steps)], repeats)
    return alone * len(seeds) / together
