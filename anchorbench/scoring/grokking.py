"""[GROK] grokking timing, for any run, from its evaluation history.

For a threshold q (0.95 and 0.99):

* ``t_fit(q)``: the first evaluated step with train accuracy >= q;
* ``t_gen(q)``: the first evaluated step at which test accuracy crosses to >= q *and holds*:
  it stays >= q at every evaluation in the hold window ``[t, t * (1 + hold_fraction)]``.
  A crossing that falls back inside its window is a *spike*, counted but not t_gen;
* ``ratio = t_gen / t_fit``, ``delay = t_gen - t_fit``;
* grokked: ``0 < t_fit < t_gen <= budget``, ``delay / t_fit >= 3``, train accuracy >= q at
  every evaluation in ``[t_fit, t_gen]``, and the hold window verified (a window cut off by
  the end of training leaves the verdict unverified, hence not grokked);
* censored: no t_gen within the budget (the run is right-censored at the budget, not dropped);
* ``ungrokked_at``: the first evaluation after a verified hold window where test accuracy
  falls below q again.

Times are only as precise as the evaluation schedule: each comes with its resolution, the
gap to the previous evaluation (the crossing happened in ``(previous, t]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = (0.95, 0.99)
HOLD_FRACTION = 0.1
MIN_DELAY_RATIO = 3.0


def curves(history: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluated steps and train / test accuracy (NaN where missing)."""
    steps = np.array([r["step"] for r in history], dtype=np.int64)

    def acc(split: str) -> np.ndarray:
        values = [r["splits"].get(split, {}).get("accuracy") for r in history]
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return steps, acc("train"), acc("test")


def _resolution(steps: np.ndarray, i: int) -> int:
    return int(steps[i] - steps[i - 1]) if i > 0 else 0


def timing(
    steps: np.ndarray, train: np.ndarray, test: np.ndarray, budget: int, q: float, hold_fraction: float = HOLD_FRACTION
) -> dict[str, Any]:
    fit_idx = np.flatnonzero(train >= q)
    i_fit = int(fit_idx[0]) if len(fit_idx) else None
    t_fit = int(steps[i_fit]) if i_fit is not None else None

    ok = test >= q
    crossings = [i for i in range(len(steps)) if ok[i] and (i == 0 or not ok[i - 1])]
    i_gen, verified, spikes = None, False, 0
    for i in crossings:
        end = steps[i] * (1 + hold_fraction)
        window = (steps >= steps[i]) & (steps <= end)
        if not ok[window].all():
            spikes += 1
            continue
        i_gen = i
        verified = bool(steps[-1] >= end and steps[-1] > steps[i])  # the window was seen to its end
        break
    t_gen = int(steps[i_gen]) if i_gen is not None else None

    ungrokked_at = None
    if i_gen is not None and verified:
        later = np.flatnonzero((steps > steps[i_gen] * (1 + hold_fraction)) & ~ok)
        ungrokked_at = int(steps[later[0]]) if len(later) else None

    grokked, reason = False, "grokked"
    if t_fit is None:
        reason = "never fit the training set"
    elif t_gen is None:
        reason = "censored: test accuracy never reached q and held within the budget"
    elif not verified:
        reason = "the hold window after t_gen was cut off by the end of training"
    elif not 0 < t_fit < t_gen <= budget:
        reason = "generalized no later than it fit"
    elif (t_gen - t_fit) / t_fit < MIN_DELAY_RATIO:
        reason = f"delay / t_fit < {MIN_DELAY_RATIO:g}: generalized too soon after fitting to count as grokking"
    elif not (train[(steps >= t_fit) & (steps <= t_gen)] >= q).all():
        reason = "train accuracy fell below q between t_fit and t_gen"
    else:
        grokked = True
    return {
        "q": q,
        "t_fit": t_fit,
        "t_gen": t_gen,
        "ratio": t_gen / t_fit if t_fit and t_gen is not None else None,
        "delay": t_gen - t_fit if t_fit is not None and t_gen is not None else None,
        "resolution_fit": _resolution(steps, i_fit) if i_fit is not None else None,
        "resolution_gen": _resolution(steps, i_gen) if i_gen is not None else None,
        "grokked": grokked,
        "censored": t_gen is None,
        "budget": budget,
        "spikes": spikes,
        "ungrokked_at": ungrokked_at,
        "verdict": reason,
    }


def run_timing(history: list[dict[str, Any]], budget: int) -> dict[str, dict[str, Any]]:
    """Timing at every quantile in QUANTILES, keyed by the quantile as text ("0.95")."""
    steps, train, test = curves(history)
    if len(steps) == 0 or np.isnan(test).all():
        return {}
    return {f"{q:g}": timing(steps, train, test, budget, q) for q in QUANTILES}
