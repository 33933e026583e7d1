"""A sweep's ``curve``: one score against one axis, a line per value of another, with the seeds'
95% intervals, beside published values where the sweep file gives them ([AF]'s test accuracy
against the training-set size for a transformer, an LSTM and an MLP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anchorbench.render.tables import ci, num, table


def _short(key: str) -> str:
    return key.rpartition(".")[2]


def curve_points(rows: list[Any], curve: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per line (its axis value as text; "" with no line axis): the points in x order, each
    ``{x, mean, ci_low, ci_high, seeds, reference}`` (the spec allows no further axis, so one row
    is one point)."""
    reference = (curve.get("reference") or {}).get("values", {})
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        line = "" if curve.get("line") is None else str(r.coords[curve["line"]])
        s = r.scores.get(curve["score"]) or {}
        x = r.coords[curve["x"]]
        ref = reference.get(line, {})
        lines.setdefault(line, []).append({
            "x": x, "mean": s.get("mean"), "ci_low": s.get("ci_low"), "ci_high": s.get("ci_high"),
            "seeds": r.n_done, "reference": ref.get(str(float(x)))  # JSON keys: "200.0",
        })  # fmt: skip
    for points in lines.values():
        points.sort(key=lambda p: p["x"])
    return lines


def curve_table(lines: dict[str, list[dict[str, Any]]], curve: dict[str, Any]) -> str:
    has_ref = any(p["reference"] is not None for points in lines.values() for p in points)
    headers = ([_short(curve["line"])] if curve.get("line") else []) + [_short(curve["x"]), "seeds",
               f"{curve['score']} (mean, 95% CI)"] + (["reference"] if has_ref else [])  # fmt: skip
    body = []
    for line, points in lines.items():
        for p in points:
            cells = [p["x"], p["seeds"], f"{num(p['mean'])} {ci(p['ci_low'], p['ci_high'])}"]
            body.append(([line] if curve.get("line") else []) + cells + ([num(p["reference"])] if has_ref else []))
    text = f"curve: {curve['score']} against {_short(curve['x'])}\n" + table(body, headers)
    if has_ref:
        text += f"\nreference: {curve['reference']['label']}"
    return text


def draw_curve(folder: Path, title: str, lines: dict[str, list[dict[str, Any]]], curve: dict[str, Any]) -> Path:
    from anchorbench.registry import METRICS
    from anchorbench.render.figures import line_plot

    path = folder / f"curve-{curve['score']}.png"
    reference = curve.get("reference")
    named = {(f"{_short(curve['line'])}={k}" if curve.get("line") else k): v for k, v in lines.items()}
    line_plot(
        named, path=path, title=f"{title}: {curve['score']}", xlabel=_short(curve["x"]), ylabel=curve["score"],
        reference_label=reference["label"] if reference else None,
        unit_interval=curve["score"] in METRICS.names() and tuple(METRICS.get(curve["score"]).bounds) == (0, 1),
    )  # fmt: skip
    return path
