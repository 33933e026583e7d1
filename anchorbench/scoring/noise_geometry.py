"""[PLAW-SGD] the geometry of SGD's noise near a minimum, and the tails of SGD's iterates there.

At the current weights w* (the trained model, at a minimum by the end of the run), with the loss
``l_i(w)`` of each training example (the squared error, as trained):

* directions: the top eigenvector of the training loss's Hessian, and ``RANDOM_DIRECTIONS`` random
  unit directions (fixed by the run's seed);
* along each unit direction v, for delta on a log grid: the variance over examples of
  ``v . grad l_i(w* + delta v)`` (the noise of SGD along v, up to the batch size), fitted by
  ``c0 + c1 delta + c2 delta^2`` on relative residuals; the fit's R^2 against a constant, and the
  quadratic-noise prediction beside it: ``c2 ~ Var_i(v^T H_i v)``, the per-sample curvature's
  variance (docs/papers.md [PLAW-SGD]; Meng et al. 2006.13719);
* the tails: SGD (batch ``SGD_BATCH``, step 1 / lambda_max, ``SGD_STEPS`` steps from w*) and, as
  the control, gradient descent with Gaussian noise of SGD's covariance at w* (constant, not
  state-dependent); their iterates projected on the top direction: excess kurtosis (0 for a
  Gaussian) and the Hill estimate of the tail index over the top ``HILL_SHARE`` (smaller: heavier).

Everything is computed in float64 on a copy of the model (the variances at the smallest deltas
are differences of tiny gradients). ``noise_geometry`` is a final-only training-dynamics probe (the
task declares it; it runs at the final evaluation only), and the scores below read its value there.
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
from anchorbench.scoring.tolerance import RELATIVE

DELTAS = tuple(float(d) for d in np.logspace(-3, -0.5, 11))
RANDOM_DIRECTIONS = 2
SGD_BATCH = 8
SGD_STEPS = 3000
SGD_BURN_IN = 500
HILL_SHARE = 0.05
HISTOGRAM_BINS = 41


def quadratic_fit(deltas: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """``c0 + c1 d + c2 d^2`` fitted to positive ``values`` by least squares on relative residuals
    ``(v - f) / v`` (the deltas span decades: every point counts, not only the largest), and its R^2
    against the best constant in the same sense, 1 - SS_res / SS_const."""
    design = np.stack([np.ones_like(deltas), deltas, deltas**2], axis=1) / values[:, None]
    coef, *_ = np.linalg.lstsq(design, np.ones_like(values), rcond=None)
    ss_res = float(((1 - design @ coef) ** 2).sum())
    constant = (1 / values).sum() / (1 / values**2).sum()
    ss_const = float(((1 - constant / values) ** 2).sum())
    return {"c0": float(coef[0]), "c1": float(coef[1]), "c2": float(coef[2]),
            "r2": 1 - ss_res / ss_const if ss_const > 0 else math.nan}  # fmt: skip


def excess_kurtosis(x: np.ndarray) -> float:
    c = x - x.mean()
    m2 = float((c**2).mean())
    return float((c**4).mean()) / m2**2 - 3 if m2 > 0 else math.nan


def hill_tail_index(x: np.ndarray, share: float = HILL_SHARE) -> float:
    """The Hill estimate of the tail index of |x - median| from its top ``share`` (smaller: heavier tail)."""
    a = np.sort(np.abs(x - np.median(x)))[::-1]
    k = max(2, int(share * len(a)))
    if len(a) <= k or a[k] <= 0:
        return math.nan
    return float(1 / np.mean(np.log(a[:k] / a[k])))


def geometry(model: Any, x_np: np.ndarray, y_np: np.ndarray, seed: int) -> dict[str, Any]:
    import torch
    from torch.func import functional_call, grad, hessian, jvp, vmap

    net = copy.deepcopy(model).double().cpu().eval()
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    shapes = [p.shape for n, p in net.named_parameters() if p.requires_grad]
    sizes = [math.prod(s) for s in shapes]
    w_star = torch.cat([p.detach().flatten() for n, p in net.named_parameters() if p.requires_grad])  # [P]
    x = torch.from_numpy(x_np.astype(np.float64))  # [n, d_in]
    y = torch.from_numpy(y_np.astype(np.float64))  # [n, d_out]

    def unflat(w: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: t.view(s) for n, t, s in zip(names, torch.split(w, sizes), shapes)}

    def per_sample(w: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return (functional_call(net, unflat(w), (xb,)) - yb).pow(2).mean(-1)  # [n]: l_i(w)

    def loss(w: torch.Tensor) -> torch.Tensor:
        return per_sample(w, x, y).mean()

    eigvals, eigvecs = torch.linalg.eigh(hessian(loss)(w_star))  # ascending
    lam = float(eigvals[-1])
    gen = torch.Generator().manual_seed(int(seed))
    directions = {"top": eigvecs[:, -1]}
    for k in range(RANDOM_DIRECTIONS):
        v = torch.randn(len(w_star), generator=gen, dtype=torch.float64)
        directions[f"random-{k + 1}"] = v / v.norm()
    out: dict[str, Any] = {"lambda_max": lam, "deltas": list(DELTAS), "directions": {}}
    for name, v in directions.items():

        def along(w: torch.Tensor, v: torch.Tensor = v) -> torch.Tensor:
            return jvp(lambda u: per_sample(u, x, y), (w,), (v,))[1]  # [n]: v . grad l_i(w)

        variances = np.array([float(along(w_star + d * v).var(unbiased=False)) for d in DELTAS])
        g = along(w_star)
        h = jvp(along, (w_star,), (v,))[1]  # [n]: v^T H_i v, the per-sample curvature along v
        fit = quadratic_fit(np.array(DELTAS), variances)
        out["directions"][name] = {
            "variance": variances.tolist(), **fit,
            "predicted_c0": float(g.var(unbiased=False)),
            "predicted_c1": float(2 * ((g - g.mean()) * (h - h.mean())).mean()),
            "predicted_c2": float(h.var(unbiased=False)),
        }  # fmt: skip
    out.update(_tails(per_sample, loss, w_star, directions["top"], x, y, lam, gen, grad, vmap))
    return out


def _tails(per_sample: Any, loss: Any, w_star: Any, v: Any, x: Any, y: Any, lam: float, gen: Any,
           grad: Any, vmap: Any) -> dict[str, Any]:  # fmt: skip
    """SGD's iterates from w* against gradient descent with SGD's covariance at w* as Gaussian noise."""
    import torch

    n = len(x)
    if not lam > 0:
        return {"tails": {"skipped": "no positive curvature"}}
    lr = 1 / lam
    batch = min(SGD_BATCH, n)
    per_grad = vmap(grad(lambda w, xi, yi: per_sample(w, xi[None], yi[None])[0]), in_dims=(None, 0, 0))
    centred = per_grad(w_star, x, y)  # [n, P]: the per-sample gradients at w*
    centred = centred - centred.mean(0)
    full = grad(loss)
    tails: dict[str, Any] = {"lr": lr, "batch": batch, "steps": SGD_STEPS, "burn_in": SGD_BURN_IN}
    for kind in ("sgd", "gaussian"):
        w = w_star.clone()
        proj = []
        for t in range(SGD_STEPS):
            if kind == "sgd":
                idx = torch.randint(n, (batch,), generator=gen)
                step = grad(lambda u, idx=idx: per_sample(u, x[idx], y[idx]).mean())(w)
            else:  # constant noise with SGD's covariance at w*: Cov = centred^T centred / (n batch)
                z = torch.randn(n, generator=gen, dtype=torch.float64)
                step = full(w) + centred.T @ z / math.sqrt(n * batch)
            w = w - lr * step
            if t >= SGD_BURN_IN:
                proj.append(float((w - w_star) @ v))
        p = np.array(proj)
        sd = float(p.std())
        edges = np.linspace(-6, 6, HISTOGRAM_BINS + 1)
        counts = np.histogram((p - p.mean()) / sd, bins=edges)[0] if sd > 0 else np.zeros(HISTOGRAM_BINS)
        tails[kind] = {"sd": sd, "kurtosis": excess_kurtosis(p), "tail_index": hill_tail_index(p),
                       "histogram": [int(c) for c in counts]}  # fmt: skip
    return {"tails": tails}


MAX_HESSIAN_PARAMS = 4096  # the full P x P Hessian in float64: 128 MiB and an eigh of seconds at this size


def hessian_size_problem(model: Any) -> str | None:
    """Why the probe refuses a model: its full Hessian would be too large to build (a plug-in's)."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n > MAX_HESSIAN_PARAMS:
        return (f"builds the full P x P Hessian of the loss; this model has P = {n:,} trainable parameters, "
                f"over the {MAX_HESSIAN_PARAMS:,} it allows ({n * n * 8 / 2**30:.1f} GiB in float64)")  # fmt: skip
    return None


def _start_noise_geometry(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    if dataset is None or dataset.objective != "regression":
        return None
    train = dataset.splits["train"]
    return lambda m: {"noise_geometry": geometry(m, train.tokens, train.labels, dataset.seed)}


DYNAMICS_PROBES.register(
    "noise_geometry",
    DynamicsProbe(
        "noise_geometry",
        "SGD's noise variance along the top Hessian direction and random ones against the distance from the "
        "current weights (quadratic fit), and the tails of SGD's iterates there ([PLAW-SGD]; regression; final "
        "evaluation)",
        _start_noise_geometry,
        final_only=True,  # the scores and the plot read the minimum the run ends at
        check=hessian_size_problem,
        # its model of SGD's noise is the teacher-student regression's; on other data (the superposition
        # family's 10^4+ points) the Hessian's per-example pass alone would need hundreds of GiB
        task_check=lambda family, objective, params: (
            None
            if family == "teacher-student"
            else f"applies to the teacher-student regression ([PLAW-SGD]), not the {family} family"
        ),
    ),
    origin="built-in",
)


# -- scores at the final evaluation ----------------------------------------------------------------------
def _geometry(ev: Evaluation) -> dict[str, Any]:
    return ev.dynamics.get("noise_geometry") or {}


def _number(x: Any) -> float:
    return math.nan if x is None else float(x)


@metric(
    "noise_r2",
    "higher",
    "R^2 of c0 + c1 d + c2 d^2 against a constant for the variance of v . grad l_i(w* + d v) along the top "
    "Hessian direction (needs the noise_geometry probe)",
    bounds=(None, 1.0),
)
def noise_r2(ev: Evaluation) -> float:
    return _number((_geometry(ev).get("directions") or {}).get("top", {}).get("r2"))


@metric("noise_r2_random", "higher", "the same R^2, mean over the random directions", bounds=(None, 1.0))
def noise_r2_random(ev: Evaluation) -> float:
    dirs = [d for k, d in (_geometry(ev).get("directions") or {}).items() if k != "top"]
    values = [d["r2"] for d in dirs if d.get("r2") is not None]
    return float(np.mean(values)) if values else math.nan


@metric(
    "noise_c2_ratio",
    "higher",
    "fitted c2 over the per-sample curvature's variance Var_i(v^T H_i v) along the top direction (the quadratic-"
    "noise prediction: 1)",
    tolerance=RELATIVE,
)
def noise_c2_ratio(ev: Evaluation) -> float:
    top = (_geometry(ev).get("directions") or {}).get("top", {})
    c2, predicted = top.get("c2"), top.get("predicted_c2")
    return float(c2) / float(predicted) if c2 is not None and predicted else math.nan


def _tail(ev: Evaluation, kind: str, key: str) -> float:
    return _number(((_geometry(ev).get("tails") or {}).get(kind) or {}).get(key))


@metric("iterate_kurtosis", "higher", "excess kurtosis of SGD's iterates along the top direction (Gaussian: 0)")
def iterate_kurtosis(ev: Evaluation) -> float:
    return _tail(ev, "sgd", "kurtosis")


@metric("iterate_kurtosis_gaussian", "higher", "the same for the constant Gaussian noise control")
def iterate_kurtosis_gaussian(ev: Evaluation) -> float:
    return _tail(ev, "gaussian", "kurtosis")


@metric("tail_index", "lower", "Hill tail index of SGD's iterates along the top direction (smaller: heavier)")
def tail_index(ev: Evaluation) -> float:
    return _tail(ev, "sgd", "tail_index")


@metric("tail_index_gaussian", "lower", "the same for the constant Gaussian noise control")
def tail_index_gaussian(ev: Evaluation) -> float:
    return _tail(ev, "gaussian", "tail_index")
