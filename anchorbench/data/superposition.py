"""[PLAW-SUP] sparse features and a diagonal teacher: the superposition teacher-student data.

Feature i (1..N) is present with probability p_i proportional to i^-a (normalized to sum 1: one
active feature per example on average, the convention of the same group's toy-model code,
liuyz0/SuperpositionScaling) and then takes a value U_i ~ Uniform(0, 2): ``x_i = B_i U_i``. The
teacher weighs feature i by its importance ``A_ii = i^-b``: ``y = A x``. A student that learns
feature i on its own at a rate proportional to its second moment E[x_i^2] = 4 p_i / 3 has the loss
``sum_i i^(-a-2b) exp(-c i^-a t) ~ t^-((a + 2b - 1) / a)`` (docs/papers.md [PLAW-SUP]).

The rates and weights are computed one value at a time (anchorbench.data.scalar_math), so that the
data are the same bits on every CPU. Training and test sets are drawn from their own streams; the
test set is the fixed evaluation batch the loss curve is measured on. Every example carries the two
exponents in its meta (constant columns), so that the exponent scores can state the theory's value for the data.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from anchorbench.data import scalar_math
from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import MAX_EXAMPLES, Family
from anchorbench.data.seeding import rng_for

MAX_VALUES = 200_000_000  # examples x features per split: 800 MB of float32 inputs


class SuperpositionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_features: int = Field(512, ge=2, le=65536, description="features N (the teacher's input and output width)")
    feature_decay: float = Field(1.2, gt=0, le=10, description="a: feature i is present with probability ~ i^-a")
    importance_decay: float = Field(0.0, ge=0, le=10, description="b: the teacher's weight on feature i is i^-b")
    n_train: int = Field(32768, ge=1, le=MAX_EXAMPLES, description="training examples (a fixed set, drawn once)")
    n_test: int = Field(8192, ge=1, le=MAX_EXAMPLES, description="the fixed evaluation batch")

    def model_post_init(self, _context: object) -> None:
        for name in ("n_train", "n_test"):
            if getattr(self, name) * self.n_features > MAX_VALUES:
                raise ValueError(f"{name} x n_features is over {MAX_VALUES:,} values (data is generated in memory)")

    @property
    def d_in(self) -> int:
        return self.n_features

    @property
    def d_out(self) -> int:
        return self.n_features


def presence(p: SuperpositionParams) -> np.ndarray:
    """``[N]``: p_i, proportional to i^-a and summing to 1."""
    w = scalar_math.power(np.arange(1, p.n_features + 1, dtype=np.float64), -p.feature_decay)
    return w / w.sum()


def importance(p: SuperpositionParams) -> np.ndarray:
    """``[N]``: the teacher's diagonal, A_ii = i^-b."""
    return scalar_math.power(np.arange(1, p.n_features + 1, dtype=np.float64), -p.importance_decay)


def _split(rng: np.random.Generator, n: int, p: SuperpositionParams) -> Split:
    present = rng.random((n, p.n_features)) < presence(p)  # [n, N] Bernoulli(p_i)
    x = (present * rng.uniform(0.0, 2.0, size=(n, p.n_features))).astype(np.float32)  # [n, N]
    y = (x * importance(p).astype(np.float32)).astype(np.float32)  # [n, N] = A x, A diagonal
    meta = {
        "feature_decay": np.full(n, p.feature_decay, dtype=np.float32),
        "importance_decay": np.full(n, p.importance_decay, dtype=np.float32),
    }
    return Split(x, y, np.zeros(n, dtype=np.uint8), meta)


def generate(p: SuperpositionParams, seed: int) -> Dataset:
    splits = {name: _split(rng_for(seed, "superposition", name), n, p)
              for name, n in (("train", p.n_train), ("test", p.n_test))}  # fmt: skip
    return Dataset(seed, 0, p.n_features, ("all",), splits, objective="regression")


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    active = np.flatnonzero(s.tokens[i])
    xs = ", ".join(f"x{j + 1}={s.tokens[i, j]:.3f}" for j in active[:8]) + (" ..." if len(active) > 8 else "")
    ys = ", ".join(f"y{j + 1}={s.labels[i, j]:.4f}" for j in active[:8])
    return f"{len(active)} active of {s.tokens.shape[1]} ({xs})  ->  y = {s.labels[i, 0]:+.4f} (y1); {ys or 'all 0'}"


def verify(ds: Dataset, p: SuperpositionParams) -> list[str]:
    """Recomputes the rule from the inputs: y = A x, values in [0, 2), and the presence rates plausible."""
    problems = []
    a = importance(p).astype(np.float32)
    for name, n in (("train", p.n_train), ("test", p.n_test)):
        s = ds.splits[name]
        x = s.tokens
        if x.shape != (n, p.n_features):
            problems.append(f"{name}: shape {x.shape}, expected {(n, p.n_features)}")
            continue
        if not np.allclose(s.labels, x * a, rtol=1e-6, atol=1e-7):
            problems.append(f"{name}: a target is not A x")
        if (x < 0).any() or (x >= 2).any():
            problems.append(f"{name}: a feature value outside [0, 2)")
        # The most frequent feature's presence count is Binomial(n, p_1): within 6 standard deviations.
        p1 = presence(p)[0]
        count = int((x[:, 0] > 0).sum())
        if abs(count - n * p1) > 6 * np.sqrt(n * p1 * (1 - p1)) + 1:
            problems.append(f"{name}: feature 1 present {count} times, expected about {n * p1:.0f}")
    return problems


FAMILY = Family(
    "superposition", SuperpositionParams, generate, decode, verify,  # type: ignore[arg-type]
    "x_i = B_i U_i with B_i ~ Bernoulli(p_i), p_i ~ i^-a (sum 1), U_i ~ U(0, 2); y = A x with A_ii = i^-b",
    objective="regression",
)  # fmt: skip
