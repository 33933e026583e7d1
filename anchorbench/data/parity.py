"""[FREQ] parity: (n, [n]) parity on all 2^n points of {-1, 1}^n, a seeded share of them trained.

Zhou, Zhang, Xu (arXiv 2405.17479), the parity experiment: n = 10, the label is the product of
all 10 coordinates, every one of the 1,024 points is either trained or tested, train fractions
0.2 / 0.5 / 0.8. Along the direction (1, ..., 1) the parity is a single high frequency (with s the
sum of the coordinates, prod x_i = (-1)^((n - s) / 2)); a random subset adds spurious low
frequencies, more the smaller it is, and the network fits those first. The split is the seed's
random permutation of the points (the paper's is not published).
"""

from __future__ import annotations

import itertools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import Family
from anchorbench.data.seeding import rng_for


class ParityParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_bits: int = Field(10, ge=1, le=20, description="points are {-1, 1}^n_bits, all 2^n_bits of them")
    order: int = Field(10, ge=1, description="the label is the product of the first `order` coordinates")
    train_fraction: float = Field(0.5, gt=0, lt=1, description="share of the points trained (the rest: test)")

    @model_validator(mode="after")
    def _order(self) -> ParityParams:
        if self.order > self.n_bits:
            raise ValueError(f"order ({self.order}) exceeds n_bits ({self.n_bits})")
        if not 1 <= round(self.train_fraction * 2**self.n_bits) < 2**self.n_bits:
            raise ValueError("train_fraction leaves no training or no test point")
        return self

    @property
    def d_in(self) -> int:
        return self.n_bits

    @property
    def d_out(self) -> int:
        return 1


def all_points(n_bits: int) -> np.ndarray:
    return np.array(list(itertools.product([-1.0, 1.0], repeat=n_bits)))  # [2^n, n]


def split_of(x: np.ndarray, p: ParityParams) -> Split:
    y = x[:, : p.order].prod(axis=1, keepdims=True)
    return Split(x.astype(np.float32), y.astype(np.float32), np.zeros(len(x), dtype=np.uint8), {})


def generate(p: ParityParams, seed: int) -> Dataset:
    x = all_points(p.n_bits)
    order = rng_for(seed, "split").permutation(len(x))
    n_train = round(p.train_fraction * len(x))
    splits = {"train": split_of(x[order[:n_train]], p), "test": split_of(x[order[n_train:]], p)}
    return Dataset(seed, 0, 1, ("all",), splits, objective="regression")


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    bits = "".join("+" if v > 0 else "-" for v in s.tokens[i])
    return f"x = {bits}  ->  y = {s.labels[i, 0]:+.4f}"


def verify(ds: Dataset, p: ParityParams) -> list[str]:
    problems = []
    train, test = ds.splits["train"], ds.splits["test"]
    for name, s in (("train", train), ("test", test)):
        if not np.isin(s.tokens, (-1.0, 1.0)).all():
            problems.append(f"{name}: a coordinate is not -1 or 1")
        if not np.array_equal(s.labels[:, 0], s.tokens[:, : p.order].prod(axis=1)):
            problems.append(f"{name}: a label is not the parity of the first {p.order} coordinates")
    both = np.concatenate([train.tokens, test.tokens])
    if len(np.unique(both, axis=0)) != 2**p.n_bits or len(both) != 2**p.n_bits:
        problems.append("train and test are not a partition of all the points")
    if len(train) != round(p.train_fraction * 2**p.n_bits):
        problems.append(f"train holds {len(train)} points, not {p.train_fraction} of {2**p.n_bits}")
    return problems


FAMILY = Family(
    "parity", ParityParams, generate, decode, verify,  # type: ignore[arg-type]
    "y = the product of the first `order` coordinates of x in {-1, 1}^n_bits; a seeded share of all points "
    "is trained, the rest tested",
    objective="regression",
)  # fmt: skip
