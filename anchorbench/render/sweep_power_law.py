"""A sweep's ``power_law``: two students' loss exponents per cell beside the theory, the speed-up,
and the figures ([PLAW-SUP]: a superposition bottleneck against one channel per feature).

Per cell of the ``x`` and ``panels`` axes: each student's exponent (mean and 95% interval over
seeds), the theory's exponent for the cell's data (the ``exponent_reference`` scores, when the task
reports them), and the speed-up ``time(slow) / time(fast)`` per seed, paired by seed, summarized by
its geometric mean and a 95% t-interval on the log ratios. Figures: the exponents against ``x``
(``<id>-exponents.png``) and every cell's test loss against steps on log-log axes with the fitted
power law over its window (``<id>-loss-curves.png``, seed 0 or the first finished seed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.files import read_jsonl
from anchorbench.render.tables import ci, num, table
from anchorbench.scoring.dynamics import power_law
from anchorbench.scoring.stats import mean_ci

REFERENCES = ("exponent_reference", "exponent_reference_n")


def _short(key: str | None) -> str:
    return "" if key is None else key.rpartition(".")[2]


def _cells(rows: list[Any], spec: dict[str, Any]) -> list[tuple[Any, Any, dict[str, Any]]]:
    """``(x, panel, {student value: row})`` per cell, in axis order."""
    cells: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in rows:
        key = (r.coords.get(spec["x"]), r.coords.get(spec["panels"]) if spec.get("panels") else None)
        cells.setdefault(key, {})[r.coords.get(spec["students"])] = r
    return [(x, panel, by) for (x, panel), by in cells.items()]


def speedup(slow: Any, fast: Any, time: str) -> dict[str, Any]:
    """The paired ratio ``time(slow) / time(fast)`` per seed: geometric mean and 95% interval."""
    logs = []
    for seed, scores in sorted(slow.seed_scores.items()):
        a, b = scores.get(time), (fast.seed_scores.get(seed) or {}).get(time)
        if a is not None and b is not None and a > 0 and b > 0:
            logs.append(math.log(a / b))
    s = mean_ci(logs)
    as_ratio = lambda v: None if v is None else math.exp(v)  # noqa: E731
    return {"mean": as_ratio(s["mean"]), "ci_low": as_ratio(s["ci_low"]), "ci_high": as_ratio(s["ci_high"]),
            "n": len(logs)}  # fmt: skip


def power_law_summary(rows: list[Any], spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for x, panel, by in sorted(_cells(rows, spec), key=lambda c: (str(c[1]), c[0])):
        slow, fast = by.get(spec["slow"]), by.get(spec["fast"])
        entry: dict[str, Any] = {"x": x, "panel": panel, "students": {}}
        for name, r in by.items():
            entry["students"][name] = r.scores.get(spec["exponent"]) or {}
        some = slow or fast
        for ref in REFERENCES:
            entry[ref] = ((some.scores.get(ref) or {}).get("mean")) if some else None
        entry["speedup"] = speedup(slow, fast, spec["time"]) if slow and fast else None
        out.append(entry)
    return out


def _mean_ci(s: dict[str, Any]) -> str:
    return "—" if s.get("mean") is None else f"{num(s['mean'])} {ci(s.get('ci_low'), s.get('ci_high'))}".strip()


def power_law_report(summary: list[dict[str, Any]], spec: dict[str, Any]) -> str:
    students = list(dict.fromkeys(s for e in summary for s in e["students"]))
    headers = [_short(spec["x"])] + ([_short(spec["panels"])] if spec.get("panels") else [])
    headers += [f"{spec['exponent']}: {s}" for s in students] + [
        "theory (a+2b-1)/a",
        "theory at N",
        f"speed-up {spec['slow']} / {spec['fast']}",
    ]
    body = []
    for e in summary:
        row = [e["x"]] + ([e["panel"]] if spec.get("panels") else [])
        row += [_mean_ci(e["students"].get(s) or {}) for s in students]
        row += [num(e["exponent_reference"]), num(e["exponent_reference_n"])]
        row.append(_mean_ci(e["speedup"]) if e["speedup"] else "—")
        body.append(row)
    spread = []
    for student in students:
        means = [m for e in summary if (m := (e["students"].get(student) or {}).get("mean")) is not None]
        if len(means) > 1:
            spread.append(f"{student}: {num(min(means))} .. {num(max(means))} (sd {num(float(np.std(means, ddof=1)))} "
                          f"over {len(means)} cells)")  # fmt: skip
    spread_line = f"\nspread of the cell means across the grid: {'; '.join(spread)}" if spread else ""
    return (
        f"power law of the test loss per student ({spec['exponent']}: mean [95% CI] over seeds), the sequential-"
        f"learning theory, and the speed-up ({spec['time']} of {spec['slow']} over {spec['fast']}, paired by seed; "
        "geometric mean [95% CI]):\n" + table(body, headers) + spread_line
    )


def draw_power_law(folder: Path, sweep_id: str, summary: list[dict[str, Any]], rows: list[Any],
                   spec: dict[str, Any]) -> list[Path]:  # fmt: skip
    from anchorbench.render.figures import pyplot

    plt = pyplot()
    students = list(dict.fromkeys(s for e in summary for s in e["students"]))
    panels = list(dict.fromkeys(e["panel"] for e in summary))
    # 1. exponents against x, one line per (panel, student), the theory dashed
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for j, panel in enumerate(panels):
        cells = sorted((e for e in summary if e["panel"] == panel), key=lambda e: e["x"])
        xs = np.array([e["x"] for e in cells], dtype=float)
        for k, student in enumerate(students):
            stats = [e["students"].get(student) or {} for e in cells]
            mean = np.array([np.nan if s.get("mean") is None else s["mean"] for s in stats])
            low = np.array([m if s.get("ci_low") is None else s["ci_low"] for s, m in zip(stats, mean)])
            high = np.array([m if s.get("ci_high") is None else s["ci_high"] for s, m in zip(stats, mean)])
            label = f"{student}" + (f", {_short(spec['panels'])} {panel}" if spec.get("panels") else "")
            ax.errorbar(xs + 0.01 * k, mean, yerr=[mean - low, high - mean], fmt="os"[k % 2] + "-",
                        color=f"C{j}", alpha=1.0 if k == 0 else 0.6, capsize=3, label=label)  # fmt: skip
        theory = [e["exponent_reference"] for e in cells]
        if all(t is not None for t in theory):
            ax.plot(xs, theory, ":", color=f"C{j}", label=f"(a+2b-1)/a, {_short(spec.get('panels'))} {panel}")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(_short(spec["x"]))
    ax.set_ylabel(spec["exponent"])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"{sweep_id}: exponent of the test loss, mean and 95% interval over seeds", fontsize=9)
    fig.tight_layout()
    exponents = folder / f"{sweep_id}-exponents.png"
    fig.savefig(exponents, dpi=110)
    plt.close(fig)
    # 2. loss curves, one panel per cell, every student; the fit over its window dashed
    xs_all = sorted({e["x"] for e in summary})
    fig, axes = plt.subplots(len(panels), len(xs_all), figsize=(3.4 * len(xs_all), 2.9 * len(panels)), squeeze=False)
    for r in rows:
        i = panels.index(r.coords.get(spec["panels"]) if spec.get("panels") else None)
        j = xs_all.index(r.coords.get(spec["x"]))
        ax = axes[i][j]
        k = students.index(r.coords.get(spec["students"])) if r.coords.get(spec["students"]) in students else 0
        curve = _seed_curve(folder, r)
        if curve is None:
            continue
        steps, loss = curve
        ax.loglog(steps, loss, color=f"C{k}", lw=1.2, label=str(r.coords.get(spec["students"])))
        fit = power_law(steps, loss)
        if fit.get("alpha") is not None:
            w = fit["window"]
            t = np.logspace(math.log10(w["start"]), math.log10(w["end"]), 50)
            ax.loglog(t, fit["c"] * t ** -fit["alpha"] + fit["l_inf"], "--", color="k", lw=0.8)
            ax.text(w["end"], fit["c"] * w["end"] ** -fit["alpha"] + fit["l_inf"], f" {fit['alpha']:.2f}",
                    color=f"C{k}", fontsize=7)  # fmt: skip
        title = f"{_short(spec['x'])} {r.coords.get(spec['x'])}"
        if spec.get("panels"):
            title += f", {_short(spec['panels'])} {r.coords.get(spec['panels'])}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{sweep_id}: test loss against steps (first seed), fitted c t^-alpha + L_inf dashed", fontsize=9)
    fig.tight_layout()
    curves = folder / f"{sweep_id}-loss-curves.png"
    fig.savefig(curves, dpi=100)
    plt.close(fig)
    return [exponents, curves]


def _seed_curve(folder: Path, row: Any) -> tuple[np.ndarray, np.ndarray] | None:
    for seed in sorted(row.seed_scores):
        path = folder / row.label / f"seed-{seed}" / "history.jsonl"
        if path.exists():
            pts = [(rec["step"], rec["splits"]["test"]["loss"]) for rec in read_jsonl(path)]
            pts = [(s, v) for s, v in pts if s > 0 and v is not None and v > 0]
            if pts:
                steps, loss = map(np.array, zip(*pts))
                return steps.astype(float), loss.astype(float)
    return None
