"""[AF] forward and reverse recitation: recall what came after, or before, a remembered token.

The pattern ``a 3 b`` sits at positions p, p+1, p+2 (p in 0..seq_len-4) and the input ends with
a cue at the last position: ``a`` asks for ``b`` (forward), ``b`` asks for ``a`` (reverse). As in
the paper's code (xuzhiqin1990/anchor_function_pub, data_generator/context.py, ``context_seq``
modes 'abab' and 'abba'), ``a = b1 + p`` and ``b = b2 + p + 2`` with b1, b2 from the noise range,
and a sequence is test-type when both b1 and b2 are test bases (``% key_mod == 0``). Both
directions are trained (the code's runs mask neither); the test split holds both on test-type
keys, and the two are scored apart: the paper's finding is that reverse lags forward at every N.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from anchorbench.data.dataset import Dataset
from anchorbench.data.family import BYTE, Family, FamilyParams, noise, place, render, split_of
from anchorbench.data.keys import KeyPools, is_test_key
from anchorbench.data.seeding import rng_for

DIRECTIONS = ("forward", "reverse")

RULE = (
    "Tokens a, anchor, b at p, p+1, p+2 (p in 0..seq_len-4), noise elsewhere, and a cue at the last "
    "position: a (forward: the label is b) or b (reverse: the label is a). a = b1 + p and b = b2 + p + 2 "
    "with b1, b2 in noise_low..noise_high; a sequence is test-type iff b1 % key_mod == 0 and "
    "b2 % key_mod == 0, train-type iff neither is. Train: train_directions on train-type sequences; "
    "test: both directions on test-type sequences. Groups: the direction."
)


class RecitationParams(FamilyParams):
    n_train: int = Field(3000, ge=1, description="training sequences ([AF] runs N = 500..4000)")
    n_test: int = Field(1000, ge=1)
    anchor: int = Field(3, ge=1, description="the anchor between a and b; below noise_low")
    key_mod: int = Field(8, ge=2, description="b1 % key_mod == 0 and b2 % key_mod == 0 -> test")
    train_directions: list[Literal["forward", "reverse"]] = Field(
        default_factory=lambda: ["forward", "reverse"],
        description="directions in the training split (the code trains both; one alone makes the other zero-shot)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RecitationParams:
        if self.seq_len < 4:
            raise ValueError(f"seq_len must be at least 4 to hold a, the anchor, b and the cue, got {self.seq_len}")
        if self.seq_len - 1 > BYTE:
            raise ValueError(f"seq_len {self.seq_len} is over {BYTE + 1}, the most this family supports")
        if self.anchor >= self.noise_low:
            raise ValueError("anchor must be smaller than noise_low")
        if self.noise_high + self.seq_len - 2 >= self.vocab_size:
            raise ValueError("keys b + p exceed the vocabulary; raise vocab_size")
        if not self.train_directions or len(set(self.train_directions)) != len(self.train_directions):
            raise ValueError("train_directions must name forward and/or reverse, each once")
        _pools(self)  # raises when the key split leaves a position without keys of a type
        return self


def _pools(p: RecitationParams) -> KeyPools:
    # one pool over every position a key can take (a at p, b at p + 2)
    return KeyPools(p.noise_low, p.noise_high, p.seq_len - 1, p.key_mod, offset_by_position=True)


def generate(p: RecitationParams, seed: int) -> Dataset:
    pools = _pools(p)
    splits = {}
    for name, n, directions, test in (("train", p.n_train, p.train_directions, False),
                                      ("test", p.n_test, list(DIRECTIONS), True)):  # fmt: skip
        rng = rng_for(seed, name)
        tokens = noise(rng, n, p)
        pos = rng.integers(0, p.seq_len - 3, size=n, dtype=np.uint8).astype(np.int64)
        a = pools.sample(rng, pos, test)
        b = pools.sample(rng, pos + 2, test)
        kinds = np.array([DIRECTIONS.index(d) for d in directions], dtype=np.int64)
        direction = kinds[rng.integers(0, len(kinds), size=n, dtype=np.uint8)]  # 0 forward, 1 reverse
        place(tokens, pos, [a, np.full(n, p.anchor), b])
        tokens[:, -1] = np.where(direction == 0, a, b)
        labels = np.where(direction == 0, b, a)
        splits[name] = split_of(tokens, labels, direction, len(DIRECTIONS), pos=pos.astype(np.uint8))
    return Dataset(seed, p.vocab_size, p.seq_len, DIRECTIONS, splits)


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    pos = int(s.meta["pos"][i])
    line = render(s.tokens[i], {pos: "a", pos + 1: "anchor", pos + 2: "b", ds.seq_len - 1: "cue"}, s.labels[i])
    return f"{line}  ({DIRECTIONS[int(s.groups[i])]})"


def verify(ds: Dataset, p: RecitationParams) -> list[str]:
    """Re-derive the direction, the label and the key type from the tokens alone."""
    problems = []
    for name, s in ds.splits.items():
        is_anchor = s.tokens[:, :-1] == p.anchor
        if not (is_anchor.sum(axis=1) == 1).all():
            problems.append(f"{name}: a row without exactly one anchor before the cue")
            continue
        at = is_anchor.argmax(axis=1)
        if ((at < 1) | (at > p.seq_len - 3)).any():
            problems.append(f"{name}: the anchor has no a before it or no b after it")
            continue
        rows = np.arange(len(s))
        a, b, cue = s.tokens[rows, at - 1], s.tokens[rows, at + 1], s.tokens[:, -1]
        forward, reverse = cue == a, cue == b
        if not (forward | reverse).all():
            problems.append(f"{name}: a cue that is neither a nor b")
            continue
        want = np.where(forward, b, a)
        if (s.labels != want).any():
            problems.append(f"{name}: labels are not the recited token")
        clear = forward != reverse  # a == b: either direction, the same label
        if (s.groups[clear] != reverse[clear]).any():
            problems.append(f"{name}: group is not the direction")
        test_a, test_b = is_test_key(a, at - 1, p.key_mod), is_test_key(b, at + 1, p.key_mod)
        want_test = name == "test"
        if ((test_a != want_test) | (test_b != want_test)).any():
            problems.append(f"{name}: keys of the wrong type for the mod split")
        if name == "train":
            trained = {DIRECTIONS.index(d) for d in p.train_directions}
            if not set(np.unique(s.groups[clear]).tolist()) <= trained:
                problems.append("train: a direction that is not in train_directions")
    return problems


FAMILY = Family("anchor-recitation", RecitationParams, generate, decode, verify, RULE)
