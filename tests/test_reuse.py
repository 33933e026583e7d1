"""--reuse copies an identical completed run instead of training it again; --reuse and --resume
trust an earlier result only when its configuration AND code match (anchorbench's source and a
plug-in model's), and --reuse refuses to run from a checkout with uncommitted changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from anchorbench.cli import main
from anchorbench.execution import provenance

TINY = ["--set", "task.n_train=200", "--set", "task.n_test=50", "--set", "model.d_model=32",
        "--set", "train.steps=20", "--set", "train.warmup_steps=2", "--set", "train.eval_every=10",
        "--set", "train.threads=1", "--quiet"]  # fmt: skip
PLUGIN_TINY = [a for a in TINY if not a.startswith("model.")]
PLUGIN_TINY = [a for i, a in enumerate(PLUGIN_TINY) if a != "--set" or PLUGIN_TINY[i + 1] != "--set"]

PLUGIN = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, vocab_size, seq_len, d_model=16):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.mix = nn.Linear(seq_len * d_model, d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        h = self.embed(tokens).flatten(1)  # [B, T*D]
        return self.head(torch.relu(self.mix(h)))[:, None]  # [B, 1, V]
"""


def _result(root, run):
    return json.loads((root / run / "anchor-identity-v1" / "seed-0" / "result.json").read_text())


@pytest.fixture
def clean_tree(monkeypatch):
    """Reuse is refused on a dirty checkout; these tests run from a developer's tree too."""
    monkeypatch.setattr(provenance, "git_dirty", lambda: False)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plug-in model in its own module on sys.path; returns a function that rewrites its code."""
    folder = tmp_path / "plugin"
    folder.mkdir()
    path = folder / "edited_model.py"
    path.write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def edit(old: str, new: str) -> None:
        path.write_text(path.read_text().replace(old, new))
        sys.modules.pop("edited_model", None)  # the next run imports the edited code

    yield edit
    sys.modules.pop("edited_model", None)


def test_reuse_copies_identical_runs_and_trains_different_ones(tmp_path, monkeypatch, clean_tree):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "anchor-identity-v1", "--out", "results/a", *TINY]) == 0
    assert main(["run", "anchor-identity-v1", "--out", "results/b", "--reuse", *TINY]) == 0
    a, b = _result(tmp_path / "results", "a"), _result(tmp_path / "results", "b")
    assert b["reused_from"] == "a/anchor-identity-v1/seed-0" and a["reused_from"] is None
    assert b["scores"] == a["scores"] and b["config_hash"] == a["config_hash"]
    assert b["model"]["code_hash"] == a["model"]["code_hash"] is not None
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


def test_reuse_and_resume_train_again_after_a_plugin_model_is_edited(tmp_path, monkeypatch, clean_tree, plugin):
    monkeypatch.chdir(tmp_path)
    run = ["run", "anchor-identity-v1", "--model", "edited_model:Net", *PLUGIN_TINY]
    assert main([*run, "--out", "results/a"]) == 0
    assert main([*run, "--out", "results/b", "--reuse"]) == 0
    a = _result(tmp_path / "results", "a")
    assert _result(tmp_path / "results", "b")["reused_from"] == "a/anchor-identity-v1/seed-0"
    # The plug-in's code now outputs zeros: same name, same kwargs, same anchorbench commit
    plugin(
        "return self.head(torch.relu(self.mix(h)))[:, None]", "return 0 * self.head(torch.relu(self.mix(h)))[:, None]"
    )
    assert main([*run, "--out", "results/c", "--reuse"]) == 0
    c = _result(tmp_path / "results", "c")
    assert c["reused_from"] is None, "an edited plug-in must not reuse the old scores"
    assert c["config_hash"] == a["config_hash"] and c["model"]["code_hash"] != a["model"]["code_hash"]
    assert c["scores"]["test_loss"] == pytest.approx(5.303, abs=0.01)  # ln 201: a model that outputs zeros
    # --resume of the finished run a: its result is of other code, so the seed trains again
    history = tmp_path / "results/a/anchor-identity-v1/seed-0/history.jsonl"
    before = history.read_text()
    assert main([*run, "--out", "results/a", "--resume"]) == 0
    resumed = _result(tmp_path / "results", "a")
    assert resumed["model"]["code_hash"] == c["model"]["code_hash"] and history.read_text() != before
    assert resumed["scores"] == c["scores"]
    # ... and a --resume with nothing changed keeps it as it is
    mtime = (tmp_path / "results/a/anchor-identity-v1/seed-0/result.json").stat().st_mtime_ns
    assert main([*run, "--out", "results/a", "--resume"]) == 0
    assert (tmp_path / "results/a/anchor-identity-v1/seed-0/result.json").stat().st_mtime_ns == mtime


def test_reuse_refuses_a_dirty_checkout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(provenance, "git_dirty", lambda: True)
    assert main(["run", "anchor-identity-v1", "--out", "results/a", "--reuse", *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--reuse refuses" in err[0] and "uncommitted changes" in err[0]
    assert not (tmp_path / "results").exists()


def test_a_stale_checkpoint_is_dropped_on_resume(tmp_path, monkeypatch, plugin):
    """A run killed midway, then its plug-in edited: --resume starts that seed from step 0."""
    import torch

    from anchorbench.training.loop import CHECKPOINT

    monkeypatch.chdir(tmp_path)
    run = ["run", "anchor-identity-v1", "--model", "edited_model:Net", *PLUGIN_TINY, "--out", "results/a"]
    assert main(run) == 0
    seed_dir = tmp_path / "results/a/anchor-identity-v1/seed-0"
    (seed_dir / "result.json").unlink()  # as if killed after the checkpoint at step 10
    torch.save({"step": 10, "config_hash": "sha256:another-run", "model": {}}, seed_dir / CHECKPOINT)
    assert main([*run, "--resume"]) == 0
    assert json.loads((seed_dir / "result.json").read_text())["resumed_from"] is None
    assert not (seed_dir / CHECKPOINT).exists()


def test_resume_refuses_nothing_but_trains_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = Path("results/a")
    assert main(["run", "anchor-identity-v1", "--out", str(folder), "--seeds", "2", *TINY]) == 0
    (folder / "anchor-identity-v1/seed-1/result.json").unlink()
    assert main(["run", "anchor-identity-v1", "--out", str(folder), "--seeds", "2", "--resume", *TINY]) == 0
    assert (folder / "anchor-identity-v1/seed-1/result.json").exists()
