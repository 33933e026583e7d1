"""[AF] multi-interval: which rule an anchor applies depends on where its key lies.

Anchor a at position p and the key x right after it, as in the identity task; the label is
x + shift(a). Keys come from intervals: the paper's code draws ``x = (b + p) % width + low``
with b from the noise range (``b % key_mod == 0`` -> test), so that interval [20, 60) and
[60, 100) each get keys of both types (xuzhiqin1990/anchor_function_pub,
data_generator/multitask.py, ``two_interval_34x_to_x1x2``). Only some (anchor, interval)
combinations are trained: anchor 3 (x -> x) on [20, 60) and anchor 4 (x -> x+1) on [60, 100);
the crossed combinations (3 on [60, 100), 4 on [20, 60)) are held out and scored. The code's own
runs score 0.000 on them at every N.

A key at position p in interval [low, low + width) is test-type iff
``(x - low - p) % key_mod == 0`` (width a multiple of key_mod keeps the split clean).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from anchorbench.data.dataset import Dataset
from anchorbench.data.family import (
    BYTE,
    Family,
    FamilyParams,
    find_one_anchor,
    noise_and_anchor_positions,
    place,
    render,
    split_of,
)
from anchorbench.data.keys import KeyPools
from anchorbench.data.seeding import rng_for

KEY_TYPES = ("train-key", "test-key")

RULE = (
    "Anchor a at position p (0..seq_len-2), the key x right after it, noise elsewhere; the label is "
    "x + shift(a). x = (b + p) % width + low for the interval [low, low + width) of the combination, "
    "b in noise_low..noise_high; b % key_mod == 0 -> test-type. Trained: the `trained` (anchor, "
    "interval) combinations on train-type keys (split train) and test-type keys (split test); the "
    "others are the unseen split, key types half and half. Groups: '<anchor>@<interval>/<key type>'."
)


class IntervalParams(FamilyParams):
    n_train: int = Field(2000, ge=1, description="training sequences ([AF] runs N = 1000..10000; its figure 2000)")
    n_test: int = Field(1000, ge=1)
    key_mod: int = Field(8, ge=2, description="b % key_mod == 0 -> test")
    shifts: dict[int, int] = Field(default_factory=lambda: {3: 0, 4: 1}, description="anchor -> shift of the key")
    intervals: list[tuple[int, int]] = Field(
        default_factory=lambda: [(20, 60), (60, 100)], description="[low, high) key intervals"
    )
    trained: list[tuple[int, int]] = Field(
        default_factory=lambda: [(3, 0), (4, 1)], description="(anchor, interval index) combinations trained"
    )

    @model_validator(mode="after")
    def _consistent(self) -> IntervalParams:
        if self.seq_len - 1 > BYTE:
            raise ValueError(f"seq_len {self.seq_len} is over {BYTE + 1}, the most this family supports")
        if any(not 1 <= a < self.noise_low for a in self.shifts):
            raise ValueError("anchors must lie in 1..noise_low-1 so that noise never equals an anchor")
        for low, high in self.intervals:
            if high <= low or (high - low) % self.key_mod:
                raise ValueError(f"interval [{low}, {high}) must be non-empty, its width a multiple of key_mod")
        ordered = sorted(self.intervals)
        if any(a[1] > b[0] for a, b in zip(ordered, ordered[1:])):
            raise ValueError("intervals overlap; a key must name its interval")
        combos = combinations(self)
        trained = {tuple(t) for t in self.trained}
        if not trained <= set(combos):
            raise ValueError("trained names an anchor without a shift or an interval index out of range")
        if len(trained) != len(self.trained) or not trained or trained == set(combos):
            raise ValueError("trained must list distinct combinations and leave at least one held out")
        lo = min(low for low, _ in self.intervals) + min(self.shifts.values())
        hi = max(high for _, high in self.intervals) - 1 + max(self.shifts.values())
        if lo < 1 or hi >= self.vocab_size:
            raise ValueError(f"labels span {lo}..{hi}, outside 1..{self.vocab_size - 1}")
        _pools(self)  # raises when the key split leaves a position without keys of a type
        return self


def combinations(p: IntervalParams) -> list[tuple[int, int]]:
    return [(a, i) for a in sorted(p.shifts) for i in range(len(p.intervals))]


def group_names(p: IntervalParams) -> tuple[str, ...]:
    return tuple(f"{a}@[{p.intervals[i][0]},{p.intervals[i][1]})/{kt}" for a, i in combinations(p) for kt in KEY_TYPES)


def _pools(p: IntervalParams) -> KeyPools:
    return KeyPools(p.noise_low, p.noise_high, p.seq_len - 1, p.key_mod, offset_by_position=True)


def generate(p: IntervalParams, seed: int) -> Dataset:
    combos = combinations(p)
    trained = [combos.index(tuple(t)) for t in p.trained]
    held = [c for c in range(len(combos)) if c not in trained]
    anchor = np.array([a for a, _ in combos], dtype=np.int64)
    low = np.array([p.intervals[i][0] for _, i in combos], dtype=np.int64)
    width = np.array([p.intervals[i][1] - p.intervals[i][0] for _, i in combos], dtype=np.int64)
    shift = np.array([p.shifts[a] for a, _ in combos], dtype=np.int64)
    splits = {}
    for name, n, pool, test in (("train", p.n_train, trained, False), ("test", p.n_test, trained, True),
                                ("unseen", p.n_test, held, None)):  # fmt: skip
        rng = rng_for(seed, name)
        tokens, pos = noise_and_anchor_positions(rng, n, p)
        combo = np.asarray(pool, dtype=np.int64)[rng.integers(0, len(pool), size=n, dtype=np.uint8)]
        key_test = rng.random(n) < 0.5 if test is None else np.full(n, test)
        b_plus_p = _pools(p).sample(rng, pos, key_test)
        key = b_plus_p % width[combo] + low[combo]
        place(tokens, pos, [anchor[combo], key])
        splits[name] = split_of(tokens, key + shift[combo], combo * 2 + key_test, 2 * len(combos),
                                pos=pos.astype(np.uint8), key=key.astype(tokens.dtype))  # fmt: skip
    return Dataset(seed, p.vocab_size, p.seq_len, group_names(p), splits)


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    pos = int(s.meta["pos"][i])
    return render(s.tokens[i], {pos: "anchor", pos + 1: "x"}, s.labels[i])


def verify(ds: Dataset, p: IntervalParams) -> list[str]:
    """Re-derive labels, combinations and key types from the tokens alone."""
    combos = combinations(p)
    trained = {combos.index(tuple(t)) for t in p.trained}
    problems = []
    for name, s in ds.splits.items():
        pos = find_one_anchor(name, np.isin(s.tokens, list(p.shifts)), p.seq_len)
        if isinstance(pos, str):
            problems.append(pos)
            continue
        rows = np.arange(len(s))
        a = s.tokens[rows, pos].astype(np.int64)
        x = s.tokens[rows, pos + 1].astype(np.int64)
        interval = np.full(len(s), -1)
        for i, (low, high) in enumerate(p.intervals):
            interval[(x >= low) & (x < high) & (interval < 0)] = i
        if (interval < 0).any():
            problems.append(f"{name}: a key outside every interval")
            continue
        combo = np.array([combos.index((int(ai), int(ii))) for ai, ii in zip(a, interval)])
        if (s.labels != x + np.array([p.shifts[int(ai)] for ai in a])).any():
            problems.append(f"{name}: labels differ from key + shift(anchor)")
        low = np.array([p.intervals[i][0] for i in interval])
        test_key = (x - low - pos) % p.key_mod == 0
        if (s.groups != combo * 2 + test_key).any():
            problems.append(f"{name}: group is not the (anchor, interval, key type) of the row")
        in_trained = np.isin(combo, list(trained))
        if name == "unseen" and in_trained.any() or name != "unseen" and not in_trained.all():
            problems.append(f"{name}: a combination in the wrong split")
        if name in ("train", "test") and (test_key != (name == "test")).any():
            problems.append(f"{name}: keys of the wrong type for the mod split")
    return problems


FAMILY = Family("anchor-multi-interval", IntervalParams, generate, decode, verify, RULE)
