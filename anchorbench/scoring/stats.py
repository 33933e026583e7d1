"""Mean and 95% confidence interval over seeds (Student t)."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]  # fmt: skip


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("need at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964  # Cornish-Fisher expansion around the normal quantile; < 1e-4 off for df > 30
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_ci(
    values: Sequence[float | None], bounds: tuple[float | None, float | None] = (None, None)
) -> dict[str, float | int | None]:
    """Mean and 95% t-interval of the finite values; ``n`` counts them.

    With one value the interval is undefined (None), not zero-width: one seed says
    nothing about the spread. The interval is clipped to ``bounds`` (an accuracy's mean
    lies in [0, 1], so clipping never loses coverage; it only drops impossible values).
    """
    xs = [v for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = sum(xs) / n
    if n == 1:
        return {"mean": mean, "ci_low": None, "ci_high": None, "n": 1}
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds[0] is not None:
        low = max(low, bounds[0])
    if bounds[1] is not None:
        high = min(high, bounds[1])
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": n}


def kaplan_meier_median(
    times: Sequence[float | None], censor_at: Sequence[float]
) -> dict[str, float | int | bool | None]:
    """Median event time with right-censoring, and its 95% confidence interval.

    ``times[i]`` is the event time of run i, or None if it was censored at
    ``censor_at[i]`` (e.g. the training budget). Survival S(t) is the Kaplan-Meier estimate;
    the pointwise 95% band uses Greenwood's variance on the log(-log S) scale, and the
    median's interval is the set of t whose band contains 0.5 (Brookmeyer-Crowley). A median
    (or an upper limit) that S never reaches is None: more than half of the runs are censored.
    """
    n = len(times)
    obs = sorted((t if t is not None else c, t is not None) for t, c in zip(times, censor_at))
    at_risk, s, greenwood = n, 1.0, 0.0
    curve = []  # (t, S, lower, upper) after each event time
    i = 0
    while i < len(obs):
        t = obs[i][0]
        deaths = sum(1 for x in obs if x[0] == t and x[1])
        leaving = sum(1 for x in obs if x[0] == t)
        if deaths:
            s *= 1 - deaths / at_risk
            if at_risk > deaths:
                greenwood += deaths / (at_risk * (at_risk - deaths))
            lo, hi = _loglog_band(s, greenwood)
            curve.append((t, s, lo, hi))
        at_risk -= leaving
        i += leaving

    def first(value_index: int) -> float | None:
        return next((c[0] for c in curve if c[value_index] <= 0.5), None)

    return {
        "median": first(1),
        "ci_low": first(2),
        "ci_high": first(3),
        "n": n,
        "events": sum(1 for t in times if t is not None),
        "censored": sum(1 for t in times if t is None),
        "curve": [{"t": c[0], "survival": c[1], "lower": c[2], "upper": c[3]} for c in curve],
    }


def _loglog_band(s: float, greenwood: float) -> tuple[float, float]:
    if s <= 0.0:
        return 0.0, 0.0
    if s >= 1.0:
        return 1.0, 1.0
    se = math.sqrt(greenwood) / abs(math.log(s))
    z = 1.959964
    # S ** exp(+z se) is the lower limit, S ** exp(-z se) the upper.
    return s ** math.exp(z * se), s ** math.exp(-z * se)
