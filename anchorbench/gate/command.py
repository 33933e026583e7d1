"""``anchorbench ci``: run a suite for one model and gate on floors and/or a baseline.

Exit codes: 0 every check passed, 1 a score fell below its floor or regressed beyond the
tolerance (or a run diverged), 2 bad input (before anything is trained), including a gate with
nothing to gate on: no --thresholds, no --baseline and a suite that ships no floors
(``tasks/floors/<suite>.yaml``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from anchorbench.errors import UserError


def cmd_ci(args: argparse.Namespace) -> int:
    from anchorbench.execution import runner
    from anchorbench.execution.plan import Request, make_plan, parse_seeds
    from anchorbench.gate.checks import load_baseline, load_floors, make_checks, shipped_floors
    from anchorbench.gate.outputs import junit_xml, markdown_summary, write
    from anchorbench.registry import METRICS
    from anchorbench.scoring.tolerance import split_loss_sd, split_n

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.tolerance is not None and args.tolerance < 0:
        raise UserError("--tolerance must be >= 0")
    if args.tolerance is not None and not args.baseline:
        raise UserError("--tolerance applies to --baseline")
    request = Request(target=args.suite, model=args.model, sets=tuple(args.set),
                      seeds=tuple(parse_seeds(args.seeds, args.seed_list)))  # fmt: skip
    plan = make_plan(request)
    entries = {e.label: tuple(e.task.scores) for e in plan.entries}
    # Measured on 2 cores, the smoke gate of the default models: 1 min 56 s in one process on both
    # cores' threads, 2 min 11 s as two single-thread processes; so one process by default.
    workers = args.workers or 1
    floors_path = Path(args.thresholds) if args.thresholds else None
    if floors_path is None and not args.baseline and args.save_baseline:
        # Recording a model's baseline (on main, once): the shipped floors are the default models',
        # which another architecture may fall under; the record is what later runs gate on.
        print("recording a baseline only: no floors applied (add --thresholds FILE to gate too)", file=sys.stderr)
    elif floors_path is None and not args.baseline:
        # A gate with nothing to gate on would pass anything: use the suite's own floors, or refuse.
        floors_path = shipped_floors(plan.suite.id if plan.suite else None, args.suite)
        if floors_path is None:
            raise UserError(
                f"nothing to gate on: suite '{args.suite}' ships no floors; give --thresholds FILE and/or "
                "--baseline PATH (or only --save-baseline PATH to record a baseline)"
            )
        print(f"gating on the floors shipped with the suite: {floors_path}", file=sys.stderr)
    floors = load_floors(floors_path, entries) if floors_path else {}
    baseline = load_baseline(Path(args.baseline)) if args.baseline else {}
    out = runner.choose_out(plan, Path(args.out) if args.out else None, Path(args.results_dir), resume=False)
    started = time.perf_counter()
    outcomes = runner.execute(plan, out=out, resume=False, progress=not args.quiet, workers=workers,
                              include_paths=tuple(getattr(args, "include_path", None) or ()))  # fmt: skip
    seconds = time.perf_counter() - started
    runs = []
    for o in outcomes:
        statuses = {r.status for r in o.results}
        runs.append({
            "label": o.plan.label,
            "status": "completed" if statuses == {"completed"} else "diverged",
            "seconds": sum(r.wall_time_s for r in o.results),
            "scores": {k: (v.mean, METRICS.get(k).direction) for k, v in o.aggregate.scores.items()},
            "values": {k: v.values for k, v in o.aggregate.scores.items()},
            "n": {k: split_n(o.results[0].splits, METRICS.get(k).tolerance) for k in o.aggregate.scores},
            "sd": {k: split_loss_sd(o.results[0].splits, METRICS.get(k).tolerance) for k in o.aggregate.scores},
        })  # fmt: skip
    checks = make_checks(runs, floors, baseline, args.tolerance)
    gated = bool(floors or baseline)
    names = sorted({e.model.name for e in plan.entries})
    model = names[0] if len(names) == 1 else "each task's default model"
    summary = markdown_summary(checks, suite=args.suite, model=model, seconds=seconds, gated=gated)
    junit = Path(args.junit) if args.junit else out / "junit.xml"  # with the results unless a path is given
    summary_path = Path(args.summary) if args.summary else out / "summary.md"
    write(junit, junit_xml(checks, suite=args.suite, model=model))
    write(summary_path, summary)
    if os.environ.get("GITHUB_STEP_SUMMARY"):  # GitHub Actions shows this file on the run's page
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as f:
            f.write(summary)
    if args.save_baseline:
        data = {"suite": args.suite, "model": model, "seeds": list(request.seeds),
                "scores": {r["label"]: {k: v for k, (v, _) in r["scores"].items()} for r in runs},
                "values": {r["label"]: r["values"] for r in runs}}  # fmt: skip
        write(Path(args.save_baseline), json.dumps(data, indent=2) + "\n")
    print(summary)
    print(f"-> {junit}, {summary_path}, results in {out}", file=sys.stderr)
    return 0 if all(c.ok for c in checks) else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    from anchorbench.cli import seed_args

    q = sub.add_parser("ci", help="run a suite (default: smoke) for one model; exit 1 on a floor or regression")
    q.add_argument("--model", help="registered model name or module:attr (default: each task's)")
    q.add_argument("--suite", default="smoke", help="suite name or YAML file (default: smoke)")
    q.add_argument(
        "--thresholds",
        help="YAML: task -> score -> floor (a maximum for lower-is-better scores); default: the suite's shipped floors",
    )
    q.add_argument("--baseline", help="a results folder or a --save-baseline JSON to compare against")
    q.add_argument(
        "--tolerance", type=float,
        help="one absolute allowed drop against --baseline for every score (default: each metric's statistical band)",
    )  # fmt: skip
    seed_args(q)
    q.add_argument("--workers", type=int, default=None,
                   help="processes training the runs side by side, each on cores / N threads (default 1)")  # fmt: skip
    q.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override (repeatable)")
    q.add_argument("--junit", help="JUnit XML path (default: junit.xml in the results folder)")
    q.add_argument("--summary", help="Markdown summary path (default: summary.md in the results folder)")
    q.add_argument("--save-baseline", help="also write this run's mean scores as a baseline JSON")
    q.add_argument("--out", help="results folder (default: results/<suite>-<time>)")
    q.add_argument("--results-dir", default="results", help="where --out's default folder is made (default: results)")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=cmd_ci)
