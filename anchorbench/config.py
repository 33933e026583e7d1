"""Typed configs and how a run's configuration is put together.

A run's config is three sections, ``task`` (family parameters), ``model`` (``name`` and
keyword arguments) and ``train`` (:class:`TrainConfig`). Layers apply in this order:
the task's ``defaults`` in its YAML, a suite entry's ``set``, ``--model``, and the
user's ``--set section.key=value``. Every layer is validated against typed models;
unknown keys and wrong types are user errors with one-line messages.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from anchorbench.errors import UserError

SECTIONS = ("task", "model", "train", "intervention")


def content_hash(payload: Any) -> str:
    """sha256 over the canonical JSON of ``payload`` (sorted keys, no spaces)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def hashed(model: BaseModel) -> dict[str, Any]:
    """``model``'s fields as they enter a hash (a run's config hash, a task's spec hash).

    A field added after runs were recorded is named in the class's ``HASH_ONLY_IF_SET`` with the
    value that keeps the old behaviour; it is hashed only when set to something else, so every
    earlier run and submission keeps its hash (and ``leaderboard verify`` its records). A field
    removed from a class is named in its ``HASH_REMOVED`` with the value it always had, and hashed
    as if it were still there. A field that is itself a typed config is hashed by the same rules.
    """
    data = model.model_dump(mode="json")
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            data[name] = hashed(value)
    # fields removed since runs were recorded, at the one value they always had (data.family.TokenParams)
    return {**without_old_defaults(type(model), data), **getattr(type(model), "HASH_REMOVED", {})}


def without_old_defaults(cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a dump of ``cls``, or a record of one written before some fields existed) less
    every field of ``cls.HASH_ONLY_IF_SET`` at its old-behaviour value: both read the same."""
    only_if_set = getattr(cls, "HASH_ONLY_IF_SET", {})
    return {k: v for k, v in data.items() if not (k in only_if_set and v == only_if_set[k])}


class TrainConfig(BaseModel):
    """The training recipe: AdamW, linear warmup then cosine decay, gradient clipping (or, for the
    regression objective, full-batch gradient descent at a step set by the curvature: ``gd-ntk``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    HASH_ONLY_IF_SET: ClassVar[dict[str, Any]] = {  # see hashed()
        "compile": False,
        "warmup_start_ratio": 0.0,
        "decay_steps": None,
        "optimizer": "adamw",
        "stop_loss": None,
        "precision": "fp32",
        # Not the old behaviour (subnormals were kept before this field existed), but a numerics
        # setting like the thread count: it moves the last bits, not what is learned, so the
        # default leaves every recorded hash as it was; the numerics stack records the mode
        # (Environment.subnormals), which is what decides whether a re-run can be bitwise equal.
        "subnormals": "flush",
    }

    steps: int = Field(1000, ge=1, description="optimizer steps (the unit of training time)")
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0, description="peak learning rate")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="cosine ends at lr * min_lr_ratio")
    warmup_steps: int = Field(
        100, ge=0, description="linear warmup; a default (not --set) warmup longer than the run becomes a tenth of it"
    )
    warmup_start_ratio: float = Field(
        0.0, ge=0, le=1, description="warmup starts at lr * this ([INIT] code: 1/20, i.e. 1e-5 -> 2e-4)"
    )
    decay_steps: int | None = Field(
        None,
        ge=1,
        description="length of the cosine after warmup; None -> steps - warmup_steps. Longer: the run ends "
        "before the cosine does, so the learning rate stays nearer its peak",
    )
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = Field(1.0, gt=0, description="max global grad norm; null disables")
    eval_schedule: Literal["linear", "log", "dense-log"] = "linear"
    eval_every: int = Field(100, ge=1, description="linear schedule: evaluate every k steps")
    eval_points: int = Field(40, ge=2, description="log schedule: about this many log-spaced evals")
    eval_dense_until: int = Field(1000, ge=1, description="dense-log: every eval_every steps up to here, then log")
    eval_size: int = Field(2048, ge=1, description="examples per split used at each evaluation")
    eval_batch_size: int = Field(4096, ge=1)
    checkpoint_every: int | None = Field(
        None, ge=1, description="steps between checkpoints; default: at every evaluation"
    )
    optimizer: Literal["adamw", "sgd", "gd-ntk"] = Field(
        "adamw",
        description="adamw; sgd: plain minibatch SGD without momentum (its rate per feature is set by the data's "
        "second moments, [PLAW-SUP]); or gd-ntk: full-batch gradient descent whose step is lr / lambda_max of the "
        "loss's Gauss-Newton matrix (2/n) J J^T, recomputed every step (regression only; [COND-PD])",
    )
    stop_loss: float | None = Field(
        None, gt=0, description="end the run at the first step whose training loss is below this ([COND-PD]: 1e-6)"
    )
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto (a GPU if any), cpu, cuda, cuda:N, mps"
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description="training steps in fp32, or autocast to bf16 / fp16 (with a gradient scaler); evaluation in fp32",
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default: torch's choice")
    subnormals: Literal["flush", "keep"] = Field(
        "flush",
        description="CPU floats below 1.2e-38: flush to zero (fast; a fitted large-init model steps 4-5x faster) "
        "or keep (IEEE gradual underflow, as runs recorded before this option)",
    )
    compile: bool = Field(
        False, description="torch.compile the model for training steps (off: on CPU it cost 7-32 s and ran 0.56-1.03x)"
    )

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrainConfig:
        if self.warmup_steps > self.steps:
            fix = f"set train.warmup_steps <= {self.steps}"
            raise ValueError(f"warmup_steps ({self.warmup_steps}) exceeds steps ({self.steps}): {fix}")
        if not all(math.isfinite(b) and 0 <= b < 1 for b in self.betas):
            raise ValueError("betas must lie in [0, 1)")
        if self.optimizer == "gd-ntk" and (self.weight_decay or self.grad_clip is not None):
            raise ValueError("gd-ntk is plain gradient descent: set weight_decay 0 and grad_clip null")
        return self

    def optimizer_problem(self, objective: str) -> str | None:
        """Why this optimizer cannot train a task of ``objective`` (None: it can)."""
        if self.optimizer == "gd-ntk" and objective != "regression":
            return f"train.optimizer gd-ntk needs the regression objective, not {objective}"
        return None


def describe_validation_error(exc: ValidationError, section: str | None = None, known: list[str] | None = None) -> str:
    """The first problem of a pydantic error as ``section.key: message (got value)``."""
    errors = exc.errors()
    err = errors[0]
    where = ".".join(str(x) for x in (section, *err["loc"]) if x not in (None, ""))
    more = f" [and {len(errors) - 1} more]" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        hint = f" (known: {', '.join(sorted(known))})" if known else ""
        return f"unknown config key '{where}'{hint}{more}"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, dict) or err["type"] == "value_error" else f" (got {got!r})"
    return f"{where}: {msg}{shown}{more}" if where else f"{msg}{shown}{more}"  # a whole-file check has no key


def validate(model: type[BaseModel], data: dict[str, Any], section: str) -> Any:
    """``model(**data)`` with pydantic errors turned into one-line user errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, section, list(model.model_fields))) from None


def parse_set(expr: str) -> tuple[str, str, Any]:
    """``"model.init_rate=0.8"`` -> ``("model", "init_rate", 0.8)``; values are YAML scalars."""
    key, sep, raw = expr.partition("=")
    if not sep:
        raise UserError(f"--set expects section.key=value, got '{expr}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise UserError(f"cannot parse the value in '{expr}'") from None
    return (*split_key(key.strip()), value)


def split_key(key: str) -> tuple[str, str]:
    section, dot, name = key.partition(".")
    if not dot or not name:
        raise UserError(f"config keys look like section.key (e.g. train.steps), got '{key}'")
    if section not in SECTIONS:
        raise UserError(f"unknown config section '{section}' in '{key}' (known: {', '.join(SECTIONS)})")
    return section, name


# -- one run's configuration ------------------------------------------------------------------
class TaskChoice(BaseModel):
    """What defines a task's data and scores; its hash is the task's spec hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    family: str
    params: dict[str, Any] = Field(
        description="the family's resolved parameters as hashed (a field added later is left out at its old value)"
    )
    scores: list[str]
    primary_score: str

    def spec_hash(self) -> str:
        return content_hash(self.model_dump(mode="json"))


class ModelChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="registry name or 'module:attr'")
    config: dict[str, Any] = Field(description="the model's resolved config")


class RunConfig(BaseModel):
    """Everything that defines one run: task, model, training recipe, seed, intervention.

    Stored verbatim in every result (``config``); the run's config hash is computed from this
    record alone: the task enters as its spec hash, every other section as its dump (fields
    added later left out at their old values, see :func:`hashed`), so hashes recorded before
    this class existed still hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    HASH_ONLY_IF_SET: ClassVar[dict[str, Any]] = {"intervention": None}  # plain runs: hashes from before interventions

    task: TaskChoice
    model: ModelChoice
    train: TrainConfig
    seed: int = Field(ge=0)
    intervention: dict[str, Any] | None = Field(None, description="name and config; null for a plain run")

    def config_hash(self) -> str:
        return content_hash({**hashed(self), "task": self.task.spec_hash()})
