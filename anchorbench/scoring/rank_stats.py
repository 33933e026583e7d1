"""Statistics of rankings over entries: rank correlations, pairwise tests, their corrections.

Used to judge a task as an instrument (``anchorbench validity instrument``): does it tell the
board's entries apart, and does its order of them survive other seeds, budgets, learning rates?
numpy only (scipy is not a dependency); each function is checked against scipy in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def ranks(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (Spearman's convention)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        if tied.sum() > 1:
            r[tied] = r[tied].mean()
    return r


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho; nan when either side is constant (no order to correlate)."""
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def kendall_tau_b(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Kendall's tau-b (ties on either side corrected); nan when either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    n0 = len(i)
    n1, n2 = int((dx == 0).sum()), int((dy == 0).sum())
    if n0 == n1 or n0 == n2:
        return math.nan
    return float((dx * dy).sum() / math.sqrt((n0 - n1) * (n0 - n2)))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test that two seed samples share a mean.

    Both samples constant: 0 when their values differ (every seed of one beats every seed of the
    other), 1 when equal. Needs two values on each side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's test needs two values on each side")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return 0.0 if diff != 0 else 1.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return t_two_sided_p(diff / math.sqrt(va + vb), df)


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down rule: which hypotheses are rejected with family-wise error at most ``alpha``."""
    order = sorted(range(len(pvalues)), key=lambda k: pvalues[k])
    rejected = [False] * len(pvalues)
    for step, k in enumerate(order):
        if pvalues[k] > alpha / (len(pvalues) - step):
            break
        rejected[k] = True
    return rejected


def separated_share(per_entry: Sequence[Sequence[float]], alpha: float = 0.05) -> tuple[int, int]:
    """(pairs of entries told apart, pairs): Welch's test on their seeds, Holm-corrected over all pairs."""
    pairs = [(i, j) for i in range(len(per_entry)) for j in range(i + 1, len(per_entry))]
    p = [welch_p(per_entry[i], per_entry[j]) for i, j in pairs]
    return sum(holm(p, alpha)), len(pairs)


def percentile_interval(draws: Sequence[float]) -> tuple[float, float, float]:
    """(mean, 2.5th, 97.5th percentile) of bootstrap draws; nan draws count as 0 (no order, no agreement)."""
    d = np.nan_to_num(np.asarray(draws, dtype=float), nan=0.0)
    low, high = np.percentile(d, [2.5, 97.5])
    return float(d.mean()), float(low), float(high)


def seed_split_tau(
    per_entry: Sequence[Sequence[float]], *, reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Kendall tau between the rankings of two disjoint halves of every entry's seeds.

    Each replicate shuffles each entry's seeds and splits them (the first half of n // 2, the
    rest), ranks the entries by each half's mean and correlates the two rankings. Returns the
    mean over replicates and the 2.5-97.5 percentile range: how much of the order one draw of
    seeds gives is found again with other seeds."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(reps):
        a, b = [], []
        for values in per_entry:
            v = rng.permutation(np.asarray(values, dtype=float))
            half = len(v) // 2
            a.append(v[:half].mean())
            b.append(v[half:].mean())
        draws.append(kendall_tau_b(a, b))
    return percentile_interval(draws)


def _redrawn(per_entry: Sequence[Sequence[float]], rng: np.random.Generator) -> list[float]:
    """Each entry's mean over its seeds redrawn with replacement (one bootstrap replicate)."""
    return [float(np.mean(rng.choice(np.asarray(v, dtype=float), size=len(v)))) for v in per_entry]


def paired_tau(
    first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], *, reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Kendall tau between the rankings by ``first`` and by ``second`` (the same entries measured
    twice: another budget, another learning rate), with a bootstrap interval (each entry's seeds
    redrawn with replacement on both sides). Returns (point, low, high); no order on a side counts 0."""
    point = kendall_tau_b([np.mean(v) for v in first], [np.mean(v) for v in second])
    rng = np.random.default_rng(seed)
    draws = [kendall_tau_b(_redrawn(first, rng), _redrawn(second, rng)) for _ in range(reps)]
    _, low, high = percentile_interval(draws)
    return (0.0 if math.isnan(point) else point), low, high


def paired_spearman(
    first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], *, reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Spearman's rho between the entries' means by ``first`` and by ``second``, with the same
    bootstrap interval as :func:`paired_tau` (replicates without an order on a side are dropped)."""
    point = spearman([np.mean(v) for v in first], [np.mean(v) for v in second])
    rng = np.random.default_rng(seed)
    draws = [spearman(_redrawn(first, rng), _redrawn(second, rng)) for _ in range(reps)]
    draws = [d for d in draws if math.isfinite(d)]
    if not draws:
        return point, math.nan, math.nan
    low, high = np.percentile(draws, [2.5, 97.5])
    return point, float(low), float(high)
