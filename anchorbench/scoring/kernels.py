"""[COND-CNN] condensation of convolution kernels: directions, their share, and the theory's direction.

A model exposes its kernels by an explicit interface, ``model.kernels()``: per convolution layer a
``[M, C_in * k * k + 1]`` tensor (each kernel flattened, its bias last), and
``model.kernel_layers()``, the ``nn.Conv2d`` layers (their geometry). The ``kernels`` training
probe records, at every evaluation and for every layer, the ``directions`` rule of the two-layer
probe (greedy signed clusters of cos >= 0.95; those holding >= 10% of the kernels, and at least
two, are condensed directions; anchorbench.scoring.dynamics.directions) and, for the first layer, every kernel (the
heat maps over training are drawn from them) and its |cosine| to the theory's direction.

The theory's direction. Early in training from a small init the network's output is near zero, so
the residual of the squared error is -y and the activation acts through its slope at zero (tanh:
act(z) ~ z). Gradient flow then couples each kernel W_beta (with bias) and its readout weights
a_{p, beta, k} (position p, output k) linearly through the matrix

    Z[:, (p, k)] = (1/n) sum_i y_ik P_p(x_i)      (P_p(x): the patch under the kernel at p, with a 1)

as dW_beta/dt ~ sum_{p,k} a_{p,beta,k} Z[:, (p, k)] and da_{p,beta,k}/dt ~ W_beta . Z[:, (p, k)]: a
linear system whose fastest mode grows as exp(s_1 t) with s_1 the top singular value of Z, and along
it every kernel turns to +-u_1, Z's top left singular vector (the gap s_1 - s_2 sets how fast the
other directions fall behind). So all kernels of the layer condense on one line, two directions
(+u_1 and -u_1), in a time of order log(1/init) / s_1. This is the linearization the paper's
theorem makes rigorous (the reviewers' summary: kernels converge to the principal eigenvector of a
data-dependent matrix, assuming a unique top eigenvalue); the paper's text was not available here,
so the formula is derived, not copied, and it is exact only for act(0) = 0, act'(0) = 1 (tanh).

The initial stage, where the scores ``initial_*`` are read: up to the first evaluation whose
training loss is at most 0.9 of the loss at step 0 (the output has started to fit; after it the
linearization no longer holds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from anchorbench.registry import DYNAMICS_PROBES, PROBES
from anchorbench.scoring.condensation import ordered_cosines
from anchorbench.scoring.dynamics import DynamicsProbe, ProbeFn, directions
from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.mechanism import Probe
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import COUNT, proportion

INITIAL_STAGE = 0.9  # the initial stage ends at the first evaluation with train loss <= this x its step-0 value
CONDENSED_SHARE = 0.9  # a layer counts as condensed with >= 90% of its kernels ...
CONDENSED_DIRECTIONS = 3  # ... on at most 3 directions
MIN_MEMBERS = 2  # a direction holds at least two kernels (with fewer than 10 kernels a tenth is under one)
KERNEL_DIGITS = 5  # significant digits of the stored kernels (init 1e-6 needs relative precision)


def kernel_problem(model: Any) -> str | None:
    """Why the kernel probes cannot read this model (None: they can): it needs ``kernels()`` and
    ``kernel_layers()`` defined on its class, not attributes that happen to exist."""
    for name in ("kernels", "kernel_layers"):
        if not callable(getattr(type(model), name, None)):
            return f"has no {name}() method (the convolution kernels the probe measures)"
    return None


def kernel_arrays(model: Any) -> list[np.ndarray]:
    return [k.detach().cpu().double().numpy() for k in model.kernels()]


def patches(images: np.ndarray, conv: Any) -> np.ndarray:
    """``[N, positions, C k k + 1]``: every patch a kernel of ``conv`` sees in ``images [N, C, S, S]``,
    flattened in the kernel's order, with a trailing 1 (the bias)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images).double()
    cols = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    cols = cols.transpose(1, 2)  # [N, positions, C k k]
    return torch.cat([cols, torch.ones(*cols.shape[:2], 1, dtype=cols.dtype)], dim=-1).numpy()


def theory_direction(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u_1 ``[C k k + 1]``, the singular values of Z) for the first convolution layer of ``model``
    on the training inputs ``x [N, d_in]`` and targets ``y [N, d_out]`` (the module docstring)."""
    conv = model.kernel_layers()[0]
    side = math.isqrt(x.shape[1] // conv.in_channels)  # square images, flattened row by row per channel
    images = x.reshape(len(x), conv.in_channels, side, side).astype(np.float64)
    p = patches(images, conv)  # [N, P, D]
    z = np.einsum("npd,nk->dpk", p, y.astype(np.float64)) / len(x)  # [D, P, K]
    u, s, _ = np.linalg.svd(z.reshape(z.shape[0], -1), full_matrices=False)
    return u[:, 0], s


def abs_cosines(kernels: np.ndarray, direction: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(kernels, axis=1) * np.linalg.norm(direction)
    return np.abs(kernels @ direction) / np.where(norms > 0, norms, np.nan)


def condensed(summary: dict[str, Any]) -> float:
    """1.0 when a layer's summary has >= CONDENSED_SHARE of the kernels on <= CONDENSED_DIRECTIONS directions,
    0.0 when not, NaN when the record holds nulls (a diverged run)."""
    share, count = summary.get("direction_share"), summary.get("directions")
    if share is None or count is None:
        return math.nan
    return float(share >= CONDENSED_SHARE and count <= CONDENSED_DIRECTIONS)


# -- the training probe ---------------------------------------------------------------------------------
def _start_kernels(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    if kernel_problem(model) is not None:
        return None
    direction, singular = None, None
    if dataset is not None and dataset.objective == "regression" and len(model.kernel_layers()) == 1:
        train = dataset.splits["train"]
        direction, singular = theory_direction(model, np.asarray(train.tokens), np.asarray(train.labels))

    def kernels(m: Any) -> dict[str, Any]:
        with np.errstate(all="ignore"):  # a diverging run's huge kernels: their values are recorded as null
            return {"kernels": record_of(kernel_arrays(m))}

    def record_of(layers: list[np.ndarray]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "layers": [directions(k, min_members=MIN_MEMBERS) for k in layers],
            "first": [[float(f"{v:.{KERNEL_DIGITS}g}") for v in row] for row in layers[0]],
        }
        if direction is not None:
            record["theory_cosine"] = float(np.nanmean(abs_cosines(layers[0], direction)))
            record["theory_singular"] = [float(v) for v in singular[:2]]  # s_1, s_2 of Z: the rate and the gap
        return record

    return kernels


DYNAMICS_PROBES.register(
    "kernels",
    DynamicsProbe(
        "kernels",
        "per convolution layer: condensed directions of the kernels (signed cos >= 0.95, >= 10% of them) and their "
        "share; the first layer's kernels and their |cos| to the theory's direction (CNN)",
        _start_kernels,
        check=kernel_problem,
    ),
    origin="built-in",
)


# -- the scores ------------------------------------------------------------------------------------------
def _records(ev: Evaluation) -> list[tuple[int, float, dict[str, Any]]]:
    """(step, train loss, kernels record) of every evaluation so far, this one last."""
    rows = [
        (int(r["step"]), (r.get("splits") or {}).get("train", {}).get("loss"), (r.get("probes") or {}).get("kernels"))
        for r in ev.history
        if r["step"] < ev.step
    ]
    train = ev.splits.get("train")
    rows.append((ev.step, train.loss() if train is not None else None, ev.dynamics.get("kernels")))
    return [(s, float(loss), k) for s, loss, k in rows if loss is not None and k is not None]


def initial_stage_index(losses: list[float]) -> int | None:
    """Index of the first evaluation after the first whose training loss is at most INITIAL_STAGE x the
    first's (the evaluations start at step 0); None when there is none."""
    for i, loss in enumerate(losses[1:], start=1):
        if loss <= INITIAL_STAGE * losses[0]:
            return i
    return None


def initial_record(ev: Evaluation) -> tuple[int, dict[str, Any]] | None:
    """(step, kernels record) at the end of the initial stage (None: not reached yet)."""
    rows = _records(ev)
    if not rows or rows[0][0] != 0:
        return None
    i = initial_stage_index([loss for _, loss, _ in rows])
    return (rows[i][0], rows[i][2]) if i is not None else None


def _number(value: Any) -> float:
    """A recorded value as a float; a diverged run's records hold nulls where a value was not finite."""
    return math.nan if value is None else float(value)


def _twins(name: str, read: Callable[[dict[str, Any]], float], direction: str, what: str, **kwargs: Any) -> None:
    """Register ``name``, read from the kernels record of the final evaluation, and ``initial_<name>``, read
    from the record at the end of the initial stage (the same quantity, two moments)."""

    def at_end(ev: Evaluation) -> float:
        record = ev.dynamics.get("kernels")
        return read(record) if record else math.nan

    def at_initial(ev: Evaluation) -> float:
        found = initial_record(ev)
        return read(found[1]) if found else math.nan

    metric(name, direction, f"{what}, at the end (needs the kernels probe)", **kwargs)(at_end)  # type: ignore[arg-type]
    metric(f"initial_{name}", direction, f"{what}, at the end of the initial stage (needs the kernels probe)",
           **kwargs)(at_initial)  # type: ignore[arg-type]  # fmt: skip


_twins(
    "kernel_directions", lambda r: _number(r["layers"][0].get("directions")), "lower",
    "condensed directions of the first convolution layer's kernels: signed clusters of cos >= 0.95 holding >= 10% "
    "of the kernels (lower: more condensed, an order parameter)",
    bounds=(0.0, None), tolerance=COUNT,
)  # fmt: skip
_twins(
    "kernel_share", lambda r: _number(r["layers"][0].get("direction_share")), "higher",
    "share of the first layer's kernels on condensed directions", bounds=(0.0, 1.0),
)  # fmt: skip
_twins(
    "theory_cosine", lambda r: _number(r.get("theory_cosine")), "higher",
    "mean |cos| between the first layer's kernels and the theory's direction u_1 (two-layer CNN)", bounds=(0.0, 1.0),
)  # fmt: skip


@metric(
    "theory_s1",
    "higher",
    "top singular value s_1 of the label-weighted patch matrix Z: the linearized growth rate of the kernels "
    "along u_1 (two-layer CNN; a property of the data and the kernel geometry)",
    bounds=(0.0, None),
    of_data=True,
)
def theory_s1(ev: Evaluation) -> float:
    singular = (ev.dynamics.get("kernels") or {}).get("theory_singular")
    return _number(singular[0]) if singular else math.nan


@metric(
    "theory_gap",
    "higher",
    "s_1 / s_2 of Z: how much faster the theory's direction grows than the next (two-layer CNN; of the data)",
    bounds=(1.0, None),
    of_data=True,
)
def theory_gap(ev: Evaluation) -> float:
    singular = (ev.dynamics.get("kernels") or {}).get("theory_singular")
    return _number(singular[0]) / _number(singular[1]) if singular and _number(singular[1]) > 0 else math.nan


@metric(
    "initial_stage_end",
    "lower",
    f"first evaluated step with train loss <= {INITIAL_STAGE} x its step-0 value: the end of the initial stage, "
    "where the initial_* scores are read (null: not within the run)",
    bounds=(0.0, None),
)
def initial_stage_end(ev: Evaluation) -> float:
    found = initial_record(ev)
    return float(found[0]) if found else math.nan


@metric(
    "initial_condensed",
    "higher",
    f"1 when at the end of the initial stage >= {CONDENSED_SHARE:g} of the first layer's kernels lie on at most "
    f"{CONDENSED_DIRECTIONS} directions, else 0 (the mean over seeds: the share of seeds condensed)",
    bounds=(0.0, 1.0),
)
def initial_condensed(ev: Evaluation) -> float:
    found = initial_record(ev)
    return condensed(found[1]["layers"][0]) if found else math.nan


@metric(
    "initial_layers_condensed",
    "higher",
    f"convolution layers whose kernels are condensed (>= {CONDENSED_SHARE:g} on <= {CONDENSED_DIRECTIONS} "
    "directions) at the end of the initial stage (multi-layer CNNs: how deep condensation reaches)",
    bounds=(0.0, None),
    tolerance=COUNT,
)
def initial_layers_condensed(ev: Evaluation) -> float:
    found = initial_record(ev)
    return float(sum(condensed(layer) for layer in found[1]["layers"])) if found else math.nan


@metric(
    "test_class_accuracy",
    "higher",
    "share of test examples whose largest output is at their one-hot target's class (regression on classes)",
    bounds=(0.0, 1.0),
    tolerance=proportion("test"),
)
def test_class_accuracy(ev: Evaluation) -> float:
    s = ev["test"]
    return float((s.preds.argmax(axis=1) == s.split.labels.argmax(axis=1)).mean())


# -- the end-of-run map, every layer ---------------------------------------------------------------------
def kernel_cosine_map(model: Any, dataset: Any, params: Any) -> dict[str, Any]:
    """Per convolution layer, the signed cosine between every two kernels (bias included), ordered by the
    leading eigenvector, for the heat map."""
    if (why := kernel_problem(model)) is not None:
        return {"skipped": f"{type(model).__name__} {why}"}
    maps = [np.round(ordered_cosines(k)[0], 4).tolist() for k in kernel_arrays(model)]
    return {"layers": maps, "kernels": len(maps[0])}


def plot_kernel_cosine_map(data: dict[str, Any], path: Any) -> None:
    if "layers" not in data:
        return
    from anchorbench.render.figures import cosine_maps

    panels = [(f"layer {i + 1}", np.array(m)) for i, m in enumerate(data["layers"])]
    cosine_maps(panels, path=path, title=f"cosine between the {data['kernels']} kernels of each layer, at the end")


PROBES.register(
    "kernel-cosine-map",
    Probe("kernel-cosine-map", kernel_cosine_map, plot_kernel_cosine_map,
          "signed cosines between the kernels of each convolution layer, ordered"),
    origin="built-in",
)  # fmt: skip
