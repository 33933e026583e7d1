"""Is a task a good instrument? Each candidate of the standard suite measured on the board's entries.

``anchorbench validity screen`` trains board rows on a suite (by default the candidates: every
built-in last-token task at its smallest budget) under one *condition*: the suite's budgets times
a factor, optionally another learning rate. It writes ``OUT/<condition>/<row>/`` (a results
folder) and ``OUT/<condition>/suite.yaml`` (the suite as it ran: the scaled budgets). A board's
committed submissions can stand in for a condition's rows (``<row>.json`` beside ``suite.yaml``).

``anchorbench validity instrument OUT`` then measures, per suite entry, on the base condition
``1x`` (all its rows) and the others (the rows they share with it):

* discrimination: the share of pairs of entries whose primary scores differ by Welch's t-test on
  their seeds, Holm-corrected over all pairs (family-wise error 5%);
* seed stability: Kendall tau-b between the rankings from disjoint halves of every entry's
  seeds, over random splits (mean, 2.5-97.5 percentiles);
* budget stability: tau between the rankings at each budget and at twice it (``Kx`` and ``2Kx``);
* learning-rate sensitivity: tau between the ranking at the suite's lr and the ranking with each
  entry at its best of the measured lrs (``1x`` and every ``1x-lr<LR>``);
* validity: Spearman rho against held-out bits per byte on real text (``validity run`` folder);
* ceiling and floor: the share of entries whose mean is within 0.02 of the score's best or
  worst possible value;
* cost: core-minutes for 3 seeds (each seed on one thread), a transformer row (post-LN, small
  init: the default transformer's size) and the slowest row.

Rankings and rho carry bootstrap intervals (entries' seeds redrawn with replacement). A ranking
with every entry tied has no order: its tau is counted as 0. Scores that are better lower are
negated first, so every ranking is best-first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.errors import UserError
from anchorbench.leaderboard.validity import TASK_BOUND
from anchorbench.scoring.rank_stats import paired_spearman, paired_tau, seed_split_tau, separated_share

BASE = "1x"
SUITE_FILE = "suite.yaml"
# The cost column's transformer: post-LN like `--model transformer` (which starts at init rate 0.5),
# the same size, so the same cost per step
DEFAULT_ROW = "transformer-post-small"
AT_BOUND = 0.02  # within this of a score's best or worst possible value: at the ceiling or floor
REPS = 2000
SUITE_MEAN = "suite mean"


@dataclass
class Condition:
    """One condition's measurements: per entry label, per board row, the per-seed primary scores
    (oriented so that higher is better) and wall times."""

    name: str
    suite: Any  # the SuiteSpec the rows ran
    primary: dict[str, str] = field(default_factory=dict)  # label -> score name
    higher: dict[str, bool] = field(default_factory=dict)  # label -> is the score better higher
    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # label -> row -> seeds
    walls: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def condition_name(factor: float, lr: float | None) -> str:
    name = f"{factor:g}x"
    return name if lr is None else f"{name}-lr{lr:g}"


def parse_condition(name: str) -> tuple[float, float | None] | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)x(?:-lr(\d+(?:\.\d+)?(?:e-?\d+)?))?", name)
    if not m:
        return None
    return float(m.group(1)), (float(m.group(2)) if m.group(2) else None)


def scaled_suite(suite: Any, factor: float, lr: float | None) -> dict[str, Any]:
    """The suite's YAML data with every entry's ``train.steps`` times ``factor`` (and ``train.lr``)."""
    from anchorbench.execution.plan import plan_entry

    data = suite.model_dump(mode="json", exclude_none=True)
    data["id"] = f"{suite.id}-{condition_name(factor, lr)}".replace(".", "p")
    runs = []
    for entry, raw in zip(suite.expanded(), data["runs"]):
        steps = plan_entry(entry, None, ()).train.steps
        sets = dict(raw.get("set", {}), **{"train.steps": max(1, round(steps * factor))})
        if lr is not None:
            sets["train.lr"] = lr
        runs.append({**raw, "name": entry.label, "set": sets})
    return data | {"runs": runs}


def row_sets(row: Any) -> dict[str, Any]:
    """``--set`` overrides that make a board row's model on any task: the settings the row recorded
    with one value on all its entries (a transformer row's norm, init rate and width; a zoo
    model's whole configuration). Settings the board's tasks choose differently (the transformer's
    depth, heads, init distribution) stay each task's defaults, as the board runs them."""
    recorded = [dict(r.model.config or {}) for r in row.sub.tasks.values()]
    keys = set.intersection(*(set(c) for c in recorded))
    same = {k: recorded[0][k] for k in sorted(keys) if len({repr(c[k]) for c in recorded}) == 1}
    return {f"model.{k}": v for k, v in same.items() if v is not None and k not in TASK_BOUND}


def screen(out: Path, *, suite: str, factor: float, lr: float | None, seeds: int, workers: int, only: list[str],
           progress: bool) -> Path:  # fmt: skip
    """Train board rows (all, or those named) on ``suite`` under one condition, into ``out/<condition>/``."""
    import yaml

    from anchorbench.api import run
    from anchorbench.leaderboard.validity import board_rows, pick_rows
    from anchorbench.specs import load_suite

    if factor <= 0 or (lr is not None and lr <= 0):
        raise UserError("--budget and --lr must be positive")
    chosen = pick_rows(board_rows(), only)
    data = scaled_suite(load_suite(suite), factor, lr)
    folder = out / condition_name(factor, lr)
    path = folder / SUITE_FILE
    if path.is_file() and yaml.safe_load(path.read_text()) != data:
        raise UserError(f"{path}: written for another suite; use another --out")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for i, row in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {row.name}: {row.model} on {data['id']}, {seeds} seed(s)", flush=True)
        target = folder / row.slug
        run(str(path), model=row.model, seeds=seeds, sets=row_sets(row) | {"train.threads": 1}, out=target,
            resume=(target / "run.json").is_file(), workers=workers, progress=progress)  # fmt: skip
    return folder


def from_board(out: Path, board: Path) -> Path:
    """``out/1x/``: a board's rows as a condition (no training): the submission files of ``board``
    (the current board, or an earlier version's folder under history/) and the suite they ran."""
    import shutil

    from anchorbench.leaderboard.suite import SUITE
    from anchorbench.specs import suite_paths

    files = sorted(board.glob("*.json")) if board.is_dir() else []
    if not files:
        raise UserError(f"--from-board {board}: no submission files")
    kept = board / SUITE_FILE  # an earlier version keeps the suite it ran beside its rows
    suite = kept if kept.is_file() else suite_paths()[SUITE]
    folder = out / BASE
    if folder.exists():
        raise UserError(f"{folder} exists; use another --out")
    folder.mkdir(parents=True)
    shutil.copy(suite, folder / SUITE_FILE)
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def _entry_facts(suite: Any) -> dict[str, tuple[str, int]]:
    """label -> (primary score, training steps) of a suite's entries."""
    from anchorbench.execution.plan import plan_entry

    out = {}
    for entry in suite.expanded():
        plan = plan_entry(entry, None, ())
        out[entry.label] = (entry.primary_score or plan.task.primary_score, plan.train.steps)
    return out


def _row_seeds(path: Path) -> dict[str, list[tuple[dict[str, float], float]]]:
    """label -> per-seed (scores, wall seconds) of one row: a results folder or a submission file."""
    from anchorbench.execution.results import RunResult
    from anchorbench.files import read_json

    if path.suffix == ".json":
        from anchorbench.leaderboard.record import Submission

        sub = Submission.model_validate_json(path.read_text())
        return {
            label: [(dict(s.scores), float(s.wall_time_s or 0.0)) for s in result.seeds if s.status == "completed"]
            for label, result in sub.tasks.items()
        }
    out: dict[str, list[tuple[dict[str, float], float]]] = {}
    for entry in sorted(p for p in path.iterdir() if p.is_dir()):
        seeds = sorted(entry.glob("seed-*/result.json"), key=lambda p: int(p.parent.name[5:]))
        results = [RunResult.model_validate(read_json(p)) for p in seeds]
        out[entry.name] = [(dict(r.scores), float(r.wall_time_s or 0.0)) for r in results if r.status == "completed"]
    return out


def load_condition(folder: Path) -> Condition:
    from anchorbench.registry import METRICS
    from anchorbench.specs import SuiteSpec, load_spec

    if not (folder / SUITE_FILE).is_file():
        raise UserError(f"{folder}: no {SUITE_FILE} (write conditions with `anchorbench validity screen`)")
    cond = Condition(folder.name, load_spec(folder / SUITE_FILE, SuiteSpec))
    facts = _entry_facts(cond.suite)
    for label, (score, steps) in facts.items():
        metric = METRICS.get(score)
        cond.primary[label], cond.steps[label] = score, steps
        cond.higher[label], cond.bounds[label] = metric.direction == "higher", metric.bounds
        cond.values[label], cond.walls[label] = {}, {}
    rows = [p for p in sorted(folder.iterdir()) if (p / "run.json").is_file() or p.suffix == ".json"]
    for path in rows:
        row = path.stem
        for label, seeds in _row_seeds(path).items():
            if label not in facts or not seeds:
                continue
            sign = 1.0 if cond.higher[label] else -1.0
            values = [sign * float(scores[facts[label][0]]) for scores, _ in seeds if facts[label][0] in scores]
            if values:
                cond.values[label][row] = values
                cond.walls[label][row] = [wall for _, wall in seeds]
    return cond


def load_conditions(folder: Path) -> dict[str, Condition]:
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    conds = {p.name: load_condition(p) for p in sorted(folder.iterdir()) if parse_condition(p.name) and p.is_dir()}
    if BASE not in conds:
        raise UserError(f"{folder}: no base condition {BASE}/ (anchorbench validity screen --out {folder})")
    return conds


def add_suite_mean(cond: Condition, labels: list[str]) -> None:
    """A pseudo-entry: per row and seed, the mean over ``labels`` of their primary scores (all
    scored in [0, 1], higher better, as the board's mean primary score): the suite as one instrument."""
    rows = set.intersection(*(set(cond.values.get(label, {})) for label in labels)) if labels else set()
    cond.values[SUITE_MEAN], cond.walls[SUITE_MEAN] = {}, {}
    for row in sorted(rows):
        n = min(len(cond.values[label][row]) for label in labels)
        cond.values[SUITE_MEAN][row] = [float(np.mean([cond.values[lb][row][i] for lb in labels])) for i in range(n)]
        cond.walls[SUITE_MEAN][row] = [float(np.sum([cond.walls[lb][row][i] for lb in labels])) for i in range(n)]
    cond.primary[SUITE_MEAN], cond.higher[SUITE_MEAN], cond.bounds[SUITE_MEAN] = "mean primary", True, (0.0, 1.0)
    cond.steps[SUITE_MEAN] = sum(cond.steps.get(label, 0) for label in labels)


@dataclass(frozen=True)
class Instrument:
    label: str
    score: str
    steps: int
    rows: int
    separated: tuple[int, int]
    seed_tau: tuple[float, float, float]
    budget_tau: list[tuple[str, int, tuple[float, float, float]]]  # (pair, rows, tau)
    lr_tau: tuple[int, tuple[float, float, float]] | None
    text_rho: tuple[int, tuple[float, float, float]] | None
    at_bound: tuple[int, int]  # (at floor, at ceiling)
    minutes: tuple[float | None, float]  # (default transformer, slowest row), 3 seeds, core-minutes


def _common(a: dict[str, list[float]], b: dict[str, list[float]]) -> list[str]:
    return sorted(set(a) & set(b))


def budget_pairs(conds: dict[str, Condition]) -> list[tuple[str, str]]:
    """(K x, 2K x) pairs of conditions at the suite's learning rate."""
    plain = {f[0]: n for n in conds if (f := parse_condition(n)) and f[1] is None}
    return [(plain[k], plain[2 * k]) for k in sorted(plain) if 2 * k in plain]


def best_lr_values(label: str, conds: dict[str, Condition]) -> tuple[list[str], list[list[float]]] | None:
    """Rows measured at another lr, and each one's values at its best lr (by mean; ``1x`` included)."""
    others = [c for n, c in conds.items() if n != BASE and (f := parse_condition(n)) and f[0] == 1.0 and f[1]]
    base = conds[BASE].values.get(label, {})
    rows = sorted(set(base).intersection(*(set(c.values.get(label, {})) for c in others))) if others else []
    if len(rows) < 3:
        return None
    best = []
    for row in rows:
        options = [base[row]] + [c.values[label][row] for c in others]
        best.append(max(options, key=np.mean))
    return rows, best


def measure(label: str, conds: dict[str, Condition], text: dict[str, list[float]] | None, reps: int) -> Instrument:
    base = conds[BASE]
    values = base.values[label]
    rows = sorted(values)
    per_row = [values[r] for r in rows]
    budgets = []
    for low, high in budget_pairs(conds):
        a, b = conds[low].values.get(label, {}), conds[high].values.get(label, {})
        common = _common(a, b)
        if len(common) >= 3:
            tau = paired_tau([a[r] for r in common], [b[r] for r in common], reps=reps)
            budgets.append((f"{low}->{high}", len(common), tau))
    lr = best_lr_values(label, conds)
    lr_tau = None
    if lr is not None:
        lr_rows, best = lr
        lr_tau = (len(lr_rows), paired_tau([values[r] for r in lr_rows], best, reps=reps))
    text_rho = None
    if text:
        common = [r for r in rows if r in text]
        if len(common) >= 3:
            bits = [[-b for b in text[r]] for r in common]  # fewer bits is better
            text_rho = (len(common), paired_spearman([values[r] for r in common], bits, reps=reps))
    low, high = base.bounds[label]
    worst, best_value = (low, high) if base.higher[label] else (high, low)
    sign = 1.0 if base.higher[label] else -1.0
    means = [sign * float(np.mean(v)) for v in per_row]
    floor = sum(worst is not None and abs(m - worst) <= AT_BOUND for m in means)
    ceiling = sum(best_value is not None and abs(m - best_value) <= AT_BOUND for m in means)
    walls = base.walls[label]
    per3 = {r: 3 * float(np.mean(w)) / 60 for r, w in walls.items() if w}
    return Instrument(
        label=label, score=base.primary[label], steps=base.steps[label], rows=len(rows),
        separated=separated_share(per_row) if all(len(v) >= 2 for v in per_row) else (0, 0),
        seed_tau=seed_split_tau(per_row, reps=reps), budget_tau=budgets, lr_tau=lr_tau, text_rho=text_rho,
        at_bound=(floor, ceiling), minutes=(per3.get(DEFAULT_ROW), max(per3.values()) if per3 else math.nan),
    )  # fmt: skip


def _ci(t: tuple[float, float, float]) -> str:
    return f"{t[0]:+.2f} [{t[1]:+.2f}, {t[2]:+.2f}]"


def table(found: list[Instrument]) -> str:
    lines = [
        "| entry | primary score | steps | entries | pairs separated | seed-split tau | budget tau | lr tau | "
        "rho vs text bpb | at floor / ceiling | core-min, 3 seeds: transformer / slowest |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in found:
        sep = f"{m.separated[0]}/{m.separated[1]} ({m.separated[0] / m.separated[1]:.0%})" if m.separated[1] else "-"
        budget = "; ".join(f"{_ci(t)} ({pair}, {n})" for pair, n, t in m.budget_tau) or "-"
        lr = f"{_ci(m.lr_tau[1])} ({m.lr_tau[0]})" if m.lr_tau else "-"
        rho = f"{_ci(m.text_rho[1])} ({m.text_rho[0]})" if m.text_rho else "-"
        transformer = f"{m.minutes[0]:.1f}" if m.minutes[0] is not None else "-"
        lines.append(
            f"| {m.label} | `{m.score}` | {m.steps} | {m.rows} | {sep} | {_ci(m.seed_tau)} | {budget} | {lr} | {rho} | "
            f"{m.at_bound[0]} / {m.at_bound[1]} | {transformer} / {m.minutes[1]:.1f} |"
        )
    return "\n".join(lines)


def report(folder: Path, *, text_folder: Path | None = None, suite_entries: list[str] | None = None,
           reps: int = REPS) -> str:  # fmt: skip
    """The instrument table of a folder that ``validity screen`` wrote (Markdown)."""
    conds = load_conditions(folder)
    labels = [label for label in conds[BASE].values if len(conds[BASE].values[label]) >= 3]
    if suite_entries:
        unknown = sorted(set(suite_entries) - set(labels))
        if unknown:
            raise UserError(f"--suite-entries: {unknown[0]} is not an entry measured in {folder / BASE}")
        for cond in conds.values():
            add_suite_mean(cond, [label for label in suite_entries if label in cond.values])
        labels.append(SUITE_MEAN)
    if not labels:
        raise UserError(f"{folder / BASE}: no entry measured on 3 or more board rows")
    text = _text_bpb(text_folder) if text_folder else None
    found = [measure(label, conds, text, reps) for label in labels]
    rows = sorted(set().union(*(conds[BASE].values[label] for label in labels)))
    head = [
        f"Conditions: {', '.join(sorted(conds))} (base {BASE}: {len(rows)} board rows: {', '.join(rows)}).",
        f"Intervals: 95%, {reps} bootstrap replicates; pairs: Welch's t-test on seeds, Holm-corrected (5%).",
        "",
    ]
    return "\n".join(head) + table(found)


def _text_bpb(folder: Path) -> dict[str, list[float]]:
    from anchorbench.leaderboard.validity import TEXT_TASK, text_scores

    if not folder.is_dir():
        raise UserError(f"--text {folder}: no such folder")
    out = {}
    for row in sorted(p for p in folder.iterdir() if (p / TEXT_TASK).is_dir()):
        bpb = text_scores(row)["test_bpb"]
        if bpb:
            out[row.name] = bpb
    if not out:
        raise UserError(f"--text {folder}: no {TEXT_TASK} results (anchorbench validity run --out {folder})")
    return out
