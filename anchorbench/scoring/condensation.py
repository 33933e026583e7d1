"""[COND-PD] the condensation phase diagram: the order parameter of one run, the regimes of the theorem.

One run gives ``rd_w``: the relative change of the input weights (with biases) between the
init and the end of training, ``||theta_w(T) - theta_w(0)|| / ||theta_w(0)||`` (the
``rd_input`` training-dynamics probe at the final evaluation; with ``stop_loss`` that is the
step the loss first fell below it, as in the paper's code). The regime is read across runs, from
the slope ``S_w`` of log RD against log width (``slope:`` in a sweep, anchorbench.render.sweep_slope):
RD -> 0 with m (S_w < 0) in the linear regime, RD -> infinity (S_w > 0) in the condensed one.
"""

from __future__ import annotations

import math
from typing import Literal

from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import RELATIVE

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
