"""anchor-synonym-v1: 9 acts as 3 and never meets 4 in training; trained_pairs restricts the pairs."""

from __future__ import annotations

import numpy as np

from anchorbench.registry import TASKS

TASK = "anchor-synonym-v1"


def pairs_of(split) -> set[tuple[int, int]]:
    start = split.meta["start"].astype(np.int64)
    rows = np.arange(len(split))
    return set(zip(split.tokens[rows, start].tolist(), split.tokens[rows, start + 1].tolist()))


def test_nine_meets_four_only_in_the_unseen_split():
    spec = TASKS.get(TASK)
    p = spec.resolve_params({"n_train": 4000, "n_test": 1000})
    ds = spec.family_obj.generate(p, 0)
    code_groups = {(1, 9), (2, 9), (9, 1), (9, 2), (1, 3), (2, 3), (4, 3), (3, 1), (3, 2), (3, 4),
                   (1, 2), (1, 4), (2, 1), (4, 1), (2, 4), (4, 2)}  # fmt: skip
    assert pairs_of(ds.splits["train"]) == code_groups == pairs_of(ds.splits["test"])
    assert pairs_of(ds.splits["unseen"]) == {(4, 9), (9, 4)}
    unseen = ds.splits["unseen"]
    assert (unseen.labels.astype(np.int64) == unseen.meta["key"].astype(np.int64) - 10).all()  # 9 as 3: -2 - 8
    assert spec.family_obj.verify(ds, p) == []


def test_without_trained_pairs_every_pair_not_held_out_is_trained():
    spec = TASKS.get(TASK)
    p = spec.resolve_params({"n_train": 6000, "n_test": 100, "trained_pairs": None})
    ds = spec.family_obj.generate(p, 0)
    assert len(pairs_of(ds.splits["train"])) == 25 - 2
    narrow = spec.resolve_params({"n_train": 6000, "n_test": 100})
    assert spec.family_obj.verify(ds, narrow)  # pairs outside trained_pairs are named
