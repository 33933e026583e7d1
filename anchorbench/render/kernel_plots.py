"""[COND-CNN] the first convolution layer's kernels over training: cosine maps at chosen steps and the
share on condensed directions, from the ``kernels`` probe's records in ``history.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.render.figures import pyplot
from anchorbench.scoring.condensation import ordered_cosines
from anchorbench.scoring.kernels import initial_stage_index

SHOWN_MAPS = 6


def kernel_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in history if (r.get("probes") or {}).get("kernels")]


def shown_steps(rows: list[dict[str, Any]], stage: int | None) -> list[int]:
    """Indices of the maps drawn: the first, the end of the initial stage, the last, and log-spaced
    evaluations between them: at most SHOWN_MAPS (the log-spaced targets start at the first step and
    end at the last, so the first and last evaluations are among them)."""
    steps = np.array([max(r["step"], 1) for r in rows], dtype=float)
    targets = np.geomspace(steps[0], steps[-1], SHOWN_MAPS - (1 if stage is not None else 0))
    picked = {int(np.argmin(np.abs(np.log(steps) - np.log(t)))) for t in targets} | {0, len(rows) - 1}
    if stage is not None:
        picked.add(stage)
    return sorted(picked)


def kernel_course_plot(history: list[dict[str, Any]], *, path: Path | str, title: str) -> bool:
    """Cosine maps of the first layer's kernels at a few steps (the kernels ordered once, by the last
    map's leading eigenvector, so that a kernel keeps its row), and below, the share of kernels on
    condensed directions and their |cos| to the theory's direction over steps. False: no records."""
    rows = kernel_rows(history)
    if len(rows) < 2:
        return False
    losses = [(r.get("splits") or {}).get("train", {}).get("loss") for r in rows]
    stage = initial_stage_index(losses) if None not in losses and rows[0]["step"] == 0 else None
    kernels = [np.array(r["probes"]["kernels"]["first"], dtype=float) for r in rows]
    _, order = ordered_cosines(kernels[-1])
    picked = shown_steps(rows, stage)
    plt = pyplot()
    fig = plt.figure(figsize=(2.4 * len(picked) + 1.0, 5.6))
    grid = fig.add_gridspec(2, len(picked), height_ratios=[1.0, 0.9])
    for col, i in enumerate(picked):
        ax = fig.add_subplot(grid[0, col])
        im = ax.imshow(ordered_cosines(kernels[i], order)[0], vmin=-1, vmax=1, cmap="RdBu_r")
        label = f"step {rows[i]['step']}" + (" (initial stage ends)" if i == stage else "")
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=fig.axes, shrink=0.5, location="right")
    ax = fig.add_subplot(grid[1, :])
    steps = np.array([max(r["step"], 1) for r in rows])
    share = [r["probes"]["kernels"]["layers"][0]["direction_share"] for r in rows]
    ax.plot(steps, share, label="share of kernels on condensed directions")
    theory = [r["probes"]["kernels"].get("theory_cosine") for r in rows]
    if None not in theory:
        ax.plot(steps, theory, label="mean |cos| to the theory's direction u1")
    if stage is not None:
        ax.axvline(steps[stage], color="gray", ls="--", lw=1, label="end of the initial stage")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True
