"""Elementwise transcendental functions for data generators, one value at a time through the C
library (``math.sin``), not numpy's vectorized loops: numpy dispatches ``np.sin`` to SIMD kernels
(AVX-512 on some machines) whose last bits differ from the scalar path, and the regression
families' data (targets, and the [FREQ] points chosen by how close two sines are) must be the
same bits on every machine (tests/test_data_fingerprints.py). A few hundred thousand values a
second: the families need at most tens of thousands.
"""

from __future__ import annotations

import math

import numpy as np


def sin(x: np.ndarray) -> np.ndarray:
    """``sin`` of every element of float64 ``x``, same shape."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    return np.fromiter((math.sin(v) for v in flat), dtype=np.float64, count=flat.size).reshape(np.shape(x))


def tanh(x: np.ndarray) -> np.ndarray:
    """``tanh`` of every element of float64 ``x``, same shape."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    return np.fromiter((math.tanh(v) for v in flat), dtype=np.float64, count=flat.size).reshape(np.shape(x))


def power(x: np.ndarray, exponent: float) -> np.ndarray:
    """``x ** exponent`` for every element of float64 ``x`` (numpy's ``power`` may take a SIMD kernel too)."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    return np.fromiter((math.pow(v, exponent) for v in flat), dtype=np.float64, count=flat.size).reshape(np.shape(x))
