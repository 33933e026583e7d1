"""anchor-multi-interval-v1: the combinations, the key split and the held-out crossings."""

from __future__ import annotations

import numpy as np
from task_data import generated

from anchorbench.registry import TASKS

TASK = "anchor-multi-interval-v1"


def dataset(seed: int = 0, **params):
    return generated(TASK, seed, **{"n_train": 2000, "n_test": 1000, **params})


def test_trained_and_crossed_combinations_follow_the_rule():
    ds, _ = dataset()
    for name, s in ds.splits.items():
        pos = s.meta["pos"].astype(np.int64)
        anchor = s.tokens[np.arange(len(s)), pos].astype(np.int64)
        x = s.meta["key"].astype(np.int64)
        assert (s.tokens[np.arange(len(s)), pos + 1] == x).all()
        assert (s.labels.astype(np.int64) == x + (anchor == 4)).all()  # 3: x -> x, 4: x -> x+1
        low_half = x < 60
        if name == "unseen":  # the crossings: 3 on [60, 100), 4 on [20, 60)
            assert ((anchor == 3) & ~low_half | (anchor == 4) & low_half).all()
            assert {3, 4} <= set(anchor.tolist())
        else:
            assert ((anchor == 3) & low_half | (anchor == 4) & ~low_half).all()
        assert ((x >= 20) & (x < 100)).all()


def test_the_key_split_is_the_code_s():
    """The code draws x = (b + p) % 40 + low with b % 8 == 0 -> test: x - low - p = 0 mod 8."""
    ds, _ = dataset()
    for name in ("train", "test"):
        s = ds.splits[name]
        x, pos = s.meta["key"].astype(np.int64), s.meta["pos"].astype(np.int64)
        low = np.where(x < 60, 20, 60)
        assert (((x - low - pos) % 8 == 0) == (name == "test")).all()
    # each interval gets keys of both types at every position
    s = ds.splits["test"]
    for low in (20, 60):
        sel = (s.meta["key"] >= low) & (s.meta["key"] < low + 40)
        assert len(set(s.meta["pos"][sel].tolist())) == 8


def test_verify_catches_a_crossing_in_training():
    ds, p = dataset()
    family = TASKS.get(TASK).family_obj
    assert family.verify(ds, p) == []
    s = ds.splits["train"]
    i = int(np.flatnonzero(s.tokens[np.arange(len(s)), s.meta["pos"]] == 3)[0])
    s.tokens[i, int(s.meta["pos"][i])] = 4  # anchor 4 on a key of [20, 60): a held-out combination
    assert any("wrong split" in m or "labels differ" in m for m in family.verify(ds, p))
