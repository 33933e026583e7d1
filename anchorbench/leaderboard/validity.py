"""Does a better score here mean a better language model? The board's entries on real text.

``anchorbench validity run`` trains every committed board row's model, at the configuration its
row recorded (its first entry's), on the real-text task (``text-lm-v1``: bytes of English,
bits per byte on held-out blocks); ``anchorbench validity report`` relates the two:

* per entry: held-out bits per byte (bpb) with a 95% t-interval over seeds, and bpb on the recall
  bytes (those copying from the window predicts) and on the other bytes;
* Spearman's rank correlation between each synthetic score the board holds (the standard suite's
  mean primary score, and each entry's primary score) and real-text quality, with a bootstrap
  interval over seeds: every replicate redraws, for every entry, its seeds with replacement on
  both sides (its board seeds and its text seeds) and ranks the entries by the redrawn means.

Agreement is reported as rho(score, -bpb): +1 means the synthetic ranking orders the entries as
real text does (a higher score, fewer bits), 0 no relation. With ten entries a rho is coarse (its
interval says how coarse); the report says which entries it covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anchorbench.errors import UserError
from anchorbench.leaderboard.reference import BASELINES, BOARD
from anchorbench.scoring.rank_stats import paired_spearman

TEXT_TASK = "text-lm-v1"
TEXT_SCORES = ("test_bpb", "test_recall_bpb", "test_nonrecall_bpb")
# Board models that cannot serve an all-tokens task, and why (they are left out, and the report says so)
LAST_POSITION_ONLY = {"mlp": "the MLP reads a flattened window and predicts its last position only"}
# Model settings a board row records that the text task sets for itself
TASK_BOUND = ("max_len",)
BOOTSTRAP = 2000


@dataclass(frozen=True)
class BoardRow:
    slug: str  # the submission file's name: the results sub-folder
    name: str
    model: str
    config: dict[str, Any]  # the first entry's recorded model configuration (an [AF] task's transformer)
    sub: Any  # the Submission

    def sets(self) -> dict[str, Any]:
        """``--set`` overrides that rebuild the row's model (its recorded, non-default settings)."""
        return {f"model.{k}": v for k, v in self.config.items() if v is not None and k not in TASK_BOUND}


def board_rows(folder: Path = BOARD) -> list[BoardRow]:
    """The project's baseline rows (the committed submissions), in the board's order of files."""
    from anchorbench.leaderboard.record import Submission

    rows = []
    for slug in BASELINES:
        path = folder / f"{slug}.json"
        if not path.is_file():
            raise UserError(f"no board row {path}")
        sub = Submission.model_validate_json(path.read_text())
        entry = next(iter(sub.tasks.values()))
        rows.append(BoardRow(slug, sub.name, entry.model.name, dict(entry.model.config or {}), sub))
    return rows


def text_rows(rows: list[BoardRow]) -> list[BoardRow]:
    return [r for r in rows if r.model not in LAST_POSITION_ONLY]


def pick_rows(rows: list[BoardRow], only: list[str], what: str = "a board row") -> list[BoardRow]:
    """The rows named by ``--row`` (all when none is named); an unknown name is a one-line error."""
    unknown = sorted(set(only) - {r.slug for r in rows})
    if unknown:
        raise UserError(f"--row {unknown[0]}: not {what} (rows: {', '.join(r.slug for r in rows)})")
    return [r for r in rows if not only or r.slug in only]


def run_rows(out: Path, *, seeds: int, workers: int, only: list[str], progress: bool) -> list[Path]:
    """Train the text task for every (or each named) board row into ``out/<slug>``."""
    from anchorbench.api import run

    rows = text_rows(board_rows())
    chosen = pick_rows(rows, only, "a board row that runs on text")
    folders = []
    for i, row in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {row.name}: {row.model} on {TEXT_TASK}, {seeds} seed(s)", flush=True)
        folder = out / row.slug
        run(TEXT_TASK, model=row.model, seeds=seeds, sets=row.sets(), out=folder, resume=folder.exists(),
            workers=workers, progress=progress)  # fmt: skip
        folders.append(folder)
    return folders


def text_scores(folder: Path) -> dict[str, list[float]]:
    """Per-seed text scores of one row's results folder (seed order)."""
    from anchorbench.execution.results import RunResult
    from anchorbench.files import read_json

    seeds = sorted((folder / TEXT_TASK).glob("seed-*/result.json"), key=lambda p: int(p.parent.name[5:]))
    results = [RunResult.model_validate(read_json(p)) for p in seeds]
    done = [r for r in results if r.status == "completed"]
    scores = {k: [float(r.scores[k]) for r in done] for k in (*TEXT_SCORES, "test_recall_share")}
    return scores | {
        "recall_share": scores.pop("test_recall_share"),
        "n_params": [float(r.model.n_params) for r in done],
    }


def board_scores(row: BoardRow) -> dict[str, list[float]]:
    """Per-seed synthetic scores of a board row: each entry's primary score (as the board ranks it)
    and their mean over entries, seed by seed (the entries ran the same seeds)."""
    from anchorbench.leaderboard.build import primary_values
    from anchorbench.leaderboard.suite import requirement

    per_entry = primary_values(row.sub)
    if per_entry is None:
        raise UserError(f"board row {row.slug}: not a submission of the current standard suite")
    entries = requirement().entries
    out = {f"{label}.{entries[label].primary_score}": v for label, v in zip(row.sub.tasks, per_entry)}
    out["mean primary"] = [float(np.mean(seed)) for seed in zip(*per_entry)]
    return out


def agreement(score: list[list[float]], bpb: list[list[float]], *, reps: int = BOOTSTRAP, seed: int = 0
              ) -> tuple[float, float, float]:  # fmt: skip
    """rho(score, -bpb) over entries (per-entry per-seed values), and its 95% bootstrap interval."""
    return paired_spearman(score, [[-b for b in v] for v in bpb], reps=reps, seed=seed)


def interval(values: list[float]) -> str:
    from anchorbench.scoring.stats import mean_ci

    ci = mean_ci(values)
    if ci["ci_low"] is None:
        return f"{ci['mean']:.3f}"
    return f"{ci['mean']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"


def report(folder: Path, *, reps: int = BOOTSTRAP) -> str:
    """The Markdown tables of docs/validity.md, from a folder that ``validity run`` wrote."""
    rows = [r for r in text_rows(board_rows()) if (folder / r.slug / TEXT_TASK).is_dir()]
    if not rows:
        raise UserError(f"{folder}: no board row's {TEXT_TASK} results (anchorbench validity run --out {folder})")
    text = {r.slug: text_scores(folder / r.slug) for r in rows}
    rows = [r for r in rows if text[r.slug]["test_bpb"]]
    lines = [f"Entries: {len(rows)} board rows on `{TEXT_TASK}` ({', '.join(r.slug for r in rows)}); left out: "
             + "; ".join(f"`{m}` ({why})" for m, why in LAST_POSITION_ONLY.items()) + ".", ""]  # fmt: skip
    lines += [
        "| board row | model | params | seeds | test bpb | recall bpb | other bpb | other - recall | gap to best | "
        "on recall bytes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(rows, key=lambda r: np.mean(text[r.slug]["test_bpb"]))
    best = {k: float(np.mean(text[ordered[0].slug][k])) for k in TEXT_SCORES}
    share = float(np.mean(text[ordered[0].slug]["recall_share"]))
    for r in ordered:
        t = text[r.slug]
        gap = [o - c for o, c in zip(t["test_nonrecall_bpb"], t["test_recall_bpb"])]
        cells = [interval(t[k]) for k in TEXT_SCORES] + [interval(gap)]
        # Zoology's question: how much of this entry's excess over the best entry sits on recall bytes
        behind = float(np.mean(t["test_bpb"])) - best["test_bpb"]
        on_recall = share * (float(np.mean(t["test_recall_bpb"])) - best["test_recall_bpb"])
        cells += [f"{behind:.3f}", f"{on_recall / behind:.0%}" if behind > 0 else "-"]
        lines.append(
            f"| {r.name} | `{r.model}` | {int(t['n_params'][0]):,} | {len(t['test_bpb'])} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        f'Recall bytes are {share:.1%} of the test bytes. "on recall bytes": the share of the entry\'s excess bpb '
        "over the best entry that the recall bytes carry (their share times their excess, over the total excess).",
    ]
    synthetic = {r.slug: board_scores(r) for r in rows}
    names = list(next(iter(synthetic.values())))
    names = ["mean primary"] + [n for n in names if n != "mean primary"]
    lines += [
        "",
        "Agreement: Spearman rho(synthetic score, -bits per byte) over the entries, with a 95% bootstrap interval "
        f"({reps} replicates, seeds redrawn within each entry on both sides).",
        "",
        "| synthetic score | rho vs test bpb | rho vs recall bpb | rho vs other bpb |",
        "|---|---|---|---|",
    ]
    for name in names:
        cells = []
        for target in TEXT_SCORES:
            scores, bits = [synthetic[r.slug][name] for r in rows], [text[r.slug][target] for r in rows]
            rho, low, high = agreement(scores, bits, reps=reps)
            cells.append(f"{rho:+.2f} [{low:+.2f}, {high:+.2f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    q = sub.add_parser("validity", help="the board's entries on real text: bits per byte against the synthetic scores")
    v = q.add_subparsers(dest="validity_command", required=True, metavar="command")
    r = v.add_parser("run", help=f"train every board row's model on {TEXT_TASK} (resumable)")
    r.add_argument("--out", required=True, help="results folder: one sub-folder per board row")
    r.add_argument("--seeds", type=int, default=3, help="seeds per row (default 3)")
    r.add_argument("--workers", type=int, default=1, help="processes (each seed one thread; default 1)")
    r.add_argument("--row", action="append", default=[], help="only this board row (repeatable), e.g. lstm")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)
    r = v.add_parser("report", help="per-row bits per byte and Spearman rho against the synthetic scores (Markdown)")
    r.add_argument("folder", help="the folder `validity run` wrote")
    r.set_defaults(func=cmd_report)
    r = v.add_parser("screen", help="train board rows on a suite's entries under one condition (budget factor, lr)")
    r.add_argument("--out", required=True, help="folder of conditions: writes OUT/<condition>/<row>/")
    r.add_argument("--suite", default="candidates", help="suite name or YAML path (default: candidates)")
    r.add_argument("--budget", type=float, default=1.0, help="factor on every entry's steps (default 1)")
    r.add_argument("--lr", type=float, default=None, help="learning rate for every entry (default: the suite's)")
    r.add_argument("--seeds", type=int, default=3, help="seeds per row (default 3)")
    r.add_argument("--workers", type=int, default=1, help="processes (each seed one thread; default 1)")
    r.add_argument("--row", action="append", default=[], help="only this board row (repeatable), e.g. rwkv")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--from-board", default=None, metavar="FOLDER",
                   help="train nothing: copy a board's submissions (and the suite they ran) as OUT/1x/")  # fmt: skip
    r.set_defaults(func=cmd_screen)
    r = v.add_parser("instrument", help="each entry as an instrument: discrimination, stability, validity, cost")
    r.add_argument("folder", help="the folder `validity screen` wrote (a 1x/ condition at least)")
    r.add_argument("--text", default=None, help="a `validity run` folder: rho against real-text bits per byte")
    r.add_argument("--suite-entries", default=None, help="comma-separated entries: add their mean as the suite")
    r.set_defaults(func=cmd_instrument)


def cmd_run(args: Any) -> int:
    if args.seeds < 1 or args.workers < 1:
        raise UserError("--seeds and --workers must be at least 1")
    run_rows(Path(args.out), seeds=args.seeds, workers=args.workers, only=args.row, progress=not args.quiet)
    print(f"-> {args.out}; the tables: anchorbench validity report {args.out}")
    return 0


def cmd_report(args: Any) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    print(report(folder))
    return 0


def cmd_screen(args: Any) -> int:
    from anchorbench.leaderboard.instrument import from_board, screen

    if args.from_board:
        folder = from_board(Path(args.out), Path(args.from_board))
        print(f"-> {folder}; the table: anchorbench validity instrument {args.out}")
        return 0
    if args.seeds < 2 or args.workers < 1:
        raise UserError("--seeds must be at least 2 (a spread) and --workers at least 1")
    folder = screen(Path(args.out), suite=args.suite, factor=args.budget, lr=args.lr, seeds=args.seeds,
                    workers=args.workers, only=args.row, progress=not args.quiet)  # fmt: skip
    print(f"-> {folder}; the table: anchorbench validity instrument {args.out}")
    return 0


def cmd_instrument(args: Any) -> int:
    from anchorbench.leaderboard.instrument import report as instrument_report

    entries = [e for e in args.suite_entries.split(",") if e] if args.suite_entries else None
    text = Path(args.text) if args.text else None
    print(instrument_report(Path(args.folder), text_folder=text, suite_entries=entries))
    return 0
