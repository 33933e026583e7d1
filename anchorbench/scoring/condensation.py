"""[COND-PD] condensation: the phase diagram's order parameter and regimes, and initial condensation.

One run gives ``rd_w``: the relative change of the input weights (with biases) between the
init and the end of training, ``||theta_w(T) - theta_w(0)|| / ||theta_w(0)||`` (the
``rd_input`` training-dynamics probe at the final evaluation; with ``stop_loss`` that is the
step the loss first fell below it, as in the paper's code). The regime is read across runs, from
the slope ``S_w`` of log RD against log width (``slope:`` in a sweep, anchorbench.render.sweep_slope):
RD -> 0 with m (S_w < 0) in the linear regime, RD -> infinity (S_w > 0) in the condensed one.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from anchorbench.registry import PROBES
from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.mechanism import Probe
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import COUNT, RELATIVE

Regime = Literal["linear", "critical", "condensed"]


@metric(
    "rd_w",
    "lower",
    "relative change of the input weights and biases over training ([COND-PD]'s RD(theta_w)); lower: nearer "
    "the kernel regime, an order parameter rather than a quality (needs the rd_input probe)",
    bounds=(0.0, None),
    tolerance=RELATIVE,
)
def rd_w(ev: Evaluation) -> float:
    return float(ev.dynamics.get("rd_input", math.nan))


def cond_pd_regime(gamma: float, gamma_prime: float, eps: float = 1e-9) -> Regime:
    """The regime the theorem of Luo et al. (JMLR 2021) predicts at (gamma, gamma'): linear if
    gamma < 1 or gamma' > gamma - 1; condensed if gamma > 1 and gamma' < gamma - 1; critical on
    the boundary (gamma = 1 with gamma' <= 0, or gamma' = gamma - 1 with gamma >= 1)."""
    if gamma < 1 - eps or gamma_prime > gamma - 1 + eps:
        return "linear"
    if gamma > 1 + eps and gamma_prime < gamma - 1 - eps:
        return "condensed"
    return "critical"


def predicted_sign(regime: Regime) -> int:
    """The sign of S_w each regime predicts (0: critical, RD of order one)."""
    return {"linear": -1, "critical": 0, "condensed": 1}[regime]


# -- initial condensation (the lab's demo) ----------------------------------------------------------------
@metric(
    "condensed_directions",
    "lower",
    "directions the input weights (with bias) have condensed onto: signed clusters of cos >= 0.95 holding >= 10% "
    "of the neurons (needs the directions probe; lower: more condensed, an order parameter)",
    bounds=(0.0, None),
    tolerance=COUNT,
)
def condensed_directions(ev: Evaluation) -> float:
    return float((ev.dynamics.get("directions") or {}).get("directions", math.nan))


@metric(
    "condensed_share",
    "higher",
    "share of the neurons in those directions (1: every neuron condensed; needs the directions probe)",
    bounds=(0.0, 1.0),
)
def condensed_share(ev: Evaluation) -> float:
    return float((ev.dynamics.get("directions") or {}).get("direction_share", math.nan))


def cosine_map(model: Any, dataset: Any, params: Any) -> dict[str, Any]:
    """The signed cosine between every two neurons' input vectors (bias included), neurons ordered by
    the leading eigenvector of the matrix (the lab's notebook), for the heat map."""
    if not hasattr(model, "input_weights"):
        return {"skipped": f"{type(model).__name__} has no input_weights()"}
    w = model.input_weights().detach().cpu().double().numpy()
    w = w[np.linalg.norm(w, axis=1) > 0]
    return {"cosine": np.round(ordered_cosines(w)[0], 4).tolist(), "neurons": len(w)}


def ordered_cosines(vectors: np.ndarray, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the signed cosine between every two rows of ``vectors``, ordered; the order): by the leading
    eigenvector of the matrix unless ``order`` is given (the [COND-PD] lab's notebook orders its maps
    so). A zero or non-finite row (a diverged run's) has cosine 0 with every other."""
    vectors = np.nan_to_num(vectors, nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    cos = unit @ unit.T
    if order is None:
        order = np.argsort(np.linalg.eigh(cos)[1][:, -1], kind="stable")
    return cos[np.ix_(order, order)], order


def plot_cosine_map(data: dict[str, Any], path: Any) -> None:
    if "cosine" not in data:
        return
    from anchorbench.render.figures import cosine_maps

    cosine_maps([("", np.array(data["cosine"]))], path=path, title=f"cosine of the {data['neurons']} input vectors",
                axis="neuron (ordered)")  # fmt: skip


PROBES.register(
    "cosine-map",
    Probe("cosine-map", cosine_map, plot_cosine_map, "signed cosines between neurons' input weights, ordered"),
    origin="built-in",
)
