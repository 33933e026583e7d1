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
from anchorbench.registry import METRICS, PROBES, TASKS
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
from anchorbench.specs import (
    TASK_ID,
    CompareSpec,
    SuiteEntry,
    SuiteSpec,
    TaskSpec,
    content_hash,
    load_suite,
    suite_paths,
)

MANIFEST = "run.json"


@dataclass(frozen=True)
class EntryPlan:
    """One task with a fully resolved configuration (seeds aside)."""

    label: str
    task: TaskSpec
    params: Any  # the family's typed parameters
    model: Any  # anchorbench.models.build.ModelSpec
    train: TrainConfig
    intervention: Any = None  # anchorbench.interventions.InterventionSpec, or None for the plain arm

    @property
    def spec_hash(self) -> str:
        return self.task.spec_hash(self.params)

    def intervention_ref(self) -> dict[str, Any] | None:
        return None if self.intervention is None else {"name": self.intervention.name, **self.intervention.config}

    def config_hash(self, seed: int) -> str:
        payload = {
            "task": self.spec_hash,
            "model": {"name": self.model.name, "config": self.model.config},
            "train": self.train.model_dump(mode="json"),
            "seed": seed,
        }
        if self.intervention is not None:  # plain runs keep the hashes they had before interventions
            payload["intervention"] = self.intervention_ref()
        return content_hash(payload)

    def build_model(self, seed: int) -> Any:
        """The model as trained: seeded init, then the intervention (own generator) if any."""
        import torch

        torch.manual_seed(seed)
        model = self.model.build(self.params.vocab_size, self.params.seq_len)
        if self.intervention is not None:
            self.intervention.apply(model, seed)
        return model

    def task_ref(self) -> TaskRef:
        return TaskRef(
            id=self.task.id,
            version=self.task.version,
            family=self.task.family,
            spec_hash=self.spec_hash,
            params=self.params.model_dump(mode="json"),
        )


@dataclass(frozen=True)
class Request:
    """What the user asked for; recorded in run.json, compared when resuming."""

    target: str
    model: str | None = None
    sets: tuple[str, ...] = ()
    intervention: str | None = None
    grid: tuple[str, ...] = ()  # "section.key=v1,v2" overrides of a suite's grid axes
    seeds: tuple[int, ...] = (0,)
    probes: tuple[str, ...] = ()  # dynamics probes at every evaluation ("all" or names)

    def manifest(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "model": self.model,
            "sets": list(self.sets),
            "intervention": self.intervention,
            "grid": list(self.grid),
            "seeds": list(self.seeds),
            "probes": list(self.probes),
        }


@dataclass(frozen=True)
class Plan:
    request: Request
    suite: SuiteSpec | None
    entries: list[EntryPlan]
    comparisons: list[tuple[str, str]]  # (baseline label, arm label), paired seed by seed
    compare: CompareSpec | None = None
    report: str | None = None

    @property
    def target(self) -> str:
        return self.request.target


def resolve_target(target: str, grid: tuple[str, ...] = ()) -> tuple[SuiteSpec | None, list[SuiteEntry]]:
    """A suite name, a path to a suite YAML, or a task id."""
    if target.endswith((".yaml", ".yml")) or target in suite_paths():
        if target not in suite_paths() and not Path(target).is_file():
            raise UserError(f"no such suite file: {target}")
        suite = load_suite(target)
        if grid:
            suite = suite.model_copy(update={"grid": {**suite.grid, **parse_grid(grid, suite)}})
        return suite, suite.expanded()
    if grid:
        raise UserError("--grid applies to suites with a grid (e.g. matching-depth), not to a single task")
    if TASK_ID.match(target) or target in TASKS:
        TASKS.entry(target)  # raises with the current version or "did you mean"
        return None, [SuiteEntry(task=target)]
    known = TASKS.names() + list(suite_paths())
    close = difflib.get_close_matches(target, known, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown task or suite '{target}'.{hint} Known: {', '.join(known)}")


def parse_grid(items: tuple[str, ...], suite: SuiteSpec) -> dict[str, list[Any]]:
    """``model.n_layers=2,3,4`` -> {"model.n_layers": [2, 3, 4]}; only the suite's own axes."""
    out = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise UserError(f"--grid expects section.key=v1,v2,..., got '{item}'")
        split_key(key)
        if key not in suite.grid:
            raise UserError(
                f"--grid {key}: suite {suite.id} has no such axis (axes: {', '.join(suite.grid) or 'none'})"
            )
        out[key] = [parse_set(f"{key}={v}")[2] for v in values.split(",")]
    return out


def plan_entry(
    entry: SuiteEntry, model: str | None, sets: list[str] | tuple[str, ...], intervention: str | None = None
) -> EntryPlan:
    from anchorbench.interventions import resolve_intervention
    from anchorbench.models.build import resolve_model

    spec: TaskSpec = TASKS.get(entry.task)
    for metric in spec.scores:
        METRICS.entry(metric)
    for probe in spec.probes:
        PROBES.entry(probe)
    layers: dict[str, dict[str, Any]] = {
        "task": dict(spec.params),
        "model": dict(spec.defaults.model),
        "train": dict(spec.defaults.train),
        "intervention": {},
    }
    default_model = layers["model"]["name"]
    # Suite sets, then --model / --intervention, then CLI sets; `model.name` anywhere switches the model.
    items = [(*split_key(k), v) for k, v in entry.set.items()]
    if model is not None:
        items.append(("model", "name", model))
    if intervention is not None:
        items.append(("intervention", "name", intervention))
    items += [parse_set(s) for s in sets]
    names = [v for sec, k, v in items if (sec, k) == ("model", "name")]
    if names and names[-1] != default_model:
        # The task's default kwargs belong to its default model; another model starts from its own.
        layers["model"] = {"name": names[-1]}
    for section, key, value in items:
        layers[section][key] = value
    model_name = str(layers["model"].pop("name"))
    iv = layers["intervention"]
    if iv and "name" not in iv:
        raise UserError(f"intervention.{next(iter(iv))} is set but no intervention is chosen (--intervention NAME)")
    return EntryPlan(
        label=entry.label,
        task=spec,
        params=spec.resolve_params(layers["task"]),
        model=resolve_model(model_name, layers["model"]),
        train=validate(TrainConfig, layers["train"], "train"),
        intervention=resolve_intervention(str(iv.pop("name")), iv) if iv else None,
    )


def make_plan(request: Request) -> Plan:
    from anchorbench.models.build import check_output

    suite, entries = resolve_target(request.target, request.grid)
    # With --intervention, the CLI's intervention.* settings belong to the intervention arm only.
    plain_sets = tuple(s for s in request.sets if not (request.intervention and s.startswith("intervention.")))
    plans = [plan_entry(e, request.model, plain_sets) for e in entries]
    comparisons: list[tuple[str, str]] = []
    compare = suite.compare if suite else None
    if compare is not None:
        comparisons = [(compare.baseline, p.label) for p in plans if p.label != compare.baseline]
    if request.intervention is not None:
        # Every entry gets an intervention twin, trained on the same seeds and data.
        twins = [
            plan_entry(e.model_copy(update={"name": f"{e.label}+{request.intervention}"}), request.model,
                       request.sets, request.intervention)
            for e in entries
        ]  # fmt: skip
        comparisons += [(p.label, t.label) for p, t in zip(plans, twins)]
        plans = [x for pair in zip(plans, twins) for x in pair]
    if any(p.train.device == "cuda" for p in plans):
        from anchorbench.train import pick_device

        pick_device("cuda")  # refuses now, before anything is written, when there is no GPU
    for p in plans:  # build once (cheap) so a broken plug-in or intervention fails before anything is written
        check_output(p.build_model(0), p.model.name, p.params.vocab_size, p.params.seq_len)
    return Plan(request, suite, plans, comparisons, compare, suite.report if suite else None)


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
def choose_out(plan: Plan, out: Path | None, results_dir: Path, resume: bool) -> Path:
    wanted = plan.request.manifest()
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
    return all(have.get(k) == want.get(k) for k in want)


# -- execution ------------------------------------------------------------------------------
def find_reusable(results_root: Path, config_hash: str, exclude: Path) -> Path | None:
    """A completed run with this config hash, written by this very version and commit."""
    from anchorbench import __version__
    from anchorbench.results import git_hash

    for path in sorted(results_root.glob("*/*/seed-*/result.json")):
        if path.parent == exclude:
            continue
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        env = data.get("env", {})
        if (
            data.get("config_hash") == config_hash
            and data.get("status") == "completed"
            and env.get("anchorbench_version") == __version__
            and env.get("git_hash") is not None
            and env.get("git_hash") == git_hash()
        ):
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


DYNAMICS = ("weight_norm", "rd", "condensation", "fourier")


def parse_probes(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    names = DYNAMICS if text == "all" else tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = sorted(set(names) - set(DYNAMICS))
    if unknown:
        raise UserError(f"unknown probe '{unknown[0]}' (known: all, {', '.join(DYNAMICS)})")
    return names


def dynamics_probes(plan: EntryPlan, model: Any, names: tuple[str, ...]) -> Callable[[Any], dict[str, Any]] | None:
    """The per-evaluation probes asked for, as one callable (None: none asked)."""
    if not names:
        return None
    from anchorbench.scoring.dynamics import DynamicsProbes

    p = plan.params.p if plan.task.family == "modular" and "fourier" in names else None
    probe = DynamicsProbes(model, model.state_dict(), modular_p=p)
    keys = {"weight_norm": "weight_norm", "rd": "rd", "condensation": "condensation", "fourier": "fourier_top5"}
    wanted = {keys[n] for n in names}
    return lambda m: {k: v for k, v in probe(m).items() if k in wanted}


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
) -> RunResult:
    import torch

    from anchorbench.models.build import count_params
    from anchorbench.scoring.dynamics import history_power_law
    from anchorbench.scoring.grokking import run_timing
    from anchorbench.train import Trainer, _finite, finite_tree

    result_path = run_dir / "result.json"
    if resume and result_path.exists():
        return RunResult.model_validate(read_json(result_path))
    if reuse and (source := find_reusable(results_root, plan.config_hash(seed), exclude=run_dir)) is not None:
        return reuse_run(source, run_dir, results_root)
    started = time.perf_counter()
    if plan.train.threads:
        torch.set_num_threads(plan.train.threads)
    dataset = plan.task.family_obj.generate(plan.params, seed)
    model = plan.build_model(seed)
    metrics = [METRICS.get(name) for name in plan.task.scores]
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(
        model, dataset, plan.train, seed=seed, metrics=metrics, run_dir=run_dir,
        config_hash=plan.config_hash(seed), progress=progress, desc=f"{plan.label} seed {seed}",
        probes=dynamics_probes(plan, model, probes),
    )  # fmt: skip
    outcome = trainer.fit(resume=resume)
    final = outcome.final
    result = RunResult(
        name=_relative(run_dir, results_root),
        task=plan.task_ref(),
        model=ModelRef(name=plan.model.name, config=plan.model.config, n_params=count_params(model)),
        intervention=plan.intervention_ref(),
        train=plan.train.model_dump(mode="json"),
        seed=seed,
        config_hash=plan.config_hash(seed),
        status=outcome.status,
        steps_completed=outcome.steps_completed,
        diverged_at=outcome.diverged_at,
        resumed_from=outcome.resumed_from,
        scores={m.name: _finite(m(final)) for m in metrics},
        splits={k: SplitSummary(**v) for k, v in finite_tree(final.summary()).items()},
        timing=run_timing(outcome.history, plan.train.steps),
        wall_time_s=round(time.perf_counter() - started, 3),
        created_at=now(),
        env=environment(str(trainer.device), torch.get_num_threads()),
    )
    result.probes["power_law"] = finite_tree(history_power_law(outcome.history, plan.train.warmup_steps))
    for name in plan.task.probes:
        probe = PROBES.get(name)
        result.probes[name] = data = probe.compute(trainer.model, dataset, plan.params)
        if probe.plot is not None:
            probe.plot(data, run_dir / f"{name}.png")
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
    out: Path,
    resume: bool,
    progress: bool,
    reuse: bool = False,
    on_result: Callable[[EntryPlan, RunResult], None] | None = None,
) -> list[EntryOutcome]:
    seeds = plan.request.seeds
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MANIFEST).exists():
        write_json(out / MANIFEST, {**plan.request.manifest(), "created_at": now()})
    outcomes = []
    for entry in plan.entries:
        folder = out / entry.label
        results = []
        for seed in seeds:
            result = run_seed(
                entry, seed, folder / f"seed-{seed}", results_root=out.parent, resume=resume, progress=progress,
                reuse=reuse, probes=plan.request.probes,
            )  # fmt: skip
            results.append(result)
            if on_result:
                on_result(entry, result)
        metrics = {name: METRICS.get(name) for name in entry.task.scores}
        agg = aggregate(f"{out.name}/{entry.label}", results, metrics)
        write_json(folder / "aggregate.json", agg)
        outcomes.append(EntryOutcome(entry, results, agg, folder))
    return outcomes


def comparisons(plan: Plan, outcomes: list[EntryOutcome], out: Path) -> list[Any]:
    """The plan's paired comparisons, written to ``<out>/comparison.json``."""
    from anchorbench.compare import compare_arms

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
