"""[FREQ] scores of the training course: the test-loss bump, the spurious low frequencies, the delay.

Each reads the run's evaluations so far (``Evaluation.history``, then the evaluation itself), so
the final evaluation's value covers the whole run; a resumed run's history is restored from its
checkpoint, so the scores do not depend on an interruption. Losses are divided by the test
loss of the zero function (the mean of y^2 over the test points: 0.5 for sin 6x), so that the
numbers read the same for any target's scale.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import RELATIVE

BUMP_FLOOR = 0.01  # a rise of the test loss under 1% of the zero function's is Adam's jitter, not a bump
FIT_THRESHOLD = 0.1  # "fitted": the loss below 10% of the zero function's


def _scale(ev: Evaluation) -> float:
    return float(np.mean(np.square(ev["test"].split.labels.astype(np.float64))))


def _course(ev: Evaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, train loss and test loss of every evaluation so far, this one last."""
    steps, train = ev.course("train")
    return steps, train, ev.course("test")[1]


def largest_rise(train: np.ndarray, test: np.ndarray) -> tuple[float, int, int]:
    """``(rise, i, j)``: the largest ``test[j] - test[i]`` with ``test[i]`` the lowest test loss up to
    j and ``train[j] < train[i]`` (the training loss fell meanwhile); (0, 0, 0) when there is none."""
    best, out = 0, (0.0, 0, 0)
    for j in range(len(test)):
        if not math.isfinite(test[j]):
            continue
        if test[j] < test[best] or not math.isfinite(test[best]):
            best = j
        elif train[j] < train[best] and test[j] - test[best] > out[0]:
            out = (float(test[j] - test[best]), best, j)
    return out


def loss_bump(ev: Evaluation) -> float:
    """The largest rise of the test loss above its lowest value so far, over a stretch in which the
    training loss fell, over the zero function's test loss (0: the test loss never rose so)."""
    _, train, test = _course(ev)
    return largest_rise(train, test)[0] / _scale(ev)


@metric(
    "test_loss_bump",
    "lower",
    "largest rise of the test loss over its minimum so far while the train loss fell, / the zero function's test "
    "loss ([FREQ]: non-uniform sampling makes one; lower: monotone generalization)",
    bounds=(0.0, None),
    tolerance=RELATIVE,
)
def test_loss_bump(ev: Evaluation) -> float:
    return loss_bump(ev)


@metric(
    "bump_seen",
    "lower",
    f"1 if test_loss_bump exceeds {BUMP_FLOOR} (a bump), else 0: its mean over seeds is the share with a bump",
    bounds=(0.0, 1.0),
)
def bump_seen(ev: Evaluation) -> float:
    return float(loss_bump(ev) > BUMP_FLOOR)


def _low_amplitudes(record_spectrum: dict[str, Any] | None) -> float:
    if not record_spectrum or not record_spectrum.get("test"):
        return math.nan
    amps = record_spectrum["test"]
    target = (len(amps) - 1) // 2  # the probe records frequencies 0..2k
    low = [a for a in amps[1:target] if a is not None]
    return max(low) if low else math.nan


@metric(
    "spurious_amplitude",
    "lower",
    "peak over training of the output's largest amplitude at a frequency 1..k-1 below the target's k, on the test "
    "points (needs the spectrum probe)",
    bounds=(0.0, None),
    tolerance=RELATIVE,
)
def spurious_amplitude(ev: Evaluation) -> float:
    spectra = [(r.get("probes") or {}).get("spectrum") for r in ev.history if r["step"] < ev.step]
    values = [v for v in map(_low_amplitudes, [*spectra, ev.dynamics.get("spectrum")]) if math.isfinite(v)]
    return max(values) if values else math.nan


def first_below(steps: np.ndarray, loss: np.ndarray, level: float) -> float:
    hit = np.flatnonzero(loss < level)
    return float(steps[hit[0]]) if len(hit) else math.nan


@metric(
    "grokking_delay",
    "lower",
    f"first step with test loss below {FIT_THRESHOLD} of the zero function's minus the same for the train loss "
    "(null when either is never reached)",
    tolerance=RELATIVE,
)
def grokking_delay(ev: Evaluation) -> float:
    steps, train, test = _course(ev)
    level = FIT_THRESHOLD * _scale(ev)
    return first_below(steps, test, level) - first_below(steps, train, level)


# -- parity ([FREQ], the parity experiment) ----------------------------------------------------------------
@metric(
    "sign_error",
    "lower",
    "share of test points whose prediction has the wrong sign (a +-1 target: [FREQ] parity's test error)",
    bounds=(0.0, 1.0),
)
def sign_error(ev: Evaluation) -> float:
    s = ev["test"]
    return float((np.sign(s.preds) != np.sign(s.split.labels)).any(axis=1).mean())


@metric(
    "steps_to_zero_error",
    "lower",
    "first evaluated step with sign_error 0 on the test points (null: not within the run)",
    tolerance=RELATIVE,
    requires=("sign_error",),  # read from the earlier evaluations' scores
)
def steps_to_zero_error(ev: Evaluation) -> float:
    earlier = [r["step"] for r in ev.history if r["step"] < ev.step and (r.get("scores") or {}).get("sign_error") == 0]
    if earlier:
        return float(earlier[0])
    return float(ev.step) if sign_error(ev) == 0 else math.nan


LOW_BAND = np.linspace(0, np.pi / 4, 9)  # frequencies along (1, ..., 1) well below the parity's pi / 2


def direction_spectrum(x: np.ndarray, y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``|F(k)|`` of y along (1, ..., 1): F(k) = (1/n) sum_i y_i exp(-i k s_i), s_i the sum of x_i."""
    s = x.sum(axis=1)
    return np.abs((y[None, :] * np.exp(-1j * k[:, None] * s[None, :])).mean(axis=1))


@metric(
    "low_frequency_excess",
    "lower",
    "mean over frequencies 0..pi/4 along (1, ..., 1) of the training targets' amplitude minus all points' "
    "(the spurious low frequencies a training subset adds; a property of the data, not the model)",
    tolerance=RELATIVE,
)
def low_frequency_excess(ev: Evaluation) -> float:
    train, test = ev["train"].split, ev["test"].split
    x_all = np.concatenate([train.tokens, test.tokens]).astype(np.float64)
    y_all = np.concatenate([train.labels, test.labels])[:, 0].astype(np.float64)
    mine = direction_spectrum(train.tokens.astype(np.float64), train.labels[:, 0].astype(np.float64), LOW_BAND)
    return float((mine - direction_spectrum(x_all, y_all, LOW_BAND)).mean())
