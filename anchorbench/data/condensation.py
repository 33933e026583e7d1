"""[COND-PD] the phase diagram's data: y = x^2 at a few evenly spaced points of [-1/2, 1/2].

The paper (Luo, Xu, Ma, Zhang, JMLR 2021, Fig. 2) fits "a simple 1-d problem of 4 training
points"; its code's builder (phasediagram_twolayerNN, scalestudy1d, commented out as committed)
takes ``linspace(-1/2, 1/2, 4)`` with ``y = x^2``, and tests on 1,000 grid points of the same
interval (docs/notes/cond-pd-reference-code.md section 2). The points do not depend on the seed:
the seed draws the network's init, which is what the phase diagram varies. The bias is the
network's (the two-layer model's, drawn like the input weights), the paper's ``x <- (x, 1)``.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import Family

TOLERANCE = 1e-6  # float32 targets


class CondensationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_train: int = Field(
        4, ge=2, le=4096, description="training points, evenly spaced on [x_low, x_high] (ends included)"
    )
    n_test: int = Field(1000, ge=2, le=1_000_000, description="test points on an even grid over the same interval")
    x_low: float = Field(-0.5, allow_inf_nan=False)
    x_high: float = Field(0.5, allow_inf_nan=False)

    @model_validator(mode="after")
    def _interval(self) -> CondensationParams:
        if not self.x_low < self.x_high:
            raise ValueError(f"need x_low < x_high, got {self.x_low}, {self.x_high}")
        return self

    @property
    def d_in(self) -> int:
        return 1

    @property
    def d_out(self) -> int:
        return 1


def split_of(x: np.ndarray) -> Split:
    x = x.astype(np.float32)[:, None]  # [N, 1]
    return Split(x, x**2, np.zeros(len(x), dtype=np.uint8), {})


def generate(p: CondensationParams, seed: int) -> Dataset:
    splits = {
        "train": split_of(np.linspace(p.x_low, p.x_high, p.n_train)),
        "test": split_of(np.linspace(p.x_low, p.x_high, p.n_test)),
    }
    return Dataset(seed, 0, 1, ("all",), splits, objective="regression")


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    return f"x = {s.tokens[i, 0]:+.4f}  ->  y = {s.labels[i, 0]:+.4f}  (x^2)"


def verify(ds: Dataset, p: CondensationParams) -> list[str]:
    """Recomputes the rule from the inputs alone: targets are x^2, inputs an even grid in range."""
    problems = []
    for name, n in (("train", p.n_train), ("test", p.n_test)):
        s = ds.splits[name]
        x = s.tokens[:, 0].astype(np.float64)
        if len(x) != n:
            problems.append(f"{name}: {len(x)} points, expected {n}")
            continue
        if not np.allclose(s.labels[:, 0], x**2, atol=TOLERANCE):
            problems.append(f"{name}: a target is not x^2")
        if not np.allclose(np.diff(x), (p.x_high - p.x_low) / (n - 1), atol=TOLERANCE):
            problems.append(f"{name}: the points are not evenly spaced")
        if x.min() < p.x_low - TOLERANCE or x.max() > p.x_high + TOLERANCE:
            problems.append(f"{name}: a point lies outside [{p.x_low}, {p.x_high}]")
    return problems


FAMILY = Family(
    "condensation", CondensationParams, generate, decode, verify,  # type: ignore[arg-type]
    "y = x^2 at n_train evenly spaced points of [x_low, x_high]; test: an even grid of n_test points",
    objective="regression",
)  # fmt: skip
