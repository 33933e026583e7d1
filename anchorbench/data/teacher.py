"""[PLAW-SGD] a teacher-student regression: Gaussian inputs, a small tanh network as the teacher.

``x ~ N(0, I_d)``; the teacher ``y = sum_j a_j tanh(w_j . x)`` with ``w_j ~ N(0, I / d)`` and
``a_j ~ N(0, 1)`` (drawn from the seed's own stream); training labels optionally carry Gaussian
label noise of standard deviation ``label_noise`` (0: the student can interpolate them, the
noise of SGD vanishes at the minimum; > 0: it does not). Test labels are clean. The teacher's
dot products are summed in a fixed order and tanh is taken one value at a time
(anchorbench.data.scalar_math), so that the data are the same bits on every CPU.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from anchorbench.data import scalar_math
from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import Family
from anchorbench.data.seeding import rng_for

TOLERANCE = 1e-5  # float32 inputs and targets


class TeacherParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_dim: int = Field(4, ge=1, le=1024, description="d: inputs x ~ N(0, I_d)")
    teacher_width: int = Field(4, ge=1, le=1024, description="hidden tanh units of the teacher")
    n_train: int = Field(256, ge=2, le=1_000_000, description="training examples")
    n_test: int = Field(1024, ge=1, le=1_000_000, description="test examples (clean labels)")
    label_noise: float = Field(0.0, ge=0, le=10, description="std of Gaussian noise on the training labels")

    @property
    def d_in(self) -> int:
        return self.input_dim

    @property
    def d_out(self) -> int:
        return 1


def teacher(p: TeacherParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(w ``[m, d]``, a ``[m]``): the teacher's weights, from the seed's own stream."""
    rng = rng_for(seed, "teacher")
    w = rng.standard_normal((p.teacher_width, p.input_dim)) / np.sqrt(p.input_dim)
    return w, rng.standard_normal(p.teacher_width)


def teacher_output(x: np.ndarray, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``[n]``: sum_j a_j tanh(w_j . x), float64, summed in a fixed order (no BLAS)."""
    pre = np.zeros((len(x), len(w)))
    for k in range(x.shape[1]):  # [n, m]: the dot products, one input coordinate at a time
        pre += x[:, k, None] * w[None, :, k]
    act = scalar_math.tanh(pre)
    out = np.zeros(len(x))
    for j in range(len(w)):  # the output weights, one unit at a time
        out += act[:, j] * a[j]
    return out


def _split(p: TeacherParams, seed: int, name: str, n: int, noise: float) -> Split:
    rng = rng_for(seed, "teacher-student", name)
    x = rng.standard_normal((n, p.input_dim))
    y = teacher_output(x, *teacher(p, seed))
    if noise > 0:
        y = y + noise * rng.standard_normal(n)
    return Split(x.astype(np.float32), y.astype(np.float32)[:, None], np.zeros(n, dtype=np.uint8), {})


def generate(p: TeacherParams, seed: int) -> Dataset:
    splits = {"train": _split(p, seed, "train", p.n_train, p.label_noise), "test": _split(p, seed, "test", p.n_test, 0)}
    return Dataset(seed, 0, 1, ("all",), splits, objective="regression")


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    xs = ", ".join(f"{v:+.3f}" for v in s.tokens[i])
    return f"x = ({xs})  ->  y = {float(s.labels[i, 0]):+.4f}"


def verify(ds: Dataset, p: TeacherParams) -> list[str]:
    """Recomputes the teacher from the seed: clean test labels exactly, training labels within 6 noise stds."""
    problems = []
    w, a = teacher(p, ds.seed)
    for name, n in (("train", p.n_train), ("test", p.n_test)):
        s = ds.splits[name]
        if s.tokens.shape != (n, p.input_dim):
            problems.append(f"{name}: shape {s.tokens.shape}, expected {(n, p.input_dim)}")
            continue
        clean = teacher_output(s.tokens.astype(np.float64), w, a)
        slack = TOLERANCE + (6 * p.label_noise if name == "train" else 0.0)
        if not np.allclose(s.labels[:, 0], clean, atol=slack, rtol=0):
            noise = " plus noise" if slack > TOLERANCE else ""
            problems.append(f"{name}: a label is not the teacher's output{noise}")
    return problems


FAMILY = Family(
    "teacher-student", TeacherParams, generate, decode, verify,  # type: ignore[arg-type]
    "x ~ N(0, I_d); y = sum_j a_j tanh(w_j . x) from the seed's teacher; training labels + N(0, label_noise^2)",
    objective="regression",
)  # fmt: skip
