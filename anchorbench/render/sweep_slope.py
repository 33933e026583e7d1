"""A sweep's ``slope``: the slope of log(score) against log(x) per cell, per seed, with the seeds'
mean and 95% interval, the sign a theory predicts, the zero crossings, and a heat map.

[COND-PD]: the score is ``rd_input`` (RD of the input weights), x the width m, the cells the
(gamma, gamma') grid; S_w < 0 reads as the linear regime, S_w > 0 as the condensed one, and the
theorem of Luo et al. (JMLR 2021) predicts which is which (anchorbench.scoring.condensation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.render.tables import ci, num, table
from anchorbench.scoring.stats import mean_ci


@dataclass
class SlopeCell:
    coords: dict[str, Any]  # the cell's values of slope.across / slope.rows
    seeds: list[int]  # the seeds with a fitted slope (>= 2 positive points)
    slopes: list[float]  # per seed, in that order
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    points: list[dict[str, Any]]  # per x: {x, mean, ci_low, ci_high} of the score over seeds
    regime: str | None  # what the theory predicts here (None: no theory)
    on_side: bool | None  # the mean's sign is the predicted one (None: no theory, critical, no mean)
    reference: float | None


def _short(key: str | None) -> str:
    return "" if key is None else key.rpartition(".")[2]


def fit_slope(xs: list[float], ys: list[float | None]) -> float | None:
    """The least-squares slope of log y on log x over the positive, finite points (None: fewer than 2)."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y is not None and math.isfinite(y) and y > 0]
    if len(pairs) < 2 or len({p[0] for p in pairs}) < 2:
        return None
    lx, ly = np.array(pairs).T
    return float(np.polyfit(lx, ly, 1)[0])


def _regime(theory: str | None, model_config: dict[str, Any]) -> str | None:
    if theory != "cond-pd":
        return None
    from anchorbench.scoring.condensation import cond_pd_regime

    gamma = model_config.get("gamma")
    return None if gamma is None else cond_pd_regime(float(gamma), float(model_config.get("gamma_prime", 0.0)))


def slope_cells(rows: list[Any], slope: dict[str, Any]) -> list[SlopeCell]:
    """One :class:`SlopeCell` per combination of the non-x axes (rows: a sweep report's rows)."""
    cell_axes = [a for a in (slope.get("across"), slope.get("rows")) if a is not None]
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        groups.setdefault(tuple(r.coords[a] for a in cell_axes), []).append(r)
    reference = (slope.get("reference") or {}).get("values", [])
    cells = []
    for key, members in groups.items():
        members.sort(key=lambda r: r.coords[slope["x"]])
        xs = [float(r.coords[slope["x"]]) for r in members]
        seeds = sorted({s for r in members for s in r.seed_scores}, key=int)
        fitted = [(s, fit_slope(xs, [r.seed_scores.get(s, {}).get(slope["score"]) for r in members])) for s in seeds]
        fitted = [(s, v) for s, v in fitted if v is not None]
        stats = mean_ci([v for _, v in fitted])
        points = [{"x": x, **{k: (r.scores.get(slope["score"]) or {}).get(k) for k in ("mean", "ci_low", "ci_high")},
                   "reference": None} for x, r in zip(xs, members)]  # fmt: skip
        coords = dict(zip(cell_axes, key))
        regime = _regime(slope.get("theory"), members[0].model_config)
        mean = stats["mean"]
        on_side = None
        if regime in ("linear", "condensed") and mean is not None:
            on_side = (mean < 0) if regime == "linear" else (mean > 0)
        ref = next((p["slope"] for p in reference if all(p.get(a) == coords[a] for a in cell_axes)), None)
        cells.append(SlopeCell(coords, [int(s) for s, _ in fitted], [v for _, v in fitted], mean, stats["ci_low"],
                               stats["ci_high"], points, regime, on_side, ref))  # fmt: skip
    cells.sort(key=lambda c: tuple(c.coords[a] for a in reversed(cell_axes)))
    return cells


def zero_crossings(cells: list[SlopeCell], slope: dict[str, Any]) -> list[tuple[Any, float | None]]:
    """Per value of ``rows`` (one entry without it): where the mean slope changes sign along
    ``across``, by linear interpolation between the two neighbouring cells (None: no sign change)."""
    across, rows = slope.get("across"), slope.get("rows")
    if across is None:
        return []
    out = []
    for row in sorted({c.coords.get(rows) for c in cells}, key=lambda v: (v is None, v)):
        line = sorted(
            (c for c in cells if c.coords.get(rows) == row and c.mean is not None), key=lambda c: c.coords[across]
        )
        crossing = None
        for a, b in zip(line, line[1:]):
            if a.mean == 0:
                crossing = float(a.coords[across])
                break
            if a.mean * b.mean < 0:  # type: ignore[operator]
                xa, xb = float(a.coords[across]), float(b.coords[across])
                crossing = xa + (xb - xa) * a.mean / (a.mean - b.mean)  # type: ignore[operator]
                break
        out.append((row, crossing))
    return out


def slope_report(cells: list[SlopeCell], slope: dict[str, Any]) -> str:
    cell_axes = [a for a in (slope.get("across"), slope.get("rows")) if a is not None]
    has_ref = any(c.reference is not None for c in cells)
    theory = slope.get("theory")
    name = f"slope of log {slope['score']} against log {_short(slope['x'])}"
    headers = [_short(a) for a in cell_axes] + ["seeds", f"{name} (mean, 95% CI)", "per seed"]
    headers += (["predicted", "on its side"] if theory else []) + (["reference"] if has_ref else [])
    body = []
    for c in cells:
        row = [c.coords[a] for a in cell_axes] + [len(c.seeds), f"{num(c.mean)} {ci(c.ci_low, c.ci_high)}",
                                                   " ".join(f"{v:+.3f}" for v in c.slopes)]  # fmt: skip
        if theory:
            row += [c.regime or "—", {True: "yes", False: "NO", None: "—"}[c.on_side]]
        if has_ref:
            row += [num(c.reference)]
        body.append(row)
    text = f"slope: {name}, fitted per seed over {_short(slope['x'])} (least squares on log-log)\n" + table(
        body, headers
    )
    if has_ref:
        text += f"\nreference: {slope['reference']['label']}"
    if theory:
        judged = [c for c in cells if c.on_side is not None]
        hits = sum(c.on_side for c in judged)  # type: ignore[misc]
        share = f"{hits}/{len(judged)} = {hits / len(judged):.2f}" if judged else "no cell judged"
        text += f"\n{theory}: cells on the predicted side of zero (critical cells not judged): {share}"
    crossings = zero_crossings(cells, slope)
    if crossings:
        where = ", ".join(
            (f"{_short(slope.get('rows'))} {row}: " if slope.get("rows") else "")
            + (f"{_short(slope['across'])} = {x:.3f}" if x is not None else "no sign change")
            for row, x in crossings
        )
        text += f"\nzero crossing of the mean slope along {_short(slope['across'])}: {where}"
    return text


def boundary(theory: str | None, xs: list[float], ys: list[float]) -> list[list[tuple[float, float]]]:
    """The theory's regime boundary as polylines in (across, rows) coordinates."""
    if theory != "cond-pd" or not xs or not ys:
        return []
    y_low, y_high = min(ys), max(ys)
    lines = []
    if y_low <= 0:  # gamma = 1 for gamma' <= 0
        lines.append([(1.0, y_low), (1.0, min(0.0, y_high))])
    if y_high >= 0:  # gamma' = gamma - 1 for gamma >= 1
        lines.append([(1.0 + max(0.0, y_low), max(0.0, y_low)), (1.0 + y_high, y_high)])
    return lines


def draw_slopes(folder: Path, title: str, cells: list[SlopeCell], rows: list[Any], slope: dict[str, Any]) -> list[Path]:
    from anchorbench.render.figures import line_plot, slope_map

    paths = []
    across, rows_axis = slope.get("across"), slope.get("rows")
    if across is not None:
        xs = sorted({c.coords[across] for c in cells})
        ys = sorted({c.coords.get(rows_axis) for c in cells}, key=lambda v: (v is None, v))
        grid = np.full((len(ys), len(xs)), np.nan)
        off = np.zeros_like(grid, dtype=bool)
        for c in cells:
            i, j = ys.index(c.coords.get(rows_axis)), xs.index(c.coords[across])
            grid[i, j] = np.nan if c.mean is None else c.mean
            off[i, j] = c.on_side is False
        path = folder / f"slope-{slope['score']}.png"
        slope_map(
            grid, xs=[float(x) for x in xs], ys=[0.0 if y is None else float(y) for y in ys], path=path,
            title=f"{title}: slope of log {slope['score']} against log {_short(slope['x'])}",
            xlabel=_short(across), ylabel=_short(rows_axis) or "", marked=off,
            boundary=boundary(slope.get("theory"), [float(x) for x in xs], [float(y) for y in ys if y is not None]),
        )  # fmt: skip
        paths.append(path)
    for row in sorted({c.coords.get(rows_axis) for c in cells}, key=lambda v: (v is None, v)):
        lines = {
            ", ".join(f"{_short(a)}={c.coords[a]}" for a in (across,) if a is not None): c.points
            for c in cells if c.coords.get(rows_axis) == row
        }  # fmt: skip
        suffix = f"-{_short(rows_axis)}={row}" if rows_axis else ""
        path = folder / f"slope-{slope['score']}-vs-{_short(slope['x'])}{suffix}.png"
        line_plot(lines, path=path, title=f"{title}: {slope['score']} against {_short(slope['x'])}"
                  + (f" at {_short(rows_axis)} = {row}" if rows_axis else ""),
                  xlabel=_short(slope["x"]), ylabel=slope["score"], log=True)  # fmt: skip
        paths.append(path)
    return paths
