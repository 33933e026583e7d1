"""Plan ``anchorbench run``: resolve a task or suite and validate every configuration.

Planning resolves and validates everything (task, parameters, model, training config,
intervention) and builds each model once, before anything is written, so bad input never
leaves a half-made results folder.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from anchorbench.config import ModelChoice, RunConfig, TrainConfig, content_hash, parse_set, split_key, validate
from anchorbench.errors import UserError
from anchorbench.execution.results import TaskRef
from anchorbench.registry import METRICS, PROBES, TASKS
from anchorbench.specs import (
    TASK_ID,
    CompareSpec,
    SuiteEntry,
    SuiteSpec,
    TaskSpec,
    load_suite,
    suite_paths,
)


@dataclass(frozen=True)
class EntryPlan:
    """One task with a fully resolved configuration (seeds aside)."""

    label: str
    task: TaskSpec
    params: Any  # the family's typed parameters
    model: Any  # anchorbench.models.build.ModelSpec
    train: TrainConfig
    intervention: Any = None  # anchorbench.models.interventions.InterventionSpec, or None for the plain arm
    analyses: tuple[str, ...] = ()  # the task's, and any the request asks for (not part of the config)

    @property
    def spec_hash(self) -> str:
        return self.task.spec_hash(self.params)

    def intervention_ref(self) -> dict[str, Any] | None:
        return None if self.intervention is None else {"name": self.intervention.name, **self.intervention.config}

    def run_config(self, seed: int) -> RunConfig:
        """The run's whole configuration, as every result stores it."""
        return RunConfig(
            task=self.task.choice(self.params),
            model=ModelChoice(name=self.model.name, config=self.model.config),
            train=self.train,
            seed=seed,
            intervention=self.intervention_ref(),
        )

    def config_hash(self, seed: int) -> str:
        return self.run_config(seed).config_hash()

    @cached_property
    def code_hash(self) -> str:
        """Hash of the source that runs: anchorbench, and the packages of a plug-in model, task
        family or intervention (see :mod:`anchorbench.execution.provenance`)."""
        from anchorbench.execution.provenance import code_hash
        from anchorbench.registry import INTERVENTIONS, MODELS

        family = self.task.family_obj
        used = [MODELS.get(self.model.name), getattr(family, "generate", family)]
        if self.intervention is not None:
            used.append(INTERVENTIONS.get(self.intervention.name).apply)
        return code_hash(used)

    def run_key(self, seed: int) -> str:
        """What a checkpoint or an earlier result must match to be continued or trusted:
        the configuration and the code."""
        return content_hash({"config": self.config_hash(seed), "code": self.code_hash})

    def build_model(self, seed: int) -> Any:
        """The model as trained: seeded init, then the intervention (own generator) if any."""
        from anchorbench.training.torch_state import isolated

        with isolated(seed):  # seeded, and the caller's global RNG left as it was
            model = self.model.build(*self.objective.model_args(self.params))
        if self.intervention is not None:
            self.intervention.apply(model, seed)
        return model

    @cached_property
    def objective(self) -> Any:
        """The task's objective (anchorbench.training.objectives.Objective)."""
        from anchorbench.training.objectives import objective_of

        return objective_of(self.task.objective)

    def check_model(self, probes: tuple[str, ...] = ()) -> None:
        """Build the model once and feed it a tiny batch: a model that cannot take the task's
        inputs, or returns the wrong shape, is refused with one line before anything is written
        (so is a training recipe the objective cannot serve, and a dynamics probe named in
        ``probes`` that cannot measure this model on this task; ``all`` takes those that can)."""
        if (problem := self.train.optimizer_problem(self.objective.name)) is not None:
            raise UserError(f"{self.task.id}: {problem}")
        from anchorbench.training import loop

        # on the device it will train on: a CUDA-only kernel (mamba_ssm's) would fail a CPU pass
        device = loop.pick_device(self.train.device)
        model = self.build_model(0).to(device)
        self.objective.check_model(model, self.model.name, self.objective.model_args(self.params), device)
        if hasattr(model, "init_summary"):  # recorded after training: a config it cannot describe fails now
            model.init_summary()
        from anchorbench.registry import DYNAMICS_PROBES

        family, objective, params = self.task.family, self.objective.name, self.params
        for name in self.task.dynamics:  # a probe the task is measured by must be able to measure the model
            if (problem := DYNAMICS_PROBES.get(name).problem(model, family, objective, params)) is not None:
                raise UserError(f"{self.task.id}: model '{self.model.name}': {problem}")
        for name in probes if probes != ALL_PROBES else ():
            if (problem := DYNAMICS_PROBES.get(name).problem(model, family, objective, params)) is not None:
                raise UserError(
                    f"--probes {name}: cannot run on {self.task.id} with model '{self.model.name}': the probe {problem}"
                )

    def task_ref(self) -> TaskRef:
        return TaskRef(
            id=self.task.id,
            version=self.task.version,
            family=self.task.family,
            spec_hash=self.spec_hash,
            params=self.params.model_dump(mode="json"),
            objective=self.task.objective,
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
    analyses: tuple[str, ...] = ()  # asked for beyond the tasks' own (e.g. grokking-timing)
    logs: tuple[str, ...] = ()  # experiment trackers (--log); where results are also sent, not what they are

    def manifest(self) -> dict[str, Any]:
        data = {
            "target": self.target,
            "model": self.model,
            "sets": list(self.sets),
            "intervention": self.intervention,
            "grid": list(self.grid),
            "seeds": list(self.seeds),
            "probes": list(self.probes),
        }
        if self.analyses:  # added later: a folder written before it resumes as it was
            data["analyses"] = list(self.analyses)
        return data


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
    if TASK_ID.match(target):
        TASKS.entry(target)  # raises with the current version or "did you mean"
        return None, [SuiteEntry(task=target)]
    if target in TASKS:  # e.g. an entry point named 'mytask': its name would become a folder
        origin = TASKS.entry(target).origin
        raise UserError(f"task '{target}' ({origin}) has no versioned id like 'name-v1'; rename its registration")
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


def recorded_entry(
    label: str,
    task_id: str,
    params: dict[str, Any],
    model: tuple[str, dict[str, Any]],
    train: dict[str, Any],
    intervention: dict[str, Any] | None = None,
) -> EntryPlan:
    """The plan of a run as its record states it (a result.json, a board submission): what
    `leaderboard verify` re-runs and `answers` rebuilds the model from."""
    from anchorbench.models.build import resolve_model
    from anchorbench.models.interventions import resolve_intervention

    spec: TaskSpec = TASKS.get(task_id)
    iv = dict(intervention or {})
    return EntryPlan(
        label=label,
        task=spec,
        params=spec.resolve_params(params),
        model=resolve_model(model[0], dict(model[1])),
        train=validate(TrainConfig, train, "train"),
        intervention=resolve_intervention(str(iv.pop("name")), iv) if iv else None,
        analyses=tuple(spec.analyses),  # the task's own (grokking timing): what its record holds
    )


def plan_entry(
    entry: SuiteEntry, model: str | None, sets: list[str] | tuple[str, ...], intervention: str | None = None
) -> EntryPlan:
    from anchorbench.models.build import resolve_model
    from anchorbench.models.interventions import resolve_intervention

    spec: TaskSpec = TASKS.get(entry.task)
    if entry.primary_score is not None and entry.primary_score not in spec.scores:
        raise UserError(
            f"entry '{entry.label}': primary_score '{entry.primary_score}' is not a score of {spec.id} "
            f"({', '.join(spec.scores)})"
        )
    for metric in spec.scores:
        METRICS.entry(metric)
        missing = [r for r in METRICS.get(metric).requires if r not in spec.scores]
        if missing:
            raise UserError(
                f"{spec.id}: score '{metric}' is computed from '{missing[0]}', which the task does not score"
            )
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
    clamp_default_warmup(layers["train"], {k for section, k, _ in items if section == "train"})
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
        analyses=tuple(spec.analyses),
    )


def clamp_default_warmup(train: dict[str, Any], chosen: set[str]) -> None:
    """A warmup nobody chose (the task's or the recipe's default) that outlasts a shortened run
    becomes a tenth of the run: ``--set train.steps=60`` should just run. A warmup set on purpose
    is left for the validator to refuse."""
    steps = train.get("steps")
    warmup = train.get("warmup_steps", TrainConfig.model_fields["warmup_steps"].default)
    if "warmup_steps" not in chosen and isinstance(steps, int) and isinstance(warmup, int) and warmup > steps:
        train["warmup_steps"] = steps // 10


def make_plan(request: Request) -> Plan:
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
    if request.analyses:
        plans = [replace(p, analyses=tuple(dict.fromkeys(p.analyses + request.analyses))) for p in plans]
    if any(p.train.device == "cuda" for p in plans):
        from anchorbench.training.loop import pick_device

        pick_device("cuda")  # refuses now, before anything is written, when there is no GPU
    for p in plans:  # build once (cheap) so a broken plug-in or intervention fails before anything is written
        p.check_model(request.probes)
    return Plan(request, suite, plans, comparisons, compare, suite.report if suite else None)


def parse_seeds(count: str | None, seed_list: str | None = None) -> list[int]:
    """The seeds of ``--seeds N`` (a count: seeds 0..N-1) or ``--seed-list 0,5,7`` (exactly those);
    not both. Neither: None -> [0]."""
    if count is not None and seed_list is not None:
        raise UserError("give --seeds (a count) or --seed-list (the seeds themselves), not both")
    if seed_list is not None:
        try:
            seeds = [int(s) for s in seed_list.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--seed-list takes seeds separated by commas (0,5,7), got '{seed_list}'") from None
        if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise UserError(f"--seed-list must name at least one distinct non-negative seed, got '{seed_list}'")
        return seeds
    if count is None:
        return [0]
    if "," in count:
        raise UserError(f"--seeds is a count (3 runs seeds 0, 1, 2); for the seeds {count} use --seed-list {count}")
    try:
        n = int(count)
    except ValueError:
        raise UserError(f"--seeds is a count of seeds (e.g. 3), got '{count}'") from None
    if n < 1:
        alone = "seed 0 alone: --seeds 1 or --seed-list 0"
        raise UserError(f"--seeds is a count and must be at least 1, got {n} ({alone})")
    return list(range(n))


def parse_analyses(text: str | None) -> tuple[str, ...]:
    from anchorbench.specs import ANALYSES

    names = tuple(x.strip() for x in (text or "").split(",") if x.strip())
    for name in names:
        if name not in ANALYSES:
            raise UserError(f"--analyses: unknown analysis '{name}' (known: {', '.join(ANALYSES)})")
    return names


ALL_PROBES = ("all",)


def parse_probes(text: str | None) -> tuple[str, ...]:
    from anchorbench.registry import DYNAMICS_PROBES

    if not text:
        return ()
    known = tuple(DYNAMICS_PROBES.names())
    if text.strip() == "all":
        return ALL_PROBES  # resolved per run to the probes that apply to its model and task
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UserError(f"unknown probe '{unknown[0]}' (known: all, {', '.join(known)})")
    return names
