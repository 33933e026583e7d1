"""Readable tables (tabulate) for results, specs and registries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from anchorbench.execution.results import AggregateResult, RunResult
from anchorbench.scoring.metric import arrow  # noqa: F401  (re-exported: one arrow for every output)
from anchorbench.scoring.stats import mean_ci

FMT = "simple"


def num(x: float | None, digits: int = 3, *, significant: bool = False) -> str:
    """The one number format of every output (tables, gate reports, the board, verify): ``digits``
    after the point, or ``digits`` significant digits; "—" for a missing or non-finite value."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.{digits}g}" if significant else f"{x:.{digits}f}"


def ci(lo: float | None, hi: float | None, digits: int = 3) -> str:
    return "" if lo is None or hi is None else f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def run_header(results: Sequence[RunResult]) -> str:
    r = results[0]
    statuses = sorted({x.status for x in results})
    seeds = ", ".join(str(x.seed) for x in results)
    cfg = r.model.config
    size = ", ".join(f"{k}={cfg[k]}" for k in ("n_layers", "d_model", "width", "norm", "init_rate") if k in cfg)
    return (
        f"{r.task.id} · {r.model.name} ({size + '; ' if size else ''}{r.model.n_params:,} params) · "
        f"{r.steps_completed} steps · seeds {seeds} · {'/'.join(statuses)}"
    )


def accuracy_table(results: Sequence[RunResult], groups: bool = True) -> str:
    """Rows: each split, then its groups; columns: one per seed, then mean and 95% CI.
    Accuracy where the objective has one; the mean loss where it has none (regression)."""
    multi = len(results) > 1
    has_accuracy = any(s.accuracy is not None for r in results for s in r.splits.values())
    measure, bounds = ("accuracy", (0, 1)) if has_accuracy else ("loss", (0, None))
    group_header = "group" if has_accuracy else "group (mean loss)"
    headers = ["split", group_header, *(f"seed {r.seed}" for r in results)] + (["mean", "95% CI"] if multi else [])
    rows: list[list[Any]] = []
    for split, first in results[0].splits.items():
        keys = [None, *first.groups] if groups else [None]
        for g in keys:
            values = [
                getattr(r.splits[split], measure) if g is None else r.splits[split].groups.get(g, {}).get(measure)
                for r in results
            ]
            shown = [num(v) if has_accuracy else num(v, 3, significant=True) for v in values]
            row = [split if g is None else "", "(all)" if g is None else g, *shown]
            if multi:
                s = mean_ci(values, bounds=bounds)
                row += [num(s["mean"]), ci(s["ci_low"], s["ci_high"])]  # type: ignore[arg-type]
            rows.append(row)
    return tabulate(rows, headers=headers, tablefmt=FMT, disable_numparse=True)


def scores_table(results: Sequence[RunResult], agg: AggregateResult) -> str:
    multi = len(results) > 1
    headers = ["score", "", *(f"seed {r.seed}" for r in results)] + (["mean", "95% CI"] if multi else [])
    rows = []
    for name, s in agg.scores.items():
        row = [name, arrow(s.direction), *map(num, s.values)]
        if multi:
            row += [num(s.mean), ci(s.ci_low, s.ci_high)]
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt=FMT, disable_numparse=True)


def key_value(rows: dict[str, Any]) -> str:
    return tabulate([[k, v] for k, v in rows.items()], tablefmt="plain", disable_numparse=True)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt=FMT, disable_numparse=True)


def signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.3f}"


def comparison_table(c: Any) -> str:
    """Paired differences arm - baseline per seed, with mean and 95% CI, and the speed ratio."""
    seeds = c.seeds
    multi = len(seeds) > 1
    headers = ["score: arm - baseline", *(f"seed {s}" for s in seeds)] + (["mean", "95% CI"] if multi else [])
    rows = []
    for name, d in c.deltas.items():
        row = [name, *map(signed, d.values)]
        if multi:
            row += [signed(d.mean), ci(d.ci_low, d.ci_high)]
        rows.append(row)
    st = c.steps_to
    label = f"steps to {st.split} >= {st.threshold}"
    rows.append(
        [f"{label}: baseline", *("never" if v is None else str(v) for v in st.baseline)] + (["", ""] if multi else [])
    )
    rows.append([f"{label}: arm", *("never" if v is None else str(v) for v in st.arm)] + (["", ""] if multi else []))
    ratio = ["ratio arm / baseline", *map(num, st.ratio.values)]
    if multi:
        ratio += [num(st.ratio.mean), ci(st.ratio.ci_low, st.ratio.ci_high)]
    rows.append(ratio)
    title = f"Paired comparison: {c.arm} vs {c.baseline} (same seeds and data; timing resolution {st.resolution})"
    return title + "\n" + tabulate(rows, headers=headers, tablefmt=FMT, disable_numparse=True)


def _time(t: int | None, resolution: int | None) -> str:
    if t is None:
        return "—"
    return f"{t}" if not resolution else f"{t} (±{resolution})"


def timing_table(results: Sequence[RunResult], agg: AggregateResult) -> str:
    """Grokking timing per seed at each q, and across seeds the Kaplan-Meier median t_gen."""
    qs = list(results[0].timing)
    if not qs:
        return ""
    headers = ["seed"]
    for q in qs:
        headers += [f"t_fit {q}", f"t_gen {q}", "ratio", "grokked"]
    rows = []
    for r in results:
        row: list[Any] = [r.seed]
        for q in qs:
            t = r.timing[q]
            mark = "yes" if t.grokked else ("censored" if t.censored else "no")
            row += [
                _time(t.t_fit, t.resolution_fit),
                _time(t.t_gen, t.resolution_gen),
                num(t.ratio, 1),
                mark,
            ]
        rows.append(row)
    lines = ["Grokking timing (steps; ± = gap to the previous evaluation, the timing resolution)"]
    lines.append(tabulate(rows, headers=headers, tablefmt=FMT, disable_numparse=True))
    for q in qs:
        s = agg.timing[q]
        if s["km_median_t_gen"] is None:
            median = f"not reached ({s['censored']} of {s['n']} censored at the budget)"
        else:
            hi = s["km_ci"][1]
            median = (
                f"{s['km_median_t_gen']:g} [95% CI {s['km_ci'][0]:g}, {'not reached' if hi is None else f'{hi:g}'}]"
            )
        lines.append(f"q={q}: grokked {s['grokked']}/{s['n']}; Kaplan-Meier median t_gen {median}")
    return "\n".join(lines)


TABLED_PROBES = ("weight_norm", "rd", "rd_input", "condensation", "fourier_top5")  # dynamics_table's columns


def tabled_probes(final_probes: Sequence[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
    """Each seed's final probe values where one has a column in :func:`dynamics_table` (a task's own
    probes, e.g. [FREQ]'s spectrum or [PLAW-SGD]'s noise geometry, are scores or plots instead)."""
    return [p if p and any(k in p for k in TABLED_PROBES) else None for p in final_probes]


def dynamics_table(results: Sequence[RunResult], final_probes: Sequence[dict[str, Any] | None]) -> str:
    """Per seed: the probes at the last evaluation (if recorded) and the loss power-law fit."""
    rows = []
    for r, probes in zip(results, final_probes):
        pl = r.probes.power_law
        alpha = "—" if pl is None or pl.alpha is None else f"{pl.alpha:.2f}" + (" (flag)" if pl.flag else "")
        row = [r.seed, alpha]
        if probes:
            cond = probes.get("condensation") or {}
            row += [
                num(probes.get("weight_norm"), 1),
                num(probes.get("rd"), 2),
                num(probes.get("rd_input"), 3),
                f"{cond['clusters']:g}/{cond['neurons']:g}" if cond else "—",
                num(probes.get("fourier_top5"), 2),
            ]
        rows.append(row)
    headers = ["seed", "loss power law alpha"]
    if any(final_probes):
        headers += ["weight norm", "RD", "RD input", "clusters/neurons", "fourier top5"]
    return "Training dynamics (final evaluation)\n" + tabulate(
        rows, headers=headers, tablefmt=FMT, disable_numparse=True
    )
