"""--reuse copies an identical completed run instead of training it again."""

from __future__ import annotations

import json

from anchorbench.cli import main

TINY = ["--set", "task.n_train=200", "--set", "task.n_test=50", "--set", "model.d_model=32",
        "--set", "train.steps=20", "--set", "train.warmup_steps=2", "--set", "train.eval_every=10",
        "--set", "train.threads=1", "--quiet"]  # fmt: skip


def _result(root, run):
    return json.loads((root / run / "anchor-identity-v1" / "seed-0" / "result.json").read_text())


def test_reuse_copies_identical_runs_and_trains_different_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "anchor-identity-v1", "--out", "results/a", *TINY]) == 0
    assert main(["run", "anchor-identity-v1", "--out", "results/b", "--reuse", *TINY]) == 0
    a, b = _result(tmp_path / "results", "a"), _result(tmp_path / "results", "b")
    assert b["reused_from"] == "a/anchor-identity-v1/seed-0" and a["reused_from"] is None
    assert b["scores"] == a["scores"] and b["config_hash"] == a["config_hash"]
    assert b["name"] == "b/anchor-identity-v1/seed-0"
    run_b = tmp_path / "results/b/anchor-identity-v1/seed-0"
    assert (run_b / "history.jsonl").read_text() == (
        tmp_path / "results/a/anchor-identity-v1/seed-0/history.jsonl"
    ).read_text()
    assert (run_b / "model.pt").exists()
    # A different configuration is trained, not reused.
    assert main(["run", "anchor-identity-v1", "--out", "results/c", "--reuse", *TINY, "--set", "train.lr=0.002"]) == 0
    assert _result(tmp_path / "results", "c")["reused_from"] is None
    # Without --reuse nothing is copied.
    assert main(["run", "anchor-identity-v1", "--out", "results/d", *TINY]) == 0
    assert _result(tmp_path / "results", "d")["reused_from"] is None
