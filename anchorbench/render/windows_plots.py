"""[WINDOWS] the integration-windows probe drawn: per run, the window of every layer (normalized influence
against lag) with its fit, trained beside untrained; per entry, the power-law weight c, the yoking index (with
and without lag 0) and the window's tail against depth over the seeds (mean and 95% interval), and the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.render.figures import pyplot
from anchorbench.render.tables import num, table
from anchorbench.scoring.stats import mean_ci
from anchorbench.scoring.windows import NAME, mixture

STYLE = {"trained": ("C3", "-"), "untrained": ("C7", "-")}
DEPTH_KEYS = (
    ("c", "power-law weight c", (0.0, 1.0)),
    ("c_identified", "share of units whose c is identified", (0.0, 1.0)),
    ("yoking", "yoking index", (None, None)),
    ("yoking_context", "yoking index without lag 0", (None, None)),
    ("tail", "window beyond the word (mean, lags 1-20)", (0.0, None)),
)


def windows_record(history: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
    """The step and the probe's record at the last evaluation that has one (None: never recorded)."""
    rows = [r for r in history if (r.get("probes") or {}).get(NAME)]
    return (rows[-1]["step"], rows[-1]["probes"][NAME]) if rows else None


def windows_plot(history: list[dict[str, Any]], *, path: Path | str, title: str) -> bool:
    """Top row, one panel per layer: the median window over units (points) and its fit (dashed), trained
    and at initialization (likely swaps). Bottom: the yoking profile (the lag-aligned influence change when
    the swap moves one word right) against the swap position, sentence boundaries dashed, last layer.
    False when the probe was not recorded."""
    found = windows_record(history)
    if found is None:
        return False
    step, g = found
    n_layers = len(g["trained"]["likely"])
    plt = pyplot()
    fig = plt.figure(figsize=(max(8.0, 2.6 * n_layers), 6.2))
    grid = fig.add_gridspec(2, n_layers)
    lags = np.arange(g["max_lag"] + 1)
    fine = np.linspace(0, g["max_lag"], 200)
    for i in range(n_layers):
        ax = fig.add_subplot(grid[0, i])
        for which in ("trained", "untrained"):
            color, _ = STYLE[which]
            layer = g[which]["likely"][i]
            window = np.array([np.nan if v is None else v for v in layer["window"]], dtype=float)
            ax.plot(lags, window, "o", ms=3, color=color,
                    label=f"{which}: c {_fmt(layer['c'])}, yoking {_fmt(layer['yoking'], 3)}")  # fmt: skip
            a, b, c = (np.nan if v is None else v for v in layer["window_fit"])
            if np.isfinite([a, b, c]).all():
                ax.plot(fine, mixture(fine, a, b, c), "--", color=color, lw=1)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"layer {i + 1}", fontsize=9)
        ax.set_xlabel("lag d (words)", fontsize=8)
        if i == 0:
            ax.set_ylabel("influence / influence at lag 0", fontsize=8)
        ax.legend(fontsize=6)
        ax.grid(True, alpha=0.3)
    ax = fig.add_subplot(grid[1, :])
    for which in ("trained", "untrained"):
        color, _ = STYLE[which]
        profile = np.array([np.nan if v is None else v for v in g[which]["likely"][-1]["yoking_profile"]], dtype=float)
        ax.plot(np.arange(len(profile)), profile, color=color, label=f"{which}, layer {n_layers}")
    for b in g["boundaries"]:
        ax.axvline(b, color="k", ls="--", lw=0.8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("swap position (sentence boundaries dashed: the yoking index is the mean there)", fontsize=8)
    ax.set_ylabel("change of lag-aligned influence", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.suptitle(f"{title} (step {step}; {g['stimuli']} stimuli of {g['sentence_len']}-word sentences, likely swaps; "
                 "fits c (d+1)^-a + (1-c) exp(-b d) dashed)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def depth_summary(records: list[dict[str, Any]], kind: str = "likely") -> dict[str, dict[str, list[dict]]]:
    """Per model (trained, untrained) and key (c, yoking): per layer the mean and 95% interval over seeds."""
    n_layers = len(records[0]["trained"][kind])
    return {
        which: {
            key: [mean_ci([r[which][kind][i][key] for r in records], bounds) for i in range(n_layers)]
            for key, _, bounds in DEPTH_KEYS
        }
        for which in ("trained", "untrained")
    }


def depth_table(summary: dict[str, dict[str, list[dict]]]) -> str:
    """One row per layer: each of ``DEPTH_KEYS``, trained and at initialization, mean [95% interval]."""
    n_layers = len(summary["trained"]["c"])
    cell = lambda s: f"{num(s['mean'], 3)} [{num(s['ci_low'], 3)}, {num(s['ci_high'], 3)}]"  # noqa: E731
    rows = [
        [f"layer {i + 1}", *(cell(summary[w][k][i]) for k, _, _ in DEPTH_KEYS for w in ("trained", "untrained"))]
        for i in range(n_layers)
    ]
    headers = [f"{key} {which}" for key, _, _ in DEPTH_KEYS for which in ("trained", "untrained")]
    return table(rows, ["layer", *headers])


def depth_plot(summary: dict[str, dict[str, list[dict]]], *, n_seeds: int, path: Path | str, title: str) -> None:
    """Each of ``DEPTH_KEYS`` against depth, trained and untrained, mean with 95% intervals over seeds."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(DEPTH_KEYS), figsize=(4.2 * len(DEPTH_KEYS), 3.8))
    for ax, (key, label, _) in zip(axes, DEPTH_KEYS):
        for which in ("trained", "untrained"):
            color, _ = STYLE[which]
            stats = summary[which][key]
            layers = np.arange(1, len(stats) + 1)
            mean = np.array([np.nan if s["mean"] is None else s["mean"] for s in stats], dtype=float)
            low = np.array([np.nan if s["ci_low"] is None else s["ci_low"] for s in stats], dtype=float)
            high = np.array([np.nan if s["ci_high"] is None else s["ci_high"] for s in stats], dtype=float)
            ax.plot(layers, mean, "o-", color=color, label=which)
            ax.fill_between(layers, low, high, color=color, alpha=0.2, lw=0)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(layers)
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{title}: mean and 95% interval over {n_seeds} seeds (median over units per seed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"
