"""[FREQ] parity-frequency-v1: the partition of all points, the sign error, the steps to zero test
error, and the low-frequency excess of smaller training sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anchorbench.data.parity import ParityParams, generate, verify
from anchorbench.scoring import frequency as fq
from anchorbench.scoring.evaluation import Evaluation, SplitEval

TASK = "parity-frequency-v1"


def test_train_and_test_partition_all_points_with_parity_labels_and_verify_catches_a_flip() -> None:
    p = ParityParams(train_fraction=0.2)
    ds = generate(p, 3)
    assert len(ds.splits["train"]) == 205 and len(ds.splits["test"]) == 819 and verify(ds, p) == []
    assert not np.array_equal(generate(p, 4).splits["train"].tokens, ds.splits["train"].tokens)
    ds.splits["test"].labels[0, 0] *= -1
    assert verify(ds, p) == ["test: a label is not the parity of the first 10 coordinates"]
    with pytest.raises(ValueError, match="order"):
        ParityParams(n_bits=4, order=5)


def test_parity_is_one_high_frequency_along_the_diagonal() -> None:
    ds = generate(ParityParams(), 0)
    x = np.concatenate([ds.splits[s].tokens for s in ("train", "test")]).astype(np.float64)
    y = np.concatenate([ds.splits[s].labels for s in ("train", "test")])[:, 0].astype(np.float64)
    assert np.allclose(y, -np.cos(np.pi * x.sum(axis=1) / 2))  # (-1)^((10 - s) / 2)


def _evaluation(ds, preds: np.ndarray) -> Evaluation:
    splits = {n: SplitEval(ds.splits[n], p, np.zeros(len(p))) for n, p in (("train", ds.splits["train"].labels),
                                                                            ("test", preds))}  # fmt: skip
    return Evaluation(100, splits, ("all",))


def test_smaller_training_sets_hold_more_spurious_low_frequency() -> None:
    excess = {}
    for fraction in (0.2, 0.8):
        values = []
        for seed in range(5):
            ds = generate(ParityParams(train_fraction=fraction), seed)
            values.append(fq.low_frequency_excess(_evaluation(ds, ds.splits["test"].labels)))
        excess[fraction] = np.mean(values)
    assert excess[0.2] > excess[0.8] > -1e-9


def test_sign_error_counts_wrong_signs() -> None:
    ds = generate(ParityParams(), 0)
    preds = 0.5 * ds.splits["test"].labels.copy()
    preds[:128] *= -1
    assert fq.sign_error(_evaluation(ds, preds)) == pytest.approx(128 / 512)


def test_a_large_training_share_reaches_zero_test_error_and_the_step_is_read_from_the_history(cli, tmp_path) -> None:
    out = tmp_path / "run"
    r = cli("run", TASK, "--set", "task.train_fraction=0.8", "--set", "train.steps=1200", "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    seed = Path(out) / TASK / "seed-0"
    result = json.loads((seed / "result.json").read_text())
    history = [json.loads(line) for line in (seed / "history.jsonl").read_text().splitlines()]
    first = next(h["step"] for h in history if h["scores"]["sign_error"] == 0)
    assert result["scores"]["steps_to_zero_error"] == first < 1200 and result["scores"]["sign_error"] == 0
