"""Execute a plan: where results go, training each seed, reuse, aggregation, comparisons.

Results layout: see :mod:`anchorbench.execution.results`. Planning lives in :mod:`anchorbench.execution.plan`;
its names are re-exported here for callers of the runner.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError
from anchorbench.execution.plan import EntryPlan, Plan, Request
from anchorbench.execution.results import (
    AggregateResult,
    ModelRef,
    PowerLawFit,
    RunResult,
    SplitSummary,
    aggregate,
    environment,
)
from anchorbench.files import now, read_json, write_json
from anchorbench.registry import METRICS, PROBES

MANIFEST = "run.json"


# -- where results go ---------------------------------------------------------------------
def choose_out(plan: Plan, out: Path | None, results_dir: Path, resume: bool) -> Path:
    stem = Path(plan.target).stem if plan.target.endswith((".yaml", ".yml")) else plan.target
    return choose_folder(out, results_dir, resume, manifest=MANIFEST, wanted=plan.request.manifest(), stem=stem,
                         what="command")  # fmt: skip


def choose_folder(
    out: Path | None,
    results_dir: Path,
    resume: bool,
    *,
    manifest: str,
    wanted: dict[str, Any],
    stem: str,
    what: str,
    request_of: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: data,
) -> Path:
    """The results folder of an invocation. ``--out`` if given (refused when it holds other
    results, unless resuming the same request); with ``--resume`` alone, the latest folder
    in ``results_dir`` whose ``manifest`` file records the same request; else a new
    ``<stem>-<time>`` folder. ``request_of`` picks the request out of the manifest file."""

    def same(path: Path) -> bool:
        have = request_of(read_json(path))
        return all(have.get(k) == v for k, v in wanted.items())

    if out is not None:
        if resume:
            if not (out / manifest).exists():
                raise UserError(f"nothing to resume in {out} (no {manifest})")
            if not same(out / manifest):
                target = request_of(read_json(out / manifest)).get("target")
                detail = f" ({target})" if target else ""
                raise UserError(f"{out} holds another {what}{detail}; resume with its arguments")
            return out
        if out.exists() and any(out.iterdir()):
            raise UserError(f"{out} already holds results; pass --resume to continue it, or choose another --out")
        return out
    if resume:
        earlier = [p for p in sorted(results_dir.glob(f"*/{manifest}"), key=lambda p: p.stat().st_mtime) if same(p)]
        if not earlier:
            raise UserError(f"no earlier run of this {what} in {results_dir}/ to resume")
        return earlier[-1].parent
    base = results_dir / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


# -- execution ------------------------------------------------------------------------------
def trusted(data: dict[str, Any], config_hash: str, code_hash: str) -> bool:
    """An earlier result stands for this run: same configuration, same code, finished."""
    model = data.get("model") or {}
    return (
        data.get("config_hash") == config_hash
        and model.get("code_hash") == code_hash
        and data.get("status") in ("completed", "diverged")
    )


def check_reuse_allowed() -> None:
    """--reuse trusts results of the same commit; uncommitted changes make the commit say nothing."""
    from anchorbench.execution.provenance import git_dirty

    if git_dirty():
        raise UserError(
            "--reuse refuses to run from a checkout with uncommitted changes in anchorbench/ "
            "(a copied score could come from other code); commit or stash them, or drop --reuse"
        )


def find_reusable(results_root: Path, config_hash: str, code_hash: str, exclude: Path) -> Path | None:
    """A completed run with this config hash and code hash (anchorbench's source and the plug-ins')."""
    check_reuse_allowed()
    for path in sorted(results_root.glob("*/*/seed-*/result.json")):
        if path.parent == exclude:
            continue
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        if trusted(data, config_hash, code_hash) and data.get("status") == "completed":
            return path.parent
    return None


def reuse_run(source: Path, run_dir: Path, results_root: Path) -> RunResult:
    """Copy an identical earlier run (deterministic: training again would give the same scores)."""
    import shutil

    run_dir.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        if f.is_file() and f.name not in ("result.json", "checkpoint.pt"):
            shutil.copy2(f, run_dir / f.name)
    old = RunResult.model_validate(read_json(source / "result.json"))
    result = old.model_copy(update={"name": _relative(run_dir, results_root), "reused_from": old.name})
    write_json(run_dir / "result.json", result)
    return result


def _relative(run_dir: Path, results_root: Path) -> str:
    return str(run_dir.relative_to(results_root)) if run_dir.is_relative_to(results_root) else str(run_dir)


def dynamics_probes(
    plan: EntryPlan, model: Any, names: tuple[str, ...], dataset: Any = None
) -> Callable[..., dict[str, Any]] | None:
    """The per-evaluation probes the task declares and the run asks for, as one callable (None: none)."""
    from anchorbench.execution.plan import ALL_PROBES
    from anchorbench.registry import DYNAMICS_PROBES
    from anchorbench.scoring.dynamics import applicable, start_probes

    if names == ALL_PROBES:  # every probe that can run on this model and task
        names = applicable(DYNAMICS_PROBES.names(), model, plan.task.family, plan.objective.name, plan.params)
    asked = tuple(dict.fromkeys((*plan.task.dynamics, *names)))
    return start_probes(asked, model, plan.task.family, plan.params, dataset)


def run_seed(
    plan: EntryPlan,
    seed: int,
    run_dir: Path,
    *,
    results_root: Path,
    resume: bool,
    progress: bool,
    reuse: bool = False,
    probes: tuple[str, ...] = (),
    threads: int | None = None,
    logs: tuple[str, ...] = (),
) -> RunResult:
    """Train and score one seed into ``run_dir``. With ``resume``, a finished result of the same
    configuration and code stands and a checkpoint of it is continued; a stale one (another
    config or code) is dropped and the seed trains again. The caller's torch RNG and thread
    count are left as they were; ``threads`` overrides ``train.threads``; ``logs`` names the
    experiment trackers that follow the training (anchorbench.execution.trackers)."""
    from anchorbench.training.loop import CHECKPOINT, stale_checkpoint
    from anchorbench.training.torch_state import isolated

    result_path = run_dir / "result.json"
    config_hash, code_hash = plan.config_hash(seed), plan.code_hash
    if resume and result_path.exists():
        data = read_json(result_path)
        if trusted(data, config_hash, code_hash):
            return RunResult.model_validate(data)
        print(f"{run_dir}: its result is of another configuration or code; training it again", file=sys.stderr)
        result_path.unlink()
    if resume and stale_checkpoint(run_dir, plan.run_key(seed)):
        print(f"{run_dir}: its checkpoint is of another configuration or code; training from step 0", file=sys.stderr)
        (run_dir / CHECKPOINT).unlink()
    if reuse and (source := find_reusable(results_root, config_hash, code_hash, exclude=run_dir)) is not None:
        return reuse_run(source, run_dir, results_root)
    started = time.perf_counter()
    # The global RNG is seeded for training too: a plug-in with dropout draws the same masks every run.
    with isolated(seed, threads or plan.train.threads, plan.train.subnormals):
        tracked = start_trackers(plan, seed, run_dir, logs) if logs else None
        trainer = prepare_seed(plan, seed, run_dir, progress=progress, probes=probes,
                               on_eval=tracked.on_eval if tracked else None)  # fmt: skip
        outcome = trainer.fit(resume=resume)
        result = finish_seed(plan, seed, run_dir, trainer, outcome, results_root=results_root, started=started)
        if tracked:
            tracked.finish(result.scores, result.steps_completed)
        return result


def start_trackers(plan: EntryPlan, seed: int, run_dir: Path, logs: tuple[str, ...]) -> Any:
    """The seed's trackers, started with its configuration and provenance (flat keys)."""
    from anchorbench import __version__
    from anchorbench.execution.trackers import Trackers, flat

    run_dir.mkdir(parents=True, exist_ok=True)
    provenance = {"task": plan.task.id, "entry": plan.label, "model": plan.model.name, "seed": seed,
                  "config_hash": plan.config_hash(seed), "code_hash": plan.code_hash,
                  "anchorbench": __version__}  # fmt: skip
    config = flat(plan.run_config(seed).model_dump(mode="json"))
    config.update({f"run.{k}": v for k, v in provenance.items()})
    return Trackers(logs, run_dir, f"{plan.label}-seed{seed}", config)


def prepare_seed(
    plan: EntryPlan,
    seed: int,
    run_dir: Path,
    *,
    progress: bool,
    probes: tuple[str, ...],
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Data, seeded model and a Trainer writing into ``run_dir`` (not yet trained)."""
    from anchorbench.training.loop import Trainer

    dataset = plan.task.family_obj.generate(plan.params, seed)
    model = plan.build_model(seed)
    metrics = [METRICS.get(name) for name in plan.task.scores]
    run_dir.mkdir(parents=True, exist_ok=True)
    return Trainer(
        model, dataset, plan.train, seed=seed, metrics=metrics, run_dir=run_dir,
        config_hash=plan.run_key(seed), progress=progress, desc=f"{plan.label} seed {seed}",
        probes=dynamics_probes(plan, model, probes, dataset), on_eval=on_eval,
    )  # fmt: skip


def finish_seed(
    plan: EntryPlan, seed: int, run_dir: Path, trainer: Any, outcome: Any, *, results_root: Path, started: float
) -> RunResult:
    """Score the trained model, run the task's probes, write model.pt and result.json."""
    import torch

    from anchorbench.models.build import count_params
    from anchorbench.scoring.dynamics import history_power_law
    from anchorbench.scoring.grokking import run_timing
    from anchorbench.training.loop import finite_or_null, finite_tree

    final = outcome.final
    result = RunResult(
        name=_relative(run_dir, results_root),
        task=plan.task_ref(),
        model=ModelRef(
            name=plan.model.name,
            config=plan.model.config,
            n_params=count_params(trainer.model),
            init=trainer.model.init_summary() if hasattr(trainer.model, "init_summary") else None,
            code_hash=plan.code_hash,
        ),
        intervention=plan.intervention_ref(),
        train=plan.train.model_dump(mode="json"),
        seed=seed,
        config=plan.run_config(seed),
        config_hash=plan.config_hash(seed),
        status=outcome.status,
        steps_completed=outcome.steps_completed,
        diverged_at=outcome.diverged_at,
        resumed_from=outcome.resumed_from,
        scores={m.name: finite_or_null(m(final)) for m in trainer.metrics},
        splits={k: SplitSummary(**v) for k, v in finite_tree(final.summary()).items()},
        timing=run_timing(outcome.history, plan.train.steps) if "grokking-timing" in plan.analyses else {},
        wall_time_s=round(time.perf_counter() - started, 3),
        created_at=now(),
        env=environment(str(trainer.device), torch.get_num_threads()),
    )
    result.probes.power_law = PowerLawFit(**finite_tree(history_power_law(outcome.history, plan.train.warmup_steps)))
    for name in plan.task.probes:
        probe = PROBES.get(name)
        data = probe.compute(trainer.model, trainer.dataset, plan.params)
        setattr(result.probes, name, data)
        if probe.plot is not None:
            probe.plot(data, run_dir / f"{name}.png")
    # clone: in an ensemble the parameters are views into stacked tensors, and saving a view
    # would save the whole stack
    torch.save({k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, run_dir / "model.pt")
    write_json(run_dir / "result.json", result)
    (run_dir / "checkpoint.pt").unlink(missing_ok=True)  # the result and model.pt supersede it
    return result


@dataclass
class EntryOutcome:
    plan: EntryPlan
    results: list[RunResult]
    aggregate: AggregateResult
    folder: Path


def execute(
    plan: Plan,
    *,
    out: Path,
    resume: bool,
    progress: bool,
    reuse: bool = False,
    on_result: Callable[[EntryPlan, RunResult], None] | None = None,
    workers: int = 1,
    include_paths: tuple[str, ...] = (),
) -> list[EntryOutcome]:
    """Train every (entry, seed) of ``plan`` into ``out``, one after another or on ``workers``
    processes, then aggregate each entry and write its aggregate.json."""
    seeds = plan.request.seeds
    if workers < 1:
        raise UserError("--workers must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    from anchorbench.execution.locking import hold

    with hold(out):  # one process per results folder
        if not (out / MANIFEST).exists():
            suite = {"id": plan.suite.id, "version": plan.suite.version} if plan.suite else None
            write_json(out / MANIFEST, {**plan.request.manifest(), "suite": suite, "created_at": now()})
        done: dict[tuple[str, int], RunResult] = {}
        from anchorbench.execution.backends import usable_cores

        if workers > 1 and len(plan.entries) * len(seeds) > 1:
            jobs = [
                SeedJob(plan.request, include_paths, e.label, s, out / e.label / f"seed-{s}", out.parent, resume, reuse,
                        e.train.threads or max(1, usable_cores() // workers))
                for e in plan.entries
                for s in seeds
            ]  # fmt: skip
            by_label = {e.label: e for e in plan.entries}
            done = train_on_workers(jobs, workers, lambda r, j: on_result(by_label[j.label], r) if on_result else None)
        outcomes = []
        for entry in plan.entries:
            folder = out / entry.label
            results = []
            for seed in seeds:
                result = done.get((entry.label, seed))
                if result is None:
                    result = run_seed(
                        entry, seed, folder / f"seed-{seed}", results_root=out.parent, resume=resume,
                        progress=progress, reuse=reuse, probes=plan.request.probes, logs=plan.request.logs,
                    )  # fmt: skip
                    if on_result:
                        on_result(entry, result)
                results.append(result)
            metrics = {name: METRICS.get(name) for name in entry.task.scores}
            agg = aggregate(f"{out.name}/{entry.label}", results, metrics)
            write_json(folder / "aggregate.json", agg)
            outcomes.append(EntryOutcome(entry, results, agg, folder))
        return outcomes


@dataclass(frozen=True)
class SeedJob:
    """One (entry, seed) of a plan, for a worker process: the request is planned again there."""

    request: Request
    include_paths: tuple[str, ...]  # --include-path folders, registered again in the worker
    label: str
    seed: int
    run_dir: Path
    results_root: Path
    resume: bool
    reuse: bool
    threads: int


def run_seed_job(job: SeedJob) -> tuple[str, int, RunResult]:
    """A worker's part of ``run --workers``: plan the request, train one seed of one entry."""
    from anchorbench.execution.plan import make_plan
    from anchorbench.specs import include_task_dir

    for folder in job.include_paths:  # a spawned worker starts with the built-in tasks only
        include_task_dir(Path(folder))
    entry = next(e for e in make_plan(job.request).entries if e.label == job.label)
    result = run_seed(entry, job.seed, job.run_dir, results_root=job.results_root, resume=job.resume,
                      progress=False, reuse=job.reuse, probes=job.request.probes, threads=job.threads,
                      logs=job.request.logs)  # fmt: skip
    return job.label, job.seed, result


def train_on_workers(
    jobs: list[SeedJob], workers: int, on_result: Callable[[RunResult, SeedJob], Any]
) -> dict[tuple[str, int], RunResult]:
    """Run ``jobs`` on a pool of ``workers`` processes; a job that fails stops the run with its
    one-line error (finished seeds stay written, so ``--resume`` goes on from there)."""
    from contextlib import closing

    from anchorbench.execution.backends import Lost, ProcessPool

    done = {}
    by_key = {(j.label, j.seed): j for j in jobs}
    runs = ProcessPool(workers).map(run_seed_job, jobs)
    with closing(runs):  # an error here stops the other workers now
        for returned in runs:
            if isinstance(returned, Lost):
                job = returned.job
                error = re.sub(r"^anchorbench\.errors\.\w+: ", "", returned.error)  # a user error reads as one
                raise UserError(f"{job.label} seed {job.seed}: {error}")
            label, seed, result = returned
            done[(label, seed)] = result
            on_result(result, by_key[(label, seed)])
    return done


def comparisons(plan: Plan, outcomes: list[EntryOutcome], out: Path) -> list[Any]:
    """The plan's paired comparisons, written to ``<out>/comparison.json``."""
    from anchorbench.execution.compare import compare_arms

    by_label = {o.plan.label: o for o in outcomes}
    split = plan.compare.split if plan.compare else "test"
    threshold = plan.compare.threshold if plan.compare else 0.9
    found = []
    for base, arm in plan.comparisons:
        b, a = by_label[base], by_label[arm]
        found.append(
            compare_arms((base, b.results, b.folder), (arm, a.results, a.folder), split=split, threshold=threshold)
        )
    if found:
        write_json(out / "comparison.json", {"comparisons": [c.model_dump(mode="json") for c in found]})
    return found
