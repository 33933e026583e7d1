"""[FREQ] the frequency view of grokking: sin(6x) sampled so that low frequencies hide in the training set.

Zhou, Zhang, Xu (arXiv 2405.17479), 1-D experiment: a grid of 10,000 points on [-pi, pi]; the
training set is the 20 grid points where |sin x - sin 6x| is smallest, the 10 where
|sin 3x - sin 6x| is smallest, and n - 30 more; the target is sin 6x; the test set is 1,000
evenly spaced points. On those first 30 points sin 6x agrees with sin x and sin 3x, so the
training set's spectrum carries spurious low frequencies: a network fits them first (its
frequency principle) and its test loss rises before it falls. Controls: the same construction
with n = 1,000 (the spurious points are diluted), and n = 65 evenly spaced points (no spurious
points). No public code: "n - 30 more" is read as a uniform draw without replacement from the
remaining grid points (the seed's; the paper's 10 trials), and a point chosen for its first
low frequency is not chosen again for the second.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data import scalar_math
from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import Family
from anchorbench.data.seeding import rng_for

TOLERANCE = 1e-5  # float32 inputs and targets


class FrequencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_train: int = Field(65, ge=2, le=100_000, description="training points")
    sampling: Literal["nonuniform", "uniform"] = Field(
        "nonuniform", description="nonuniform: the spurious points first, then a uniform draw; uniform: an even grid"
    )
    target_frequency: int = Field(6, ge=1, le=1000, description="the target is sin(k x)")
    spurious: list[tuple[int, int]] = Field(
        default_factory=lambda: [(1, 20), (3, 10)],
        description="(frequency j, count c): the c grid points where |sin(j x) - sin(k x)| is smallest",
    )
    grid_points: int = Field(10_000, ge=2, le=10_000_000, description="the grid on [-pi, pi] points are drawn from")
    n_test: int = Field(1000, ge=2, le=1_000_000, description="test points, evenly spaced on [-pi, pi]")

    @model_validator(mode="after")
    def _fits(self) -> FrequencyParams:
        if self.sampling == "nonuniform":
            if any(j < 1 or j == self.target_frequency or c < 1 for j, c in self.spurious):
                raise ValueError("spurious takes (frequency, count) pairs of other frequencies >= 1, counts >= 1")
            chosen = sum(c for _, c in self.spurious)
            if not chosen <= self.n_train <= self.grid_points:
                raise ValueError(f"need {chosen} spurious points <= n_train ({self.n_train}) <= grid_points")
        return self

    @property
    def d_in(self) -> int:
        return 1

    @property
    def d_out(self) -> int:
        return 1


def grid(p: FrequencyParams) -> np.ndarray:
    return np.linspace(-np.pi, np.pi, p.grid_points)


def train_points(p: FrequencyParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x [n_train], kind [n_train])`` in increasing x; kind 0 = drawn, j = chosen for frequency j."""
    if p.sampling == "uniform":
        return np.linspace(-np.pi, np.pi, p.n_train), np.zeros(p.n_train, dtype=np.int64)
    g = grid(p)
    target = scalar_math.sin(p.target_frequency * g)
    taken = np.zeros(len(g), dtype=bool)
    kind = np.zeros(len(g), dtype=np.int64)
    for j, count in p.spurious:
        gap = np.abs(scalar_math.sin(j * g) - target)
        gap[taken] = np.inf  # a point already chosen is not chosen twice
        pick = np.argsort(gap, kind="stable")[:count]
        taken[pick], kind[pick] = True, j
    rest = np.flatnonzero(~taken)
    drawn = rng_for(seed, "train").choice(rest, size=p.n_train - int(taken.sum()), replace=False)
    taken[drawn] = True
    idx = np.flatnonzero(taken)  # increasing x
    return g[idx], kind[idx]


def split_of(x: np.ndarray, p: FrequencyParams, kind: np.ndarray) -> Split:
    xs = x.astype(np.float32)[:, None]  # [N, 1]
    y = scalar_math.sin(p.target_frequency * x).astype(np.float32)[:, None]  # float64, stored in float32
    return Split(xs, y, np.zeros(len(x), dtype=np.uint8), {"kind": kind})


def generate(p: FrequencyParams, seed: int) -> Dataset:
    x, kind = train_points(p, seed)
    x_test = np.linspace(-np.pi, np.pi, p.n_test)
    splits = {"train": split_of(x, p, kind), "test": split_of(x_test, p, np.zeros(p.n_test, dtype=np.int64))}
    return Dataset(seed, 0, 1, ("all",), splits, objective="regression")


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    kind = int(s.meta["kind"][i])
    why = f"  (chosen: sin {kind}x is near the target here)" if kind else ""
    return f"x = {s.tokens[i, 0]:+.4f}  ->  y = {s.labels[i, 0]:+.4f}{why}"


def verify(ds: Dataset, p: FrequencyParams) -> list[str]:
    """Recomputes the rule from the inputs: targets sin(kx), points on [-pi, pi], the spurious
    points where sin(jx) is within the c-th smallest gap of the target."""
    problems = []
    for name in ("train", "test"):
        s = ds.splits[name]
        x = s.tokens[:, 0].astype(np.float64)
        if not np.allclose(s.labels[:, 0], np.sin(p.target_frequency * x), atol=TOLERANCE):
            problems.append(f"{name}: a target is not sin({p.target_frequency}x)")
        if np.abs(x).max() > np.pi + TOLERANCE:
            problems.append(f"{name}: a point lies outside [-pi, pi]")
    train = ds.splits["train"]
    if len(train) != p.n_train or len(np.unique(train.tokens[:, 0])) != p.n_train:
        problems.append(f"train: expected {p.n_train} distinct points")
    if p.sampling == "nonuniform":
        g = grid(p)
        x = train.tokens[:, 0].astype(np.float64)
        for j, count in p.spurious:
            mine = x[train.meta["kind"] == j]
            gap = np.abs(np.sin(j * mine) - np.sin(p.target_frequency * mine))
            bound = np.sort(np.abs(np.sin(j * g) - scalar_math.sin(p.target_frequency * g)))[
                count + sum(c for _, c in p.spurious)
            ]
            if len(mine) != count or (gap > bound + TOLERANCE).any():
                problems.append(f"train: the points chosen for sin {j}x are not among its closest to the target")
    return problems


FAMILY = Family(
    "frequency", FrequencyParams, generate, decode, verify,  # type: ignore[arg-type]
    "y = sin(kx) on [-pi, pi]; train: the grid points where sin(jx) nearly equals it (spurious low "
    "frequencies), then a uniform draw (or an even grid); test: an even grid",
    objective="regression",
)  # fmt: skip
