"""``anchorbench sweep`` and ``report``: expansion, index, crash/divergence handling, resume,
batched ensembles, the process pool, phase diagrams."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from anchorbench.execution.sweep import make_sweep_plan

BASE = {
    "task": "anchor-composite-v1",
    "set": {
        "task.n_train": 300, "task.n_test": 50, "model.d_model": 32, "train.steps": 30, "train.warmup_steps": 5,
        "train.eval_every": 10, "train.batch_size": 64,
    },
}  # fmt: skip


def write_sweep(tmp_path: Path, axes: dict, name: str = "s.yaml", drop: tuple[str, ...] = (), **extra) -> Path:
    base = {"task": BASE["task"], "set": {k: v for k, v in BASE["set"].items() if k not in drop}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"id": "t", "version": 1, "title": "test", "base": base, "axes": axes, **extra}))
    return path


def cells(out: Path) -> dict:
    return json.loads((out / "sweep.json").read_text())["cells"]


def scores(out: Path) -> dict[str, dict]:
    return {
        str(p.parent.relative_to(out)): json.loads(p.read_text())["scores"]
        for p in sorted(out.glob("*/seed-*/result.json"))
    }


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    return write_sweep(tmp_path, {"model.init_rate": [0.3, 0.6], "seed": [0, 1]},
                       phase={"x": "model.init_rate"})  # fmt: skip


def test_expands_config_axes_times_seeds(grid: Path):
    plan = make_sweep_plan(str(grid))
    assert [(c.label, c.seed) for c in plan.cells] == [
        ("anchor-composite-v1@init_rate=0.3", 0), ("anchor-composite-v1@init_rate=0.3", 1),
        ("anchor-composite-v1@init_rate=0.6", 0), ("anchor-composite-v1@init_rate=0.6", 1),
    ]  # fmt: skip
    assert len({c.config_hash for c in plan.cells}) == 4
    assert plan.cells[0].coords == {"model.init_rate": 0.3, "seed": 0}
    assert make_sweep_plan(str(grid), seeds=(5,)).seeds == (5,)


@pytest.mark.parametrize(
    "axes, extra, message",
    [
        ({"model.init_rate": []}, {}, "no values"),
        ({"seed": [-1]}, {}, "non-negative"),
        ({"init_rate": [0.5]}, {}, "section.key"),
        ({"model.init_rate": [0.5]}, {"phase": {"x": "model.n_layers"}}, "phase axis"),
        ({"model.n_layerz": [2]}, {}, "n_layerz"),
        ({"model.init_rate": [0.5, 0.5]}, {}, "repeats"),
    ],
)
def test_bad_sweep_files_are_one_line_errors(tmp_path: Path, cli, axes, extra, message):
    path = write_sweep(tmp_path, axes, **extra)
    r = cli("sweep", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert r.code == 2 and len(r.err_lines) == 1 and message in r.err, r.err
    assert not (tmp_path / "out").exists()


def test_sweep_runs_every_cell_and_report_draws_phase_diagrams(grid: Path, tmp_path: Path, cli):
    out = tmp_path / "out"
    r = cli("sweep", str(grid), "--out", str(out), "--workers", "1", "--threads", "1", "--quiet")
    assert r.code == 0, r.err
    assert "ran 4 cell(s), skipped 0" in r.out
    index = cells(out)
    assert {c["status"] for c in index.values()} == {"completed"} and len(index) == 4
    r = cli("report", str(out))
    assert r.code == 0, r.err
    assert "inferential_accuracy ↑" in r.out and "2/2" in r.out
    png = out / "phase-inferential_accuracy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    agg = json.loads((out / "anchor-composite-v1@init_rate=0.3" / "aggregate.json").read_text())
    assert agg["seeds"] == [0, 1] and agg["scores"]["train_accuracy"]["mean"] is not None


def test_report_refuses_a_folder_that_is_not_a_sweep(tmp_path: Path, cli):
    r = cli("report", str(tmp_path))
    assert r.code == 2 and "not a sweep folder" in r.err


def test_resume_runs_only_the_missing_cells(grid: Path, tmp_path: Path, cli):
    out = tmp_path / "out"
    assert cli("sweep", str(grid), "--out", str(out), "--workers", "1", "--threads", "1", "--quiet").code == 0
    kept = out / "anchor-composite-v1@init_rate=0.3" / "seed-0" / "result.json"
    before = kept.stat().st_mtime_ns
    first = scores(out)
    (out / "anchor-composite-v1@init_rate=0.6" / "seed-1" / "result.json").unlink()
    r = cli("sweep", str(grid), "--out", str(out), "--workers", "1", "--threads", "1", "--quiet", "--resume")
    assert r.code == 0 and "ran 1 cell(s), skipped 3" in r.out, r.out
    assert kept.stat().st_mtime_ns == before
    assert scores(out) == first  # deterministic: the re-run cell scores as before


def test_resume_refuses_another_sweep(grid: Path, tmp_path: Path, cli):
    out = tmp_path / "out"
    assert cli("sweep", str(grid), "--out", str(out), "--workers", "1", "--quiet", "--seeds", "1").code == 0
    r = cli("sweep", str(grid), "--out", str(out), "--workers", "1", "--quiet", "--resume")
    assert r.code == 2 and "another sweep" in r.err


def test_killed_sweep_resumes_the_missing_cells(tmp_path: Path):
    """A real kill (SIGKILL to the whole process group) after the first finished cell."""
    path = write_sweep(tmp_path, {"model.init_rate": [0.3, 0.4, 0.5, 0.6]})
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "anchorbench", "sweep", str(path), "--out", str(out), "--workers", "1",
           "--threads", "1", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(out.glob("*/seed-0/result.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(out.glob("*/seed-0/result.json")))
    assert 1 <= done < 4, "the sweep should have been killed midway"
    r = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"ran {4 - done} cell(s), skipped {done}" in r.stdout
    assert {c["status"] for c in cells(out).values()} == {"completed"}
    # The cell that was killed midway continued from its checkpoint: same scores as never killed.
    fresh = tmp_path / "fresh"
    r = subprocess.run([*cmd[:6], str(fresh), *cmd[7:]], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert scores(out) == scores(fresh)


CRASHY = """
    import torch
    from torch import nn

    class Net(nn.Module):
        # behaviour: ok, raise (during training only) or nan (NaN logits during training)
        def __init__(self, vocab_size, seq_len, behaviour="ok"):
            super().__init__()
            self.behaviour = behaviour
            self.emb = nn.Embedding(vocab_size, 16)
            self.out = nn.Linear(16, vocab_size)

        def forward(self, tokens):
            y = self.out(self.emb(tokens))
            if self.training and self.behaviour == "raise":
                raise RuntimeError("boom in training")
            if self.training and self.behaviour == "nan":
                y = y * float("nan")
            return y
"""


def test_a_crashing_or_diverging_cell_is_recorded_and_the_sweep_goes_on(tmp_path: Path, cli, plugin_module):
    mod = plugin_module(CRASHY)
    path = write_sweep(tmp_path, {"model.behaviour": ["ok", "raise", "nan"]}, drop=("model.d_model",))
    out = tmp_path / "out"
    r = cli("sweep", str(path), "--model", f"{mod}:Net", "--out", str(out), "--workers", "1", "--quiet")
    assert r.code == 1  # a sweep with errors exits 1; every other cell finished
    by_label = {c["label"].split("=")[-1]: c for c in cells(out).values()}
    assert by_label["ok"]["status"] == "completed"
    assert by_label["raise"]["status"] == "error" and "boom in training" in by_label["raise"]["error"]
    assert by_label["nan"]["status"] == "diverged"
    assert "error: anchor-composite-v1@behaviour=raise seed 0: RuntimeError: boom in training" in r.out
    report = cli("report", str(out))
    assert "0/1 (1 error)" in report.out and "boom in training" in report.out


def test_batched_seeds_equal_separate_runs(grid: Path, tmp_path: Path, cli):
    a, b = tmp_path / "batched", tmp_path / "separate"
    assert cli("sweep", str(grid), "--out", str(a), "--workers", "1", "--threads", "1", "--quiet", "--batch").code == 0
    assert cli("sweep", str(grid), "--out", str(b), "--workers", "1", "--threads", "1", "--quiet").code == 0
    assert all(c["batched"] for c in cells(a).values()) and not any(c["batched"] for c in cells(b).values())
    assert scores(a) == scores(b)
    for rel in scores(a):
        ha = [json.loads(x) for x in (a / rel / "history.jsonl").read_text().splitlines()]
        hb = [json.loads(x) for x in (b / rel / "history.jsonl").read_text().splitlines()]
        assert [h["step"] for h in ha] == [h["step"] for h in hb]
        for x, y in zip(ha, hb):
            assert x["splits"]["train"]["loss"] == pytest.approx(y["splits"]["train"]["loss"], rel=1e-4, abs=1e-5)
        ra, rb = (json.loads((d / rel / "result.json").read_text()) for d in (a, b))
        assert ra["config_hash"] == rb["config_hash"]


def test_models_that_cannot_batch_fall_back_to_separate_runs(tmp_path: Path, cli):
    path = write_sweep(tmp_path, {"seed": [0, 1]}, drop=("model.d_model",))
    out = tmp_path / "out"
    r = cli("sweep", str(path), "--model", "lstm", "--out", str(out), "--workers", "1", "--quiet", "--batch")
    assert r.code == 0, r.err
    assert {c["status"] for c in cells(out).values()} == {"completed"}
    assert not any(c["batched"] for c in cells(out).values())


def test_process_pool_gives_the_same_scores_as_one_process(grid: Path, tmp_path: Path, cli):
    a, b = tmp_path / "inline", tmp_path / "pool"
    assert cli("sweep", str(grid), "--out", str(a), "--workers", "1", "--threads", "1", "--quiet").code == 0
    assert cli("sweep", str(grid), "--out", str(b), "--workers", "2", "--threads", "1", "--quiet").code == 0
    assert scores(a) == scores(b)


def test_ray_backend_matches_the_local_backend(tmp_path: Path, cli):
    """CI runs this against a real local Ray runtime (Ray is in the test extra)."""
    path = write_sweep(tmp_path, {"model.init_rate": [0.3, 0.6], "seed": [0, 1]})
    a, b = tmp_path / "local", tmp_path / "ray"
    assert cli("sweep", str(path), "--out", str(a), "--workers", "1", "--threads", "1", "--quiet").code == 0
    r = cli("sweep", str(path), "--out", str(b), "--backend", "ray", "--workers", "2", "--threads", "1", "--quiet")
    assert r.code == 0, r.err + r.out
    assert len(scores(b)) == 4 and scores(a) == scores(b)
    assert (b / "anchor-composite-v1@init_rate=0.3" / "seed-1" / "history.jsonl").exists()


def test_address_without_ray_backend_is_refused(grid: Path, tmp_path: Path, cli):
    r = cli("sweep", str(grid), "--address", "auto", "--out", str(tmp_path / "o"), "--quiet")
    assert r.code == 2 and "--address applies to --backend ray" in r.err


def test_include_path_tasks_reach_the_process_pool_workers(tmp_path: Path, cli):
    """A task loaded with --include-path exists only in the parent; its spec travels with the job."""
    from anchorbench.registry import TASKS

    root = Path(__file__).resolve().parent.parent
    spec = yaml.safe_load((root / "tasks" / "anchor-composite-v1.yaml").read_text())
    spec["id"] = "my-composite-v1"
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "my-composite-v1.yaml").write_text(yaml.safe_dump(spec))
    path = write_sweep(tmp_path, {"seed": [0, 1]})
    path.write_text(path.read_text().replace("anchor-composite-v1", "my-composite-v1"))
    out = tmp_path / "pool"
    try:
        r = cli("sweep", str(path), "--include-path", str(tmp_path / "tasks"), "--out", str(out), "--workers", "2",
                "--threads", "1", "--quiet")  # fmt: skip
    finally:
        TASKS.unregister("my-composite-v1")
    assert r.code == 0, r.out + r.err
    assert {c["status"] for c in cells(out).values()} == {"completed"}
    assert len(scores(out)) == 2


def test_report_reduces_over_a_declared_axis_and_marks_the_shadow_zone(tmp_path: Path, cli):
    """[INIT]'s reduction (per cell, the best lr's mean over seeds) beside the plain mean over
    seeds and lrs, and the cells whose seen-pair test accuracy is below a floor."""
    path = write_sweep(
        tmp_path, {"model.init_rate": [0.3, 0.6], "train.lr": [1e-3, 3e-3], "seed": [0, 1]},
        phase={"x": "model.init_rate", "best_over": "train.lr", "shadow": {"score": "test_accuracy", "below": 0.9},
               "scores": ["train_accuracy"]},
    )  # fmt: skip
    out = tmp_path / "out"
    assert cli("sweep", str(path), "--out", str(out), "--workers", "1", "--threads", "1", "--quiet").code == 0
    r = cli("report", str(out))
    assert r.code == 0, r.err
    assert "reduced over lr" in r.out and "paper's reduction" in r.out
    report = json.loads((out / "report.json").read_text())
    rows = {(row["coords"]["model.init_rate"], row["coords"]["train.lr"]): row for row in report["rows"]}
    assert len(report["reduced"]) == 2
    for g in report["reduced"]:
        gamma = g["coords"]["model.init_rate"]
        means = {lr: rows[(gamma, lr)]["scores"]["train_accuracy"]["mean"] for lr in (1e-3, 3e-3)}
        assert g["n_done"] == 4
        assert g["mean"]["train_accuracy"] == pytest.approx(sum(means.values()) / 2)
        best, at = g["best"]["train_accuracy"]
        assert best == max(means.values()) and means[at] == best
        assert best >= g["mean"]["train_accuracy"]
    dark = [lbl for (lbl, row) in ((row["label"], row) for row in report["rows"])
            if row["scores"]["test_accuracy"]["mean"] < 0.9]  # fmt: skip
    assert ("shadow zone (test_accuracy below 0.9): " + (", ".join(dark) if dark else "no cell")) in r.out
    assert (out / "phase-train_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "phase, message",
    [
        ({"x": "model.init_rate", "best_over": "model.init_rate"}, "already on the diagram"),
        ({"x": "model.init_rate", "best_over": "train.lr"}, "phase axis 'train.lr'"),
        ({"x": "model.init_rate", "shadow": {"score": "test_accuracy"}}, "below"),
    ],
)
def test_bad_phase_reductions_are_one_line_errors(tmp_path: Path, cli, phase, message):
    path = write_sweep(tmp_path, {"model.init_rate": [0.5]}, phase=phase)
    r = cli("sweep", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert r.code == 2 and len(r.err_lines) == 1 and message in r.err, r.err


def test_phase_fields_added_later_leave_a_sweeps_hash_alone(tmp_path: Path):
    from anchorbench.config import content_hash

    plain = make_sweep_plan(str(write_sweep(tmp_path, {"model.init_rate": [0.5]}, phase={"x": "model.init_rate"})))
    dump = plain.spec.model_dump(mode="json")
    assert dump["phase"].pop("shadow") is None and dump["phase"].pop("best_over") is None
    assert dump.pop("curve") is None and dump.pop("slope") is None and dump.pop("power_law") is None
    assert plain.spec_hash == content_hash(dump)  # what the hash was before the fields existed
    shadow = {"score": "test_accuracy", "below": 0.9}
    shadowed = write_sweep(tmp_path, {"model.init_rate": [0.5]}, name="b.yaml",
                           phase={"x": "model.init_rate", "shadow": shadow})  # fmt: skip
    assert make_sweep_plan(str(shadowed)).spec_hash != plain.spec_hash


CURVE = {"x": "task.n_train", "line": "model.init_rate", "score": "test_accuracy",
         "reference": {"label": "a paper", "values": {"0.3": {200: 0.25, 300: 0.75}}}}  # fmt: skip


def test_report_draws_the_curve_with_intervals_and_the_reference(tmp_path: Path, cli):
    """[AF] Fig. 3 style: a score against one axis, one line per value of another, the 95% interval
    over seeds beside each mean, and the published values where the file gives them."""
    path = write_sweep(tmp_path, {"task.n_train": [200, 300], "model.init_rate": [0.3, 0.6], "seed": [0, 1]},
                       curve=CURVE)  # fmt: skip
    out = tmp_path / "out"
    assert cli("sweep", str(path), "--out", str(out), "--workers", "1", "--threads", "1", "--quiet").code == 0
    r = cli("report", str(out))
    assert r.code == 0, r.err
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert "curve: test_accuracy against n_train" in r.out and "reference: a paper" in r.out
    lines = [line.split() for line in r.out.splitlines()]
    for row in rows:
        gamma, n = row["coords"]["model.init_rate"], row["coords"]["task.n_train"]
        s = row["scores"]["test_accuracy"]
        want = [str(gamma), str(n), "2", f"{s['mean']:.3f}", f"[{s['ci_low']:.3f},", f"{s['ci_high']:.3f}]"]
        want.append({(0.3, 200): "0.250", (0.3, 300): "0.750"}.get((gamma, n), "—"))
        assert want in lines, (want, r.out)
    assert (out / "curve-test_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x": "train.lr"}, "curve axis 'train.lr'"),
        ({"line": "task.n_train"}, "already the curve's x"),
        ({"reference": {"label": "p", "values": {"0.9": {200: 0.5}}}}, "line '0.9'"),
        ({"reference": {"label": "p", "values": {"0.3": {250: 0.5}}}}, "x 250"),
        ({"x": "model.init_rate", "line": None}, "puts two points at one x"),
    ],
)
def test_bad_curves_are_one_line_errors(tmp_path: Path, cli, change, message):
    path = write_sweep(tmp_path, {"task.n_train": [200, 300], "model.init_rate": [0.3, 0.6]}, curve={**CURVE, **change})
    r = cli("sweep", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert r.code == 2 and len(r.err_lines) == 1 and message in r.err, r.err
    assert not (tmp_path / "out").exists()
