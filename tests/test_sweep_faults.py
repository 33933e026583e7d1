"""Sweeps that survive faults: a pool worker killed outright, a cell that raises, Ctrl-C, a second
invocation on the same folder, a Ray worker crash, a crash while writing files.

The faults are real: a plug-in model (loaded by ``module:attr`` from a temp folder) does the
harm at training step 15, after the checkpoint at step 10, the first time only (it claims a
marker file in $FAULT_DIR), so that ``--resume`` then completes the cell from its checkpoint.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import snapshot

from anchorbench.errors import UserError
from anchorbench.execution.backends import Lost, ProcessPool
from anchorbench.execution.locking import LOCK, hold
from anchorbench.execution.sweep import (
    TOKEN,
    CellReport,
    _lost_reports,
    _write_shipped,
    make_jobs,
    make_sweep_plan,
    run_job,
)

FAULTY = """
    import os
    import signal
    import time
    from pathlib import Path

    from torch import nn

    class Net(nn.Module):
        # behaviour: ok; raise_once | hang_once | die_once: the first cell to claim the marker
        # $FAULT_DIR/<behaviour> raises, or writes its pid there and sleeps until $FAULT_DIR/release
        # exists, or SIGKILLs its own process, at training step 15; later cells train normally.
        def __init__(self, vocab_size, seq_len, behaviour="ok", d_model=16):
            super().__init__()
            self.behaviour = behaviour
            self.emb = nn.Embedding(vocab_size, d_model)
            self.out = nn.Linear(d_model, vocab_size)
            self.steps = 0

        def forward(self, tokens):
            if self.training:
                self.steps += 1
                if self.steps == 15 and self.behaviour != "ok":
                    fault(self.behaviour)
            return self.out(self.emb(tokens))

    def fault(behaviour):
        marks = Path(os.environ["FAULT_DIR"])
        try:
            fd = os.open(marks / behaviour, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        if behaviour == "raise_once":
            raise RuntimeError("boom in training")
        if behaviour == "die_once":
            os.kill(os.getpid(), signal.SIGKILL)
        deadline = time.time() + 120
        while not (marks / "release").exists() and time.time() < deadline:
            time.sleep(0.05)
"""

POOL_JOBS = """
    import os
    import signal
    import time
    from pathlib import Path

    def job(x):
        kind, arg = x
        if kind == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "raise":
            raise ValueError(arg)
        if kind == "sleep":
            Path(arg).write_text(str(os.getpid()))
            time.sleep(60)
        return kind, os.getpid()
"""

SETS = {
    "task.n_train": 200, "task.n_test": 50, "model.d_model": 16, "train.steps": 30, "train.warmup_steps": 5,
    "train.eval_every": 10, "train.batch_size": 64,
}  # fmt: skip


@pytest.fixture
def faulty(tmp_path: Path, plugin_module, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """The plug-in model's 'module:attr' and an environment for subprocesses that finds it."""
    mod = plugin_module(FAULTY)
    (tmp_path / "marks").mkdir()
    monkeypatch.setenv("FAULT_DIR", str(tmp_path / "marks"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugins"), os.environ.get("PYTHONPATH", "")])}
    return f"{mod}:Net", env


def write_sweep(tmp_path: Path, axes: dict) -> Path:
    path = tmp_path / "s.yaml"
    base = {"task": "anchor-composite-v1", "set": SETS}
    path.write_text(yaml.safe_dump({"id": "t", "version": 1, "title": "faults", "base": base, "axes": axes}))
    return path


ANCHORBENCH = [sys.executable, "-m", "anchorbench"]


def sweep_args(path: Path, model: str, out: Path, *extra: str) -> list[str]:
    return ["sweep", str(path), "--model", model, "--out", str(out), "--threads", "1", "--quiet", *extra]


def _default_sigint() -> None:
    # A shell's background job (`cmd &` without job control) starts with SIGINT ignored, and an
    # ignored signal stays ignored across exec: the test's Ctrl-C would never reach the sweep.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    """``anchorbench *args`` in its own process group (so that a test can signal all of it), with
    SIGINT at its default whatever the test runner inherited."""
    return subprocess.Popen([*ANCHORBENCH, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_default_sigint)  # fmt: skip


def cells(out: Path) -> dict[str, dict]:
    return json.loads((out / "sweep.json").read_text())["cells"]


def wait_for_pid(path: Path, proc: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # Linux: a zombie that nobody has reaped yet (an orphan's) has exited too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# -- the process pool ---------------------------------------------------------------------------
def test_pool_reports_a_dead_worker_and_goes_on_with_a_fresh_one(plugin_module):
    """One worker: the jobs after the death can only run if a fresh worker replaced it."""
    job = importlib.import_module(plugin_module(POOL_JOBS)).job
    got = list(ProcessPool(1).map(job, [("ok", 0), ("die", 0), ("ok", 1), ("raise", "nope"), ("ok", 2)]))
    first, died, second, raised, third = got
    assert first[0] == "ok" and isinstance(died, Lost) and died.job == ("die", 0)
    assert died.error == "worker died (signal 9)" and "SIGKILL" in died.detail
    assert second[0] == "ok" and second[1] != first[1]  # a fresh worker
    assert isinstance(raised, Lost) and raised.error == "ValueError: nope"
    assert "Traceback" in raised.detail and "raise ValueError(arg)" in raised.detail
    assert third == ("ok", second[1])  # an exception does not cost the worker


def test_closing_the_pool_stops_busy_workers(plugin_module, tmp_path: Path):
    """What Ctrl-C or an error in the sweep loop does (the sweep closes the pool's iterator)."""
    job = importlib.import_module(plugin_module(POOL_JOBS)).job
    runs = ProcessPool(2).map(job, [("ok", 0), ("sleep", str(tmp_path / "pid"))])
    assert next(runs)[0] == "ok"
    deadline = time.time() + 60
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
        assert time.time() < deadline
        time.sleep(0.02)
    started = time.perf_counter()
    runs.close()
    assert gone(int((tmp_path / "pid").read_text())) and time.perf_counter() - started < 10


def test_workers_leave_when_the_sweep_process_is_killed(plugin_module, tmp_path: Path):
    """SIGKILL to the parent alone: its workers must not train on as orphans."""
    mod = plugin_module(POOL_JOBS)
    script = tmp_path / "parent.py"
    script.write_text(
        f"from anchorbench.execution.backends import ProcessPool\nfrom {mod} import job\n"
        f"if __name__ == '__main__':\n    list(ProcessPool(2).map(job, [('sleep', {str(tmp_path / 'pid')!r})]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plugins")}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True)
    try:
        pid = wait_for_pid(tmp_path / "pid", proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 20
        while not gone(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert gone(pid)
    finally:
        stop(proc)


# -- the sweep ----------------------------------------------------------------------------------
def test_a_killed_worker_marks_its_cell_and_resume_completes_it(tmp_path: Path, faulty, cli):
    """`kill -9` of one of two pool workers mid-sweep, through the real CLI."""
    model, env = faulty
    path = write_sweep(tmp_path, {"model.behaviour": ["hang_once"], "seed": [0, 1, 2]})  # one of them hangs
    out = tmp_path / "out"
    proc = start(env, *sweep_args(path, model, out, "--workers", "2"))
    try:
        worker = wait_for_pid(tmp_path / "marks" / "hang_once", proc)
        assert worker != proc.pid  # a pool worker, not the sweep process
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        stop(proc)
    assert proc.returncode == 1, stderr  # a sweep with errors exits 1
    assert "leaked semaphore" not in stderr  # tqdm's lock in the dead worker (backends._thread_lock_for_tqdm)
    assert "ran 3 cell(s), skipped 0 already done, 1 error(s)" in stdout
    index = cells(out)
    errors = [c for c in index.values() if c["status"] == "error"]
    assert len(errors) == 1 and errors[0]["error"] == "worker died (signal 9)", index
    assert sum(c["status"] == "completed" for c in index.values()) == 2
    killed = out / errors[0]["label"] / f"seed-{errors[0]['seed']}"
    note = (killed / "error.txt").read_text()
    assert f"pid {worker}" in note and "signal 9 (SIGKILL)" in note
    assert (killed / "checkpoint.pt").exists() and not (killed / "result.json").exists()

    r = cli(*sweep_args(path, model, out, "--workers", "1", "--resume"))  # in-process: torch is loaded
    assert r.code == 0 and "ran 1 cell(s), skipped 2" in r.out, r.err
    assert {c["status"] for c in cells(out).values()} == {"completed"}
    assert json.loads((killed / "result.json").read_text())["resumed_from"] == 10, r.err  # from its checkpoint
    assert not (killed / "error.txt").exists()  # the success removed the stale note


def test_a_crashing_cell_keeps_its_traceback_in_error_txt(tmp_path: Path, faulty, cli):
    model, _ = faulty
    path = write_sweep(tmp_path, {"model.behaviour": ["raise_once"]})
    out = tmp_path / "out"
    r = cli("sweep", str(path), "--model", model, "--out", str(out), "--workers", "1", "--threads", "1", "--quiet")
    assert r.code == 1
    (cell,) = cells(out).values()
    assert cell["status"] == "error" and cell["error"].startswith("RuntimeError: boom in training (")
    assert "\n" not in cell["error"]
    text = (out / cell["label"] / "seed-0" / "error.txt").read_text()
    assert text.startswith("Traceback (most recent call last)")
    for frame in ("in run_seed", "in forward", "in fault", "RuntimeError: boom in training"):
        assert frame in text
    r = cli("sweep", str(path), "--model", model, "--out", str(out), "--workers", "1", "--threads", "1", "--quiet",
            "--resume")  # fmt: skip
    assert r.code == 0 and cells(out)[f"{cell['label']}/seed-0"]["status"] == "completed"
    assert not (out / cell["label"] / "seed-0" / "error.txt").exists()


def test_a_second_sweep_on_the_same_folder_is_refused_and_ctrl_c_stops_the_workers(tmp_path: Path, faulty, cli):
    model, env = faulty
    path = write_sweep(tmp_path, {"model.behaviour": ["hang_once"]})
    out = tmp_path / "out"
    proc = start(env, *sweep_args(path, model, out, "--workers", "2"))
    try:
        worker = wait_for_pid(tmp_path / "marks" / "hang_once", proc)
        before = snapshot(out)
        args = sweep_args(path, model, out, "--workers", "1", "--resume")
        r = cli(*args)
        assert r.code == 2 and len(r.err_lines) == 1, r.err
        assert f"{out} is in use by another anchorbench process (pid {proc.pid}); wait for it" in r.err
        assert snapshot(out) == before  # nothing written
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        _, stderr = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 130 and "interrupted" in stderr, stderr
    assert "Traceback" not in stderr  # the workers ignore SIGINT; the sweep stops them
    assert gone(worker)
    assert not (out / LOCK).exists()
    r = cli(*args)  # the lock went with the process
    assert r.code == 0 and {c["status"] for c in cells(out).values()} == {"completed"}, r.err


def test_run_refuses_a_folder_in_use(tmp_path: Path, cli):
    """`anchorbench run` (and `ci`) take the same lock in runner.execute."""
    out = tmp_path / "run"
    tiny = [a for k, v in SETS.items() for a in ("--set", f"{k}={v}")]
    args = ("run", "anchor-identity-v1", *tiny, "--set", "train.threads=1", "--out", str(out), "--quiet")
    assert cli(*args).code == 0
    assert not (out / LOCK).exists()  # released and removed at the end
    with hold(out):
        r = cli(*args, "--resume")
    assert r.code == 2 and len(r.err_lines) == 1
    assert f"is in use by another anchorbench process (pid {os.getpid()})" in r.err


def test_a_lock_dies_with_its_process(tmp_path: Path):
    """flock: SIGKILL leaves the .lock file behind but not the lock."""
    code = "\n".join([
        "import os, signal", "from pathlib import Path", "from anchorbench.execution.locking import hold",
        f"held = hold(Path({str(tmp_path)!r}))", "held.__enter__()", "os.kill(os.getpid(), signal.SIGKILL)",
    ])  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code]).returncode == -signal.SIGKILL
    assert (tmp_path / LOCK).exists()
    with hold(tmp_path):
        assert (tmp_path / LOCK).read_text().strip() == str(os.getpid())
        with pytest.raises(UserError, match=f"pid {os.getpid()}"):
            with hold(tmp_path):
                pass
    assert not (tmp_path / LOCK).exists()


def test_a_dead_job_keeps_the_seeds_it_finished(tmp_path: Path):
    """A job of two seeds whose worker died after the first: only the second is an error."""
    path = write_sweep(tmp_path, {"seed": [0, 1]})
    plan = make_sweep_plan(str(path))
    (job,) = make_jobs(plan, plan.cells, tmp_path, workers=1, threads=1, batch=True)
    index = {"cells": {c.path: {"config_hash": c.config_hash, "code_hash": c.code_hash} for c in plan.cells}}
    first = tmp_path / plan.cells[0].path
    first.mkdir(parents=True)
    (first / "result.json").write_text(json.dumps({"config_hash": plan.cells[0].config_hash, "status": "completed",
                                                   "model": {"code_hash": plan.cells[0].code_hash},
                                                   "wall_time_s": 1.5}))  # fmt: skip
    reports = _lost_reports(tmp_path, index, Lost(job, "worker died (signal 9)", "note\n"))
    assert [(r.seed, r.status, r.error, r.wall_time_s) for r in reports] == [
        (0, "completed", None, 1.5),
        (1, "error", "worker died (signal 9)", None),
    ]
    assert reports[1].detail.startswith(f"cell: {job.label} seed 1 (job seeds 0, 1)\nnote")


# -- Ray ----------------------------------------------------------------------------------------
def test_ray_worker_crash_is_an_error_cell_resumed_from_its_checkpoint(tmp_path: Path, faulty, cli):
    """A real local Ray runtime: the worker that SIGKILLs itself becomes an error cell; the job
    trained in the sweep folder (it can see it), so its checkpoint is there for --resume."""
    pytest.importorskip("ray")
    model, env = faulty
    path = write_sweep(tmp_path, {"model.behaviour": ["die_once", "ok"]})
    out = tmp_path / "out"
    r = subprocess.run([*ANCHORBENCH, *sweep_args(path, model, out, "--backend", "ray", "--workers", "2")], env=env,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    by = {c["label"].split("=")[-1]: c for c in cells(out).values()}
    assert by["ok"]["status"] == "completed"
    assert by["die_once"]["status"] == "error" and by["die_once"]["error"].startswith("worker died (Ray ")
    killed = out / by["die_once"]["label"] / "seed-0"
    assert (killed / "checkpoint.pt").exists() and (killed / "error.txt").exists()  # written in place, no ship
    assert not (out / TOKEN).exists()
    r = cli(*sweep_args(path, model, out, "--workers", "1", "--resume"))
    assert r.code == 0, r.err
    assert json.loads((killed / "result.json").read_text())["resumed_from"] == 10, r.err


def test_a_job_ships_its_files_only_when_it_cannot_see_the_sweep_folder(tmp_path: Path):
    path = write_sweep(tmp_path, {"seed": [0]})
    plan = make_sweep_plan(str(path))
    out = tmp_path / "out"
    out.mkdir()
    (job,) = make_jobs(plan, plan.cells, out, workers=1, threads=1, batch=False)
    job.shared_token = "token-of-the-parent"  # out/.shared-token missing: another machine's view
    (report,) = run_job(job)
    assert report.status == "completed" and f"{plan.cells[0].path}/result.json" in report.files
    assert list(out.iterdir()) == []  # trained in a scratch folder
    (out / TOKEN).write_text(job.shared_token)  # the parent's token is visible: a shared folder
    (report,) = run_job(job)
    assert report.status == "completed" and report.files == {}
    assert (out / plan.cells[0].path / "result.json").exists()


# -- writing files ------------------------------------------------------------------------------
def test_shipped_files_are_written_atomically_and_result_json_last(tmp_path: Path):
    run = "cfg/seed-0"
    files = {f"{run}/result.json": b"{}", f"{run}/history.jsonl": b"{}\n", f"{run}/model.pt": b"weights"}
    (tmp_path / run / "model.pt").mkdir(parents=True)  # a write that fails: a folder in the way
    with pytest.raises(OSError):
        _write_shipped(tmp_path, CellReport("cfg", 0, "completed", files=dict(files)))
    # No result.json without its model, and no temporary file left behind.
    assert sorted(p.name for p in (tmp_path / run).iterdir()) == ["history.jsonl", "model.pt"]
    (tmp_path / run / "model.pt").rmdir()
    _write_shipped(tmp_path, CellReport("cfg", 0, "completed", files=dict(files)))
    assert {f"{run}/{p.name}": p.read_bytes() for p in (tmp_path / run).iterdir()} == files


def test_checkpoint_temp_files_are_unique_and_removed_on_failure(tmp_path: Path):
    from anchorbench.execution.plan import Request, make_plan
    from anchorbench.execution.runner import prepare_seed

    sets = tuple(f"{k}={v}" for k, v in SETS.items() if k.startswith(("task.", "train.")))
    plan = make_plan(Request(target="anchor-identity-v1", sets=sets))
    trainer = prepare_seed(plan.entries[0], 0, tmp_path, progress=False, probes=())
    seen: list[list[str]] = []

    class Spy:
        """Pickled with the checkpoint: records the folder while the temporary file is open."""

        def __init__(self, fail: bool = False):
            self.fail = fail

        def __reduce__(self):
            seen.append(sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")))
            if self.fail:
                raise RuntimeError("disk full")
            return (dict, ())

    (tmp_path / "checkpoint.tmp").write_text("another writer's, or a leftover")
    running = (torch.zeros(()), 0)
    for _ in range(2):
        trainer.history = [Spy()]
        trainer.save_checkpoint(10, running)
    first, second = (set(s) - {"checkpoint.tmp"} for s in seen)
    assert len(first) == len(second) == 1 and first != second  # unique, beside the checkpoint
    assert (tmp_path / "checkpoint.tmp").read_text() == "another writer's, or a leftover"
    mode = stat.S_IMODE((tmp_path / "checkpoint.tmp").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "checkpoint.pt").stat().st_mode) == mode  # as readable as any file
    good = (tmp_path / "checkpoint.pt").read_bytes()
    trainer.history = [Spy(fail=True)]
    with pytest.raises(RuntimeError, match="disk full"):
        trainer.save_checkpoint(20, running)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == ["checkpoint.tmp"]
    assert (tmp_path / "checkpoint.pt").read_bytes() == good  # the old checkpoint stands
