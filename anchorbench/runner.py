"""Plan and execute ``anchorbench run``: a task or a suite, one or more seeds.

Planning resolves and validates everything (task, parameters, model, training config)
before anything is written, so bad input never leaves a half-made results folder.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchorbench.config import TrainConfig, parse_set, split_key, validate
from anchorbench.errors import UserError
from anchorbench.registry import METRICS, TASKS
from anchorbench.results import (
    AggregateResult,
    ModelRef,
    RunResult,
    SplitSummary,
    TaskRef,
    aggregate,
    environment,
    now,
    read_json,
    write_json,
)
from anchorbench.specs import TASK_ID, SuiteEntry, SuiteSpec, TaskSpec, content_hash, load_suite, suite_paths

MANIFEST = "run.json"


@dataclass(frozen=True)
class EntryPlan:
    """One task with a fully resolved configuration (seeds aside)."""

    label: str
    task: TaskSpec
    params: Any  # the family's typed parameters
    model: Any  # anchorbench.models.build.ModelSpec
    train: TrainConfig

    @property
    def spec_hash(self) -> str:
        return self.task.spec_hash(self.params)

    def config_hash(self, seed: int) -> str:
        return content_hash(
            {
                "task": self.spec_hash,
                "model": {"name": self.model.name, "config": self.model.config},
                "train": self.train.model_dump(mode="json"),
                "seed": seed,
            }
        )

    def task_ref(self) -> TaskRef:
        return TaskRef(
            id=self.task.id,
            version=self.task.version,
            family=self.task.family,
            spec_hash=self.spec_hash,
            params=self.params.model_dump(mode="json"),
        )


@dataclass(frozen=True)
class Plan:
    target: str
    suite: SuiteSpec | None
    entries: list[EntryPlan]


def resolve_target(target: str) -> tuple[SuiteSpec | None, list[SuiteEntry]]:
    """A suite name, a path to a suite YAML, or a task id."""
    if target.endswith((".yaml", ".yml")) or target in suite_paths():
        if target not in suite_paths() and not Path(target).is_file():
            raise UserError(f"no such suite file: {target}")
        suite = load_suite(target)
        return suite, suite.runs
    if TASK_ID.match(target) or target in TASKS:
        TASKS.entry(target)  # raises with the current version or "did you mean"
        return None, [SuiteEntry(task=target)]
    known = TASKS.names() + list(suite_paths())
    close = difflib.get_close_matches(target, known, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown task or suite '{target}'.{hint} Known: {', '.join(known)}")


def plan_entry(entry: SuiteEntry, model: str | None, sets: list[str]) -> EntryPlan:
    from anchorbench.models.build import resolve_model

    spec: TaskSpec = TASKS.get(entry.task)
    for metric in spec.scores:
        METRICS.entry(metric)
    layers: dict[str, dict[str, Any]] = {
        "task": dict(spec.params),
        "model": dict(spec.defaults.model),
        "train": dict(spec.defaults.train),
    }
    default_model = layers["model"]["name"]
    # Suite sets, then --model, then CLI sets; `model.name` anywhere switches the model.
    items = [(*split_key(k), v) for k, v in entry.set.items()]
    if model is not None:
        items.append(("model", "name", model))
    items += [parse_set(s) for s in sets]
    names = [v for sec, k, v in items if (sec, k) == ("model", "name")]
    if names and names[-1] != default_model:
        # The task's default kwargs belong to its default model; another model starts from its own.
        layers["model"] = {"name": names[-1]}
    for section, key, value in items:
        layers[section][key] = value
    model_name = str(layers["model"].pop("name"))
    return EntryPlan(
        label=entry.label,
        task=spec,
        params=spec.resolve_params(layers["task"]),
        model=resolve_model(model_name, layers["model"]),
        train=validate(TrainConfig, layers["train"], "train"),
    )


def make_plan(target: str, *, model: str | None = None, sets: list[str] | None = None) -> Plan:
    suite, entries = resolve_target(target)
    plans = [plan_entry(e, model, sets or []) for e in entries]
    if any(p.train.device == "cuda" for p in plans):
        from anchorbench.train import pick_device

        pick_device("cuda")  # refuses now, before anything is written, when there is no GPU
    for p in plans:  # build once (cheap) so a broken plug-in fails before anything is written
        from anchorbench.models.build import check_output

        params = p.params
        check_output(p.model.build(params.vocab_size, params.seq_len), p.model.name, params.vocab_size, params.seq_len)
    return Plan(target, suite, plans)


def parse_seeds(text: str) -> list[int]:
    """``"3"`` -> [0, 1, 2]; ``"0,5,7"`` -> [0, 5, 7]."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise UserError(f"--seeds takes a count (3) or a list (0,5,7), got '{text}'") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds must name at least one distinct non-negative seed, got '{text}'")
    return seeds


# -- where results go ---------------------------------------------------------------------
def manifest(plan: Plan, model: str | None, sets: list[str], seeds: list[int]) -> dict[str, Any]:
    return {
        "target": plan.target,
        "suite": {"id": plan.suite.id, "version": plan.suite.version} if plan.suite else None,
        "model": model,
        "sets": sets,
        "seeds": seeds,
        "entries": [e.label for e in plan.entries],
    }


def choose_out(plan: Plan, wanted: dict[str, Any], out: Path | None, results_dir: Path, resume: bool) -> Path:
    if out is not None:
        if resume:
            if not (out / MANIFEST).exists():
                raise UserError(f"nothing to resume in {out} (no {MANIFEST})")
            have = read_json(out / MANIFEST)
            if not _same_request(have, wanted):
                raise UserError(f"{out} holds another request ({have.get('target')}); resume with its arguments")
            return out
        if out.exists() and any(out.iterdir()):
            raise UserError(f"{out} already holds results; pass --resume to continue it, or choose another --out")
        return out
    if resume:
        earlier = [
            d for d in sorted(results_dir.glob(f"*/{MANIFEST}"), key=lambda p: p.stat().st_mtime)
            if _same_request(read_json(d), wanted)
        ]  # fmt: skip
        if not earlier:
            raise UserError(f"no earlier run of this command in {results_dir}/ to resume")
        return earlier[-1].parent
    stem = Path(plan.target).stem if plan.target.endswith((".yaml", ".yml")) else plan.target
    base = results_dir / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def _same_request(have: dict[str, Any], want: dict[str, Any]) -> bool:
    keys = ("target", "model", "sets", "seeds")
    return all(have.get(k) == want.get(k) for k in keys)


# -- execution ------------------------------------------------------------------------------
def run_seed(
    plan: EntryPlan, seed: int, run_dir: Path, *, results_root: Path, resume: bool, progress: bool
) -> RunResult:
    import torch

    from anchorbench.models.build import count_params
    from anchorbench.train import Trainer, _finite, finite_tree

    result_path = run_dir / "result.json"
    if resume and result_path.exists():
        return RunResult.model_validate(read_json(result_path))
    started = time.perf_counter()
    if plan.train.threads:
        torch.set_num_threads(plan.train.threads)
    params = plan.params
    dataset = plan.task.family_obj.generate(params, seed)
    torch.manual_seed(seed)
    model = plan.model.build(params.vocab_size, params.seq_len)
    metrics = [METRICS.get(name) for name in plan.task.scores]
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(
        model, dataset, plan.train, seed=seed, metrics=metrics, run_dir=run_dir,
        config_hash=plan.config_hash(seed), progress=progress, desc=f"{plan.label} seed {seed}",
    )  # fmt: skip
    outcome = trainer.fit(resume=resume)
    final = outcome.final
    result = RunResult(
        name=str(run_dir.relative_to(results_root)) if run_dir.is_relative_to(results_root) else str(run_dir),
        task=plan.task_ref(),
        model=ModelRef(name=plan.model.name, config=plan.model.config, n_params=count_params(model)),
        train=plan.train.model_dump(mode="json"),
        seed=seed,
        config_hash=plan.config_hash(seed),
        status=outcome.status,
        steps_completed=outcome.steps_completed,
        diverged_at=outcome.diverged_at,
        resumed_from=outcome.resumed_from,
        scores={m.name: _finite(m(final)) for m in metrics},
        splits={k: SplitSummary(**v) for k, v in finite_tree(final.summary()).items()},
        wall_time_s=round(time.perf_counter() - started, 3),
        created_at=now(),
        env=environment(str(trainer.device), torch.get_num_threads()),
    )
    torch.save(trainer.model.state_dict(), run_dir / "model.pt")
    write_json(result_path, result)
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
    seeds: list[int],
    out: Path,
    model: str | None,
    sets: list[str],
    resume: bool,
    progress: bool,
    on_result: Callable[[EntryPlan, RunResult], None] | None = None,
) -> list[EntryOutcome]:
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MANIFEST).exists():
        write_json(out / MANIFEST, {**manifest(plan, model, sets, seeds), "created_at": now()})
    outcomes = []
    for entry in plan.entries:
        folder = out / entry.label
        results = []
        for seed in seeds:
            result = run_seed(
                entry, seed, folder / f"seed-{seed}", results_root=out.parent, resume=resume, progress=progress
            )
            results.append(result)
            if on_result:
                on_result(entry, result)
        metrics = {name: METRICS.get(name) for name in entry.task.scores}
        agg = aggregate(f"{out.name}/{entry.label}", results, metrics)
        write_json(folder / "aggregate.json", agg)
        outcomes.append(EntryOutcome(entry, results, agg, folder))
    return outcomes
