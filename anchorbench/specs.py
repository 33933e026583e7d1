"""Task and suite specs: YAML files with versioned ids.

Built-in specs live in the repository's ``tasks/`` folder; a wheel ships a copy inside
the package (``anchorbench/_tasks``), so ``pip install .`` finds them too.
"""

from __future__ import annotations

import itertools
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from anchorbench.errors import UserError
from anchorbench.registry import FAMILIES, Registry

TASK_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*-v[0-9]+\Z")  # \Z: '$' would let a trailing newline through

# Names that become one file or folder name: suite and sweep ids, suite entry names and the labels
# a grid makes (``matching@n_layers=2,hops=3``), twin labels (``plain+orthogonal-noise``). A letter
# or digit first, so never '.', '..' or a hidden file; no '/', '\\', ':', spaces or control characters,
# so a name cannot leave the results folder or mean different things on different systems.
SLUG_CHARS = "letters, digits and . _ - + = , @"
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=,@-]*")
SLUG_MAX = 200  # file systems allow 255 bytes per name


def _shown(value: Any) -> str:
    """``value`` quoted on one line (repr escapes control characters), cut when long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def slug_problem(value: str) -> str | None:
    if not isinstance(value, str) or not SLUG.fullmatch(value) or len(value) > SLUG_MAX:
        return f"allowed: {SLUG_CHARS}; a letter or digit first; at most {SLUG_MAX} characters"
    return None


def check_slug(value: str, what: str) -> str:
    """``value`` if it can name a folder; else ValueError (a one-line message naming it)."""
    problem = slug_problem(value)
    if problem:
        raise ValueError(f"{what} {_shown(value)} cannot name a folder ({problem})")
    return value


def check_task_id(value: str) -> str:
    if not isinstance(value, str) or not TASK_ID.fullmatch(value):
        raise ValueError(f"task id {_shown(value)} must look like 'name-v1' (lowercase, dash-separated, versioned)")
    return value


def builtin_tasks_dir() -> Path:
    packaged = Path(__file__).parent / "_tasks"  # inside a built wheel
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "tasks"  # source checkout / editable install


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunDefaults(Spec):
    """The model and training recipe a task is run with unless the user overrides it."""

    model: dict[str, Any] = Field(default_factory=lambda: {"name": "transformer"})
    train: dict[str, Any] = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _named(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "name" not in v:
            raise ValueError("defaults.model needs a 'name'")
        return v


# Analyses of a run's evaluation history that a task may declare (anchorbench.scoring.grokking).
# The loss power-law fit is not one: it runs everywhere and is shown where its window is long enough.
Analysis = Literal["grokking-timing"]
ANALYSES: tuple[str, ...] = get_args(Analysis)


class TaskSpec(Spec):
    id: str
    family: str
    title: str
    source: str = Field(description="the paper(s) the task reproduces")
    params: dict[str, Any] = Field(default_factory=dict, description="family parameters")
    scores: list[str] = Field(min_length=1, description="registered metrics reported for this task")
    primary_score: str = Field(description="the headline score (held-out accuracy or similar)")
    probes: list[str] = Field(default_factory=list, description="registered probes run on the final model")
    dynamics: list[str] = Field(
        default_factory=list,
        description="training-dynamics probes recorded at every evaluation of every run of this task, whatever "
        "--probes asks (a score that reads one: rd_input, [COND-PD])",
    )
    analyses: list[Analysis] = Field(
        default_factory=list,
        description="analyses of the training curves that mean something for this task (grokking-timing: "
        "t_fit / t_gen, [GROK]); `anchorbench run --analyses` asks for one on any task",
    )
    defaults: RunDefaults = Field(default_factory=RunDefaults)
    notes: str = Field("", description="choices made where papers and code differ")

    @field_validator("id")
    @classmethod
    def _versioned(cls, v: str) -> str:
        return check_task_id(v)

    @property
    def version(self) -> int:
        return int(self.id.rpartition("-v")[2])

    @cached_property
    def family_obj(self) -> Any:
        return FAMILIES.get(self.family)

    @property
    def objective(self) -> str:
        """What the task's data asks the model to predict (its family declares it)."""
        return getattr(self.family_obj, "objective", "last-token")

    def resolve_params(self, overrides: dict[str, Any] | None = None) -> Any:
        """The family's typed parameters: spec params, then ``overrides``."""
        from anchorbench.config import validate

        return validate(self.family_obj.params, {**self.params, **(overrides or {})}, "task")

    def choice(self, params: BaseModel) -> Any:
        """The task as it enters a run's configuration (anchorbench.config.TaskChoice)."""
        from anchorbench.config import TaskChoice, hashed

        return TaskChoice(id=self.id, family=self.family, params=hashed(params), scores=self.scores,
                          primary_score=self.primary_score)  # fmt: skip

    def spec_hash(self, params: BaseModel) -> str:
        """Content hash of what defines the data and the scores (not the training recipe)."""
        return self.choice(params).spec_hash()


class SuiteEntry(Spec):
    task: str
    name: str | None = Field(None, description="defaults to the task id; unique within the suite")
    set: dict[str, Any] = Field(default_factory=dict, description="overrides like 'train.steps': 500")
    primary_score: str | None = Field(
        None, description="the score the board ranks this entry by; default: the task's primary score"
    )

    @field_validator("task")
    @classmethod
    def _task_id(cls, v: str) -> str:
        return check_task_id(v)  # it is the entry's folder name when the entry has no name

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_slug(v, "entry name")

    @property
    def label(self) -> str:
        return self.name or self.task


class CompareSpec(Spec):
    """Paired comparison of every entry against a baseline entry, seed by seed."""

    baseline: str = Field(description="label of the baseline entry")
    split: str = Field("test", description="split whose accuracy defines steps-to-threshold")
    threshold: float = Field(0.9, gt=0, le=1, description="accuracy that counts as generalized")


class SuiteSpec(Spec):
    id: str
    version: int = Field(ge=1)
    title: str
    runs: list[SuiteEntry] = Field(min_length=1)
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="config key -> values; every entry runs at every combination"
    )
    compare: CompareSpec | None = None
    report: str | None = Field(None, description="a registered report drawn after the runs (e.g. capacity)")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_slug(v, "suite id")

    @model_validator(mode="after")
    def _compare_names_an_entry(self) -> SuiteSpec:
        if self.compare is not None:
            if self.grid:
                raise ValueError("compare and grid cannot be combined in one suite")
            if self.compare.baseline not in [e.label for e in self.runs]:
                raise ValueError(f"compare.baseline '{self.compare.baseline}' is not the name of an entry")
        check_grid_labels(self.runs, self.grid)
        return self

    def expanded(self) -> list[SuiteEntry]:
        """The entries with the grid applied: one per entry and combination of grid values."""
        if not self.grid:
            return list(self.runs)
        try:  # again here: --grid replaces axes after the file was validated
            check_grid_labels(self.runs, self.grid)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        keys = list(self.grid)
        return [
            SuiteEntry(task=entry.task, name=grid_label(entry.label, keys, combo),
                       set={**entry.set, **dict(zip(keys, combo))}, primary_score=entry.primary_score)
            for entry in self.runs
            for combo in itertools.product(*(self.grid[k] for k in keys))
        ]  # fmt: skip

    @field_validator("runs")
    @classmethod
    def _unique(cls, v: list[SuiteEntry]) -> list[SuiteEntry]:
        labels = [e.label for e in v]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"entries share a name: {sorted(dup)}; give each a distinct 'name'")
        return v


def grid_label(label: str, keys: list[str], combo: tuple[Any, ...]) -> str:
    """``matching@n_layers=2,hops=3``: the entry's label and its grid values."""
    return f"{label}@" + ",".join(f"{k.rpartition('.')[2]}={v}" for k, v in zip(keys, combo))


def check_grid_labels(runs: list[SuiteEntry], grid: dict[str, list[Any]], what: str = "grid value") -> None:
    """Every label the grid makes must name a folder; the message names the value that cannot."""
    for key, values in grid.items():
        for v in values:
            part = f"{key.rpartition('.')[2]}={v}"
            if not SLUG.fullmatch(f"x{part}"):  # 'x': the part never starts a label
                raise ValueError(f"{what} {_shown(v)} of {key} cannot be part of a folder name (allowed: {SLUG_CHARS})")
    if grid:  # the longest value of each axis makes the longest label
        keys = list(grid)
        longest = tuple(max(grid[k], key=lambda v: len(str(v)), default="") for k in keys)
        for entry in runs:
            check_slug(grid_label(entry.label, keys, longest), "the label")


class ShadowSpec(Spec):
    """The cells a phase diagram marks as untrustworthy: ``score`` below ``below`` ([INIT]'s
    "shadow zone", where the model has not even fitted the seen pairs' test keys)."""

    score: str
    below: float = Field(allow_inf_nan=False)


class PhaseSpec(Spec):
    """Which sweep axes a phase diagram puts on x and y, and which scores it draws."""

    # Added after sweeps were run: left out of the sweep's hash while unset (anchorbench.config.hashed).
    HASH_ONLY_IF_SET: ClassVar[dict[str, Any]] = {"shadow": None, "best_over": None}

    x: str
    y: str | None = None
    scores: list[str] = Field(default_factory=list, description="scores to draw; empty: all of the task's")
    shadow: ShadowSpec | None = Field(None, description="outline the cells whose mean of a score is below a floor")
    best_over: str | None = Field(
        None,
        description="a further axis (e.g. train.lr): besides the mean over seeds and that axis, draw per cell the "
        "best over its values of the mean over seeds (the [INIT] paper's reduction; optimistic, labelled so)",
    )


class ReferenceCurve(Spec):
    """Published values to draw beside a sweep's curve: per line value, score by x value."""

    label: str = Field(description="where the values come from (paper, code, logged results)")
    values: dict[str, dict[float, float]] = Field(min_length=1, description="line value -> {x value: score}")


class CurveSpec(Spec):
    """A score against one axis, one line per value of another, with 95% intervals over seeds
    (e.g. [AF]'s test accuracy against training-set size, one line per model)."""

    x: str
    line: str | None = Field(None, description="an axis drawn as one line per value; none: one line")
    score: str
    reference: ReferenceCurve | None = None


class SlopeReference(Spec):
    """Published slopes to print beside a sweep's fitted ones: one point per cell."""

    label: str = Field(description="where the values come from")
    values: list[dict[str, float]] = Field(
        min_length=1, description="each: the cell's coordinates (the slope's across/rows axes) and 'slope'"
    )


# Theories a slope sweep can test: each predicts the sign of the slope from a cell's resolved
# config (anchorbench.scoring.condensation: cond-pd reads model.gamma and model.gamma_prime).
Theory = Literal["cond-pd"]


class SlopeSpec(Spec):
    """The slope of log(score) against log(x), fitted per seed in every cell of the other axes, with
    its mean and 95% interval over seeds ([COND-PD]: S_w, the slope of log RD against log width)."""

    x: str = Field(description="a numeric axis of positive values, on a log scale (e.g. model.width)")
    score: str = Field(description="a score of positive values (e.g. rd_input)")
    across: str | None = Field(None, description="an axis on the heat map's columns; zero crossings are found along it")
    rows: str | None = Field(None, description="an axis on the heat map's rows")
    theory: Theory | None = Field(None, description="the predicted sign of the slope per cell, and its boundary")
    reference: SlopeReference | None = None


class PowerLawSpec(Spec):
    """Two students' loss curves compared across a grid ([PLAW-SUP]): the power-law exponent per cell
    and student beside the theory, and the speed-up, the slow student's time over the fast one's
    (paired by seed: a geometric mean and its 95% interval over seeds)."""

    students: str = Field(description="the axis whose two values are the students (e.g. model.name)")
    slow: str = Field(description="the reference student (the speed-up's numerator)")
    fast: str = Field(description="the student compared with it (the denominator)")
    x: str = Field(description="a numeric axis the exponents are drawn against (e.g. task.feature_decay)")
    panels: str | None = Field(None, description="a further axis: one line (exponents) or row (curves) per value")
    exponent: str = Field("loss_exponent", description="the exponent score")
    time: str = Field("time_to_excess", description="the time score the speed-up divides")


class SweepSpec(Spec):
    """A base run and the axes to vary: any config key (``section.key``) and ``seed``."""

    id: str
    version: int = Field(ge=1)
    title: str
    base: SuiteEntry
    axes: dict[str, list[Any]] = Field(min_length=1)
    phase: PhaseSpec | None = None
    curve: CurveSpec | None = None  # added after sweeps were run: in the hash only when set
    slope: SlopeSpec | None = None  # added after sweeps were run: in the hash only when set
    power_law: PowerLawSpec | None = None  # added after sweeps were run: in the hash only when set

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_slug(v, "sweep id")  # the results folder is named after it

    @model_validator(mode="after")
    def _axes(self) -> SweepSpec:
        for key, values in self.axes.items():
            if not values:
                raise ValueError(f"axis {key} has no values")
            if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
                raise ValueError(f"axis {key} repeats a value")
            if key == "seed":
                if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
                    raise ValueError("axis seed takes non-negative integers")
            elif key.count(".") != 1 or key.split(".")[0] not in ("task", "model", "train", "intervention"):
                raise ValueError(f"axis '{key}' is not 'seed' or section.key (task, model, train, intervention)")
        check_grid_labels([self.base], {k: v for k, v in self.axes.items() if k != "seed"}, "axis value")
        if self.phase is not None:
            for ax in (self.phase.x, self.phase.y, self.phase.best_over):
                if ax is not None and (ax not in self.axes or ax == "seed"):
                    raise ValueError(f"phase axis '{ax}' is not one of the sweep's config axes")
            if self.phase.best_over is not None and self.phase.best_over in (self.phase.x, self.phase.y):
                raise ValueError(f"phase.best_over '{self.phase.best_over}' is already on the diagram's x or y")
        if self.curve is not None:
            self._check_curve(self.curve)
        if self.slope is not None:
            self._check_slope(self.slope)
        if self.power_law is not None:
            self._check_power_law(self.power_law)
        return self

    def _check_power_law(self, pl: PowerLawSpec) -> None:
        named = [ax for ax in (pl.students, pl.x, pl.panels) if ax is not None]
        for ax in named:
            if ax not in self.axes or ax == "seed":
                raise ValueError(f"power_law axis '{ax}' is not one of the sweep's config axes")
        if len(set(named)) != len(named):
            raise ValueError("power_law.students, x and panels must be different axes")
        further = [k for k in self.axes if k not in (*named, "seed")]
        if further:
            raise ValueError(f"a power_law sweep varies students, x, panels and seed; '{further[0]}' would mix cells")
        for which in (pl.slow, pl.fast):
            if which not in self.axes[pl.students]:
                raise ValueError(f"power_law student '{which}' is not a value of {pl.students}")
        if pl.slow == pl.fast:
            raise ValueError("power_law.slow and power_law.fast must be different students")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.axes[pl.x]):
            raise ValueError(f"power_law.x '{pl.x}' needs numbers on its axis")

    def _check_slope(self, slope: SlopeSpec) -> None:
        named = [ax for ax in (slope.x, slope.across, slope.rows) if ax is not None]
        for ax in named:
            if ax not in self.axes or ax == "seed":
                raise ValueError(f"slope axis '{ax}' is not one of the sweep's config axes")
        if len(set(named)) != len(named):
            raise ValueError("slope.x, slope.across and slope.rows must be different axes")
        further = [k for k in self.axes if k not in (*named, "seed")]
        if further:
            raise ValueError(f"a slope sweep varies x, across, rows and seed; '{further[0]}' would mix cells")
        xs = self.axes[slope.x]
        if len(xs) < 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in xs):
            raise ValueError(f"slope.x '{slope.x}' needs at least 2 positive numbers on its axis (a log scale)")
        for ax in (slope.across, slope.rows):
            numeric = ax is None or all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.axes[ax])
            if not numeric:
                raise ValueError(f"slope axis '{ax}' needs numbers on its axis")
        if slope.reference is not None:
            keys = {ax for ax in (slope.across, slope.rows) if ax is not None} | {"slope"}
            for point in slope.reference.values:
                if set(point) != keys:
                    raise ValueError(f"slope.reference points take the keys {', '.join(sorted(keys))}")
                for ax in keys - {"slope"}:
                    if point[ax] not in self.axes[ax]:
                        raise ValueError(f"slope.reference {ax} {point[ax]:g} is not a value of that axis")

    def _check_curve(self, curve: CurveSpec) -> None:
        for ax in (curve.x, curve.line):
            if ax is not None and (ax not in self.axes or ax == "seed"):
                raise ValueError(f"curve axis '{ax}' is not one of the sweep's config axes")
        if curve.x == curve.line:
            raise ValueError(f"curve.line '{curve.line}' is already the curve's x")
        further = [k for k in self.axes if k not in (curve.x, curve.line, "seed")]
        if further:
            raise ValueError(f"a curve sweep varies x, line and seed; '{further[0]}' puts two points at one x")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.axes[curve.x]):
            raise ValueError(f"curve.x '{curve.x}' needs numbers on its axis")
        if curve.reference is None:
            return
        lines = {str(v) for v in self.axes[curve.line]} if curve.line else None
        xs = set(self.axes[curve.x])
        for line, points in curve.reference.values.items():
            if lines is not None and line not in lines:
                raise ValueError(f"curve.reference line '{line}' is not a value of {curve.line}")
            for x in points:
                if x not in xs:
                    raise ValueError(f"curve.reference x {x:g} is not a value of {curve.x}")

    def hashed(self) -> dict[str, Any]:
        """The spec as it enters the sweep's hash (phase fields added later count only when set)."""
        from anchorbench.config import hashed

        data = self.model_dump(mode="json")
        if self.phase is not None:
            data["phase"] = hashed(self.phase)
        for added in ("curve", "slope", "power_law"):
            if data[added] is None:
                del data[added]
        return data

    @property
    def seeds(self) -> list[int]:
        return list(self.axes.get("seed", [0]))

    def as_suite(self) -> SuiteSpec:
        """The config axes as a suite grid: one entry per combination, seeds aside."""
        grid = {k: v for k, v in self.axes.items() if k != "seed"}
        return SuiteSpec(id=self.id, version=self.version, title=self.title, runs=[self.base], grid=grid)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"malformed YAML in {path}{where}: {problem}") from None


def load_spec(path: Path, kind: type[Spec]) -> Any:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        from anchorbench.config import describe_validation_error

        raise UserError(f"{path}: {describe_validation_error(exc)}") from None


def register_builtin_tasks(registry: Registry[Any]) -> None:
    register_task_dir(registry, builtin_tasks_dir(), origin="built-in")


def load_task_spec(path: Path) -> TaskSpec:
    """One task spec YAML; its id must match the file name. Plug-in packages expose the result
    under the ``anchorbench.tasks`` entry-point group (the entry point's name is the task id)."""
    spec = load_spec(Path(path), TaskSpec)
    if spec.id != Path(path).stem:
        raise UserError(f"{path}: id '{spec.id}' must match the file name")
    return spec


def register_task_dir(registry: Registry[Any], folder: Path, origin: str) -> None:
    for path in sorted(folder.glob("*.yaml")):
        spec = load_task_spec(path)
        registry.register(spec.id, spec, origin=f"{origin} ({path.name})")


def include_task_dir(folder: Path) -> list[str]:
    """``--include-path DIR``: register the task specs (``*.yaml``) of a folder outside the
    package; returns their ids. Clashing ids are refused (DuplicateNameError)."""
    from anchorbench.registry import TASKS

    if not folder.is_dir():
        raise UserError(f"--include-path {folder}: not a folder")
    ids = []
    for path in sorted(folder.glob("*.yaml")):
        spec, origin = load_task_spec(path), f"--include-path {folder} ({path.name})"
        if spec.id not in TASKS or TASKS.entry(spec.id).origin != origin:  # the same file twice is one task
            TASKS.register(spec.id, spec, origin=origin)
        ids.append(spec.id)
    if not ids:
        raise UserError(f"--include-path {folder}: no task specs (*.yaml) in it")
    return ids


def suite_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted((builtin_tasks_dir() / "suites").glob("*.yaml"))}


def load_suite(name_or_path: str) -> SuiteSpec:
    paths = suite_paths()
    path = paths.get(name_or_path) or Path(name_or_path)
    spec = load_spec(path, SuiteSpec)
    if path.parent.resolve() == (builtin_tasks_dir() / "suites").resolve() and spec.id != path.stem:
        raise UserError(f"{path}: id '{spec.id}' must match the file name")
    return spec


def sweep_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted((builtin_tasks_dir() / "sweeps").glob("*.yaml"))}


def load_sweep(name_or_path: str) -> tuple[SweepSpec, Path]:
    path = sweep_paths().get(name_or_path) or Path(name_or_path)
    if not path.is_file() and path.parent.name == "sweeps" and path.stem in sweep_paths():
        path = sweep_paths()[path.stem]  # tasks/sweeps/X.yaml as the docs write it, from any folder
    if not path.is_file():
        known = ", ".join(sweep_paths()) or "none"
        raise UserError(f"no such sweep file: {name_or_path} (built-in sweeps: {known})")
    return load_spec(path, SweepSpec), path
