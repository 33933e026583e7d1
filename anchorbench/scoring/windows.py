"""[WINDOWS] integration windows by word swap: how far back each layer integrates, and whether the
window is tied to position or to sentences (Skrill and Norman-Haignere, NeurIPS 2023; the analysis
follows their code, dskrill/TemporalIntegration: analysis.py ``fit_curves``, plots.py ``yoking_plots``).

On the task's ``yoking`` split (stimuli of fixed-length sentences from a boundary; ``sentence_start``
in its meta), for a model that exposes ``hidden_states(tokens) -> [B, T, C] per layer``:

* swaps: every position k of every stimulus is replaced in its own copy of the sequence, by a
  ``likely`` alternative (one of the model's ``LIKELY_TOP`` most probable next tokens at k, of the
  same class as the original: the paper draws among a masked LM's top candidates; a causal model has
  no right context, and an unrestricted likely word at a sentence's first position is a content word
  that continues the previous sentence, erasing the boundary the yoking index measures) or, as the
  control, a ``uniform`` alternative of the same class (the paper's same-part-of-speech control).
  Classes: tokens that open sentences, and the rest. Position 0 has no prediction: uniform there.
* the difference tensor ``D[layer, k, t, unit]``: the mean over stimuli of ``|h(swapped at k)[t] -
  h[t]|``;
* the window per unit: ``D[t - d, t] / D[t, t]`` for d = 0..``MAX_LAG``, the median over the measured
  positions t > ``MAX_LAG`` + 1, fitted by ``w(d) = c (d+1)^-a + (1 - c) exp(-b d)`` (a, b in [0, 10],
  c in [0, 1]; least squares by grid refinement: the global optimum, where the paper's ``curve_fit``
  starts at (1, 1, 0.5)); per layer the median over units of c, a, b, the share of units whose c is
  identified (:func:`fit_window`: a spike on a flat tail fits as well with c near 0 as near 1), and the
  half-width: the lag at which the layer's median window falls to 0.5 (linearly interpolated;
  ``MAX_LAG`` when it does not);
* the yoking index per unit: at each sentence boundary j + 1, the mean over lags 0..L-2 (L the
  sentence length) of ``D[j+1, j+1+o] - D[j, j+o]``, over the median lag-0 response; the mean over
  the boundaries; per layer the median over units. 0 for a window tied to position, > 0 for one
  confined to sentences. Beside it, ``yoking_context``: the same over lags 1..L-2, without the swapped
  word's own change (how much more the first word moves the rest of its sentence than the last word
  moves the next sentence); and ``tail``, the window's mean over lags 1..``MAX_LAG``.

Everything is measured on the trained model and, with the same swapped stimuli, on the model's
initialization (the control: the paper's untrained GPT-2). The probe runs once, at the final
evaluation; the scores read it there.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from anchorbench.registry import DYNAMICS_PROBES
from anchorbench.scoring.dynamics import DynamicsProbe, ProbeFn
from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import near_zero

NAME = "integration-windows"
SPLIT = "yoking"
MAX_LAG = 20  # the paper's window: d = 0..20
LIKELY_TOP = 4  # the alternatives a likely swap draws from (the paper: a masked LM's top 100 of ~30,000 words)
SWAPS = ("likely", "uniform")
MODELS = ("trained", "untrained")
ROWS_PER_FORWARD = 256  # swapped sequences per forward pass
GRID = 201  # grid points per fit parameter, then refined around the best cell
REFINEMENTS = 5
BOUND = 10.0  # a, b in [0, BOUND] (the paper's bounds)
IDENTIFIED_GAP = 1e-4  # fit_window: how much worse the other reading of c must fit, relative to the window


def hidden_states_problem(model: Any) -> str | None:
    """Why the probe cannot measure ``model`` (None: it can)."""
    if callable(getattr(model, "hidden_states", None)):
        return None
    return (
        f"{type(model).__name__} exposes no hidden states: the {NAME} probe needs a method "
        "hidden_states(tokens) returning [B, T, C] per layer"
    )


# -- swaps -------------------------------------------------------------------------------------------
def token_classes(tokens: np.ndarray, starts: np.ndarray, vocab_size: int) -> np.ndarray:
    """``[V]``: 1 for tokens that open sentences, 0 for the others, -1 for tokens the stimuli never use."""
    classes = np.full(vocab_size, -1, dtype=np.int64)
    classes[tokens[~starts]] = 0
    classes[tokens[starts]] = 1
    return classes


def uniform_swaps(tokens: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``[N, T]``: for each position, another token of the same class, uniformly."""
    out = np.empty_like(tokens)
    for cls in (0, 1):
        pool = np.flatnonzero(classes == cls)
        where = classes[tokens] == cls
        if len(pool) < 2:
            raise ValueError("a token class with a single member has nothing to swap with")
        # a uniform draw from the pool without the original: index into the pool, skipping it
        draw = rng.integers(0, len(pool) - 1, size=int(where.sum()))
        own = np.searchsorted(pool, tokens[where])
        out[where] = pool[draw + (draw >= own)]
    return out


def likely_swaps(model: Any, tokens: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``[N, T]``: one of the model's ``LIKELY_TOP`` most probable tokens at each position, of the original's
    class and not the original (uniform among them); position 0 (no prediction) as :func:`uniform_swaps`."""
    import torch

    out = uniform_swaps(tokens, classes, rng)
    with torch.inference_mode():
        logits = torch.cat(
            [
                model(torch.from_numpy(tokens[i : i + ROWS_PER_FORWARD]).to(_device(model))).float().cpu()
                for i in range(0, len(tokens), ROWS_PER_FORWARD)
            ]
        ).numpy()  # [N, T, V]; position t predicts the token at t + 1
    scores = logits[:, :-1].astype(np.float64)  # [N, T-1, V]: the prediction for positions 1..T-1
    same = classes[None, None, :] == classes[tokens[:, 1:]][:, :, None]  # [N, T-1, V]
    same &= np.arange(len(classes))[None, None, :] != tokens[:, 1:, None]
    scores = np.where(same, scores, -np.inf)
    top = np.argsort(-scores, axis=-1, kind="stable")[..., :LIKELY_TOP]  # [N, T-1, K]
    valid = np.take_along_axis(same, top, axis=-1)  # a class smaller than K + 1 offers fewer
    pick = (rng.random(top.shape[:2]) * valid.sum(-1)).astype(np.int64)  # uniform among the valid ones
    out[:, 1:] = np.take_along_axis(top, pick[..., None], axis=-1)[..., 0]
    return out


def _device(model: Any) -> Any:
    return next(model.parameters()).device


# -- the difference tensor ---------------------------------------------------------------------------
def difference_tensor(model: Any, tokens: np.ndarray, swaps: np.ndarray) -> list[np.ndarray]:
    """Per layer ``[K, T, C]`` float64: the mean over stimuli of |h(swapped at k)[t] - h[t]| per unit."""
    import torch

    n, T = tokens.shape
    per_batch = max(1, ROWS_PER_FORWARD // T)  # stimuli per forward (T swapped copies each)
    total: list[np.ndarray] | None = None
    device = _device(model)
    eye = torch.eye(T, dtype=torch.bool)
    with torch.inference_mode():
        for i in range(0, n, per_batch):
            x = torch.from_numpy(tokens[i : i + per_batch])  # [S, T]
            s = torch.from_numpy(swaps[i : i + per_batch])  # [S, T]
            swapped = torch.where(eye[None], s[:, None, :], x[:, None, :])  # [S, K=T, T]: row k swapped at k
            base = model.hidden_states(x.to(device))  # L x [S, T, C]
            moved = model.hidden_states(swapped.flatten(0, 1).to(device))  # L x [S*K, T, C]
            diffs = [
                (m.view(len(x), T, T, -1) - b[:, None]).abs().double().sum(0).cpu().numpy()  # [K, T, C]
                for b, m in zip(base, moved)
            ]
            total = diffs if total is None else [a + d for a, d in zip(total, diffs)]
    assert total is not None
    return [d / n for d in total]


# -- windows and their fit ---------------------------------------------------------------------------
def unit_windows(D: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    """``[C, max_lag + 1]`` from one layer's ``D [K, T, C]``: the median over measured positions t > max_lag + 1
    of ``D[t - d, t] / D[t, t]`` (NaN for a unit whose lag-0 response is zero somewhere)."""
    T = D.shape[1]
    t = np.arange(max_lag + 2, T)  # the paper's code: every lag lands after position 1
    lags = np.arange(max_lag + 1)
    window = D[t[None, :] - lags[:, None], t[None, :]]  # [lags, positions, C]
    lag0 = window[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lag0 > 0, window / lag0, np.nan)
    return np.median(ratio, axis=1).T  # [C, lags]


def mixture(d: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """The paper's window: ``c (d+1)^-a + (1 - c) exp(-b d)``."""
    return c * (d + 1.0) ** -a + (1 - c) * np.exp(-b * d)


def fit_mixture(y: np.ndarray, c_low: float = 0.0, c_high: float = 1.0) -> tuple[float, float, float, float]:
    """Least-squares ``(a, b, c, sse)`` of :func:`mixture` to ``y`` over d = 0..len(y)-1, a and b in [0, 10],
    c in [c_low, c_high] (the paper: [0, 1]). c enters linearly: for each (a, b) on a grid its best value is
    a clipped projection; the grid is refined around the best cell (``REFINEMENTS`` times, +-2 cells). NaN
    when y is not finite."""
    if not np.isfinite(y).all():
        return (math.nan,) * 4
    d = np.arange(len(y), dtype=np.float64)
    a_grid = BOUND * np.linspace(0, 1, GRID) ** 2  # finer near 0, where the shapes differ most
    b_grid = a_grid.copy()
    for _ in range(REFINEMENTS + 1):
        P = (d[None, :] + 1) ** -a_grid[:, None]  # [A, D]
        E = np.exp(-b_grid[:, None] * d[None, :])  # [B, D]
        # ||y - E - c (P - E)||^2 expanded in dot products: no [A, B, D] array
        PE, Py, Ey, PP, EE = P @ E.T, P @ y, E @ y, (P * P).sum(1), (E * E).sum(1)
        num = Py[:, None] - PE - Ey[None, :] + EE[None, :]  # <P - E, y - E>, [A, B]
        den = PP[:, None] - 2 * PE + EE[None, :]  # ||P - E||^2
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.clip(np.where(den > 1e-15, num / den, c_low), c_low, c_high)
        sse = (y @ y - 2 * Ey + EE)[None, :] - 2 * c * num + c**2 * den
        ia, ib = np.unravel_index(int(np.argmin(sse)), sse.shape)
        best = (float(a_grid[ia]), float(b_grid[ib]), float(c[ia, ib]), max(0.0, float(sse[ia, ib])))
        a_grid = np.linspace(a_grid[max(ia - 2, 0)], a_grid[min(ia + 2, len(a_grid) - 1)], 41)
        b_grid = np.linspace(b_grid[max(ib - 2, 0)], b_grid[min(ib + 2, len(b_grid) - 1)], 41)
    return best


def fit_window(y: np.ndarray) -> tuple[float, float, float, float, bool]:
    """:func:`fit_mixture` and whether its c is identified: a window that is a spike at lag 0 on a flat tail
    is fitted as well by a power-law spike on an exponential tail (c near 1) as by an exponential spike on a
    power-law tail (c near 0). c counts as identified when the best fit with c on the other side of 0.5 has
    at least twice the squared error, and more by ``IDENTIFIED_GAP`` of the window's sum of squares about
    its mean. ``(a, b, c, sse, identified)``."""
    low, high = fit_mixture(y, 0.0, 0.5), fit_mixture(y, 0.5, 1.0)
    best, other = (low, high) if low[3] <= high[3] else (high, low)
    spread = float(((y - y.mean()) ** 2).sum()) if np.isfinite(y).all() else math.nan
    return (*best, bool(other[3] > 2 * best[3] and other[3] - best[3] > IDENTIFIED_GAP * spread))


def half_width(window: np.ndarray) -> float:
    """The lag at which ``window`` (1 at lag 0) first falls to 0.5, linearly interpolated; its last lag when
    it never does."""
    below = np.flatnonzero(window <= 0.5)
    if not len(below):
        return float(len(window) - 1)
    k = int(below[0])
    if k == 0:
        return 0.0
    hi, lo = window[k - 1], window[k]
    return float(k - 1 + (hi - 0.5) / (hi - lo))


# -- the yoking index --------------------------------------------------------------------------------
def yoking_profile(D: np.ndarray, sentence_len: int, first_lag: int = 0) -> np.ndarray:
    """``[K, C]``: at each swap position j + 1, the mean over lags first_lag..sentence_len-2 of
    D[j+1, j+1+o] - D[j, j+o], over the unit's median lag-0 response (NaN where the lags run past the end);
    plots.py ``fdiff`` with ``first_lag`` 0. With 1, the swapped word's own change (lag 0) is left out."""
    K, T, C = D.shape
    span = sentence_len - 1
    lag0 = np.median(D[np.arange(T), np.arange(T)], axis=0)  # [C]
    out = np.full((K, C), np.nan)
    for j in range(K - span - 1):
        change = D[j + 1, j + 1 + first_lag : j + 1 + span] - D[j, j + first_lag : j + span]  # [span - first_lag, C]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[j + 1] = np.where(lag0 > 0, change.mean(0) / lag0, np.nan)
    return out


def layer_summary(D: np.ndarray, boundaries: list[int], sentence_len: int) -> dict[str, Any]:
    """One layer's window, its fit and its yoking index, from ``D [K, T, C]``."""
    windows = unit_windows(D)  # [C, lags]
    live = np.isfinite(windows).all(axis=1)
    fits = np.array([fit_window(w) for w in windows[live]], dtype=float).reshape(-1, 5)  # [units, (a, b, c, sse, id)]
    window = np.median(windows[live], axis=0) if live.any() else np.full(MAX_LAG + 1, np.nan)
    profile = yoking_profile(D, sentence_len)  # [K, C]
    yoking = np.nanmean(profile[boundaries], axis=0)[live]  # [units]
    context = np.nanmean(yoking_profile(D, sentence_len, first_lag=1)[boundaries], axis=0)[live]
    med = lambda x: float(np.median(x)) if len(x) else math.nan  # noqa: E731
    return {
        "units": int(live.sum()),
        "a": med(fits[:, 0]),
        "b": med(fits[:, 1]),
        "c": med(fits[:, 2]),
        "c_identified": float(fits[:, 4].mean()) if len(fits) else math.nan,  # share of units (fit_window)
        "half_width": half_width(window) if live.any() else math.nan,
        "tail": float(window[1:].mean()),  # the mean influence beyond the swapped word, lags 1..MAX_LAG
        "yoking": med(yoking),
        "yoking_context": med(context),  # the same without lag 0: the change on the other words only
        "window": window.tolist(),
        "window_fit": list(fit_window(window)[:3]),
        "yoking_profile": _nanmedian_rows(profile[:, live]),
    }


def _nanmedian_rows(x: np.ndarray) -> list[float]:
    """The median of each row's finite values (NaN for a row without one), without numpy's warning."""
    return [float(np.median(r[np.isfinite(r)])) if np.isfinite(r).any() else math.nan for r in x]


def measure(model: Any, initial: Any, tokens: np.ndarray, starts: np.ndarray, vocab_size: int, seed: int) -> dict:
    """The probe's record: per model (trained, untrained) and swap kind (likely, uniform), per layer."""
    from anchorbench.data.seeding import rng_for

    boundaries = [int(k) for k in np.flatnonzero(starts.all(axis=0)) if k > 0]
    sentence_len = int(np.diff(np.flatnonzero(starts[0]))[0])
    usable = [k for k in boundaries if k < tokens.shape[1] - (sentence_len - 1)]
    classes = token_classes(tokens, starts, vocab_size)
    rng = rng_for(seed, NAME)
    was_training = model.training
    model.eval()  # the likely swaps come from the model's predictions: no dropout in them
    try:
        swaps = {"likely": likely_swaps(model, tokens, classes, rng), "uniform": uniform_swaps(tokens, classes, rng)}
    finally:
        model.train(was_training)
    out: dict[str, Any] = {
        "split": SPLIT, "stimuli": int(len(tokens)), "sentence_len": sentence_len, "boundaries": usable,
        "max_lag": MAX_LAG, "likely_top": LIKELY_TOP,
    }  # fmt: skip
    for which, m in (("trained", model), ("untrained", initial)):
        was_training = m.training
        m.eval()
        try:
            out[which] = {}
            for kind, s in swaps.items():
                D = difference_tensor(m, tokens, s)  # L x [K, T, C]
                out[which][kind] = [layer_summary(layer, usable, sentence_len) for layer in D]
        finally:
            m.train(was_training)
    return out


def _start(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    split = dataset.splits.get(SPLIT) if dataset is not None and dataset.objective != "regression" else None
    if split is None or "sentence_start" not in split.meta or hidden_states_problem(model) is not None:
        return None
    initial = copy.deepcopy(model)  # the control: this run's initialization, measured on the same stimuli
    tokens = split.tokens.astype(np.int64)
    starts = split.meta["sentence_start"].astype(bool)
    return lambda m: {NAME: measure(m, initial, tokens, starts, dataset.vocab_size, dataset.seed)}


DYNAMICS_PROBES.register(
    NAME,
    DynamicsProbe(
        NAME,
        "integration windows by word swap per layer: the power-law weight c, the half-width, the yoking index, "
        "trained and at initialization ([WINDOWS]; final evaluation; needs hidden_states and a yoking split)",
        _start,
        final_only=True,
        check=hidden_states_problem,
        task_check=lambda family, objective, params: (
            None
            if family == "sentence-grammar"
            else f"needs the sentence-grammar tasks' yoking stimuli, not the {family} family"
        ),
    ),
    origin="built-in",
)


# -- scores at the final evaluation ------------------------------------------------------------------
def _layers(ev: Evaluation, which: str = "trained", kind: str = "likely") -> list[dict[str, Any]]:
    return ((ev.dynamics.get(NAME) or {}).get(which) or {}).get(kind) or []


def _value(ev: Evaluation, key: str, layer: int, which: str = "trained", kind: str = "likely") -> float:
    layers = _layers(ev, which, kind)
    v = layers[layer].get(key) if layers else None
    return math.nan if v is None else float(v)


def _gain(ev: Evaluation, key: str, which: str = "trained") -> float:
    return _value(ev, key, -1, which) - _value(ev, key, 0, which)


# Bands for verify and the CI gate: the untrained controls and the first layer's yoking sit near 0
# (-0.010, 0.112), where a fraction of the value is no band; their seed-to-seed sd is 0.005-0.03
# in docs/windows.md's measurements, so 0.05 absolute is a few seeds' spread. Half-widths are
# lags (whole positions): at least one.
YOKING_OR_C = near_zero(0.05)
HALF_WIDTH = near_zero(1.0)


@metric(
    "windows_yoking_first",
    "higher",
    "yoking index of the first layer (median over units; likely swaps)",
    tolerance=YOKING_OR_C,
)
def windows_yoking_first(ev: Evaluation) -> float:
    return _value(ev, "yoking", 0)


@metric(
    "windows_yoking_last",
    "higher",
    "yoking index of the last layer (median over units; likely swaps)",
    tolerance=YOKING_OR_C,
)
def windows_yoking_last(ev: Evaluation) -> float:
    return _value(ev, "yoking", -1)


@metric("windows_yoking_gain", "higher", "yoking index, last layer minus first layer", tolerance=YOKING_OR_C)
def windows_yoking_gain(ev: Evaluation) -> float:
    return _gain(ev, "yoking")


@metric(
    "windows_yoking_last_untrained",
    "higher",
    "yoking index of the last layer at initialization (control)",
    tolerance=YOKING_OR_C,
)
def windows_yoking_last_untrained(ev: Evaluation) -> float:
    return _value(ev, "yoking", -1, "untrained")


@metric(
    "windows_yoking_over_untrained",
    "higher",
    "last layer's yoking index, trained minus at initialization",
    tolerance=YOKING_OR_C,
)
def windows_yoking_over_untrained(ev: Evaluation) -> float:
    return _value(ev, "yoking", -1) - _value(ev, "yoking", -1, "untrained")


@metric(
    "windows_yoking_last_uniform",
    "higher",
    "last layer's yoking index with uniform same-class swaps (control)",
    tolerance=YOKING_OR_C,
)
def windows_yoking_last_uniform(ev: Evaluation) -> float:
    return _value(ev, "yoking", -1, kind="uniform")


@metric("windows_c_first", "higher", "power-law weight c of the first layer's windows (median over units)",
        bounds=(0.0, 1.0))  # fmt: skip
def windows_c_first(ev: Evaluation) -> float:
    return _value(ev, "c", 0)


@metric("windows_c_last", "higher", "power-law weight c of the last layer's windows (median over units)",
        bounds=(0.0, 1.0))  # fmt: skip
def windows_c_last(ev: Evaluation) -> float:
    return _value(ev, "c", -1)


@metric(
    "windows_c_gain",
    "higher",
    "power-law weight c, last layer minus first (GPT-2 small: 0.108 -> 0.274)",
    tolerance=YOKING_OR_C,
)
def windows_c_gain(ev: Evaluation) -> float:
    return _gain(ev, "c")


@metric(
    "windows_c_gain_untrained",
    "higher",
    "power-law weight c, last minus first layer, at initialization",
    tolerance=YOKING_OR_C,
)
def windows_c_gain_untrained(ev: Evaluation) -> float:
    return _gain(ev, "c", "untrained")


@metric(
    "windows_half_width_first",
    "higher",
    "lag at which the first layer's median window falls to 0.5",
    tolerance=HALF_WIDTH,
)
def windows_half_width_first(ev: Evaluation) -> float:
    return _value(ev, "half_width", 0)


@metric(
    "windows_half_width_last",
    "higher",
    "lag at which the last layer's median window falls to 0.5",
    tolerance=HALF_WIDTH,
)
def windows_half_width_last(ev: Evaluation) -> float:
    return _value(ev, "half_width", -1)


@metric(
    "windows_half_width_last_untrained",
    "higher",
    "the last layer's half-width at initialization (control)",
    tolerance=HALF_WIDTH,
)
def windows_half_width_last_untrained(ev: Evaluation) -> float:
    return _value(ev, "half_width", -1, "untrained")
