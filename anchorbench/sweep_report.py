"""``anchorbench report results/<sweep>``: aggregate a sweep's cells and draw phase diagrams.

Per configuration: mean and 95% CI over its finished seeds of every score, and for times
the Kaplan-Meier median t_gen (censoring-aware: a seed that never generalized counts as
censored at its budget, not as missing). One heatmap per score over the sweep's two phase
axes ([INIT] Fig. 2 style: the mean in each cell), ``phase-<score>.png``; the table and
``report.json`` beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.errors import UserError
from anchorbench.registry import METRICS
from anchorbench.results import RunResult, aggregate, read_json, write_json
from anchorbench.sweep import DONE, INDEX, finished
from anchorbench.tables import ci, num, table

TIME_SCORE = "t_gen_0.95_km_median"


@dataclass
class Row:
    label: str
    coords: dict[str, Any]
    n_done: int
    n_cells: int
    statuses: dict[str, int]
    scores: dict[str, dict[str, Any]]  # score -> {mean, ci_low, ci_high, direction}


def load_index(folder: Path) -> dict[str, Any]:
    path = folder / INDEX
    if not path.is_file():
        hint = " (for a run of `anchorbench run`, use `anchorbench plot`)" if (folder / "run.json").exists() else ""
        raise UserError(f"{folder} is not a sweep folder: no {INDEX}{hint}")
    return read_json(path)


def collect(folder: Path, index: dict[str, Any]) -> list[Row]:
    by_label: dict[str, list[dict[str, Any]]] = {}
    for cell in index["cells"].values():
        by_label.setdefault(cell["label"], []).append(cell)
    rows = []
    for label, cells in by_label.items():
        results = []
        for c in cells:
            path = folder / c["result"]
            data = read_json(path) if path.exists() else {}
            if finished(data, c["config_hash"]):
                results.append(RunResult.model_validate(data))
        statuses: dict[str, int] = {}
        for c in cells:
            statuses[c["status"]] = statuses.get(c["status"], 0) + 1
        coords = {k: v for k, v in cells[0]["coords"].items() if k != "seed"}
        scores: dict[str, dict[str, Any]] = {}
        if results:
            metrics = {name: METRICS.get(name) for name in results[0].scores}
            agg = aggregate(f"{folder.name}/{label}", results, metrics)
            write_json(folder / label / "aggregate.json", agg)
            for name, s in agg.scores.items():
                scores[name] = {"mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "direction": s.direction}
            if "0.95" in agg.timing:
                t = agg.timing["0.95"]
                lo, hi = t["km_ci"]
                scores[TIME_SCORE] = {"mean": t["km_median_t_gen"], "ci_low": lo, "ci_high": hi, "direction": "lower",
                                      "censored": t["censored"]}  # fmt: skip
        rows.append(Row(label, coords, len(results), len(cells), statuses, scores))
    return rows


def report(folder: Path, *, plots: bool = True) -> tuple[str, list[Path]]:
    index = load_index(folder)
    rows = collect(folder, index)
    axes = [k for k in index["axes"] if k != "seed"]
    names = list(dict.fromkeys(n for r in rows for n in r.scores))
    headers = [_short(a) for a in axes] + ["seeds"] + [f"{n} {_arrow(rows, n)}" for n in names]
    body = []
    for r in rows:
        cells = [r.coords.get(a) for a in axes] + [_seeds(r)]
        for n in names:
            s = r.scores.get(n)
            if s is None:
                cells.append("—")
            elif n == TIME_SCORE:
                cells.append("not reached" if s["mean"] is None else f"{s['mean']:.0f} {_int_ci(s)}")
            else:
                cells.append(f"{num(s['mean'])} {ci(s['ci_low'], s['ci_high'])}")
        body.append(cells)
    text = table(body, headers)
    errors = [c for c in index["cells"].values() if c["status"] == "error"]
    if errors:
        text += "\n\nerrors:\n" + "\n".join(f"  {c['label']} seed {c['seed']}: {c['error']}" for c in errors)
    pngs = phase_diagrams(folder, index, rows, names) if plots else []
    write_json(folder / "report.json", {"axes": axes, "rows": [r.__dict__ for r in rows]})
    return text, pngs


def phase_diagrams(folder: Path, index: dict[str, Any], rows: list[Row], names: list[str]) -> list[Path]:
    from anchorbench.plots import heatmaps

    axes = [k for k in index["axes"] if k != "seed"]
    if not axes:
        return []
    phase = index.get("phase") or {}
    x = phase.get("x") or axes[0]
    y = phase.get("y") if phase.get("x") else (axes[1] if len(axes) > 1 else None)
    wanted = phase.get("scores") or names
    xs, ys = index["axes"][x], index["axes"][y] if y else [None]
    rest = ", ".join(f"{_short(a)}={rows[0].coords[a]}" for a in axes if a not in (x, y) and rows)
    written = []
    for name in [n for n in wanted if n in names]:
        grid = np.full((len(ys), len(xs)), np.nan)
        for r in rows:
            if any(r.coords.get(a) != rows[0].coords.get(a) for a in axes if a not in (x, y)):
                continue  # a third axis: draw the first slice only
            s = r.scores.get(name)
            if s and s["mean"] is not None and math.isfinite(s["mean"]):
                grid[ys.index(r.coords.get(y)) if y else 0, xs.index(r.coords[x])] = s["mean"]
        bounded = name != TIME_SCORE and tuple(METRICS.get(name).bounds) == (0, 1)
        path = folder / f"phase-{name}.png"
        heatmaps(
            [(name, grid)], row_labels=[str(v) for v in ys] if y else [""], col_labels=[str(v) for v in xs],
            title=f"{index['request']['sweep']['id']}: mean over seeds" + (f" ({rest})" if rest else ""),
            path=path, vmax=1.0 if bounded else None, fmt="{:.2f}" if bounded else "{:.0f}",
            xlabel=_short(x), ylabel=_short(y) if y else None,
        )  # fmt: skip
        written.append(path)
    return written


def _short(key: str | None) -> str:
    return "" if key is None else key.rpartition(".")[2]


def _arrow(rows: list[Row], name: str) -> str:
    for r in rows:
        if name in r.scores:
            return "↑" if r.scores[name]["direction"] == "higher" else "↓"
    return ""


def _seeds(r: Row) -> str:
    extra = ", ".join(f"{n} {k}" for k, n in sorted(r.statuses.items()) if k not in DONE)
    return f"{r.n_done}/{r.n_cells}" + (f" ({extra})" if extra else "")


def _int_ci(s: dict[str, Any]) -> str:
    lo, hi = s["ci_low"], s["ci_high"]
    return f"[{'—' if lo is None else f'{lo:.0f}'}, {'—' if hi is None else f'{hi:.0f}'}]"
