"""Plots (matplotlib, PNG, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
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
) -> None:
    """One annotated heatmap per panel, side by side, sharing a colour scale."""
    plt = _pyplot()
    n = len(panels)
    width = max(4.0, 0.9 * len(col_labels) + 1.5)
    fig, axes = plt.subplots(1, n, figsize=(width * n, 0.6 * len(row_labels) + 2.0), squeeze=False)
    top = vmax if vmax is not None else max(float(np.nanmax(p)) for _, p in panels) or 1.0
    for ax, (name, grid) in zip(axes[0], panels):
        im = ax.imshow(grid, vmin=0, vmax=top, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(col_labels)), col_labels, rotation=30, ha="right")
        ax.set_yticks(range(len(row_labels)), row_labels)
        ax.set_title(name)
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, fmt.format(value), ha="center", va="center",
                        color="white" if value < 0.6 * top else "black", fontsize=8)  # fmt: skip
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(title, y=1.04)
    fig.savefig(path, dpi=110, bbox_inches="tight")
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
    plt = _pyplot()
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
