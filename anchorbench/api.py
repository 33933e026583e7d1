"""The Python API: what ``anchorbench run`` does, called from a notebook or a script.

    import anchorbench
    run = anchorbench.run("anchor-identity-v1", model="transformer", seeds=3, sets={"train.steps": 300})
    run["anchor-identity-v1"].aggregate.scores["test_accuracy"].mean
    rows = run.rows()                      # one dict per (entry, seed): pandas.DataFrame(rows)
    again = anchorbench.load(run.folder)   # the same, read back from disk

The run goes through the CLI's own plan and runner (same validation, same results folder, same
run.json), so its results carry the same provenance. A model given as a class or factory is
recorded by its import path (``module:qualname``) when that path leads back to it, as if named on
the command line; a model that cannot be imported again (defined inside a function) runs under
a name that says so, and ``leaderboard verify`` cannot re-run it.
"""

from __future__ import annotations

import importlib
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError

_local_names = itertools.count()


@dataclass(frozen=True)
class Entry:
    """One entry of a run: every seed's RunResult and the aggregate over seeds (typed records,
    anchorbench.execution.results)."""

    results: list[Any]  # RunResult per seed
    aggregate: Any  # AggregateResult: scores with mean, 95% CI and per-seed values
    folder: Path


@dataclass(frozen=True)
class Run:
    """A results folder: one :class:`Entry` per suite entry (one for a task), in the run's order."""

    folder: Path
    entries: dict[str, Entry]

    def __getitem__(self, label: str) -> Entry:
        if label not in self.entries:
            raise KeyError(f"no entry '{label}' in {self.folder} (entries: {', '.join(self.entries)})")
        return self.entries[label]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per (entry, seed): its scores and what produced them (pandas-ready)."""
        out = []
        for label, entry in self.entries.items():
            for r in entry.results:
                out.append({"entry": label, "task": r.task.id, "model": r.model.name, "seed": r.seed,
                            "status": r.status, "n_params": r.model.n_params, "steps": r.steps_completed,
                            "wall_time_s": r.wall_time_s, **r.scores})  # fmt: skip
        return out


def model_name(model: Any) -> tuple[str | None, bool]:
    """The name to run ``model`` under, and whether it must be registered for this run only.
    A name (or None: the task's default) is used as given."""
    if model is None or isinstance(model, str):
        return model, False
    module, qualname = getattr(model, "__module__", None), getattr(model, "__qualname__", None)
    if module and qualname and "<locals>" not in qualname and module != "__main__":
        try:
            found: Any = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            found = None
        if found is model:  # the path leads back to this very object: record it as the CLI would
            return f"{module}:{qualname}", False
    return f"local.{getattr(model, '__name__', 'model')}-{next(_local_names)}", True


@contextmanager
def registered(model: Any) -> Iterator[str | None]:
    """``model``'s run name, registering an object that has no import path for the duration."""
    from anchorbench.registry import MODELS

    name, temporary = model_name(model)
    if temporary:
        MODELS.register(name, model, origin="an in-process object with no import path (verify cannot re-run it)")
    try:
        yield name
    finally:
        if temporary:
            MODELS.unregister(name)


def set_args(sets: dict[str, Any] | None) -> tuple[str, ...]:
    """``{"train.steps": 300}`` -> ``("train.steps=300",)``: values as JSON, which the CLI reads as YAML."""
    return tuple(f"{key}={json.dumps(value)}" for key, value in (sets or {}).items())


def seed_list(seeds: int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(seeds, bool) or not isinstance(seeds, (int, list, tuple)):
        raise UserError(f"seeds is a count (3: seeds 0, 1, 2) or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise UserError(f"seeds as a count must be at least 1, got {seeds}")
        return tuple(range(seeds))
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if not seeds or bad or len(set(seeds)) != len(seeds):
        raise UserError(f"seeds must be distinct non-negative integers, got {list(seeds)}")
    return tuple(seeds)


def run(
    target: str,
    *,
    model: Any = None,
    seeds: int | list[int] | tuple[int, ...] = 1,
    sets: dict[str, Any] | None = None,
    intervention: str | None = None,
    out: str | Path | None = None,
    results_dir: str | Path = "results",
    resume: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> Run:
    """Train and score ``target`` (a task id, a suite name or a suite YAML path), as ``anchorbench run``.

    ``model``: a registered name, ``"module:attr"``, or the class or factory itself; ``seeds``: a
    count or a list; ``sets``: ``{"section.key": value}`` overrides. Bad input raises
    :class:`anchorbench.errors.UserError` with the CLI's one-line message, before anything is written."""
    from anchorbench.execution import plan as plan_mod
    from anchorbench.execution import runner

    with registered(model) as name:
        request = plan_mod.Request(target=target, model=name, sets=set_args(sets), intervention=intervention,
                                   seeds=seed_list(seeds))  # fmt: skip
        plan = plan_mod.make_plan(request)
        folder = runner.choose_out(plan, Path(out) if out else None, Path(results_dir), resume)
        outcomes = runner.execute(plan, out=folder, resume=resume, progress=progress, workers=workers)
    return Run(folder, {o.plan.label: Entry(o.results, o.aggregate, o.folder) for o in outcomes})


def load(path: str | Path) -> Any:
    """A results folder (with run.json) as a :class:`Run`, or one seed's folder (or its result.json)
    as its RunResult."""
    from anchorbench.execution.results import AggregateResult, RunResult
    from anchorbench.files import read_json

    path = Path(path)
    if path.name == "result.json" or (path / "result.json").is_file():
        return RunResult.model_validate(read_json(path if path.name == "result.json" else path / "result.json"))
    if not (path / "run.json").is_file():
        raise UserError(f"{path} is neither a results folder (run.json) nor a seed folder (result.json)")
    entries = {}
    # in the order the entries were written (a suite's order), by their aggregates' time
    for aggregate_path in sorted(path.glob("*/aggregate.json"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        aggregate = AggregateResult.model_validate(read_json(aggregate_path))
        results = [RunResult.model_validate(read_json(aggregate_path.parent / p)) for p in aggregate.runs]
        entries[aggregate_path.parent.name] = Entry(results, aggregate, aggregate_path.parent)
    return Run(path, entries)
