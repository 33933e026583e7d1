"""[COND-CNN] small grey images for the convolutional condensation task: real digits or a synthetic family.

``source: digits`` is scikit-learn's bundled handwritten digits (``sklearn.datasets.load_digits``:
1,797 images of 8 x 8 pixels, grey levels 0..16, ten classes; shipped inside the scikit-learn
wheel, nothing downloaded). The extra ``anchorbench[images]`` installs it; the images and labels
are checked against a pinned sha256 before use, so every machine trains on the same pictures.
Each seed draws its own split: a seeded permutation of the 1,797, the first ``n_train`` for
training and the next ``n_test`` for testing (disjoint).

``source: synthetic`` needs nothing beyond numpy: ten fixed class prototypes of three strokes each
on the same 8 x 8 grid (drawn once from a fixed stream, the same for every seed), and per image a
prototype shifted by up to one pixel in each direction, scaled by a contrast in [0.6, 1] and with
Gaussian pixel noise, clipped to [0, 1]. It is the fallback the default tests use; it is not the
digits and its numbers are not theirs.

Inputs are the pixels scaled to [0, 1], flattened row by row (``[N, 64]`` float32); targets are
one-hot rows (``[N, 10]``), fitted by the mean squared error (the regression objective). Groups are
the classes. Meta: ``index`` (digits: the image's place in the bundle), or ``shift_row``,
``shift_col`` and ``contrast`` (synthetic), which the verifier reads.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import Family
from anchorbench.data.seeding import rng_for
from anchorbench.errors import UserError

SIDE = 8  # pixels per row and column, both sources
CLASSES = 10
DIGITS_TOTAL = 1797
# sha256 of the bundled digits: the images as uint8 [1797, 8, 8] bytes, then the labels as uint8 bytes
# (scikit-learn 1.x ships the same file, digits.csv.gz, since 2011).
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
INSTALL = "pip install 'anchorbench[images]'"
PROTOTYPE_STREAM = "images-prototypes"  # drawn from seed 0 always: the classes do not change with the seed
STROKES = 3
STROKE_POINTS = 16  # points sampled along each stroke; the pixels they fall in are lit
CONTRAST = (0.6, 1.0)
NOISE_BOUND = 6.0  # verifier: no pixel's noise beyond 6 standard deviations (p < 1e-8 per pixel)
TOLERANCE = 1e-6


@lru_cache(maxsize=1)
def digits_bundle() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [1797, 8, 8] of grey levels 0..16, labels uint8 [1797]) from scikit-learn, checked."""
    try:
        from sklearn.datasets import load_digits
    except ModuleNotFoundError:
        raise UserError(f"task.source digits needs scikit-learn: {INSTALL} (or --set task.source=synthetic)") from None
    bundle = load_digits()
    images = np.asarray(bundle.images).astype(np.uint8)
    labels = np.asarray(bundle.target).astype(np.uint8)
    if hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest() != DIGITS_SHA256:
        raise UserError("scikit-learn's bundled digits are not the pinned ones (sha256 differs): " + INSTALL)
    return images, labels


class ImagesParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["digits", "synthetic"] = Field(
        "digits", description="digits: scikit-learn's 8x8 handwritten digits (anchorbench[images]); synthetic: strokes"
    )
    n_train: int = Field(500, ge=1, le=1_000_000, description="training images")
    n_test: int = Field(1000, ge=1, le=1_000_000, description="test images (digits: at most 1797 - n_train)")
    noise: float = Field(0.1, ge=0, le=1, allow_inf_nan=False, description="synthetic: pixel noise std")

    @model_validator(mode="after")
    def _available(self) -> ImagesParams:
        if self.source == "digits":
            if self.n_train + self.n_test > DIGITS_TOTAL:
                raise ValueError(f"the digits hold {DIGITS_TOTAL} images: n_train + n_test must not exceed it")
            try:  # at planning, before anything is written: installed, and the pinned images
                digits_bundle()
            except UserError as exc:
                raise ValueError(str(exc)) from None
        return self

    @property
    def d_in(self) -> int:
        return SIDE * SIDE

    @property
    def d_out(self) -> int:
        return CLASSES


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES, dtype=np.float32)[labels]  # [N, 10]


def digits_split(images: np.ndarray, labels: np.ndarray, index: np.ndarray) -> Split:
    x = images[index].reshape(len(index), -1).astype(np.float32) / np.float32(16)  # exact: a power of two
    y = labels[index]
    return Split(x, one_hot(y), y.astype(np.uint8), {"index": index.astype(np.int64)})


def prototypes() -> np.ndarray:
    """``[10, 8, 8]`` float32 in {0, 1}: each class is three strokes between random grid points."""
    rng = rng_for(0, PROTOTYPE_STREAM)
    ends = rng.integers(0, SIDE, size=(CLASSES, STROKES, 2, 2))  # class, stroke, (start, end), (row, col)
    t = np.arange(STROKE_POINTS)[:, None]  # points along a stroke, integer arithmetic
    out = np.zeros((CLASSES, SIDE, SIDE), dtype=np.float32)
    for k in range(CLASSES):
        for s in range(STROKES):
            a, b = ends[k, s, 0], ends[k, s, 1]
            points = (a * (STROKE_POINTS - 1 - t) + b * t + (STROKE_POINTS - 1) // 2) // (STROKE_POINTS - 1)
            out[k, points[:, 0], points[:, 1]] = 1.0
    return out


def shifted(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``images [N, 8, 8]`` moved by ``rows``/``cols`` in {-1, 0, 1} pixels each, zeros shifted in."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    r = np.arange(SIDE)[None, :, None] + 1 - rows[:, None, None]
    c = np.arange(SIDE)[None, None, :] + 1 - cols[:, None, None]
    return padded[np.arange(len(images))[:, None, None], r, c]


def synthetic_clean(classes: np.ndarray, rows: np.ndarray, cols: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """The noiseless images ``[N, 8, 8]``: a class's prototype, shifted and scaled."""
    return shifted(prototypes()[classes], rows, cols) * contrast[:, None, None].astype(np.float32)


def synthetic_split(rng: np.random.Generator, n: int, noise: float) -> Split:
    classes = rng.integers(0, CLASSES, size=n).astype(np.uint8)
    rows = rng.integers(-1, 2, size=n).astype(np.int8)
    cols = rng.integers(-1, 2, size=n).astype(np.int8)
    contrast = rng.uniform(*CONTRAST, size=n).astype(np.float32)
    pixels = synthetic_clean(classes, rows, cols, contrast) + np.float32(noise) * rng.standard_normal(
        (n, SIDE, SIDE), dtype=np.float32
    )
    x = np.clip(pixels, 0.0, 1.0).reshape(n, -1).astype(np.float32)
    meta = {"shift_row": rows, "shift_col": cols, "contrast": contrast}
    return Split(x, one_hot(classes), classes, meta)


def generate(p: ImagesParams, seed: int) -> Dataset:
    if p.source == "digits":
        images, labels = digits_bundle()
        order = rng_for(seed, "digits-split").permutation(DIGITS_TOTAL)
        splits = {
            "train": digits_split(images, labels, order[: p.n_train]),
            "test": digits_split(images, labels, order[p.n_train : p.n_train + p.n_test]),
        }
    else:
        splits = {name: synthetic_split(rng_for(seed, name), n, p.noise)
                  for name, n in (("train", p.n_train), ("test", p.n_test))}  # fmt: skip
    return Dataset(seed, 0, 1, tuple(str(k) for k in range(CLASSES)), splits, objective="regression")


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    shades = " .:-=+*#%@"
    rows = s.tokens[i].reshape(SIDE, SIDE)
    art = "/".join("".join(shades[min(9, int(v * 10))] for v in row) for row in rows)
    target = " ".join(f"{v:+.4f}" for v in s.labels[i])
    return f"class {int(s.labels[i].argmax())}: {art}  ->  y = {target}"


def verify(ds: Dataset, p: ImagesParams) -> list[str]:
    """Recomputes what can be recomputed: shapes, one-hot targets matching the groups, pixels in [0, 1];
    digits: every image is the bundle's image at its index, with its label, and no image is in both
    splits; synthetic: every image is its class's prototype, shifted and scaled as recorded, plus
    noise within 6 standard deviations."""
    problems: list[str] = []
    for name, n in (("train", p.n_train), ("test", p.n_test)):
        s = ds.splits[name]
        if s.tokens.shape != (n, SIDE * SIDE) or s.labels.shape != (n, CLASSES):
            problems.append(f"{name}: shapes {s.tokens.shape}, {s.labels.shape}, expected ({n}, 64), ({n}, 10)")
            continue
        if not np.array_equal(s.labels, one_hot(s.groups)):
            problems.append(f"{name}: a target is not the one-hot row of its class")
        if s.tokens.min() < 0 or s.tokens.max() > 1:
            problems.append(f"{name}: a pixel lies outside [0, 1]")
        if p.source == "digits":
            images, labels = digits_bundle()
            index = s.meta["index"]
            if not np.array_equal(s.tokens, images[index].reshape(n, -1).astype(np.float32) / np.float32(16)):
                problems.append(f"{name}: an image is not the bundled digit at its index")
            if not np.array_equal(s.groups, labels[index]):
                problems.append(f"{name}: a class is not the bundled digit's label")
        else:
            clean = synthetic_clean(s.groups, s.meta["shift_row"], s.meta["shift_col"], s.meta["contrast"])
            residual = np.abs(s.tokens - np.clip(clean.reshape(n, -1), 0, 1))
            if residual.max() > NOISE_BOUND * p.noise + TOLERANCE:
                problems.append(f"{name}: an image is not its class's prototype plus noise")
    if p.source == "digits" and not problems:
        shared = np.intersect1d(ds.splits["train"].meta["index"], ds.splits["test"].meta["index"])
        if len(shared):
            problems.append(f"{len(shared)} digit image(s) are in both train and test")
    return problems


FAMILY = Family(
    "images", ImagesParams, generate, decode, verify,  # type: ignore[arg-type]
    "8x8 grey images (scikit-learn's digits, or synthetic strokes), pixels in [0, 1]; target: the class one-hot",
    objective="regression",
)  # fmt: skip
