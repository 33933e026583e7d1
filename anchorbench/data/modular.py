"""[GROK] modular arithmetic: ``a op b mod p`` for op in {+, -, *, /}.

Sequences are ``[a, op, b, =]`` and the label is ``c = a op b mod p``. Numbers 0..p-1 are
the tokens 1..p (token 0 stays padding), the operation token is p+1 and ``=`` is p+2. The
set of all pairs (a, b) (b != 0 for division) is split once, by a permutation drawn from
the seed: the first ``train_fraction`` of the pairs train, the rest test, so test pairs
never occur in training. Splits are exhaustive: no pair is drawn twice.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data.dataset import Dataset, token_dtype
from anchorbench.data.family import Family, split_of
from anchorbench.data.seeding import rng_for

OPS = ("+", "-", "*", "/")
MAX_P = 4096


class ModularParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # strict: vocab_size is derived from p before validation, which needs a real int (97.0 would give 0).
    # At most MAX_P: every one of the p^2 pairs is materialized (16.8M at 4096, about 1 GB of work arrays).
    p: int = Field(97, ge=2, le=MAX_P, strict=True, description="the modulus (a prime for division)")
    op: Literal["+", "-", "*", "/"] = "+"
    train_fraction: float = Field(0.5, gt=0, lt=1, description="share of all pairs used for training")
    vocab_size: int = Field(0, description="derived: p + 3; leave 0")
    seq_len: int = Field(4, description="derived: [a, op, b, =]")

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: dict) -> dict:
        if isinstance(data, dict) and isinstance(data.get("p", 97), int):
            derived = int(data.get("p", 97)) + 3
            if data.get("vocab_size") not in (None, 0, derived):
                raise ValueError(f"vocab_size is derived from p ({derived}); leave it unset")
            if data.get("seq_len") not in (None, 4):
                raise ValueError("seq_len is 4 ([a, op, b, =]); leave it unset")
            data = {**data, "vocab_size": derived, "seq_len": 4}
        return data

    @model_validator(mode="after")
    def _division_needs_prime(self) -> ModularParams:
        if self.op == "/" and any(self.p % d == 0 for d in range(2, int(self.p**0.5) + 1)):
            raise ValueError(f"division mod {self.p} needs a prime modulus")
        n_train = int(round(self.train_fraction * self.n_pairs()))
        if not 0 < n_train < self.n_pairs():
            raise ValueError("train_fraction leaves no training or no test pair")
        return self

    def n_pairs(self) -> int:
        return self.p * (self.p - 1 if self.op == "/" else self.p)


def apply_op(a: np.ndarray, b: np.ndarray, op: str, p: int) -> np.ndarray:
    if op == "+":
        return (a + b) % p
    if op == "-":
        return (a - b) % p
    if op == "*":
        return (a * b) % p
    if op == "/":
        return (a * np.array([pow(int(x), p - 2, p) for x in range(p)])[b]) % p  # b^-1 by Fermat
    raise ValueError(f"unknown operation {op!r}")


def generate(p: ModularParams, seed: int) -> Dataset:
    a, b = np.meshgrid(np.arange(p.p), np.arange(p.p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    if p.op == "/":
        keep = b != 0
        a, b = a[keep], b[keep]
    order = rng_for(seed, "pair-split").permutation(len(a))
    n_train = int(round(p.train_fraction * len(a)))
    dtype = token_dtype(p.vocab_size)
    splits = {}
    for name, idx in (("train", order[:n_train]), ("test", order[n_train:])):
        aa, bb = a[idx], b[idx]
        c = apply_op(aa, bb, p.op, p.p)
        tokens = np.stack([aa + 1, np.full_like(aa, p.p + 1), bb + 1, np.full_like(aa, p.p + 2)], axis=1)
        splits[name] = split_of(
            tokens.astype(dtype), c + 1, np.zeros(len(idx)), 1, a=aa.astype(np.int64), b=bb.astype(np.int64)
        )
    return Dataset(seed, p.vocab_size, p.seq_len, ("all",), splits)


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    p = ds.vocab_size - 3
    a, b = int(s.meta["a"][i]), int(s.meta["b"][i])
    return f"{a} op {b} = ? (mod {p})  tokens {s.tokens[i].tolist()}  ->  {int(s.labels[i])} (= {int(s.labels[i]) - 1})"


def verify(ds: Dataset, p: ModularParams) -> list[str]:
    problems = []
    seen = {}
    for name, s in ds.splits.items():
        tok = s.tokens.astype(np.int64)
        a, b = tok[:, 0] - 1, tok[:, 2] - 1
        if (tok[:, 1] != p.p + 1).any() or (tok[:, 3] != p.p + 2).any():
            problems.append(f"{name}: operation or '=' token misplaced")
        if a.min() < 0 or a.max() >= p.p or b.min() < 0 or b.max() >= p.p:
            problems.append(f"{name}: operands outside 0..{p.p - 1}")
            continue
        c = [(int(x), int(y)) for x, y in zip(a, b)]
        expected = apply_op(a, b, p.op, p.p) + 1
        if (s.labels.astype(np.int64) != expected).any():
            problems.append(f"{name}: {int((s.labels != expected).sum())} labels break a {p.op} b mod {p.p}")
        if len(set(c)) != len(c):
            problems.append(f"{name}: a pair occurs twice")
        seen[name] = set(c)
    if seen.get("train", set()) & seen.get("test", set()):
        problems.append("test: pairs that also occur in training")
    if sum(len(v) for v in seen.values()) != p.n_pairs():
        problems.append("the splits do not cover every pair exactly once")
    return problems


FAMILY = Family(
    "modular",
    ModularParams,  # type: ignore[arg-type]
    generate,
    decode,
    verify,
    "Sequences [a, op, b, =] with numbers as tokens 1..p; the label is (a op b mod p) + 1. All pairs "
    "(b != 0 for /) are split once by the seed: train_fraction of them train, the rest test.",
)
