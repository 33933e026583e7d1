"""[AF] statistical output: one input, two answers with fixed probabilities.

The identity task's layout and key split (anchor 3 at position p, the key x = b + p right
after it, ``b % key_mod == 0`` -> test), but each training input appears ``copies`` times,
``copies * p_x`` of them labelled x and the rest x+1: the run behind the paper's figure used 5
copies, 4 and 1, so P(x) = 0.8 (xuzhiqin1990/anchor_function_pub, data_generator/probability.py,
the commented-out version; docs/notes/af-reference-code.md). A model that learns the rule puts
0.8 on x and 0.2 on x+1; its argmax is x either way, so accuracy cannot tell it from a model
that always answers x.

The test split holds every test-key input twice, labelled x and then x+1, with ``meta.p_label``
the rule's probability of that label (0.8, 0.2): the per-example losses are then -log p(x) and
-log p(x+1) of the same input, which is what the scores read (anchorbench.scoring.statistical).
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
from anchorbench.data.keys import KeyPools, is_test_key
from anchorbench.data.seeding import rng_for

GROUPS = ("x", "x+1")  # group = label - key

RULE = (
    "Anchor token `anchor` at position p (0..seq_len-2), the key x right after it, noise elsewhere. "
    "Every training input appears `copies` times: copies * p_x of them labelled x, the rest x+1. Keys "
    "are x = b + p with b in noise_low..noise_high; train uses b % key_mod != 0, test b % key_mod == 0. "
    "The test split holds each test input twice, labelled x and x+1 (meta.p_label: p_x and 1 - p_x). "
    "Groups: the label, x or x+1."
)


class StatisticalParams(FamilyParams):
    n_train: int = Field(3000, ge=1, description="training sequences (inputs x copies; [AF]: 600 inputs x 5)")
    n_test: int = Field(1000, ge=2, description="test sequences: n_test / 2 inputs, each twice (x and x+1)")
    anchor: int = Field(3, ge=1, description="the anchor token; below noise_low so noise never equals it")
    key_mod: int = Field(8, ge=2, description="b % key_mod == 0 -> test")
    copies: int = Field(5, ge=2, le=BYTE, description="copies of each training input")
    p_x: float = Field(0.8, gt=0, lt=1, description="share of an input's copies labelled x (the rest x+1)")

    @model_validator(mode="after")
    def _consistent(self) -> StatisticalParams:
        if self.seq_len - 1 > BYTE:
            raise ValueError(f"seq_len {self.seq_len} is over {BYTE + 1}, the most this family supports")
        if self.anchor >= self.noise_low:
            raise ValueError("anchor must be smaller than noise_low")
        if self.noise_high + self.seq_len - 2 + 1 >= self.vocab_size:
            raise ValueError("keys b + p and their successors exceed the vocabulary; raise vocab_size")
        if n_x(self) in (0, self.copies) or abs(n_x(self) - self.copies * self.p_x) > 1e-9:
            got = self.copies * self.p_x
            raise ValueError(f"copies * p_x must be a whole number between 1 and copies - 1 (got {got:g})")
        if self.n_train % self.copies:
            raise ValueError(f"n_train {self.n_train} is not a multiple of copies {self.copies}")
        if self.n_test % 2:
            raise ValueError(f"n_test {self.n_test} is odd; the test split holds each input twice")
        _pools(self)  # raises when the key split leaves a position without keys of a type
        return self


def n_x(p: StatisticalParams) -> int:
    return round(p.copies * p.p_x)


def _pools(p: StatisticalParams) -> KeyPools:
    return KeyPools(p.noise_low, p.noise_high, p.seq_len - 1, p.key_mod, offset_by_position=True)


def _inputs(p: StatisticalParams, seed: int, name: str, n: int, test: bool) -> tuple[np.ndarray, ...]:
    rng = rng_for(seed, name)
    tokens, pos = noise_and_anchor_positions(rng, n, p)
    key = _pools(p).sample(rng, pos, test)
    place(tokens, pos, [np.full(n, p.anchor), key])
    return tokens, pos, key


def generate(p: StatisticalParams, seed: int) -> Dataset:
    splits = {}
    # train: each input `copies` times in a row, the first n_x labelled x
    tokens, pos, key = _inputs(p, seed, "train", p.n_train // p.copies, test=False)
    plus = np.tile(np.arange(p.copies) >= n_x(p), len(key)).astype(np.int64)  # 0: x, 1: x+1
    rows = np.repeat(np.arange(len(key)), p.copies)
    splits["train"] = _split(p, tokens[rows], pos[rows], key[rows], plus)
    # test: each input twice, x then x+1, so that a head of even length keeps whole pairs
    tokens, pos, key = _inputs(p, seed, "test", p.n_test // 2, test=True)
    rows = np.repeat(np.arange(len(key)), 2)
    splits["test"] = _split(p, tokens[rows], pos[rows], key[rows], np.tile([0, 1], len(key)))
    return Dataset(seed, p.vocab_size, p.seq_len, GROUPS, splits)


def _split(p: StatisticalParams, tokens, pos, key, plus):
    p_label = np.where(plus == 0, p.p_x, 1 - p.p_x).astype(np.float32)
    return split_of(tokens, key + plus, plus, len(GROUPS), pos=pos.astype(np.uint8), key=key.astype(tokens.dtype),
                    p_label=p_label)  # fmt: skip


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    pos = int(s.meta["pos"][i])
    chance = float(s.meta["p_label"][i])
    return render(s.tokens[i], {pos: "anchor", pos + 1: "x"}, s.labels[i]) + f"  (P = {chance:.2f})"


def verify(ds: Dataset, p: StatisticalParams) -> list[str]:
    """Re-derive every label's role and the label shares per input from the tokens alone."""
    problems = []
    for name, s in ds.splits.items():
        pos = find_one_anchor(name, s.tokens == p.anchor, p.seq_len)
        if isinstance(pos, str):
            problems.append(pos)
            continue
        key = s.tokens[np.arange(len(s)), pos + 1].astype(np.int64)
        plus = s.labels.astype(np.int64) - key
        if not np.isin(plus, (0, 1)).all():
            problems.append(f"{name}: a label that is neither x nor x+1")
            continue
        if (s.groups != plus).any():
            problems.append(f"{name}: group is not label - key")
        if not np.allclose(s.meta["p_label"], np.where(plus == 0, p.p_x, 1 - p.p_x)):
            problems.append(f"{name}: p_label is not the rule's probability of the label")
        if (is_test_key(key, pos, p.key_mod) != (name == "test")).any():
            problems.append(f"{name}: keys of the wrong type for the mod split")
        # per distinct input: the share of x labels is p_x (train) or exactly one of each (test)
        _, inverse = np.unique(s.tokens, axis=0, return_inverse=True)
        count = np.bincount(inverse.ravel())
        xs = np.bincount(inverse.ravel(), weights=(plus == 0))
        want = count * p.p_x if name == "train" else count / 2
        if not np.allclose(xs, want):
            problems.append(f"{name}: an input whose labels are not x and x+1 in the rule's shares")
    return problems


FAMILY = Family("anchor-statistical", StatisticalParams, generate, decode, verify, RULE)
