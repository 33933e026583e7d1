"""Result records: typed, schema-versioned, written atomically, aggregated over seeds.

Layout of one invocation of ``anchorbench run``::

    results/<name>/run.json                      what was asked (target, sets, seeds)
    results/<name>/<entry>/seed-<s>/result.json  one RunResult per seed
    results/<name>/<entry>/seed-<s>/history.jsonl
    results/<name>/<entry>/aggregate.json        mean and 95% CI over seeds

The JSON Schemas of both records are committed in ``anchorbench/schema/``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from anchorbench.config import RunConfig
from anchorbench.execution.numerics import stack_fields
from anchorbench.execution.provenance import git_hash
from anchorbench.files import now
from anchorbench.scoring.stats import kaplan_meier_median, mean_ci
from anchorbench.training.torch_state import flushing_subnormals

# 2: the numerics stack in Environment, the code hash in ModelRef; version 1 records stay readable.
# 4: the CPU's identity, ISA extensions, MKL's code branch and dispatch overrides in Environment.
SCHEMA_VERSION = 4
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schema"  # anchorbench/schema


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRef(Record):
    id: str
    version: int
    family: str
    spec_hash: str = Field(description="sha256 over the task id, family, resolved params and scores")
    params: dict[str, Any]
    objective: str = Field("last-token", description="what the model predicts: last-token, all-tokens, regression")


class ModelRef(Record):
    name: str = Field(description="registry name or 'module:attr'")
    config: dict[str, Any] = Field(description="the full, resolved model config")
    n_params: int
    init: dict[str, Any] | None = Field(
        None,
        description="the init scale as built, where the model reports it (the transformer): gamma, its reference "
        "width, the std (uniform: bound) of a d_model fan-in weight and the gamma giving it at the model's own width",
    )
    code_hash: str | None = Field(
        None,
        description="sha256 over the source of anchorbench and of the packages defining the model, task family "
        "and intervention (see anchorbench.execution.provenance); null in version 1 records",
    )


class Environment(Record):
    """Where a result was computed. The numerics-stack fields (see ``anchorbench.execution.numerics``) are
    null in records written before schema version 2: such a stack is unknown, never "the same"."""

    anchorbench_version: str
    git_hash: str | None = Field(description="commit of the anchorbench checkout; null when not a git checkout")
    git_dirty: bool | None = Field(None, description="the package's code differed from its commit")
    torch_version: str
    numpy_version: str
    python_version: str
    platform: str
    device: str
    threads: int
    cpu_capability: str | None = Field(None, description="torch.backends.cpu.get_cpu_capability(): AVX2, AVX512...")
    machine: str | None = Field(None, description="platform.machine(): x86_64, arm64...")
    cpu_model: str | None = None
    blas: str | None = Field(None, description="the BLAS torch was built with, and its version where known")
    onednn: str | None = Field(None, description="oneDNN (MKL-DNN) version torch was built with")
    gpu_name: str | None = Field(None, description="on a GPU: its name")
    cuda_version: str | None = None
    cpu_id: str | None = Field(None, description="CPUID vendor, family, model, stepping (schema 4)")
    cpu_isa: str | None = Field(None, description="the ISA extensions ATen, MKL and oneDNN dispatch on (schema 4)")
    mkl_dispatch: str | None = Field(None, description="the code branch MKL reports it chose (schema 4)")
    dispatch_env: str | None = Field(None, description="environment variables overriding kernel dispatch (schema 4)")
    subnormals: str | None = Field(None, description="flush or keep: the CPU subnormal mode of the run (schema 4)")


class SplitSummary(Record):
    accuracy: float | None
    loss: float | None
    loss_sd: float | None = Field(None, description="standard deviation of the per-example loss (schema 2)")
    n: int
    groups: dict[str, dict[str, float | int | None]]
    positions: dict[str, list[float | None]] | None = Field(
        None, description="all-tokens objective: accuracy and loss at each input position, first to last"
    )

    @model_serializer(mode="wrap")
    def _positions_only_where_scored(self, handler: Any) -> dict[str, Any]:
        # a last-token or regression split has no positions: left out, as the history leaves it out
        data = handler(self)
        if data.get("positions") is None:
            data.pop("positions", None)
        return data


class GrokTiming(BaseModel):
    """Grokking timing of one run at one threshold q (anchorbench.scoring.grokking.timing)."""

    model_config = ConfigDict(extra="allow")  # records of older versions may carry fields since dropped

    q: float | None = None
    t_fit: int | None = Field(None, description="first evaluated step with train accuracy >= q")
    t_gen: int | None = Field(None, description="first step test accuracy reached q and held for the hold window")
    ratio: float | None = Field(None, description="t_gen / t_fit")
    delay: int | None = Field(None, description="t_gen - t_fit")
    resolution_fit: int | None = Field(None, description="steps between the evaluations around t_fit")
    resolution_gen: int | None = Field(None, description="steps between the evaluations around t_gen")
    grokked: bool | None = None
    censored: bool | None = Field(None, description="t_gen not reached within the budget")
    budget: int | None = None
    spikes: int | None = Field(None, description="crossings of q by test accuracy that did not hold")
    ungrokked_at: int | None = Field(None, description="a later step where test accuracy fell below q again")
    verdict: str | None = None


class PowerLawFit(BaseModel):
    """The loss power law L(t) = c t^-alpha + L_inf fitted to a run's training loss
    (anchorbench.scoring.dynamics.power_law); alpha is null when the window is too short."""

    model_config = ConfigDict(extra="allow")

    alpha: float | None = None
    c: float | None = None
    l_inf: float | None = None
    r2: float | None = None
    alpha_loglog: float | None = Field(None, description="the plain log-log slope, as a cross-check")
    r2_loglog: float | None = None
    window: dict[str, float | int] | None = Field(None, description="start, end, decades and points of the fit")
    flag: bool | None = Field(None, description="the two fits disagree by > 0.1 or R^2 < 0.98")
    reason: str | None = None


class RunProbes(BaseModel):
    """End-of-training measurements: the loss power law, and each probe the task declares under
    its registered name (e.g. matching-attention: the attention of the matching mechanism)."""

    model_config = ConfigDict(extra="allow")

    power_law: PowerLawFit | None = None


class RunResult(Record):
    """One training run: one task, one model config, one seed."""

    schema_version: Literal[1, 2, 3, 4] = SCHEMA_VERSION
    kind: Literal["run"] = "run"
    name: str = Field(description="the run's path relative to the results folder")
    task: TaskRef
    model: ModelRef
    intervention: dict[str, Any] | None = Field(None, description="name and config; null for a plain run")
    train: dict[str, Any] = Field(description="the full TrainConfig (typed in config.train from schema 3)")
    seed: int
    config: RunConfig | None = Field(
        None,
        description="the run's whole configuration, typed, as hashed: config_hash is recomputed from it alone "
        "(RunConfig.config_hash); null in records before schema 3",
    )
    config_hash: str = Field(description="sha256 over task params, model config, train config and seed")
    status: Literal["completed", "diverged"]
    steps_completed: int
    diverged_at: int | None = None
    resumed_from: int | None = Field(None, description="step the run was last resumed from, if any")
    reused_from: str | None = Field(
        None, description="an identical earlier run (same config hash, version and commit) this one copies"
    )
    scores: dict[str, float | None] = Field(description="metric -> final value; null if not finite")
    splits: dict[str, SplitSummary] = Field(description="final per-split and per-group accuracy")
    probes: RunProbes = Field(default_factory=RunProbes, description="end-of-training probes (e.g. attention)")
    timing: dict[str, GrokTiming] = Field(
        default_factory=dict, description="grokking timing per threshold q ('0.95', '0.99'); see scoring/grokking.py"
    )
    wall_time_s: float = Field(description="training and evaluation time of this process")
    created_at: str
    env: Environment
    history: str = "history.jsonl"


class ScoreSummary(Record):
    direction: Literal["higher", "lower"]
    mean: float | None
    ci_low: float | None = Field(description="95% t-interval; null with fewer than 2 finite values")
    ci_high: float | None
    n: int
    values: list[float | None]


class AggregateResult(Record):
    """All seeds of one task and model config."""

    schema_version: Literal[1, 2, 3, 4] = SCHEMA_VERSION
    kind: Literal["aggregate"] = "aggregate"
    name: str
    task: TaskRef
    model: ModelRef
    intervention: dict[str, Any] | None = None
    train: dict[str, Any]
    seeds: list[int]
    statuses: list[str]
    scores: dict[str, ScoreSummary]
    timing: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per q: fraction grokked and the Kaplan-Meier median t_gen with its CI"
    )
    runs: list[str] = Field(description="result.json paths relative to this file")
    created_at: str


def aggregate(name: str, results: list[RunResult], metrics: dict[str, Any]) -> AggregateResult:
    """Mean and 95% CI over seeds of every score; ``metrics`` maps names to Metric records."""
    first = results[0]
    scores = {}
    for metric in first.scores:
        values = [r.scores.get(metric) for r in results]
        info = metrics[metric]
        stats = mean_ci(values, info.bounds)
        scores[metric] = ScoreSummary(direction=info.direction, values=values, **stats)  # type: ignore[arg-type]
    timing = {}
    for q in first.timing:
        per_seed = [r.timing.get(q, GrokTiming()) for r in results]
        timing[q] = timing_summary(
            [t.t_gen for t in per_seed],
            [t.budget or r.steps_completed for t, r in zip(per_seed, results)],
            [bool(t.grokked) for t in per_seed],
        )
    return AggregateResult(
        timing=timing,
        name=name,
        task=first.task,
        model=first.model,
        intervention=first.intervention,
        train=first.train,
        seeds=[r.seed for r in results],
        statuses=[r.status for r in results],
        scores=scores,
        runs=[f"seed-{r.seed}/result.json" for r in results],
        created_at=now(),
    )


def timing_summary(t_gens: list[int | None], budgets: list[int], grokked: list[bool]) -> dict[str, Any]:
    """The timing over seeds at one threshold: the share that grokked and the Kaplan-Meier median
    t_gen with its 95% interval (a run that never generalized is censored at its budget)."""
    km = kaplan_meier_median(t_gens, budgets)
    return {
        "fraction_grokked": sum(grokked) / len(grokked),
        "grokked": sum(grokked),
        "n": len(grokked),
        "km_median_t_gen": km["median"],
        "km_ci": [km["ci_low"], km["ci_high"]],
        "censored": km["censored"],
        "survival": km["curve"],
    }


# -- provenance ----------------------------------------------------------------------------
def environment(device: str, threads: int) -> Environment:
    import numpy
    import torch

    from anchorbench import __version__

    return Environment(
        anchorbench_version=__version__,
        git_hash=git_hash(),
        torch_version=torch.__version__,
        numpy_version=numpy.__version__,
        python_version=platform.python_version(),
        platform=platform.platform(),
        device=device,
        threads=threads,
        subnormals="flush" if flushing_subnormals() else "keep",
        **stack_fields(device),
    )


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schemas that are published in ``anchorbench/schema/``."""
    return {
        "result.schema.json": RunResult.model_json_schema(),
        "aggregate.schema.json": AggregateResult.model_json_schema(),
    }


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate the committed schemas: ``python -m anchorbench.execution.results``."""
    written = []
    for name, schema in schemas().items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_schemas():
        print(f"wrote {p}")
