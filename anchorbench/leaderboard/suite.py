"""What the current standard suite requires of a submission: entries, task hashes, budgets."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from anchorbench.config import TrainConfig, content_hash, without_old_defaults
from anchorbench.specs import SuiteSpec, load_suite

SUITE_ID = "standard"
# The suite a submission is checked against: a built-in suite's name or a suite YAML path.
# Only tests point it elsewhere (at a seconds-long suite with the same structure).
SUITE = SUITE_ID
# The tuned track (the board's second table): the same entries at every cell of a declared
# lr x weight-decay grid. Tests point it at a tiny stand-in, as SUITE.
TUNED_SUITE = "standard-tuned"
# The ranked section's parameter budget, per task model: the largest baseline (the LSTM, 998,985
# parameters at vocabulary 201) just fits.
PARAM_BUDGET = 1_000_000
# Earlier versions of the standard suite stay readable: <board folder>/history/<id>-v<version>/
# holds the suite file as it was and the rows recorded on it; the board shows them as tables.
HISTORY = "history"


@dataclass(frozen=True)
class EntryRequirement:
    label: str
    task_id: str
    task_version: int
    family: str
    spec_hash: str
    scores: tuple[str, ...]
    train: dict[str, Any]  # the suite's training config for the task's default model
    primary_score: str  # what the board ranks this entry by (the entry's choice, else the task's)


@dataclass(frozen=True)
class SuiteRequirement:
    id: str
    version: int
    spec_hash: str
    entries: dict[str, EntryRequirement]


def suite_hash(suite: SuiteSpec) -> str:
    return content_hash(suite.model_dump(mode="json"))


def requirement() -> SuiteRequirement:
    return _requirement(SUITE)


def tuned_requirement() -> SuiteRequirement:
    return _requirement(TUNED_SUITE)


def requirement_for(suite_id: str) -> SuiteRequirement | None:
    """The requirement a submission of ``suite_id`` is checked against: the standard suite's or
    the tuned track's; None for any other suite."""
    return next((req for req in (requirement(), tuned_requirement()) if req.id == suite_id), None)


def historical(board: Path) -> list[tuple[SuiteRequirement, Path]]:
    """Each earlier suite version the board keeps (its requirement, read from the suite file kept
    beside its rows, and the folder), newest first."""
    found = [(_requirement(str(p)), p.parent) for p in (board / HISTORY).glob("*/suite.yaml")]
    return sorted(found, key=lambda f: -f[0].version)


def base_label(label: str) -> str:
    """The standard entry a tuned-track label belongs to: ``identity@lr=0.001,weight_decay=0.1`` -> identity."""
    return label.partition("@")[0]


def grid_cell(label: str) -> str:
    """The grid cell of a tuned-track label: ``lr=0.001,weight_decay=0.1``."""
    return label.partition("@")[2]


@lru_cache(maxsize=4)
def _requirement(name_or_path: str) -> SuiteRequirement:
    from anchorbench.execution.plan import plan_entry

    suite = load_suite(name_or_path)
    entries = {}
    for entry in suite.expanded():
        plan = plan_entry(entry, None, ())
        entries[entry.label] = EntryRequirement(
            label=entry.label, task_id=plan.task.id, task_version=plan.task.version, family=plan.task.family,
            spec_hash=plan.spec_hash, scores=tuple(plan.task.scores), train=plan.train.model_dump(mode="json"),
            primary_score=entry.primary_score or plan.task.primary_score,
        )  # fmt: skip
    return SuiteRequirement(suite.id, suite.version, suite_hash(suite), entries)


def budget_train(train: dict[str, Any]) -> dict[str, Any]:
    """The parts of a training config that the comparable track fixes (not where it runs)."""
    # compile: the same computation, fused; like the device it moves the last bits, not what is learned
    where = ("device", "threads", "checkpoint_every", "compile")
    # A field added after records were written is absent from them: at its old-behaviour value it
    # is the same recipe, so both sides drop it there (the rule of the hashes).
    return {k: v for k, v in without_old_defaults(TrainConfig, train).items() if k not in where}
