"""anchor-recitation-v1: the cue decides the direction; both keys follow the code's split."""

from __future__ import annotations

import numpy as np
import pytest
from task_data import generated

from anchorbench.errors import UserError
from anchorbench.registry import TASKS

TASK = "anchor-recitation-v1"


def dataset(seed: int = 0, **params):
    return generated(TASK, seed, **{"n_train": 2000, "n_test": 1000, **params})


def test_the_cue_asks_for_the_other_side_of_the_anchor():
    ds, _ = dataset()
    for name, s in ds.splits.items():
        pos = s.meta["pos"].astype(np.int64)
        rows = np.arange(len(s))
        a, anchor, b = (s.tokens[rows, pos + k].astype(np.int64) for k in range(3))
        assert (anchor == 3).all() and (pos <= 5).all()
        forward = s.groups == 0
        assert (s.tokens[forward, -1] == a[forward]).all() and (s.labels[forward] == b[forward]).all()
        assert (s.tokens[~forward, -1] == b[~forward]).all() and (s.labels[~forward] == a[~forward]).all()
        assert 0.4 < forward.mean() < 0.6
        # the code's split: a = b1 + p, b = b2 + p + 2, test iff both bases are multiples of 8
        test = name == "test"
        assert (((a - pos) % 8 == 0) == test).all() and (((b - pos - 2) % 8 == 0) == test).all()


def test_one_trained_direction_leaves_the_other_zero_shot():
    ds, p = dataset(train_directions=["forward"])
    assert set(np.unique(ds.splits["train"].groups)) == {0}
    assert set(np.unique(ds.splits["test"].groups)) == {0, 1}  # reverse is still scored
    family = TASKS.get(TASK).family_obj
    assert family.verify(ds, p) == []
    both, _ = dataset()
    assert family.verify(both, p)  # reverse rows in training break the declared rule
    with pytest.raises(UserError):
        TASKS.get(TASK).resolve_params({"train_directions": ["forward", "forward"]})
