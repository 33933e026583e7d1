"""Two tiny task families that exercise the objectives beyond the last token, as plug-ins.

Their task specs (tests/plugins/objective-tasks/) name them as ``objective_fixtures:COUNTING``
and ``objective_fixtures:SQUARES``, with this folder on the import path: the way a plug-in
package ships a family of its own.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from anchorbench.data.dataset import Dataset, Split, token_dtype
from anchorbench.data.family import Family
from anchorbench.data.seeding import rng_for

STRIDES = (1, 2)


class CountingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(16, ge=4)
    seq_len: int = Field(8, ge=2)
    n_train: int = Field(ge=1)
    n_test: int = Field(ge=1)


def counting_split(rng: np.random.Generator, n: int, p: CountingParams) -> Split:
    """Counting on 1..V-1 (wrapping) from a random start with stride 1 or 2; every next token is a label."""
    cycle = p.vocab_size - 1
    start = rng.integers(0, cycle, size=n)
    stride = rng.integers(0, len(STRIDES), size=n)
    walk = (start[:, None] + np.array(STRIDES)[stride][:, None] * np.arange(p.seq_len + 1)) % cycle + 1
    dtype = token_dtype(p.vocab_size)
    return Split(walk[:, :-1].astype(dtype), walk[:, 1:].astype(dtype), stride.astype(np.uint8))


def counting(p: CountingParams, seed: int) -> Dataset:
    splits = {name: counting_split(rng_for(seed, name), n, p) for name, n in (("train", p.n_train), ("test", p.n_test))}
    groups = tuple(f"stride-{s}" for s in STRIDES)
    return Dataset(seed, p.vocab_size, p.seq_len, groups, splits, objective="all-tokens")


def counting_decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    return " ".join(map(str, s.tokens[i])) + "  ->  " + " ".join(map(str, s.labels[i]))


def counting_verify(ds: Dataset, p: CountingParams) -> list[str]:
    problems = []
    for name, s in ds.splits.items():
        if not np.array_equal(s.labels[:, :-1], s.tokens[:, 1:]):
            problems.append(f"{name}: a label is not the next input token")
        step = (s.labels.astype(int) - s.tokens.astype(int)) % (p.vocab_size - 1)
        if not all(len(set(row)) == 1 and row[0] in STRIDES for row in step):
            problems.append(f"{name}: a row does not count with one stride")
    return problems


COUNTING = Family(
    "counting", CountingParams, counting, counting_decode, counting_verify,
    "the next token at every position of a count on 1..V-1 with stride 1 or 2", objective="all-tokens",
)  # fmt: skip


class SquaresParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_train: int = Field(4, ge=1, description="training points drawn uniformly on [-1/2, 1/2]")
    n_test: int = Field(65, ge=2, description="test points on an even grid over [-1/2, 1/2]")

    @property
    def d_in(self) -> int:
        return 1

    @property
    def d_out(self) -> int:
        return 1


def squares(p: SquaresParams, seed: int) -> Dataset:
    x_train = rng_for(seed, "train").uniform(-0.5, 0.5, size=(p.n_train, 1)).astype(np.float32)
    x_test = np.linspace(-0.5, 0.5, p.n_test, dtype=np.float32)[:, None]
    splits = {
        name: Split(x, x**2, np.zeros(len(x), dtype=np.uint8), {}) for name, x in (("train", x_train), ("test", x_test))
    }
    return Dataset(seed, 0, 1, ("all",), splits, objective="regression")


def squares_decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    return f"x = {s.tokens[i, 0]:+.4f}  ->  {s.labels[i, 0]:.4f}"


def squares_verify(ds: Dataset, p: SquaresParams) -> list[str]:
    return [f"{name}: a target is not x^2" for name, s in ds.splits.items() if not np.allclose(s.labels, s.tokens**2)]


SQUARES = Family(
    "squares", SquaresParams, squares, squares_decode, squares_verify,
    "y = x^2 on [-1/2, 1/2]: a few training points, an even test grid", objective="regression",
)  # fmt: skip
