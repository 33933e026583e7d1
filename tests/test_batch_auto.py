"""`anchorbench sweep --batch auto`: a short probe decides, per configuration, whether its
seeds train as one ensemble; the decision is reported and recorded per cell."""

from __future__ import annotations

import json
from pathlib import Path

from test_sweep import write_sweep

from anchorbench.execution.batched import PAYS, probe_batching
from anchorbench.execution.sweep import decide_batching, make_jobs, make_sweep_plan


def test_the_probe_measures_a_speedup_and_refuses_what_cannot_batch(tmp_path: Path) -> None:
    plan = make_sweep_plan(str(write_sweep(tmp_path, {"seed": [0, 1, 2]})))
    ((_, entry),) = plan.entries.values()
    speedup = probe_batching(entry, [0, 1, 2], threads=1, steps=2, repeats=1)
    assert 0.05 < speedup < 50, speedup  # a real ratio of two timings, whichever way it goes
    lstm = make_sweep_plan(str(write_sweep(tmp_path, {"seed": [0, 1]}, name="l.yaml")), model="lstm")
    ((_, lstm_entry),) = lstm.entries.values()
    assert probe_batching(lstm_entry, [0, 1], threads=1) == 0.0  # nn.LSTM does not run under vmap


def test_auto_batches_only_the_configurations_the_probe_favours(tmp_path: Path) -> None:
    plan = make_sweep_plan(str(write_sweep(tmp_path, {"model.d_model": [16, 32], "seed": [0, 1, 2, 3]})))
    notes: list[str] = []
    decided = decide_batching(plan, plan.cells, workers=2, threads=1, note=notes.append)
    assert set(decided) == set(plan.entries) and len(notes) == 2
    for label, note in zip(plan.entries, notes):
        speedup = float(note.split("measured ")[1].split("x")[0])
        assert (speedup >= PAYS) == decided[label] and label in note
    jobs = make_jobs(plan, plan.cells, tmp_path, workers=2, threads=1, batch=decided)
    for job in jobs:
        assert job.batch == decided[job.label]
        assert len(job.seeds) == (4 if decided[job.label] else 1)  # 2 configs on 2 workers: one ensemble each


def test_sweep_batch_auto_runs_and_records_its_choice(tmp_path: Path, cli) -> None:
    path = write_sweep(tmp_path, {"seed": [0, 1]})
    out = tmp_path / "out"
    r = cli("sweep", str(path), "--out", str(out), "--workers", "1", "--threads", "1", "--quiet", "--batch", "auto")
    assert r.code == 0, r.err
    assert "--batch auto:" in r.err and ("-> batched" in r.err) != ("-> separate runs" in r.err)
    cells = json.loads((out / "sweep.json").read_text())["cells"].values()
    assert {c["status"] for c in cells} == {"completed"}
    assert {c["batched"] for c in cells} == {"-> batched" in r.err}
