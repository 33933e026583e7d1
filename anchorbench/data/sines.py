"""[COND-PD] the initial-condensation demo's data: y = A sum_k sin(f x_k + phase) on a box in R^d.

The lab's notebook (xuzhiqin1990/understanding_dl, code/condense_exp/initial_condense.ipynb;
docs/notes/cond-pd-reference-code.md section 6): d = 5, y = 3.5 sum_k sin(5 x_k + 1), x uniform on
[-4, 2]^5, 80 training points and 10,000 test points, no normalisation. The notebook draws with an
unseeded torch generator; here each split is the seed's own uniform draw.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data import scalar_math
from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import Family
from anchorbench.data.seeding import rng_for

TOLERANCE = 1e-4  # float32 targets of size up to d * amplitude


class SinesParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dims: int = Field(5, ge=1, le=1000, description="input dimension d")
    n_train: int = Field(80, ge=1, le=10_000_000)
    n_test: int = Field(10_000, ge=1, le=10_000_000)
    x_low: float = Field(-4.0, allow_inf_nan=False)
    x_high: float = Field(2.0, allow_inf_nan=False)
    amplitude: float = Field(3.5, allow_inf_nan=False)
    frequency: float = Field(5.0, allow_inf_nan=False)
    phase: float = Field(1.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _box(self) -> SinesParams:
        if not self.x_low < self.x_high:
            raise ValueError(f"need x_low < x_high, got {self.x_low}, {self.x_high}")
        return self

    @property
    def d_in(self) -> int:
        return self.dims

    @property
    def d_out(self) -> int:
        return 1


def target(x: np.ndarray, p: SinesParams) -> np.ndarray:
    waves = scalar_math.sin(p.frequency * x + p.phase)  # [N, d]
    total = np.zeros(len(x))
    for k in range(waves.shape[1]):  # added in order, not by numpy's (SIMD-dependent) reduction
        total = total + waves[:, k]
    return p.amplitude * total[:, None]  # [N, 1]


def generate(p: SinesParams, seed: int) -> Dataset:
    splits = {}
    for name, n in (("train", p.n_train), ("test", p.n_test)):
        x = rng_for(seed, name).uniform(p.x_low, p.x_high, size=(n, p.dims))
        splits[name] = Split(x.astype(np.float32), target(x, p).astype(np.float32), np.zeros(n, dtype=np.uint8), {})
    return Dataset(seed, 0, 1, ("all",), splits, objective="regression")


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    x = ", ".join(f"{v:+.2f}" for v in s.tokens[i])
    return f"x = ({x})  ->  y = {s.labels[i, 0]:+.4f}"


def verify(ds: Dataset, p: SinesParams) -> list[str]:
    problems = []
    for name, n in (("train", p.n_train), ("test", p.n_test)):
        s = ds.splits[name]
        x = s.tokens.astype(np.float64)
        if s.tokens.shape != (n, p.dims):
            problems.append(f"{name}: shape {s.tokens.shape}, expected ({n}, {p.dims})")
            continue
        if not np.allclose(s.labels, target(x, p), atol=TOLERANCE):
            problems.append(f"{name}: a target is not {p.amplitude} sum sin({p.frequency} x + {p.phase})")
        if x.min() < p.x_low or x.max() > p.x_high:
            problems.append(f"{name}: a point lies outside [{p.x_low}, {p.x_high}]^{p.dims}")
    return problems


FAMILY = Family(
    "sines", SinesParams, generate, decode, verify,  # type: ignore[arg-type]
    "y = A sum_k sin(f x_k + phase), x uniform on [x_low, x_high]^d (train and test: the seed's draws)",
    objective="regression",
)  # fmt: skip
