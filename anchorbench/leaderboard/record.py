"""The submission record: one model's results on the standard suite, as data only.

A submission is plain JSON checked against a typed record (published as a JSON Schema in
``leaderboard/schema/``). It is never unpickled or executed: ``verify`` re-runs a seed from the
recorded *names and numbers* (task id, model name and config, training config), not from code
in the file. ``content_hash`` is sha256 over the canonical JSON of everything else, so an
edit anywhere in the file shows up as a hash mismatch.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anchorbench.execution.results import Environment, ModelRef, ScoreSummary, TaskRef

# 2: the environment names its numerics stack (anchorbench.execution.numerics); version 1 files stay valid.
# 3: each seed carries its grokking timing, so that validate recomputes the timing the board shows.
SUBMISSION_VERSION = 3
SCHEMA_FILE = "submission.schema.json"
MAX_BYTES = 1_000_000  # a 3-seed submission of the standard suite is ~20 kB
MAX_TEXT = 2000


class Strict(BaseModel):
    # NaN and infinities are not numbers a leaderboard can rank; reject them where they stand.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SeedTiming(Strict):
    """One seed's grokking timing at one threshold: what the aggregate's Kaplan-Meier median needs."""

    t_gen: int | None = Field(description="first step test accuracy reached q and held; null: not within the budget")
    budget: int = Field(ge=0, description="the step a run that never generalized is censored at")
    grokked: bool


class SeedScores(Strict):
    seed: int
    status: Literal["completed", "diverged"]
    config_hash: str = Field(description="the run's config hash: task params, model config, train config, seed")
    scores: dict[str, float | None]
    wall_time_s: float = Field(ge=0)
    timing: dict[str, SeedTiming] = Field(
        default_factory=dict, description="grokking timing per threshold q, where the task has it (version 3)"
    )


class TaskResult(Strict):
    """Every seed of one suite entry, and the aggregate over seeds."""

    task: TaskRef
    model: ModelRef
    train: dict[str, Any]
    seeds: list[SeedScores] = Field(min_length=1)
    scores: dict[str, ScoreSummary] = Field(description="mean and 95% CI over seeds, per score")
    timing: dict[str, dict[str, Any]] = Field(default_factory=dict, description="grokking timing, if the task has it")


class SuiteRef(Strict):
    id: str
    version: int
    spec_hash: str = Field(description="sha256 over the suite's resolved entries (task params and budgets)")


class Submission(Strict):
    schema_version: Literal[1, 2, 3] = SUBMISSION_VERSION
    kind: Literal["submission"] = "submission"
    name: str = Field(min_length=1, max_length=120, description="display name")
    description: str = Field("", max_length=MAX_TEXT)
    model_name: str = Field(max_length=200, description="registry name or importable 'module:attr'")
    n_params: int = Field(ge=0, description="largest parameter count over the suite's tasks")
    suite: SuiteRef
    tasks: dict[str, TaskResult] = Field(description="suite entry label -> results")
    env: Environment
    created_at: str
    content_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the bytes the content hash is taken over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash_of(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "content_hash"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def seal(data: dict[str, Any]) -> Submission:
    """Add the content hash to a submission's data and type-check the whole record."""
    draft = Submission.model_validate({**data, "content_hash": "sha256:" + "0" * 64})
    # The hash is taken over the record as it will be written (defaults filled in, types coerced).
    body = draft.model_dump(mode="json")
    return draft.model_copy(update={"content_hash": content_hash_of(body)})


def dump(submission: Submission) -> str:
    return json.dumps(submission.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def schema() -> dict[str, Any]:
    out = Submission.model_json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$id"] = f"https://anchorbench.dev/schema/submission-v{SUBMISSION_VERSION}.json"
    return out


def write_schema(folder: Path) -> Path:
    path = folder / SCHEMA_FILE
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema(), indent=2) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write_schema(Path(__file__).resolve().parents[2] / 'leaderboard' / 'schema')}")
