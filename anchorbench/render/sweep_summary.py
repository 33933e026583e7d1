"""``anchorbench report results/<sweep>``: aggregate a sweep's cells and draw phase diagrams.

Per configuration: mean and 95% CI over its finished seeds of every score, and for times
the Kaplan-Meier median t_gen (censoring-aware: a seed that never generalized counts as
censored at its budget, not as missing). One heatmap per score over the sweep's two phase
axes ([INIT] Fig. 2 style: the mean in each cell), ``phase-<score>.png``; the table and
``report.json`` beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.errors import UserError
from anchorbench.execution.results import RunResult, aggregate
from anchorbench.execution.sweep import DONE, INDEX, finished
from anchorbench.files import read_json, write_json
from anchorbench.registry import METRICS
from anchorbench.render.sweep_curve import curve_points, curve_table, draw_curve
from anchorbench.render.sweep_power_law import draw_power_law, power_law_report, power_law_summary
from anchorbench.render.sweep_slope import draw_slopes, slope_cells, slope_report
from anchorbench.render.tables import arrow, ci, num, table

TIME_SCORE = "t_gen_0.95_km_median"


@dataclass
class Row:
    label: str
    coords: dict[str, Any]
    n_done: int
    n_cells: int
    statuses: dict[str, int]
    scores: dict[str, dict[str, Any]]  # score -> {mean, ci_low, ci_high, direction}
    seed_scores: dict[int, dict[str, float | None]] = field(default_factory=dict)  # seed -> score -> value
    model_config: dict[str, Any] = field(default_factory=dict)  # the cell's resolved model config


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
            if finished(data, c["config_hash"], c.get("code_hash")):
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
        seed_scores = {r.seed: dict(r.scores) for r in results}
        model_config = dict(results[0].model.config) if results else {}
        rows.append(Row(label, coords, len(results), len(cells), statuses, scores, seed_scores, model_config))
    return rows


def report(folder: Path, *, plots: bool = True) -> tuple[str, list[Path]]:
    index = load_index(folder)
    rows = collect(folder, index)
    phase = index.get("phase") or {}
    axes = [k for k in index["axes"] if k != "seed"]
    names = list(dict.fromkeys(n for r in rows for n in r.scores))
    headers = [f"{n} {_arrow(rows, n)}" for n in names]
    body = [[r.coords.get(a) for a in axes] + [_seeds(r)] + [_cell(r.scores.get(n), n) for n in names] for r in rows]
    text = table(body, [_short(a) for a in axes] + ["seeds"] + headers)
    reduced = reduce_over(rows, axes, phase["best_over"]) if phase.get("best_over") else []
    if reduced:
        over = _short(phase["best_over"])
        keep = [a for a in axes if a != phase["best_over"]]
        body = [
            [g.coords.get(a) for a in keep] + [str(g.n_done)]
            + [f"{num(g.mean[n])} | {_best(g, n)}" if n in g.mean else "—" for n in names]
            for g in reduced
        ]  # fmt: skip
        text += (
            f"\n\nreduced over {over}: the mean over seeds and every {over} | the paper's reduction, the best "
            f"{over}'s mean over seeds (it picks {over} per cell and score, so it is optimistic):\n"
        )
        text += table(body, [_short(a) for a in keep] + ["runs"] + headers)
    shadow = phase.get("shadow")
    if shadow:
        dark = [r.label for r in rows if _below(r.scores.get(shadow["score"]), shadow["below"])]
        text += (f"\n\nshadow zone ({shadow['score']} below {shadow['below']}): "
                 + (", ".join(dark) if dark else "no cell"))  # fmt: skip
    errors = [c for c in index["cells"].values() if c["status"] == "error"]
    if errors:
        text += "\n\nerrors:\n" + "\n".join(f"  {c['label']} seed {c['seed']}: {c['error']}" for c in errors)
    pngs = phase_diagrams(folder, index, rows, names, reduced) if plots else []
    curve = index.get("curve")
    if curve:
        lines = curve_points(rows, curve)
        text += "\n\n" + curve_table(lines, curve)
        if plots:
            pngs.append(draw_curve(folder, index["request"]["sweep"]["id"], lines, curve))
    slope = index.get("slope")
    fitted = []
    if slope:
        fitted = slope_cells(rows, slope)
        text += "\n\n" + slope_report(fitted, slope)
        if plots:
            pngs.extend(draw_slopes(folder, index["request"]["sweep"]["id"], fitted, rows, slope))
    pl = index.get("power_law")
    pl_summary = []
    if pl:
        pl_summary = power_law_summary(rows, pl)
        text += "\n\n" + power_law_report(pl_summary, pl)
        if plots:
            pngs.extend(draw_power_law(folder, index["request"]["sweep"]["id"], pl_summary, rows, pl))
    write_json(folder / "report.json", {"axes": axes, "rows": [r.__dict__ for r in rows],
                                        "reduced": [g.__dict__ for g in reduced],
                                        "slopes": [c.__dict__ for c in fitted], "power_law": pl_summary})  # fmt: skip
    return text, pngs


@dataclass
class Reduced:
    """The rows of one cell of the other axes, reduced over the ``best_over`` axis."""

    coords: dict[str, Any]
    n_done: int
    mean: dict[str, float]  # score -> mean over every finished seed of every value of the axis
    best: dict[str, tuple[float, Any]]  # score -> (best of the per-value means over seeds, that value)


def reduce_over(rows: list[Row], axes: list[str], axis: str) -> list[Reduced]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        key = repr([r.coords.get(a) for a in axes if a != axis])
        groups.setdefault(key, []).append(r)
    out = []
    for members in groups.values():
        coords = {a: members[0].coords.get(a) for a in axes if a != axis}
        mean, best = {}, {}
        for name in dict.fromkeys(n for r in members for n in r.scores):
            have = [(r, r.scores[name]["mean"]) for r in members if _finite(r.scores.get(name))]
            if not have:
                continue
            # every finished seed of every value weighs the same: the plain mean, no selection
            mean[name] = sum(v * r.n_done for r, v in have) / sum(r.n_done for r, _ in have)
            pick = max if members[0].scores[name]["direction"] == "higher" else min
            r, v = pick(have, key=lambda rv: rv[1])
            best[name] = (v, r.coords.get(axis))
        out.append(Reduced(coords, sum(r.n_done for r in members), mean, best))
    return out


def phase_diagrams(
    folder: Path, index: dict[str, Any], rows: list[Row], names: list[str], reduced: list[Reduced] = ()
) -> list[Path]:
    from anchorbench.render.figures import heatmaps

    axes = [k for k in index["axes"] if k != "seed"]
    if not axes:
        return []
    phase = index.get("phase") or {}
    x = phase.get("x") or axes[0]
    y = phase.get("y") if phase.get("x") else (axes[1] if len(axes) > 1 else None)
    over = phase.get("best_over")
    wanted = phase.get("scores") or names
    xs, ys = index["axes"][x], index["axes"][y] if y else [None]
    rest = ", ".join(f"{_short(a)}={rows[0].coords[a]}" for a in axes if a not in (x, y, over) and rows)

    def grid(cells: list[tuple[dict[str, Any], float | None]]) -> np.ndarray:
        g = np.full((len(ys), len(xs)), np.nan)
        first = cells[0][0] if cells else {}
        for coords, value in cells:
            if any(coords.get(a) != first.get(a) for a in axes if a not in (x, y, over)):
                continue  # a further axis: draw the first slice only
            if value is not None and math.isfinite(value):
                g[ys.index(coords.get(y)) if y else 0, xs.index(coords[x])] = value
        return g

    def plain(name: str) -> np.ndarray:
        if reduced:
            return grid([(g.coords, g.mean.get(name)) for g in reduced])
        return grid([(r.coords, (r.scores.get(name) or {}).get("mean")) for r in rows])

    shadow = phase.get("shadow")
    marked = plain(shadow["score"]) < shadow["below"] if shadow and shadow["score"] in names else None
    mark = f"outlined: {shadow['score']} < {shadow['below']} (shadow zone)" if marked is not None else None
    written = []
    for name in [n for n in wanted if n in names]:
        panels = [(f"mean over seeds x {_short(over)}" if reduced else "mean over seeds", plain(name))]
        if reduced:
            best = grid([(g.coords, g.best[name][0] if name in g.best else None) for g in reduced])
            panels.append((f"best {_short(over)} (paper's reduction)", best))
        bounded = name != TIME_SCORE and tuple(METRICS.get(name).bounds) == (0, 1)
        path = folder / f"phase-{name}.png"
        heatmaps(
            panels, row_labels=[str(v) for v in ys] if y else [""], col_labels=[str(v) for v in xs],
            title=f"{index['request']['sweep']['id']}: {name}" + (f" ({rest})" if rest else ""),
            path=path, vmax=1.0 if bounded else None, fmt="{:.2f}" if bounded else "{:.0f}",
            xlabel=_short(x), ylabel=_short(y) if y else None, marked=marked, mark_label=mark,
        )  # fmt: skip
        written.append(path)
    return written


def _cell(s: dict[str, Any] | None, name: str) -> str:
    if s is None:
        return "—"
    if name == TIME_SCORE:
        return "not reached" if s["mean"] is None else f"{s['mean']:.0f} {_int_ci(s)}"
    return f"{num(s['mean'])} {ci(s['ci_low'], s['ci_high'])}"


def _finite(s: dict[str, Any] | None) -> bool:
    return s is not None and s.get("mean") is not None and math.isfinite(s["mean"])


def _below(s: dict[str, Any] | None, floor: float) -> bool:
    return _finite(s) and s["mean"] < floor  # type: ignore[index]


def _best(g: Reduced, name: str) -> str:
    value, at = g.best[name]
    return f"{num(value)} at {at}"


def _short(key: str | None) -> str:
    return "" if key is None else key.rpartition(".")[2]


def _arrow(rows: list[Row], name: str) -> str:
    for r in rows:
        if name in r.scores:
            return arrow(r.scores[name]["direction"])
    return ""


def _seeds(r: Row) -> str:
    extra = ", ".join(f"{n} {k}" for k, n in sorted(r.statuses.items()) if k not in DONE)
    return f"{r.n_done}/{r.n_cells}" + (f" ({extra})" if extra else "")


def _int_ci(s: dict[str, Any]) -> str:
    lo, hi = s["ci_low"], s["ci_high"]
    return f"[{'—' if lo is None else f'{lo:.0f}'}, {'—' if hi is None else f'{hi:.0f}'}]"
