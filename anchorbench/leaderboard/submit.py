"""``anchorbench submit``: turn a finished ``anchorbench run standard`` folder into a submission
(or a ``standard-tuned`` folder into a tuned-track one)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError
from anchorbench.execution.results import AggregateResult, RunResult
from anchorbench.files import now, read_json
from anchorbench.leaderboard.record import MAX_TEXT, Submission, dump, seal
from anchorbench.leaderboard.suite import requirement, requirement_for, tuned_requirement
from anchorbench.leaderboard.text import check_text

MANIFEST = "run.json"


def slug(name: str) -> str:
    """A file name for a display name: lowercase ASCII words joined by dashes."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[:60] or "submission"


def _read(path: Path, record: type[Any]) -> Any:
    try:
        return record.model_validate(read_json(path))
    except FileNotFoundError:
        raise UserError(f"{path} is missing: is the run finished? (anchorbench run standard ... --resume)") from None
    except ValueError as exc:
        raise UserError(f"{path} is not a valid {record.__name__}: {str(exc).splitlines()[0]}") from None


def check_texts(name: str, description: str) -> None:
    """The user's own strings first: a bad --name is refused whatever the results folder holds."""
    if len(name.strip()) == 0 or len(name) > 120:
        raise UserError("--name must be 1 to 120 characters")
    if len(description) > MAX_TEXT:
        raise UserError(f"--description must be at most {MAX_TEXT} characters")
    for option, text in (("--name", name.strip()), ("--description", description)):
        problem = check_text(text)
        if problem:
            raise UserError(f"{option}: {problem}")


def seed_timing(t: Any, run: RunResult) -> dict[str, Any]:
    """What the aggregate's timing is computed from, per seed (execution.results.aggregate)."""
    return {"t_gen": t.t_gen, "budget": t.budget or run.steps_completed, "grokked": bool(t.grokked)}


def build_submission(results: Path, name: str, description: str = "") -> Submission:
    check_texts(name, description)
    if not (results / MANIFEST).is_file():
        raise UserError(f"{results} is not a results folder of `anchorbench run` (no {MANIFEST})")
    manifest = read_json(results / MANIFEST)
    suite = manifest.get("suite") or {}
    req = requirement_for(suite.get("id"))
    if req is None:
        raise UserError(
            f"{results} is a run of '{manifest.get('target')}', not of the '{requirement().id}' suite "
            f"(or '{tuned_requirement().id}', the tuned track)"
        )
    if suite.get("version") != req.version:
        raise UserError(f"{results} ran {req.id} v{suite.get('version')}; the current suite is v{req.version}")
    tasks: dict[str, Any] = {}
    env = None
    for label in req.entries:
        agg: AggregateResult = _read(results / label / "aggregate.json", AggregateResult)
        runs: list[RunResult] = [_read(results / label / p, RunResult) for p in agg.runs]
        env = env or runs[0].env
        tasks[label] = {
            "task": agg.task.model_dump(mode="json"),
            "model": agg.model.model_dump(mode="json"),
            "train": agg.train,
            "seeds": [
                {
                    "seed": r.seed,
                    "status": r.status,
                    "config_hash": r.config_hash,
                    "scores": r.scores,
                    "wall_time_s": r.wall_time_s,
                    "timing": {q: seed_timing(t, r) for q, t in r.timing.items() if q in agg.timing},
                }
                for r in runs
            ],  # fmt: skip
            "scores": {k: v.model_dump(mode="json") for k, v in agg.scores.items()},
            # the survival curve is for plots; the board needs the medians
            "timing": {q: {k: v for k, v in t.items() if k != "survival"} for q, t in agg.timing.items()},
        }
    models = {t["model"]["name"] for t in tasks.values()}
    if len(models) != 1:
        mixed = ", ".join(sorted(models))
        raise UserError(f"{results} mixes models ({mixed}); a submission is one model: run the suite with --model NAME")
    model_name = models.pop()
    problem = check_text(model_name)
    if problem:
        raise UserError(f"{results}: model name {model_name!r}: {problem}")
    data = {
        "name": name.strip(),
        "description": description,
        "model_name": model_name,
        "n_params": max(t["model"]["n_params"] for t in tasks.values()),
        "suite": {"id": req.id, "version": req.version, "spec_hash": req.spec_hash},
        "tasks": tasks,
        "env": env.model_dump(mode="json") if env else None,
        "created_at": now(),
    }
    return seal(data)


def write_submission(submission: Submission, out: Path) -> Path:
    """``out`` is a folder (the file is named after the submission) or a .json path."""
    path = out if out.suffix == ".json" else out / f"{slug(submission.name)}.json"
    if path.exists():
        raise UserError(f"{path} already exists; choose another --name or --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(submission))
    return path
