"""``anchorbench sweep``: a grid of configurations x seeds, run by a local process pool or Ray.

Layout of one sweep (the same per-run layout as ``anchorbench run``, so ``plot`` works)::

    results/<sweep>/sweep.json                    the index: request, axes, every cell's status
    results/<sweep>/<label>/seed-<s>/result.json  one RunResult per cell
    results/<sweep>/<label>/seed-<s>/error.txt    a failed cell's full traceback (or how its worker died)
    results/<sweep>/<label>/aggregate.json        written by ``anchorbench report``

A cell is one configuration and one seed. It is done when its ``result.json`` exists with
the cell's config hash (the content hash of task spec, model, training config and seed), the
current code's hash, and status completed or diverged; ``--resume`` skips done cells and runs
the rest, errored cells and cells of other code included; a cell trained alone and killed midway
continues from its last checkpoint (``train.checkpoint_every``). Cells trained as one batched
ensemble (``--batch``) do not checkpoint: killed, their seeds train again from step 0. A cell that raises, or
whose worker dies (SIGKILL, out of memory), is recorded with status ``error`` and a one-line
message, and the sweep goes on (on a fresh worker). One process at a time works on a sweep
folder (:mod:`anchorbench.execution.locking`). Cells that differ only in seed can train as one batched
ensemble (:mod:`anchorbench.training.ensemble`).

Ray jobs train directly in the sweep folder when the worker sees it (a shared filesystem,
or one machine): a killed cell then continues from its checkpoint too. A worker that does
not see it (checked by reading a token the parent wrote there) trains in a scratch folder
and ships the files back by value; such a cell, killed, restarts from scratch.
"""

from __future__ import annotations

import math
import secrets
import time
import traceback
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anchorbench.config import content_hash
from anchorbench.errors import UserError
from anchorbench.execution.backends import Lost
from anchorbench.execution.plan import EntryPlan, plan_entry
from anchorbench.files import atomic_write, now, read_json, write_json
from anchorbench.specs import SuiteEntry, SweepSpec, load_sweep

INDEX = "sweep.json"
DONE = ("completed", "diverged")
ERROR_FILE = "error.txt"
TOKEN = ".shared-token"  # Ray: a worker that reads the parent's token here sees the sweep folder


@dataclass(frozen=True)
class Cell:
    label: str
    seed: int
    coords: dict[str, Any]  # the value of every axis, seed included
    config_hash: str
    code_hash: str  # anchorbench's source and the plug-ins': a finished cell of other code runs again

    @property
    def path(self) -> str:
        return f"{self.label}/seed-{self.seed}"


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    source: Path
    model: str | None
    sets: tuple[str, ...]
    seeds: tuple[int, ...]
    entries: dict[str, tuple[SuiteEntry, EntryPlan]]  # label -> (entry, resolved plan)
    cells: list[Cell]

    @property
    def spec_hash(self) -> str:
        return content_hash(self.spec.hashed())

    def manifest(self) -> dict[str, Any]:
        return {
            "sweep": {
                "id": self.spec.id,
                "version": self.spec.version,
                "spec_hash": content_hash(self.spec.hashed()),
            },
            "model": self.model,
            "sets": list(self.sets),
            "seeds": list(self.seeds),
        }


def make_sweep_plan(
    name_or_path: str, *, model: str | None = None, sets: tuple[str, ...] = (), seeds: tuple[int, ...] | None = None
) -> SweepPlan:
    """Expand and validate every cell (building each model once) before anything runs."""
    spec, source = load_sweep(name_or_path)
    seeds = tuple(seeds if seeds is not None else spec.seeds)
    config_axes = [k for k in spec.axes if k != "seed"]
    entries: dict[str, tuple[SuiteEntry, EntryPlan]] = {}
    cells = []
    for entry in spec.as_suite().expanded():
        plan = plan_entry(entry, model, sets)
        plan.check_model()
        entries[entry.label] = (entry, plan)
        coords = {k: entry.set[k] for k in config_axes}
        cells += [Cell(entry.label, s, {**coords, "seed": s}, plan.config_hash(s), plan.code_hash) for s in seeds]
    hashes = [c.config_hash for c in cells]
    if len(set(hashes)) != len(hashes):
        raise UserError(f"{source}: two cells resolve to the same configuration (an axis value has no effect?)")
    return SweepPlan(spec, source, model, tuple(sets), seeds, entries, cells)


# -- where results go, what is done ---------------------------------------------------------
def choose_sweep_out(plan: SweepPlan, out: Path | None, results_dir: Path, resume: bool) -> Path:
    from anchorbench.execution.runner import choose_folder

    return choose_folder(out, results_dir, resume, manifest=INDEX, wanted=plan.manifest(), stem=plan.spec.id,
                         what="sweep", request_of=lambda index: index.get("request", {}))  # fmt: skip


def finished(result: dict[str, Any], config_hash: str, code_hash: str | None) -> bool:
    """A cell's result.json data is its finished run: this config hash and this code, completed or
    diverged. A seed trained by other code is not averaged with this code's seeds (an index from
    before the code hash was recorded, ``code_hash`` None, trusts the config hash alone)."""
    from anchorbench.execution.runner import trusted

    if code_hash is None:
        return result.get("config_hash") == config_hash and result.get("status") in DONE
    return trusted(result, config_hash, code_hash)


def done_status(out: Path, path: str, config_hash: str, code_hash: str) -> str | None:
    """The status of the finished cell at ``out/path`` (same config and code); None when it still has to run."""
    from anchorbench.execution.runner import trusted

    try:
        data = read_json(out / path / "result.json")
    except (OSError, ValueError):
        return None
    return data["status"] if trusted(data, config_hash, code_hash) else None


# -- jobs: what one worker does ---------------------------------------------------------------
@dataclass
class Job:
    """One or more seeds of one configuration; plain data, so it pickles to any worker."""

    label: str
    entry: dict[str, Any]
    model: str | None
    sets: tuple[str, ...]
    seeds: list[int]
    out: str
    threads: int
    batch: bool
    # Ray: the token the parent wrote to <out>/.shared-token. A worker that reads the same one
    # there trains in place; one that does not trains in a scratch folder and ships the files.
    # None: train in place (the local backends always see the folder).
    shared_token: str | None = None
    # The task's spec travels with the job (by value): a worker process or Ray node knows only
    # built-in and entry-point tasks, not one the parent loaded with --include-path.
    task_spec: dict[str, Any] | None = None


@dataclass
class CellReport:
    label: str
    seed: int
    status: str  # completed | diverged | error
    wall_time_s: float | None = None
    error: str | None = None  # one line, for sweep.json
    detail: str | None = None  # the full traceback, for error.txt
    batched: bool = False
    scores: dict[str, float | None] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content (ship mode)


def run_job(job: Job) -> list[CellReport]:
    """Train a job's seeds; never raises: a failure becomes status ``error`` for its cells."""
    import tempfile

    import torch

    torch.set_num_threads(max(1, job.threads))
    ship = job.shared_token is not None and not _sees(Path(job.out), job.shared_token)
    scratch = tempfile.TemporaryDirectory(prefix="anchorbench-cell-") if ship else None
    out = Path(scratch.name) / Path(job.out).name if scratch else Path(job.out)
    try:
        try:
            if job.task_spec is not None:
                _register_shipped_task(job.task_spec)
            plan = plan_entry(SuiteEntry.model_validate(job.entry), job.model, job.sets)
        except Exception as exc:  # noqa: BLE001
            return [_error(job.label, s, exc) for s in job.seeds]
        reports = _train(plan, job, out)
        if scratch:
            for r in reports:
                run_dir = out / job.label / f"seed-{r.seed}"
                r.files = {str(f.relative_to(out)): f.read_bytes() for f in run_dir.rglob("*") if f.is_file()}
        return reports
    finally:
        if scratch:
            scratch.cleanup()


def _sees(out: Path, token: str) -> bool:
    try:
        return (out / TOKEN).read_text() == token
    except OSError:
        return False


def _register_shipped_task(data: dict[str, Any]) -> None:
    from anchorbench.registry import TASKS
    from anchorbench.specs import TaskSpec

    if data["id"] not in TASKS:  # known tasks (and the parent's own registrations, inline) stand
        TASKS.register(data["id"], TaskSpec.model_validate(data), origin="shipped with a sweep job")


def _train(plan: EntryPlan, job: Job, out: Path) -> list[CellReport]:
    from anchorbench.execution.runner import run_seed

    dirs = [out / job.label / f"seed-{s}" for s in job.seeds]
    if job.batch and len(job.seeds) > 1:
        from anchorbench.execution.batched import run_seeds_batched
        from anchorbench.training.ensemble import NotBatchable

        try:
            # the job's threads (the worker's share of the cores), never the spec's: a spec asking for
            # more would oversubscribe the workers beside it
            results = run_seeds_batched(plan, job.seeds, dirs, results_root=out.parent, threads=job.threads)
            return [_report(job.label, r, batched=True) for r in results]
        except NotBatchable:
            pass  # e.g. an LSTM: train the seeds one after another
        except Exception as exc:  # noqa: BLE001
            return [_error(job.label, s, exc, batched=True) for s in job.seeds]
    reports = []
    for seed, run_dir in zip(job.seeds, dirs):
        try:
            # Not done (else it would not be a job): drop a stale result; a checkpoint left by a
            # killed sweep is continued (the trainer checks it was written by this config).
            (run_dir / "result.json").unlink(missing_ok=True)
            result = run_seed(plan, seed, run_dir, results_root=out.parent, resume=True, progress=False,
                              threads=job.threads)  # fmt: skip
            reports.append(_report(job.label, result))
        except Exception as exc:  # noqa: BLE001
            reports.append(_error(job.label, seed, exc))
    return reports


def _report(label: str, result: Any, batched: bool = False) -> CellReport:
    return CellReport(label, result.seed, result.status, result.wall_time_s, batched=batched, scores=result.scores)


def _error(label: str, seed: int, exc: BaseException, batched: bool = False) -> CellReport:
    detail = "".join(traceback.format_exception(exc))
    return CellReport(label, seed, "error", error=_one_line(exc), detail=detail, batched=batched)


def _one_line(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{where}"


def make_jobs(
    plan: SweepPlan, pending: list[Cell], out: Path, *, workers: int, threads: int, batch: bool | dict[str, bool]
) -> list[Job]:
    """One job per pending cell, or with batching, each configuration's seeds in enough
    chunks that every worker has one (8 seeds of one config on 2 workers: 2 ensembles of 4).
    ``batch``: for every configuration, or per configuration label (see :func:`decide_batching`)."""
    by_label = _seeds_by_label(pending)
    jobs = []
    for label, seeds in by_label.items():
        entry, entry_plan = plan.entries[label]
        task_spec = entry_plan.task.model_dump(mode="json")
        batched = batch.get(label, False) if isinstance(batch, dict) else batch
        chunks = _chunks(seeds, workers, len(by_label)) if batched else [[s] for s in seeds]
        jobs += [
            Job(label, entry.model_dump(mode="json"), plan.model, plan.sets, sorted(ch), str(out), threads, batched,
                task_spec=task_spec)
            for ch in chunks
        ]  # fmt: skip
    return jobs


def _seeds_by_label(pending: list[Cell]) -> dict[str, list[int]]:
    by_label: dict[str, list[int]] = {}
    for c in pending:
        by_label.setdefault(c.label, []).append(c.seed)
    return by_label


def _chunks(seeds: list[int], workers: int, n_configs: int) -> list[list[int]]:
    n_chunks = min(len(seeds), max(1, math.ceil(workers / n_configs)))
    return [seeds[i::n_chunks] for i in range(n_chunks)]


def decide_batching(
    plan: SweepPlan, pending: list[Cell], *, workers: int, threads: int, note: Callable[[str], None] | None = None
) -> dict[str, bool]:
    """``--batch auto``: per configuration, batch its seeds only where a probe of a few steps
    (ensemble of the chunk's size against one model, on the worker's thread count) finds that
    it pays. The choice is a measurement, so it can differ between machines or loads; it is
    recorded per cell (``batched`` in sweep.json), and ``--batch on|off`` fixes it."""
    from anchorbench.execution.batched import PAYS, probe_batching

    by_label = _seeds_by_label(pending)
    decided = {}
    for label, seeds in by_label.items():
        chunk = _chunks(seeds, workers, len(by_label))[0]
        speedup = probe_batching(plan.entries[label][1], chunk, threads) if len(chunk) > 1 else 0.0
        decided[label] = speedup >= PAYS
        if note and len(chunk) > 1:
            verdict = "batched" if decided[label] else "separate runs"
            note(f"--batch auto: {label}: an ensemble of {len(chunk)} measured {speedup:.2f}x -> {verdict}")
    return decided


# -- the sweep ------------------------------------------------------------------------------
@dataclass
class SweepOutcome:
    out: Path
    cells: list[dict[str, Any]]
    ran: int
    skipped: int
    wall_time_s: float


def run_sweep(
    plan: SweepPlan,
    out: Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    batch: bool | str = False,
    progress: bool = True,
    address: str | None = None,
    on_report: Callable[[CellReport], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """``batch``: True, False or "auto" (see :func:`decide_batching`); ``note`` gets lines
    worth telling the user (what --batch auto decided)."""
    from tqdm.auto import tqdm

    from anchorbench.execution.backends import get_backend
    from anchorbench.execution.locking import hold

    workers, threads = resources(workers, threads)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with hold(out):  # one process per sweep folder: a second --resume is refused, not run twice
        index = _load_index(plan, out)
        pending = []
        for c in plan.cells:
            status = done_status(out, c.path, c.config_hash, c.code_hash)
            if status is None:  # to run (again): an earlier status of other code or config no longer holds
                pending.append(c)
                index["cells"][c.path].update(status="pending", error=None)
            else:
                index["cells"][c.path].update(status=status, error=None)
        write_json(out / INDEX, index)
        # Absolute: a Ray worker need not share this process's working directory.
        if batch == "auto":
            batch = decide_batching(plan, pending, workers=workers, threads=threads, note=note)
        jobs = make_jobs(plan, pending, out.absolute(), workers=workers, threads=threads, batch=batch)
        if backend == "ray":
            token = secrets.token_hex(16)
            _write_bytes(out / TOKEN, token.encode())
            for job in jobs:
                job.shared_token = token
        bar = tqdm(total=len(plan.cells), initial=len(plan.cells) - len(pending), desc=f"sweep {plan.spec.id}",
                   unit="cell", disable=not progress, dynamic_ncols=True)  # fmt: skip
        errors = 0
        try:
            runs = get_backend(backend, workers=workers, address=address).map(run_job, jobs)
            with closing(runs):  # Ctrl-C or an error here stops the workers now, not at garbage collection
                for returned in runs:
                    reports = _lost_reports(out, index, returned) if isinstance(returned, Lost) else returned
                    for r in reports:
                        _write_shipped(out, r)
                        _keep_error(out / r.label / f"seed-{r.seed}", r)
                        cell = index["cells"][f"{r.label}/seed-{r.seed}"]
                        cell.update(status=r.status, error=r.error, wall_time_s=r.wall_time_s, batched=r.batched)
                        errors += r.status == "error"
                        if on_report:
                            on_report(r)
                    index["updated_at"] = now()
                    write_json(out / INDEX, index)
                    bar.update(len(reports))
                    bar.set_postfix({"errors": errors}, refresh=False)
        finally:
            bar.close()
            (out / TOKEN).unlink(missing_ok=True)
    return SweepOutcome(out, list(index["cells"].values()), len(pending), len(plan.cells) - len(pending),
                        round(time.perf_counter() - started, 3))  # fmt: skip


def _lost_reports(out: Path, index: dict[str, Any], lost: Lost) -> list[CellReport]:
    """Error reports for the seeds of a job that returned nothing (its worker died). A seed the
    job finished before that keeps its result: it was written in place and is complete."""
    job, reports = lost.job, []
    for seed in job.seeds:
        path = f"{job.label}/seed-{seed}"
        known = index["cells"][path]
        status = done_status(out, path, known["config_hash"], known["code_hash"])
        if status is not None:
            wall = read_json(out / path / "result.json").get("wall_time_s")
            reports.append(CellReport(job.label, seed, status, wall, batched=job.batch and len(job.seeds) > 1))
        else:
            cell = f"cell: {job.label} seed {seed} (job seeds {', '.join(map(str, job.seeds))})\n"
            reports.append(CellReport(job.label, seed, "error", error=lost.error, detail=cell + lost.detail))
    return reports


def _keep_error(run_dir: Path, report: CellReport) -> None:
    """A failed cell's full story goes to error.txt beside it; a later success removes it."""
    if report.status == "error":
        _write_bytes(run_dir / ERROR_FILE, (report.detail or report.error or "error").encode())
    else:
        (run_dir / ERROR_FILE).unlink(missing_ok=True)


def resources(workers: int | None, threads: int | None) -> tuple[int, int]:
    """Workers x threads per worker. Default: one single-thread worker per usable core (the CPU
    affinity), which beats one worker with every core on small models (docs/sweeps.md)."""
    from anchorbench.execution.backends import usable_cores

    cores = usable_cores()
    if workers is not None and workers < 1 or threads is not None and threads < 1:
        raise UserError("--workers and --threads must be at least 1")
    workers = workers or cores
    return workers, threads or max(1, cores // workers)


def _load_index(plan: SweepPlan, out: Path) -> dict[str, Any]:
    before = read_json(out / INDEX) if (out / INDEX).exists() else {}
    old = before.get("cells", {})
    cells = {}
    for c in plan.cells:
        prev = old.get(c.path, {})
        cells[c.path] = {
            "label": c.label, "seed": c.seed, "coords": c.coords, "config_hash": c.config_hash,
            "code_hash": c.code_hash,
            "result": f"{c.path}/result.json", "status": prev.get("status", "pending"),
            "error": prev.get("error"), "wall_time_s": prev.get("wall_time_s"), "batched": prev.get("batched", False),
        }  # fmt: skip
    return {
        "kind": "sweep",
        "request": plan.manifest(),
        "source": str(plan.source),
        "title": plan.spec.title,
        "axes": {k: v for k, v in plan.spec.axes.items() if k != "seed"} | {"seed": list(plan.seeds)},
        "phase": plan.spec.phase.model_dump() if plan.spec.phase else None,
        "curve": plan.spec.curve.model_dump(mode="json") if plan.spec.curve else None,
        "slope": plan.spec.slope.model_dump(mode="json") if plan.spec.slope else None,
        "power_law": plan.spec.power_law.model_dump(mode="json") if plan.spec.power_law else None,
        "cells": cells,
        "created_at": before.get("created_at", now()),
        "updated_at": now(),
    }


def _write_shipped(out: Path, report: CellReport) -> None:
    """Write a shipped cell's files, each atomically and result.json last: a crash in between
    leaves a cell without result.json (``--resume`` runs it again), never one whose result.json
    lacks its model or history."""
    for rel in sorted(report.files, key=lambda rel: Path(rel).name == "result.json"):
        _write_bytes(out / rel, report.files[rel])
    report.files = {}


def _write_bytes(path: Path, data: bytes) -> None:
    # files.atomic_write (temporary file beside path, then rename) hands a text stream;
    # bytes go to its binary buffer, which holds nothing else
    atomic_write(path, lambda f: f.buffer.write(data))
