"""[AF] identity: anchor 3 at position p, the key right after it; the label is the key.

Keys are ``b + p`` with ``b`` in the noise range (20..99); ``b % 8 == 0`` is held out
for the test split (the "mod split" of the [AF] reference code, mod = seq_len - 1).
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

RULE = (
    "Anchor token `anchor` sits at position p (0..seq_len-2) and the key x at p+1; every other "
    "token is noise from noise_low..noise_high. The label is x. Keys are x = b + p with b in "
    "noise_low..noise_high; train uses b % key_mod != 0, test uses b % key_mod == 0 (the [AF] mod "
    "split). Groups: the anchor position p."
)


class IdentityParams(FamilyParams):
    n_train: int = Field(1000, ge=1, description="training size N ([AF] sweeps 300..1000)")
    n_test: int = Field(500, ge=1)
    anchor: int = Field(3, ge=1, description="the anchor token; below noise_low so noise never equals it")
    key_mod: int = Field(8, ge=2, description="b % key_mod == 0 -> test")

    @model_validator(mode="after")
    def _tokens_fit(self) -> IdentityParams:
        if _positions(self) > BYTE:
            raise ValueError(f"seq_len {self.seq_len} is over {BYTE + 1}, the most this family supports")
        if self.anchor >= self.noise_low:
            raise ValueError("anchor must be smaller than noise_low")
        if self.noise_high + self.seq_len - 2 >= self.vocab_size:
            raise ValueError("keys b + p exceed the vocabulary; raise vocab_size")
        _pools(self)  # raises when the key split leaves a position without keys of a type
        return self


def _positions(p: IdentityParams) -> int:
    return p.seq_len - 1  # anchor at p, key at p + 1 <= seq_len - 1


def _pools(p: IdentityParams) -> KeyPools:
    return KeyPools(p.noise_low, p.noise_high, _positions(p), p.key_mod, offset_by_position=True)


def generate(p: IdentityParams, seed: int) -> Dataset:
    pools = _pools(p)
    groups = tuple(f"p={i}" for i in range(_positions(p)))
    splits = {}
    for name, n, test in (("train", p.n_train, False), ("test", p.n_test, True)):
        rng = rng_for(seed, name)
        tokens, pos = noise_and_anchor_positions(rng, n, p)
        key = pools.sample(rng, pos, test)
        place(tokens, pos, [p.anchor, key])
        splits[name] = split_of(tokens, key, pos, len(groups), pos=pos.astype(np.uint8), key=key.astype(tokens.dtype))
    return Dataset(seed, p.vocab_size, p.seq_len, groups, splits)


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    pos = int(s.meta["pos"][i])
    return render(s.tokens[i], {pos: "anchor", pos + 1: "x"}, s.labels[i])


def verify(ds: Dataset, p: IdentityParams) -> list[str]:
    """Re-derive every label from the tokens alone (not from the generator's meta)."""
    problems = []
    for name, s in ds.splits.items():
        pos = find_one_anchor(name, s.tokens == p.anchor, p.seq_len)
        if isinstance(pos, str):
            problems.append(pos)
            continue
        key = s.tokens[np.arange(len(s)), pos + 1]
        if (s.labels != key).any():
            problems.append(f"{name}: {int((s.labels != key).sum())} labels differ from the key")
        if (s.groups != pos).any():
            problems.append(f"{name}: group is not the anchor position")
        want_test = name == "test"
        if (is_test_key(key, pos, p.key_mod) != want_test).any():
            problems.append(f"{name}: keys of the wrong type for the mod split")
    return problems


FAMILY = Family("anchor-identity", IdentityParams, generate, decode, verify, RULE)
