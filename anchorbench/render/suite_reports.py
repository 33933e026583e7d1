"""Reports drawn after a suite's runs (``report:`` in the suite YAML).

``capacity`` ([MATCH] parallel-reasoning conjecture): for a grid over layers x hops of
a matching task, the test accuracy of every cell and, per depth, the largest k such that
every k' <= k reaches the solved threshold. Serial matching needs k + 1 layers for k
hops (max k = L - 1); the conjecture is that depth buys more than that.
Writes ``capacity.json`` and ``capacity.png`` next to the runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.files import write_json
from anchorbench.registry import REPORTS
from anchorbench.render.tables import num, table
from anchorbench.scoring.matching import SOLVED


def capacity(plan: Any, outcomes: list[Any], out: Path) -> str:
    cells: dict[tuple[int, int], float | None] = {}
    for o in outcomes:
        depth = int(o.plan.model.config["n_layers"])
        hops = int(o.plan.params.hops)
        cells[(depth, hops)] = o.aggregate.scores["test_accuracy"].mean
    depths = sorted({d for d, _ in cells})
    hops = sorted({k for _, k in cells})
    acc = np.array([[np.nan if cells.get((d, k)) is None else cells[(d, k)] for k in hops] for d in depths])
    solved = []
    for row in acc:
        best = 0
        for k, value in zip(hops, row):
            if not value >= SOLVED:  # also stops at NaN (a diverged cell)
                break
            best = k
        solved.append(best)
    seeds = list(plan.request.seeds)
    write_json(
        out / "capacity.json",
        {
            "threshold": SOLVED,
            "seeds": seeds,
            "depths": depths,
            "hops": hops,
            "test_accuracy": [[None if np.isnan(v) else float(v) for v in row] for row in acc],
            "max_hops_solved": solved,
        },
    )
    from anchorbench.render.figures import capacity_plot

    capacity_plot(
        depths, hops, acc, solved, threshold=SOLVED, path=out / "capacity.png",
        title=f"{outcomes[0].plan.task.id}: hops solved vs depth (seeds {', '.join(map(str, seeds))})",
    )  # fmt: skip
    rows = [
        [f"L={d}", *(num(v if np.isfinite(v) else None, 2) for v in row), s] for d, row, s in zip(depths, acc, solved)
    ]
    headers = ["layers", *(f"k={k}" for k in hops), f"max k (acc >= {SOLVED})"]
    return (
        "Capacity: test accuracy by layers x hops (mean over seeds)\n"
        + table(rows, headers)
        + f"\n-> {out}/capacity.json, {out}/capacity.png"
    )


REPORTS.register("capacity", capacity, origin="built-in")
