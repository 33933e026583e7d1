"""``anchorbench collect``: every seed's result under some results folders, as one tidy table.

One row per seed (any ``seed-*/result.json`` below the given folders: runs, suites, sweeps), with
what produced it (task and version, entry, model, seed, status, steps, parameters, config hash,
numerics stack) and every configuration value and score in its own column: ``task.<param>``,
``model.<key>``, ``train.<key>``, ``score.<name>``. CSV always; Parquet when pyarrow is installed.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError
from anchorbench.files import read_json

FIRST = ["path", "entry", "task", "task_version", "model", "seed", "status", "steps_completed", "n_params",
         "wall_time_s", "config_hash", "env.torch_version", "env.cpu_capability", "env.device",
         "env.threads"]  # fmt: skip


def row_of(path: Path, root: Path) -> dict[str, Any]:
    from anchorbench.execution.trackers import flat

    r = read_json(path)
    row: dict[str, Any] = {
        "path": str(path.parent.relative_to(root)), "entry": path.parent.parent.name, "task": r["task"]["id"],
        "task_version": r["task"]["version"], "model": r["model"]["name"], "seed": r["seed"], "status": r["status"],
        "steps_completed": r["steps_completed"], "n_params": r["model"]["n_params"], "wall_time_s": r["wall_time_s"],
        "config_hash": r["config_hash"],
    }  # fmt: skip
    row.update({f"env.{k}": r["env"].get(k) for k in ("torch_version", "cpu_capability", "device", "threads")})
    row.update(flat({"task": r["task"]["params"], "model": r["model"]["config"], "train": r["train"]}))
    row.update({f"score.{k}": v for k, v in r["scores"].items()})
    return row


def collect(folders: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder")
        found = sorted(folder.rglob("seed-*/result.json"))
        if not found:
            raise UserError(f"{folder} holds no seed results (seed-*/result.json)")
        rows += [row_of(p, folder) for p in found]
    return rows


def columns(rows: list[dict[str, Any]]) -> list[str]:
    seen = dict.fromkeys(k for row in rows for k in row)
    rest = sorted(k for k in seen if k not in FIRST)
    return (
        [k for k in FIRST if k in seen]
        + [k for k in rest if not k.startswith("score.")]
        + [k for k in rest if k.startswith("score.")]
    )


def write_table(rows: list[dict[str, Any]], out: Path) -> Path:
    cols = columns(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([{c: row.get(c) for c in cols} for row in rows]), out)
        return out
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    return out


def check_out(out: Path) -> None:
    if out.suffix not in (".csv", ".parquet"):
        raise UserError(f"--out {out}: write a .csv or a .parquet file")
    if out.suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise UserError("a .parquet table needs pyarrow: pip install pyarrow (or write --out table.csv)")
