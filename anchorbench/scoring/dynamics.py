"""Training-dynamics probes ([COND], [PLAW], [GROK]).

Computed at every evaluation (``--probes``) and stored in ``history.jsonl``:

* ``weight_norm``: the L2 norm of all parameters;
* ``rd``: relative weight change from initialization, ``||W(t) - W(0)|| / ||W(0)||``;
* ``rd_input``: the same over the input weights and biases only (a model's ``input_weights()``,
  the two-layer network's; [COND-PD] reads its regime from how this scales with the width);
* ``condensation``: the input weight vectors of one layer's neurons (W_Q of the first
  block for the transformer, the first hidden layer otherwise), grouped greedily into
  clusters of ``|cos| >= 0.95``; reports the number of clusters, the number of neurons and
  the top eigenvalue of the ``|cos|`` matrix over the number of neurons (1 = all aligned);
* ``fourier`` (modular tasks): the share of the number embeddings' power in their top-5
  frequencies along the number axis ([GROK]: grokked embeddings are sparse in frequency);
* ``directions`` (two-layer): signed clusters of the input weights with their biases, and how
  many hold at least 10% of the neurons ([COND-PD]'s initial condensation);
* ``spectrum`` (1-D regression): the amplitude of each frequency 0..2k of the network's output on
  the training and on the test points (non-uniform DFT), and the output at 101 test points
  ([FREQ]: the spurious low frequencies a network fits first).

At the end of every run, from the history: ``power_law``, the exponent of the training
loss, ``L(t) = c t^-alpha + L_inf`` (0 <= L_inf <= min L) fitted on log-binned points in a
window that starts after warmup and after the loss has begun to fall, ends before it
flattens onto its floor, and must span >= 1.5 decades; a plain log-log fit beside it; a
flag when the two disagree by more than 0.1 or the best fit explains the log loss poorly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from anchorbench.registry import DYNAMICS_PROBES

COS_THRESHOLD = 0.95
DIRECTION_SHARE = 0.1  # a cluster of at least this share of the neurons is a condensed direction
SHOWN_OUTPUTS = 101  # test points whose outputs the spectrum probe keeps (the output over x, plotted)
TOP_FREQUENCIES = 5


# -- weights ---------------------------------------------------------------------------------
def weight_norm(model: Any) -> float:
    return float(math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.parameters())))


def relative_change(model: Any, initial: dict[str, Any]) -> float:
    num = den = 0.0
    for name, p in model.named_parameters():
        w0 = initial[name].to(p.device)
        num += float(((p.detach() - w0).double() ** 2).sum())
        den += float((w0.double() ** 2).sum())
    return math.sqrt(num / den) if den > 0 else float("nan")


def neuron_weights(model: Any) -> np.ndarray | None:
    """The input weight vectors of the probed layer's neurons, one row each."""
    import torch.nn as nn

    from anchorbench.models.transformer import CausalSelfAttention

    blocks = getattr(model, "blocks", None)
    attn = getattr(blocks[0], "attn", None) if blocks else None  # the zoo's blocks hold a mixer instead
    if isinstance(attn, CausalSelfAttention):  # the transformer's first attention: its query neurons
        w_q = attn.head_weights()[0]  # [H, D, C]
        return w_q.reshape(-1, w_q.shape[-1]).detach().cpu().double().numpy()
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.out_features >= 4:
            return module.weight.detach().cpu().double().numpy()
    return None


def condensation(weights: np.ndarray, threshold: float = COS_THRESHOLD) -> dict[str, float]:
    norms = np.linalg.norm(weights, axis=1, keepdims=True)
    unit = weights / np.where(norms > 0, norms, 1.0)
    cos = np.abs(unit @ unit.T)
    unassigned = np.ones(len(unit), dtype=bool)
    clusters = 0
    while unassigned.any():  # greedy: the first unassigned neuron founds a cluster of its aligned peers
        i = int(np.flatnonzero(unassigned)[0])
        unassigned &= cos[i] < threshold
        clusters += 1
    top = float(np.linalg.eigvalsh(cos)[-1])
    return {"clusters": float(clusters), "neurons": float(len(unit)), "top_eig_ratio": top / len(unit)}


def directions(
    weights: np.ndarray, threshold: float = COS_THRESHOLD, share: float = DIRECTION_SHARE, min_members: int = 1
) -> dict[str, float]:
    """The directions the neurons' input vectors (rows, bias included) have condensed onto: greedy
    clusters of signed cosine >= ``threshold`` (the largest remaining vector founds the next), and
    those holding at least ``share`` of the neurons, and at least ``min_members`` of them, counted as
    directions ([COND-PD] initial condensation: tanh gives 2, w and -w; x tanh up to 4). Signed,
    unlike ``condensation``: w and -w are two directions of the input weights. (Under 10 rows a
    tenth is less than one: ``min_members`` 2 keeps a lone vector from counting as a direction.)"""
    norms = np.linalg.norm(weights, axis=1)
    order = np.argsort(-norms, kind="stable")
    order = order[norms[order] > 0]
    unit = weights[order] / norms[order, None]
    cos = unit @ unit.T
    unassigned = np.ones(len(unit), dtype=bool)
    sizes = []
    while unassigned.any():
        i = int(np.flatnonzero(unassigned)[0])
        members = unassigned & (cos[i] >= threshold)
        sizes.append(int(members.sum()))
        unassigned &= ~members
    n = max(1, len(weights))
    big = [k for k in sizes if k >= share * n and k >= min_members]
    return {"directions": float(len(big)), "direction_share": sum(big) / n, "clusters": float(len(sizes))}


def token_embedding(model: Any) -> Any:
    """The model's token embedding table by its explicit interface, ``model.token_embedding()``
    returning an ``nn.Embedding``; None when the model declares none. (Attribute names such as
    ``embed`` are not an interface: on one model ``embed`` is the table, on another a method.)"""
    import torch.nn as nn

    method = getattr(type(model), "token_embedding", None)
    if not callable(method):
        return None
    table = model.token_embedding()
    return table if isinstance(table, nn.Embedding) else None


def token_embedding_problem(model: Any) -> str | None:
    if token_embedding(model) is None:
        return "has no token_embedding() method returning its nn.Embedding"
    return None


def fourier_concentration(model: Any, p: int, top: int = TOP_FREQUENCIES) -> float | None:
    """Share of the number embeddings' power (tokens 1..p) in their ``top`` strongest frequencies."""
    emb = token_embedding(model)
    if emb is None:
        return None
    e = emb.weight.detach().cpu().double().numpy()[1 : p + 1]  # [p, d]
    e = e - e.mean(axis=0)  # the constant (k = 0) component carries no frequency information
    power = (np.abs(np.fft.rfft(e, axis=0)) ** 2).sum(axis=1)[1:]  # k = 1..p//2
    total = power.sum()
    return float(np.sort(power)[::-1][:top].sum() / total) if total > 0 else None


# -- the registry of per-evaluation probes (`--probes`) -------------------------------------
ProbeFn = Callable[[Any], dict[str, Any]]  # model -> {history key: value}


@dataclass(frozen=True)
class DynamicsProbe:
    """A training-dynamics probe, computed at every evaluation (or the final one) and stored in ``history.jsonl``.

    ``start(model, family, params, dataset)`` is called once on the initial model and returns the
    per-evaluation function, or None where the probe does not apply (no neuron layer to
    cluster; not a modular task)."""

    name: str
    description: str
    start: Callable[[Any, str, Any, Any], ProbeFn | None]  # (model, family, params, dataset)
    # Only the final evaluation's value is used (a costly measurement of the trained model): skip the others.
    final_only: bool = False
    # Why a model cannot be probed (None: it can); a task that declares the probe refuses such a model.
    check: Callable[[Any], str | None] | None = None
    # Why the probe does not apply to a task (its family, objective and params; None: it does)
    task_check: Callable[[str, str, Any], str | None] | None = None

    def problem(self, model: Any, family: str, objective: str, params: Any = None) -> str | None:
        """Why this probe cannot run on this model and task; None when it can. A probe named
        explicitly is refused with this at planning; ``--probes all`` runs those that apply."""
        if self.task_check is not None and (why := self.task_check(family, objective, params)) is not None:
            return why
        return self.check(model) if self.check is not None else None


def _start_weight_norm(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn:
    return lambda m: {"weight_norm": weight_norm(m)}


def _start_rd(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn:
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}  # W(0)
    return lambda m: {"rd": relative_change(m, initial)}


def _start_rd_input(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    if not hasattr(model, "input_weights"):
        return None
    w0 = model.input_weights().detach().double().clone()
    den = float(w0.norm())

    def rd_input(m: Any) -> dict[str, float]:
        return {"rd_input": float((m.input_weights().detach().double() - w0).norm()) / den if den > 0 else math.nan}

    return rd_input


def _start_condensation(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    if neuron_weights(model) is None:
        return None
    return lambda m: {"condensation": condensation(neuron_weights(m))}  # type: ignore[arg-type]


def _start_fourier(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    if family != "modular" or token_embedding(model) is None:
        return None
    return lambda m: {"fourier_top5": fourier_concentration(m, params.p)}


def _start_directions(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    if not hasattr(model, "input_weights"):
        return None
    return lambda m: {"directions": directions(m.input_weights().detach().cpu().double().numpy())}


def _start_spectrum(model: Any, family: str, params: Any, dataset: Any = None) -> ProbeFn | None:
    if dataset is None or dataset.objective != "regression" or dataset.splits["train"].tokens.shape[1] != 1:
        return None
    import torch

    top = 2 * int(getattr(params, "target_frequency", 5))  # frequencies 0..top
    points = {name: dataset.splits[name].tokens[:, 0].astype(np.float64) for name in ("train", "test")}
    shown = np.unique(np.linspace(0, len(points["test"]) - 1, SHOWN_OUTPUTS).round().astype(int))
    first = [True]  # the shown points and their targets go into the first record only (history size)

    def spectrum(m: Any) -> dict[str, Any]:
        device = next(m.parameters()).device
        out: dict[str, Any] = {}
        with torch.inference_mode():
            for name, x in points.items():
                f = m(torch.from_numpy(x.astype(np.float32))[:, None].to(device)).float().cpu().double().numpy()[:, 0]
                out[name] = [float(a) for a in amplitudes(f, x, top)]
                if name == "test":
                    out["outputs"] = [float(v) for v in f[shown]]
        if first[0]:
            test = dataset.splits["test"]
            out["outputs_x"] = [float(v) for v in test.tokens[shown, 0]]
            out["outputs_target"] = [float(v) for v in test.labels[shown, 0]]
            out["train_target"] = [float(a) for a in amplitudes(dataset.splits["train"].labels[:, 0].astype(np.float64),
                                                                points["train"], top)]  # fmt: skip
            first[0] = False
        return {"spectrum": out}

    return spectrum


def amplitudes(f: np.ndarray, x: np.ndarray, top: int) -> np.ndarray:
    """``[top + 1]``: the amplitude of frequency k = 0..top in ``f`` sampled at ``x`` by the non-uniform
    DFT ([FREQ]: F[f](k) = (1/n) sum_i f(x_i) exp(-i k x_i)), doubled for k >= 1 so that A sin(kx) on
    an even grid of [-pi, pi] reads A."""
    k = np.arange(top + 1)[:, None]  # [K, 1]
    coef = np.abs((f[None, :] * np.exp(-1j * k * x[None, :])).mean(axis=1))  # [K]
    coef[1:] *= 2
    return coef


def _needs(attr: str, what: str) -> Callable[[Any], str | None]:
    return lambda m: None if callable(getattr(type(m), attr, None)) else f"has no {attr}() ({what})"


def _modular(family: str, objective: str, params: Any) -> str | None:
    return None if family == "modular" else f"applies to the modular tasks, not the {family} family"


def _one_d_regression(family: str, objective: str, params: Any) -> str | None:
    if objective == "regression" and getattr(params, "d_in", None) == 1:
        return None
    return "applies to regression tasks with one input dimension"


def _has_neurons(model: Any) -> str | None:
    return None if neuron_weights(model) is not None else "has no layer of at least 4 neurons to cluster"


for _probe in (
    DynamicsProbe("weight_norm", "the L2 norm of all parameters", _start_weight_norm),
    DynamicsProbe("rd", "||W(t) - W(0)|| / ||W(0)|| over all parameters", _start_rd),
    DynamicsProbe(
        "rd_input", "rd over the input weights and biases only ([COND-PD]'s theta_w; two-layer)", _start_rd_input,
        check=_needs("input_weights", "the two-layer regression network's input layer"),
    ),
    DynamicsProbe("condensation", "clusters of aligned neuron input weights (|cos| >= 0.95)", _start_condensation,
                  check=_has_neurons),
    DynamicsProbe("fourier", "share of the number embeddings' power in 5 frequencies (modular)", _start_fourier,
                  check=token_embedding_problem, task_check=_modular),
    DynamicsProbe(
        "directions",
        "signed clusters (cos >= 0.95) of the input weights with bias: condensed directions (two-layer)",
        _start_directions,
        check=_needs("input_weights", "the two-layer regression network's input layer"),
    ),
    DynamicsProbe(
        "spectrum",
        "amplitudes of the output's frequencies on the train and test points (1-D regression, [FREQ])",
        _start_spectrum,
        task_check=_one_d_regression,
    ),
):  # fmt: skip
    DYNAMICS_PROBES.register(_probe.name, _probe, origin="built-in")


def applicable(names: Sequence[str], model: Any, family: str, objective: str, params: Any) -> tuple[str, ...]:
    """The probes of ``--probes all`` that can run on this model and task."""
    return tuple(n for n in names if DYNAMICS_PROBES.get(n).problem(model, family, objective, params) is None)


def start_probes(
    names: Sequence[str], model: Any, family: str, params: Any, dataset: Any = None
) -> Callable[..., dict[str, Any]] | None:
    """The probes ``names`` as one per-evaluation function ``(model, final=True)`` (None: none asked);
    final-only probes are skipped where ``final`` is False."""
    if not names:
        return None
    probes = [DYNAMICS_PROBES.get(n) for n in names]
    fns = [(p.final_only, fn) for p in probes if (fn := p.start(model, family, params, dataset)) is not None]
    return lambda m, final=True: {k: v for last, fn in fns if final or not last for k, v in fn(m).items()}


# -- power law ---------------------------------------------------------------------------------
def log_bin(t: np.ndarray, y: np.ndarray, per_decade: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Geometric-mean points in bins equally spaced in log10(t)."""
    keep = (t > 0) & np.isfinite(y) & (y > 0)
    t, y = t[keep], y[keep]
    if len(t) == 0:
        return t, y
    edges = np.arange(math.floor(math.log10(t.min()) * per_decade), math.ceil(math.log10(t.max()) * per_decade) + 1)
    which = np.digitize(np.log10(t) * per_decade, edges)
    bt, by = [], []
    for b in np.unique(which):
        sel = which == b
        bt.append(math.exp(np.log(t[sel]).mean()))
        by.append(math.exp(np.log(y[sel]).mean()))
    return np.array(bt), np.array(by)


def _loglog(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope fit of log y = a - alpha log t: (alpha, log c, R^2)."""
    x, z = np.log(t), np.log(y)
    slope, intercept = np.polyfit(x, z, 1)
    resid = z - (intercept + slope * x)
    ss = ((z - z.mean()) ** 2).sum()
    return float(-slope), float(intercept), float(1 - (resid**2).sum() / ss) if ss > 0 else 1.0


def power_law(
    steps: np.ndarray, loss: np.ndarray, start_after: int = 0, min_decades: float = 1.5, floor_margin: float = 0.02
) -> dict[str, Any]:
    t, y = log_bin(np.asarray(steps, float), np.asarray(loss, float))
    if len(t) < 5:
        return {"alpha": None, "reason": "too few evaluated points"}
    # Window: after warmup, once the loss has fallen 10% of its total drop (past any plateau),
    # until it is within floor_margin of that drop from the floor.
    after = int(np.argmax(t > start_after)) if (t > start_after).any() else len(t)
    peak = after + int(np.argmax(y[after:])) if after < len(t) else len(t) - 1
    floor = y.min()
    total = y[peak] - floor
    falling = np.flatnonzero((np.arange(len(t)) >= peak) & (y <= y[peak] - 0.1 * total))
    start = int(falling[0]) if len(falling) else peak
    # The window ends where the curve flattens onto its floor: the local log-log slope (over
    # +-2 bins) has fallen below a quarter of its value at the start, or the loss is within
    # floor_margin of its drop from the floor. A pure power law never flattens: it runs to the end.
    logt, logy = np.log(t), np.log(y)
    slope = np.array([
        (logy[min(i + 2, len(t) - 1)] - logy[max(i - 2, 0)]) / (logt[min(i + 2, len(t) - 1)] - logt[max(i - 2, 0)])
        for i in range(len(t))
    ])  # fmt: skip
    initial = abs(np.median(slope[start : start + 5]))
    drop = y[start] - floor
    end = start + 1
    while end < len(t) and abs(slope[end]) > 0.25 * initial and y[end] - floor > floor_margin * drop * 0.1:
        end += 1
    tw, yw = t[start:end], y[start:end]
    decades = math.log10(tw[-1] / tw[0]) if len(tw) > 1 else 0.0
    window = {"start": float(tw[0]), "end": float(tw[-1]), "decades": decades, "points": len(tw)}
    if decades < min_decades or len(tw) < 5:
        return {"alpha": None, "window": window, "reason": f"the window spans {decades:.2f} < {min_decades} decades"}
    plain_alpha, _, plain_r2 = _loglog(tw, yw)
    best = None
    for l_inf in np.linspace(0.0, yw.min() * 0.999, 200):
        alpha, logc, r2 = _loglog(tw, yw - l_inf)
        if best is None or r2 > best[2]:
            best = (alpha, logc, r2, l_inf)
    alpha, logc, r2, l_inf = best  # type: ignore[misc]
    disagree = abs(alpha - plain_alpha) > 0.1
    poor = r2 < 0.98
    return {
        "alpha": alpha,
        "c": math.exp(logc),
        "l_inf": float(l_inf),
        "r2": r2,
        "alpha_loglog": plain_alpha,
        "r2_loglog": plain_r2,
        "window": window,
        "flag": bool(disagree or poor),
        "reason": "fits disagree by > 0.1" if disagree else "poor fit (R^2 < 0.98)" if poor else "ok",
    }


def history_power_law(history: list[dict[str, Any]], warmup_steps: int, split: str = "train") -> dict[str, Any]:
    pts = [(r["step"], r["splits"].get(split, {}).get("loss")) for r in history if r["step"] > 0]
    pts = [(s, v) for s, v in pts if v is not None]
    if not pts:
        return {"alpha": None, "reason": "no loss in the history"}
    steps, loss = map(np.array, zip(*pts))
    return power_law(steps, loss, start_after=warmup_steps)
