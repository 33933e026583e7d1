"""Plots (matplotlib, PNG, no display needed)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display, in CI and over ssh
    import matplotlib.pyplot as plt

    return plt


def heatmaps(
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    path: Path | str,
    vmax: float | None = None,
    fmt: str = "{:.2f}",
    xlabel: str | None = None,
    ylabel: str | None = None,
    marked: np.ndarray | None = None,
    mark_label: str | None = None,
) -> None:
    """One annotated heatmap per panel, side by side, sharing a colour scale; ``marked`` (a
    boolean grid of the panels' shape) outlines and hatches cells, explained by ``mark_label``."""
    plt = pyplot()
    n = len(panels)
    width = max(4.0 if n == 1 else 5.0, 0.9 * len(col_labels) + 1.5)
    fig, axes = plt.subplots(1, n, figsize=(width * n, 0.6 * len(row_labels) + 2.0), squeeze=False)
    finite = [float(np.nanmax(p)) for _, p in panels if np.isfinite(p).any()]
    top = vmax if vmax is not None else (max(finite) if finite else 0.0) or 1.0
    for ax, (name, grid) in zip(axes[0], panels):
        im = ax.imshow(grid, vmin=0, vmax=top, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(col_labels)), col_labels, rotation=30, ha="right")
        ax.set_yticks(range(len(row_labels)), row_labels)
        ax.set_title(name)
        if xlabel:
            ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(ylabel)
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, fmt.format(value), ha="center", va="center",
                        color="white" if value < 0.6 * top else "black", fontsize=8)  # fmt: skip
        if marked is not None:
            from matplotlib.patches import Rectangle

            for (i, j), on in np.ndenumerate(marked):
                if on:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="red", lw=1.5))
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(title + (f"\n{mark_label}" if mark_label else ""), y=1.04 if not mark_label else 1.08)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def slope_map(
    grid: np.ndarray,
    *,
    xs: Sequence[float],
    ys: Sequence[float],
    path: Path | str,
    title: str,
    xlabel: str,
    ylabel: str,
    marked: np.ndarray | None = None,
    boundary: Sequence[Sequence[tuple[float, float]]] = (),
) -> None:
    """A signed heat map (blue below zero, red above, white at zero) of ``grid[len(ys), len(xs)]``,
    annotated, with ``marked`` cells hatched (off the predicted side) and a theory's ``boundary``
    drawn as polylines in axis coordinates (mapped onto the cells by linear interpolation)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(xs) + 2.0), 0.55 * len(ys) + 2.2))
    finite = np.abs(grid[np.isfinite(grid)])
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    im = ax.imshow(grid, vmin=-top, vmax=top, cmap="RdBu_r", aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(j, i, f"{value:+.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(value) > 0.6 * top else "black")  # fmt: skip
    if marked is not None:
        from matplotlib.patches import Rectangle

        for (i, j), on in np.ndenumerate(marked):
            if on:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="black", lw=1.5))
    for line in boundary:
        bx = [float(np.interp(x, xs, range(len(xs)))) for x, _ in line]
        by = [float(np.interp(y, ys, range(len(ys)))) if len(ys) > 1 else 0.0 for _, y in line]
        ax.plot(bx, by, "k--", lw=2)
    fig.colorbar(im, ax=ax, shrink=0.8)
    note = "dashed: the theory's boundary" if boundary else ""
    note += ("; " if note else "") + "hatched: off the predicted side" if marked is not None and marked.any() else ""
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def capacity_plot(
    depths: Sequence[int],
    hops: Sequence[int],
    accuracy: np.ndarray,
    max_solved: Sequence[float],
    *,
    threshold: float,
    path: Path | str,
    title: str,
) -> None:
    """Left: test accuracy over depth x hops; right: max hops solved vs depth, with k = L - 1 for reference."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    im = left.imshow(accuracy, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")
    left.set_xticks(range(len(hops)), [str(k) for k in hops])
    left.set_yticks(range(len(depths)), [str(d) for d in depths])
    left.set_xlabel("hops k")
    left.set_ylabel("layers L")
    left.set_title("test accuracy (mean over seeds)")
    for (i, j), value in np.ndenumerate(accuracy):
        if np.isfinite(value):
            left.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
    fig.colorbar(im, ax=left, shrink=0.85)
    right.plot(depths, max_solved, "o-", label=f"max k with accuracy >= {threshold}")
    right.plot(depths, [d - 1 for d in depths], "--", color="grey", label="serial matching: k = L - 1")
    right.set_xlabel("layers L")
    right.set_ylabel("hops solved")
    right.set_xticks(list(depths))
    right.set_ylim(-0.2, max(max(hops), max(depths)) + 0.2)
    right.legend(loc="upper left")
    right.set_title("capacity")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def line_plot(
    lines: dict[str, list[dict[str, Any]]],
    *,
    path: Path | str,
    title: str,
    xlabel: str,
    ylabel: str,
    reference_label: str | None = None,
    unit_interval: bool = False,
    log: bool = False,
) -> None:
    """One line per entry of ``lines`` (points ``{x, mean, ci_low, ci_high, reference}``) with its
    95% interval as error bars, and each line's reference values dashed in the same colour;
    ``log``: both axes on a log scale (an interval reaching 0 or below is drawn down to mean / 10)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, points) in enumerate(lines.items()):
        color = f"C{i}"
        xs = np.array([p["x"] for p in points], dtype=float)
        mean = np.array([np.nan if p["mean"] is None else p["mean"] for p in points], dtype=float)
        low = np.array([m if p["ci_low"] is None else p["ci_low"] for p, m in zip(points, mean)], dtype=float)
        high = np.array([m if p["ci_high"] is None else p["ci_high"] for p, m in zip(points, mean)], dtype=float)
        if log:
            low = np.where(low > 0, low, mean / 10)
        ax.errorbar(xs, mean, yerr=[mean - low, high - mean], fmt="o-", color=color, capsize=3, label=name or None)
        ref = [(p["x"], p["reference"]) for p in points if p["reference"] is not None]
        if ref:
            rx, ry = zip(*ref)
            ax.plot(rx, ry, "s--", color=color, alpha=0.6, markerfacecolor="none",
                    label=f"{name}: reference" if name else "reference")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if unit_interval:
        ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", fontsize=8)
    label = f"\n{textwrap.fill(f'reference (dashed): {reference_label}', 90)}" if reference_label else ""
    ax.set_title(title + label, fontsize=9)  # wrapped: a long provenance label would run off the figure
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def spectrum_plot(history: list[dict[str, Any]], *, path: Path | str, title: str) -> bool:
    """[FREQ] from the ``spectrum`` probe: the amplitude of each frequency of the output on the training
    and on the test points over steps (heat maps), the training targets' own spectrum, the train and
    test loss, and the output over x at three moments (the foot and the top of the test-loss bump, the
    end) next to the target. False when no spectrum was recorded."""
    rows = [r for r in history if (r.get("probes") or {}).get("spectrum")]
    if len(rows) < 3:
        return False
    plt = pyplot()
    steps = np.array([r["step"] for r in rows])
    spectra = {name: np.array([r["probes"]["spectrum"][name] for r in rows]).T for name in ("train", "test")}
    head = rows[0]["probes"]["spectrum"]
    from anchorbench.scoring.frequency import largest_rise

    losses = {
        n: np.array([np.nan if (v := r["splits"][n]["loss"]) is None else v for r in rows]) for n in ("train", "test")
    }
    _, low, peak = largest_rise(losses["train"], losses["test"])  # the bump's foot and top (0, 0: none)
    moments = sorted({low, peak, len(rows) - 1})
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    x_edges = np.arange(len(rows) + 1) - 0.5
    for ax, name in zip(axes[:2], ("train", "test")):
        im = ax.pcolormesh(x_edges, np.arange(spectra[name].shape[0] + 1) - 0.5, spectra[name], cmap="magma")
        ticks = np.unique(np.linspace(0, len(rows) - 1, 6).round().astype(int))
        ax.set_xticks(ticks, [str(steps[i]) for i in ticks])
        ax.set_xlabel("step (evaluations)")
        ax.set_ylabel("frequency k")
        ax.set_title(f"output amplitude on the {name} points")
        fig.colorbar(im, ax=ax, shrink=0.8)
    if head.get("train_target"):
        strongest = np.argsort(head["train_target"])[::-1][:4]
        axes[0].set_title("output amplitude on the train points\n(the targets' own, strongest: " + ", ".join(
            f"k{k} {head['train_target'][k]:.2f}" for k in strongest) + ")", fontsize=9)  # fmt: skip
    loss_ax = axes[2]
    for name in ("train", "test"):
        loss_ax.plot(steps[1:], [r["splits"][name]["loss"] for r in rows[1:]], label=name, color=SPLIT_COLORS[name])
    for i in moments:
        loss_ax.axvline(steps[i], color="grey", ls=":", lw=1)
    loss_ax.set_xscale("log")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("step")
    loss_ax.set_title("loss (dotted: the moments on the right)")
    loss_ax.legend(fontsize=8)
    out_ax = axes[3]
    if head.get("outputs_x"):
        out_ax.plot(head["outputs_x"], head["outputs_target"], "k--", lw=1.5, label="target")
        for j, i in enumerate(moments):
            out_ax.plot(head["outputs_x"], rows[i]["probes"]["spectrum"]["outputs"], color=f"C{j}",
                        label=f"step {steps[i]}")  # fmt: skip
        out_ax.legend(fontsize=8)
    out_ax.set_xlabel("x")
    out_ax.set_title("the output over x")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


SPLIT_COLORS = {"train": "tab:blue", "test": "tab:orange", "unseen": "tab:green", "ood": "tab:red"}


def curves_plot(
    history: list[dict[str, Any]], timing: dict[str, dict[str, Any]], *, path: Path | str, title: str
) -> None:
    """Accuracy and loss per split over steps (log axis), with t_fit / t_gen of each q marked."""
    plt = pyplot()
    rows = [r for r in history if r["step"] > 0]  # a log axis has no step 0
    steps = np.array([r["step"] for r in rows])
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(12, 4.2))
    for split in rows[0]["splits"] if rows else []:
        color = SPLIT_COLORS.get(split)
        acc = [r["splits"][split]["accuracy"] for r in rows]
        loss = [r["splits"][split]["loss"] for r in rows]
        acc_ax.plot(steps, [np.nan if a is None else a for a in acc], label=split, color=color)
        loss_ax.plot(steps, [np.nan if v is None else v for v in loss], label=split, color=color)
    for q, t in timing.items():
        style = "--" if q == "0.95" else ":"
        for key, color in (("t_fit", "tab:blue"), ("t_gen", "tab:orange")):
            if t.get(key):
                for ax in (acc_ax, loss_ax):
                    ax.axvline(t[key], color=color, linestyle=style, linewidth=1)
                acc_ax.annotate(f"{key}({q})", (t[key], 0.02 if key == "t_fit" else 0.1), rotation=90,
                                fontsize=7, color=color, ha="right")  # fmt: skip
    for ax, label in ((acc_ax, "accuracy"), (loss_ax, "loss")):
        ax.set_xscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    acc_ax.set_ylim(-0.02, 1.02)
    loss_ax.set_yscale("log")
    acc_ax.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def probes_plot(history: list[dict[str, Any]], *, path: Path | str, title: str) -> bool:
    """The per-evaluation probes over steps; False when the history has none."""
    rows = [r for r in history if r["step"] > 0 and r.get("probes")]
    steps = np.array([r["step"] for r in rows])
    series: dict[str, list[float]] = {}
    for r in rows:
        for key, value in r["probes"].items():
            if isinstance(value, dict):  # condensation: clusters and top eigenvalue ratio
                if "clusters" in value:  # (a task's own records, e.g. noise_geometry, have their own plots)
                    for sub in ("clusters", "top_eig_ratio"):
                        series.setdefault(f"{key}.{sub}", []).append(value.get(sub, np.nan))
            elif not isinstance(value, list):
                series.setdefault(key, []).append(np.nan if value is None else value)
    series = {k: v for k, v in series.items() if len(v) == len(rows)}  # a value at every evaluation
    if not series:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(1, len(series), figsize=(3.6 * len(series), 3.4), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        ax.plot(steps, values)
        ax.set_xscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def survival_plot(timing: dict[str, dict[str, Any]], budget: int, *, path: Path | str, title: str) -> None:
    """Kaplan-Meier survival of t_gen over seeds (share of runs not yet generalized), per q."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for q, s in timing.items():
        ts = [0.0] + [c["t"] for c in s["survival"]] + [float(budget)]
        surv = [1.0] + [c["survival"] for c in s["survival"]]
        lower = [1.0] + [c["lower"] for c in s["survival"]]
        upper = [1.0] + [c["upper"] for c in s["survival"]]
        surv, lower, upper = (v + [v[-1]] for v in (surv, lower, upper))
        line = ax.step(ts, surv, where="post", label=f"q={q}: median {s['km_median_t_gen'] or 'not reached'}")[0]
        ax.fill_between(ts, lower, upper, step="post", alpha=0.15, color=line.get_color())
        if s["censored"]:
            ax.plot([budget], [surv[-1]], "|", markersize=14, color=line.get_color())  # censored at the budget
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlim(0, budget * 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("share of seeds not yet generalized")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def noise_geometry_plot(history: list[dict[str, Any]], *, path: Path | str, title: str) -> bool:
    """[PLAW-SGD] from the ``noise_geometry`` probe at the last evaluation: the variance of the
    per-sample gradient along each direction against the distance delta (log-log) with the fitted
    quadratic (dashed) and the per-sample-curvature prediction (dotted); the histogram of SGD's
    standardized iterates along the top direction beside the Gaussian-noise control's and a normal
    density. False when the probe was not recorded."""
    rows = [r for r in history if (r.get("probes") or {}).get("noise_geometry")]
    if not rows:
        return False
    g = rows[-1]["probes"]["noise_geometry"]
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    d = np.array(g["deltas"], dtype=float)
    fine = np.logspace(np.log10(d[0]), np.log10(d[-1]), 100)
    for i, (name, s) in enumerate(g["directions"].items()):
        color = f"C{i}"
        left.loglog(d, s["variance"], "o", color=color, label=f"{name}: R^2 {s['r2']:.4f}")
        left.loglog(fine, np.abs(s["c0"] + s["c1"] * fine + s["c2"] * fine**2), "--", color=color, lw=1)
        predicted = s["predicted_c0"] + s["predicted_c1"] * fine + s["predicted_c2"] * fine**2
        left.loglog(fine, np.abs(predicted), ":", color=color, lw=1)
    left.set_xlabel("delta (distance from w* along the unit direction v)")
    left.set_ylabel("Var_i of v . grad l_i(w* + delta v)")
    left.set_title("noise variance: fit c0 + c1 d + c2 d^2 (dashed), prediction from Var(v^T H_i v) (dotted)",
                   fontsize=8)  # fmt: skip
    left.legend(fontsize=7)
    left.grid(True, alpha=0.3, which="both")
    tails = g.get("tails") or {}
    edges = np.linspace(-6, 6, len((tails.get("sgd") or {}).get("histogram", [])) + 1)
    for kind, color in (("sgd", "C3"), ("gaussian", "C7")):
        t = tails.get(kind)
        if not t or not sum(t["histogram"]):
            continue
        density = np.array(t["histogram"]) / (sum(t["histogram"]) * np.diff(edges))
        label = f"{kind}: excess kurtosis {t['kurtosis']:.2f}, Hill index {t['tail_index']:.2f}"
        right.step(edges[:-1], density, where="post", color=color, label=label)
    z = np.linspace(-6, 6, 200)
    right.plot(z, np.exp(-(z**2) / 2) / np.sqrt(2 * np.pi), "k:", lw=1, label="normal")
    right.set_yscale("log")
    right.set_ylim(1e-5, 1)
    right.set_xlabel("iterate along the top direction, standardized")
    right.set_ylabel("density")
    right.set_title("tails of the iterates around w*: SGD vs constant Gaussian noise", fontsize=8)
    right.legend(fontsize=7)
    fig.suptitle(f"{title} (step {rows[-1]['step']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def cosine_maps(
    panels: Sequence[tuple[str, np.ndarray]], *, path: Path | str, title: str, axis: str | None = None
) -> None:
    """Square matrices on [-1, 1] side by side (blue -1, white 0, red 1), one colour scale, no annotations:
    cosine maps; ``axis`` names what the rows and columns are."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels) + 1.2, 3.2), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], panels):
        im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if axis:
            ax.set_xlabel(axis, fontsize=8)
            ax.set_ylabel(axis, fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
