"""The ``anchorbench`` command. Thin: parse arguments, call the library, print tables.

User mistakes (unknown names, malformed files, wrong value types) print one line and
exit with code 2; they never leave anything in the results folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from anchorbench import __version__
from anchorbench.errors import UserError


def catalogue() -> dict[str, list[dict]]:
    """Everything a user can name: tasks, suites, sweeps, models, interventions, metrics, probes."""
    from anchorbench.registry import DYNAMICS_PROBES, INTERVENTIONS, METRICS, MODELS, PROBES, TASKS
    from anchorbench.specs import load_suite, load_sweep, suite_paths, sweep_paths

    def described(registry, name: str) -> str:
        entry = registry.entry(name)
        obj = registry.get(name)
        return entry.meta.get("description") or getattr(obj, "description", "")

    tasks = [TASKS.get(n) for n in TASKS.names()]
    suites = [load_suite(n) for n in suite_paths()]
    sweeps = [load_sweep(n)[0] for n in sweep_paths()]
    metrics = [METRICS.get(n) for n in METRICS.names()]
    return {
        "tasks": [{"id": t.id, "version": t.version, "family": t.family, "title": t.title} for t in tasks],
        "suites": [{"id": s.id, "version": s.version, "runs": [e.label for e in s.runs], "title": s.title}
                   for s in suites],
        "sweeps": [{"id": s.id, "version": s.version, "axes": list(s.axes), "title": s.title} for s in sweeps],
        "models": [{"name": n, "origin": MODELS.entry(n).origin, "description": described(MODELS, n)}
                   for n in MODELS.names()],
        "interventions": [{"name": n, "origin": INTERVENTIONS.entry(n).origin,
                           "description": described(INTERVENTIONS, n)} for n in INTERVENTIONS.names()],
        "metrics": [{"name": m.name, "direction": m.direction, "tolerance": m.tolerance.describe(),
                     "description": m.description} for m in metrics],
        "probes": [{"name": n, "description": PROBES.get(n).description} for n in PROBES.names()],
        "dynamics_probes": [{"name": n, "description": DYNAMICS_PROBES.get(n).description}
                            for n in DYNAMICS_PROBES.names()],
    }  # fmt: skip


def cmd_list(args: argparse.Namespace) -> int:
    from anchorbench.registry import METRICS
    from anchorbench.render import tables

    found = catalogue()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0

    def section(title: str, key: str, columns: list[str], row) -> None:  # noqa: ANN001
        print(f"\n{title}\n" + tables.table([row(x) for x in found[key]], columns))

    print("Tasks\n" + tables.table([[t["id"], t["version"], t["family"], t["title"]] for t in found["tasks"]],
                                   ["id", "v", "family", "title"]))  # fmt: skip
    section("Suites (anchorbench run NAME)", "suites", ["id", "v", "runs", "title"],
            lambda s: [s["id"], s["version"], ", ".join(s["runs"]), s["title"]])  # fmt: skip
    section("Sweeps (anchorbench sweep NAME)", "sweeps", ["id", "v", "axes", "title"],
            lambda s: [s["id"], s["version"], ", ".join(s["axes"]), s["title"]])  # fmt: skip
    section("Models (or any 'module:attr' nn.Module)", "models", ["name", "origin", "description"],
            lambda m: [m["name"], m["origin"], m["description"]])  # fmt: skip
    section("Interventions (--intervention)", "interventions", ["name", "origin", "description"],
            lambda m: [m["name"], m["origin"], m["description"]])  # fmt: skip
    section("Metrics", "metrics", ["name", "better", "tolerance across stacks", "description"],
            lambda m: [m["name"], METRICS.get(m["name"]).arrow + " " + m["direction"], m["tolerance"],
                       m["description"]])  # fmt: skip
    section("Mechanism probes (a task's probes; drawn by anchorbench plot)", "probes", ["name", "description"],
            lambda p: [p["name"], p["description"]])  # fmt: skip
    section("Training-dynamics probes (--probes)", "dynamics_probes", ["name", "description"],
            lambda p: [p["name"], p["description"]])  # fmt: skip
    return 0


def _task_and_params(task_id: str, sets: list[str]):
    from anchorbench.config import parse_set
    from anchorbench.registry import TASKS

    spec = TASKS.get(task_id)
    overrides = {}
    for expr in sets:
        section, key, value = parse_set(expr)
        if section != "task":
            raise UserError(f"only task.* keys apply here, got '{expr}'")
        overrides[key] = value
    return spec, spec.resolve_params(overrides)


def cmd_show(args: argparse.Namespace) -> int:
    from anchorbench.render import tables

    spec, params = _task_and_params(args.task, args.set)
    family = spec.family_obj
    ds = family.generate(params, args.seed)
    print(f"{spec.id}: {spec.title}")
    print(tables.key_value({
        "family": f"{spec.family} (version {spec.version})",
        "source": spec.source,
        "spec hash": spec.spec_hash(params),
        "splits": " · ".join(f"{k} {len(v):,}" for k, v in ds.splits.items()),
        "scores": ", ".join(spec.scores) + f"  (primary: {spec.primary_score})",
        "default model": ", ".join(f"{k}={v}" for k, v in spec.defaults.model.items()),
        "default train": ", ".join(f"{k}={v}" for k, v in spec.defaults.train.items()),
    }))  # fmt: skip
    print(f"\nRule: {family.rule}")
    if spec.notes:
        print(f"Notes: {spec.notes.strip()}")
    print("\nParameters\n" + tables.table([[k, v] for k, v in params.model_dump().items()], ["param", "value"]))
    rows = []
    for split_name, split in ds.splits.items():
        for g, group in enumerate(ds.group_names):
            hits = np.flatnonzero(split.groups == g)
            if len(hits):
                rows.append([split_name, group, f"{len(hits):,}", family.decode(ds, split_name, int(hits[0]))])
    print(f"\nOne example per group (seed {args.seed})\n" + tables.table(rows, ["split", "group", "n", "example"]))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import importlib.util

    spec, params = _task_and_params(args.task, args.set)
    out = Path(args.out)
    fmt = args.format or {".jsonl": "jsonl", ".parquet": "parquet"}.get(out.suffix, "npz")
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; pass --force to overwrite it")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise UserError("--format parquet needs pyarrow: pip install 'anchorbench[parquet]'")
    ds = spec.family_obj.generate(params, args.seed)
    if args.split != "all" and args.split not in ds.splits:
        raise UserError(f"task {spec.id} has no split '{args.split}' (splits: {', '.join(ds.splits)}, or all)")
    names = list(ds.splits) if args.split == "all" else [args.split]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        arrays = {}
        for name in names:  # one split: tokens, labels...; all: train_tokens, test_tokens, ...
            split, prefix = ds.splits[name], f"{name}_" if args.split == "all" else ""
            arrays.update({f"{prefix}tokens": split.tokens, f"{prefix}labels": split.labels,
                           f"{prefix}groups": split.groups,
                           **{f"{prefix}meta_{k}": v for k, v in split.meta.items()}})  # fmt: skip
        with out.open("wb") as f:  # np.savez would append .npz to other names
            np.savez_compressed(f, group_names=np.array(ds.group_names), **arrays)
    else:
        rows = [row for name in names for row in _export_rows(ds, name)]
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), out)
        else:
            with out.open("w") as f:
                f.writelines(json.dumps(row) + "\n" for row in rows)
    n = sum(len(ds.splits[name]) for name in names)
    what = f"splits {', '.join(names)}" if args.split == "all" else f"split '{args.split}'"
    print(f"wrote {n:,} sequences of {spec.id} {what} (seed {args.seed}) to {out} [{fmt}]")
    return 0


def _export_rows(ds, name: str) -> list[dict]:  # noqa: ANN001
    """One split as rows: tokens, label, group name, the split's name and its per-sequence metadata."""
    split = ds.splits[name]
    return [
        {"split": name, "tokens": split.tokens[i].tolist(), "label": split.labels[i].tolist(),
         "group": ds.group_names[split.groups[i]], **{k: v[i].item() for k, v in split.meta.items()}}
        for i in range(len(split))
    ]  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    from anchorbench.execution import plan as plan_mod
    from anchorbench.execution import runner
    from anchorbench.execution.trackers import parse_logs
    from anchorbench.render import tables

    request = plan_mod.Request(
        target=args.target,
        model=args.model,
        sets=tuple(args.set),
        intervention=args.intervention,
        grid=tuple(args.grid),
        seeds=tuple(plan_mod.parse_seeds(args.seeds, args.seed_list)),
        probes=plan_mod.parse_probes(args.probes),
        analyses=plan_mod.parse_analyses(args.analyses),
        logs=parse_logs(args.log),
    )
    plan = plan_mod.make_plan(request)
    if args.reuse:
        runner.check_reuse_allowed()
    if args.dry_run:
        seeds = ", ".join(map(str, request.seeds))
        rows = [
            [e.label, e.model.name, e.intervention.name if e.intervention else "",
             f"{e.train.steps} x {e.train.batch_size}", e.spec_hash[:19], seeds]
            for e in plan.entries
        ]  # fmt: skip
        print(tables.table(rows, ["entry", "model", "intervention", "steps x batch", "spec hash", "seeds"]))
        print("(dry run: configuration valid; nothing trained or written)")
        return 0
    out = runner.choose_out(plan, Path(args.out) if args.out else None, Path(args.results_dir), args.resume)

    def announce(entry, result) -> None:
        if not args.quiet:
            score = result.scores.get(entry.task.primary_score)
            print(
                f"  {entry.label} seed {result.seed}: {result.status}, {entry.task.primary_score} = "
                f"{tables.num(score)} ({'reused' if result.reused_from else f'{result.wall_time_s:.1f} s'})",
                file=sys.stderr,
            )  # fmt: skip

    if not args.quiet:
        n = f"{len(plan.entries)} run(s) x {len(request.seeds)} seed(s)"
        print(f"anchorbench {__version__}: {n} -> {out}", file=sys.stderr)
    outcomes = runner.execute(
        plan, out=out, resume=args.resume, progress=not args.quiet, reuse=args.reuse, on_result=announce,
        workers=args.workers, include_paths=tuple(args.include_path),
    )  # fmt: skip
    for o in outcomes:
        print()
        print(tables.run_header(o.results))
        print(tables.accuracy_table(o.results, groups=not args.no_groups))
        print()
        print(tables.scores_table(o.results, o.aggregate))
        if o.results[0].timing:
            print()
            print(tables.timing_table(o.results, o.aggregate))
        final_probes = tables.tabled_probes([_last_probes(o.folder / f"seed-{r.seed}" / r.history) for r in o.results])
        if any(final_probes) or any(r.probes.power_law and r.probes.power_law.alpha is not None for r in o.results):
            print()  # only where there is something to show: a probe, or a power law with a long enough window
            print(tables.dynamics_table(o.results, final_probes))
        print(f"-> {o.folder}/aggregate.json, {o.folder}/seed-*/result.json, history.jsonl")
    for c in runner.comparisons(plan, outcomes, out):
        print()
        print(tables.comparison_table(c))
    if plan.comparisons:
        print(f"-> {out}/comparison.json")
    if plan.report:
        from anchorbench.registry import REPORTS

        print()
        print(REPORTS.get(plan.report)(plan, outcomes, out))
    return 0


def _last_probes(history: Path) -> dict | None:
    from anchorbench.files import read_jsonl

    records = read_jsonl(history) if history.exists() else []
    return records[-1].get("probes") if records else None


def cmd_answers(args: argparse.Namespace) -> int:
    from anchorbench.scoring.answers import answers, answers_text

    if args.top < 1:
        raise UserError(f"--top must be at least 1, got {args.top}")
    print(answers_text(answers(Path(args.run), args.split), args.top))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from anchorbench.render.plot_command import plot_path

    written = plot_path(Path(args.path))
    for path in written:
        print(path)
    return 0


BATCH = {"on": True, "off": False, "auto": "auto"}
BATCH_NOTE = {"on": ", seeds batched", "off": "", "auto": ", seeds batched where a probe finds it pays"}


def cmd_sweep(args: argparse.Namespace) -> int:
    from anchorbench.execution import sweep
    from anchorbench.execution.plan import parse_seeds
    from anchorbench.render.tables import table

    if args.address is not None and args.backend != "ray":
        raise UserError("--address applies to --backend ray")
    seeds = tuple(parse_seeds(args.seeds, args.seed_list)) if args.seeds or args.seed_list else None
    plan = sweep.make_sweep_plan(args.file, model=args.model, sets=tuple(args.set), seeds=seeds)
    workers, threads = sweep.resources(args.workers, args.threads)
    if args.dry_run:
        n_cfg = len(plan.entries)
        print(f"{plan.spec.id} v{plan.spec.version}: {n_cfg} configuration(s) x {len(plan.seeds)} seed(s) = "
              f"{len(plan.cells)} cells; {args.backend}, {workers} worker(s) x {threads} thread(s)")  # fmt: skip
        rows = [
            [label, p.model.name, f"{p.train.steps} x {p.train.batch_size}"] for label, (_, p) in plan.entries.items()
        ]
        print(table(rows, ["configuration", "model", "steps x batch"]))
        return 0
    if args.backend == "ray":
        from anchorbench.execution.backends import RayBackend

        RayBackend(workers, args.address)  # refuses now when Ray is not installed
    out = sweep.choose_sweep_out(plan, Path(args.out) if args.out else None, Path(args.results_dir), args.resume)
    print(f"{plan.spec.id}: {len(plan.cells)} cells -> {out} ({args.backend}, {workers} worker(s) x "
          f"{threads} thread(s){BATCH_NOTE[args.batch]})", flush=True)  # fmt: skip
    outcome = sweep.run_sweep(
        plan, out, backend=args.backend, workers=workers, threads=threads, batch=BATCH[args.batch],
        progress=not args.quiet, address=args.address, note=lambda line: print(line, file=sys.stderr, flush=True),
    )  # fmt: skip
    errors = [c for c in outcome.cells if c["status"] == "error"]
    print(f"ran {outcome.ran} cell(s), skipped {outcome.skipped} already done, {len(errors)} error(s) "
          f"in {outcome.wall_time_s:.1f} s -> {out}/sweep.json")  # fmt: skip
    for c in errors:
        print(f"  error: {c['label']} seed {c['seed']}: {c['error']}")
    print(f"next: anchorbench report {out}")
    return 1 if errors else 0


def cmd_report(args: argparse.Namespace) -> int:
    from anchorbench.render.sweep_summary import report

    text, pngs = report(Path(args.path), plots=not args.no_plots)
    print(text)
    for path in pngs:
        print(f"-> {path}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from anchorbench.execution.collect import check_out, collect, write_table

    folders = [Path(f) for f in args.folders]
    out = Path(args.out) if args.out else folders[0] / "collect.csv"
    check_out(out)
    rows = collect(folders)
    print(f"{len(rows)} seed(s) -> {write_table(rows, out)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from anchorbench import bench

    return bench.main(args)


def seed_args(q: argparse.ArgumentParser, what: str = "") -> None:
    """--seeds (a count) and --seed-list (the seeds), shared by run, sweep and ci."""
    q.add_argument("--seeds", metavar="N", help=f"{what}a count: N seeds, 0..N-1 (default: seed 0)")
    q.add_argument("--seed-list", metavar="S,S,...", help=f"{what}exactly these seeds, e.g. 0,5,7")


def model_args(q: argparse.ArgumentParser, *, set_help: str) -> None:
    """--model and --set, shared by run and sweep."""
    q.add_argument("--model", help="registered model name or module:attr (default: the task's)")
    q.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help=set_help)


def output_args(q: argparse.ArgumentParser, *, out: str, resume: str, dry_run: str) -> None:
    """Where results go, resuming, progress and dry runs, shared by run and sweep."""
    q.add_argument("--out", help=out)
    q.add_argument("--results-dir", default="results", help="where --out's default folder is made (default: results)")
    q.add_argument("--resume", action="store_true", help=resume)
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.add_argument("--dry-run", action="store_true", help=f"{dry_run}; train nothing")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anchorbench",
        description="Synthetic tasks for comparing small language-model architectures: generate the data, "
        "train a model with seeds, score it with 95% intervals, gate CI and submit to the leaderboard.",
        epilog="start with: anchorbench list; anchorbench run quickstart; anchorbench run standard --model NAME "
        "--seeds 3. Docs: README.md and docs/ in the repository.",
    )
    p.add_argument("--version", action="version", version=f"anchorbench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    q = sub.add_parser("list", help="tasks, suites, sweeps, models, interventions, metrics and probes")
    q.add_argument("--json", action="store_true", help="one JSON object instead of tables (for scripts)")
    q.set_defaults(func=cmd_list)

    def task_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("task", help="task id, e.g. anchor-composite-v1")
        q.add_argument("--seed", type=int, default=0, help="the data seed (default: 0)")
        q.add_argument("--set", action="append", default=[], metavar="task.KEY=VALUE", help="override a parameter")

    q = sub.add_parser("show", help="a task's rule, splits and one decoded example per group")
    task_args(q)
    q.set_defaults(func=cmd_show)

    q = sub.add_parser("export", help="write one split of a task's dataset (or all) to .npz, .jsonl or .parquet")
    task_args(q)
    q.add_argument("--split", default="train", help="the split to write, or all (default: train; `show` lists them)")
    q.add_argument("--out", required=True, help="file to write: .npz (arrays), .jsonl or .parquet (a row a sequence)")
    q.add_argument("--format", choices=["npz", "jsonl", "parquet"],
                   help="default: from the --out suffix (else npz); parquet needs pyarrow")  # fmt: skip
    q.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    q.set_defaults(func=cmd_export)

    q = sub.add_parser("run", help="train and score: a task id, a suite name or a suite YAML file")
    q.add_argument("target", help="a task id (anchor-identity-v1), a suite name (standard) or a suite YAML file")
    model_args(q, set_help="override task.*, model.*, train.* or intervention.* (repeatable)")
    q.add_argument(
        "--intervention",
        help="also train an intervention arm (e.g. orthogonal-noise) on the same "
        "seeds and data, and report the paired difference; settings: --set intervention.KEY=VALUE",
    )
    q.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2",
        help="replace the values of one of a suite's grid axes (e.g. model.n_layers=2,3,4)",
    )
    seed_args(q)
    q.add_argument("--probes", help="training-dynamics probes: all, or names from `anchorbench list` (at every "
                   "evaluation; final-only probes at the last; stored in history.jsonl)")  # fmt: skip
    q.add_argument("--log", action="append", default=[], metavar="TRACKER[,TRACKER]",
                   help="also send every evaluation to csv, tensorboard, wandb (offline unless WANDB_MODE) and/or "
                   "mlflow, into each seed's folder (repeatable; trackers are extras: pip install "
                   "'anchorbench[wandb]')")  # fmt: skip
    q.add_argument("--analyses", help="analyses beyond the task's own, e.g. grokking-timing (t_fit, t_gen) "
                   "on a task that does not declare it")  # fmt: skip
    output_args(
        q,
        out="results folder of this invocation (default: results/<target>-<time>)",
        resume="continue an interrupted run from its checkpoints",
        dry_run="validate and print the plan",
    )
    q.add_argument("--reuse", action="store_true",
                   help="copy identical completed runs (same config hash and code hash) from the results "
                   "folder instead of training them again; refused on a checkout with uncommitted changes")  # fmt: skip
    q.add_argument("--no-groups", action="store_true", help="print per-split accuracy only")
    q.add_argument("--workers", type=int, default=1,
                   help="train the (entry, seed) runs on this many processes (default 1: one after another); each "
                   "gets train.threads, or the cores divided among the workers; the numbers are those of a "
                   "sequential run with the same threads")  # fmt: skip
    q.set_defaults(func=cmd_run)

    q = sub.add_parser("plot", help="draw a results folder: curves with t_fit/t_gen, probes, t_gen survival")
    q.add_argument("path", help="a seed's run folder, an entry folder or a whole results/<run> folder")
    q.set_defaults(func=cmd_plot)

    q = sub.add_parser("answers", help="what a finished run's model answers on one split, as offsets from the key")
    q.add_argument("run", help="a seed's run folder (result.json and model.pt)")
    q.add_argument("--split", default="unseen", help="the split to evaluate (default: unseen)")
    q.add_argument("--top", type=int, default=8, help="offsets to list, most frequent first (default 8)")
    q.set_defaults(func=cmd_answers)

    q = sub.add_parser("sweep", help="a grid of configs x seeds (a sweep YAML), on a process pool or Ray")
    q.add_argument("file", help="a sweep YAML (e.g. tasks/sweeps/init-phase-cpu.yaml) or a built-in sweep's name")
    model_args(q, set_help="override a key of every cell (repeatable)")
    seed_args(q, what="replace the sweep's seed axis: ")
    q.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: a process pool on this machine (default); ray: a Ray cluster")  # fmt: skip
    q.add_argument("--address", help="Ray: join this cluster ('auto': the one this machine is in); "
                   "default: start a local Ray runtime")  # fmt: skip
    q.add_argument("--workers", type=int, help="parallel workers (default: one per CPU core)")
    q.add_argument("--threads", type=int, help="torch threads per worker (default: cores / workers)")
    q.add_argument(
        "--batch",
        nargs="?",
        const="on",
        default="off",
        choices=["on", "off", "auto"],
        help="train the seeds of one config as one batched (vmap) ensemble: on (--batch alone), off (default), or "
        "auto: per config, only where a probe of a few steps finds it faster (docs/sweeps.md); an ensemble does "
        "not checkpoint: a killed one retrains from step 0",
    )
    output_args(
        q,
        out="the sweep's results folder (default: results/<sweep id>-<time>)",
        resume="skip the cells already done (by config hash)",
        dry_run="validate and print the cells",
    )
    q.set_defaults(func=cmd_sweep)

    q = sub.add_parser("report", help="aggregate a sweep: table (mean, 95%% CI) and phase-diagram PNGs")
    q.add_argument("path", help="a sweep's results folder (holding sweep.json)")
    q.add_argument("--no-plots", action="store_true", help="print the table only")
    q.set_defaults(func=cmd_report)

    q = sub.add_parser("collect", help="every seed's scores and configuration under results folders, as one table")
    q.add_argument("folders", nargs="+", help="results folders (runs, suites, sweeps): every seed-*/result.json below")
    q.add_argument("--out", help="table to write: .csv, or .parquet with pyarrow (default: collect.csv in the first)")
    q.set_defaults(func=cmd_collect)

    q = sub.add_parser("bench", help="throughput and memory benchmarks, as ratios measured side by side")
    q.add_argument("--quick", action="store_true", help="fewer repeats (a smoke check, noisier)")
    q.add_argument(
        "--only", action="append", default=[], metavar="NAME",
        help="run only this benchmark (repeatable): generation, trainer, model, fitted, sweep, paper, eval, memory",
    )  # fmt: skip
    q.set_defaults(func=cmd_bench)

    from anchorbench.gate.command import add_parser as add_ci
    from anchorbench.leaderboard.commands import add_parsers
    from anchorbench.leaderboard.validity import add_parser as add_validity

    add_parsers(sub)
    add_ci(sub)
    add_validity(sub)
    for name in ("list", "show", "export", "run", "sweep", "ci"):
        sub.choices[name].add_argument(
            "--include-path", action="append", default=[], metavar="DIR",
            help="also load task specs (*.yaml) from DIR (repeatable); plug-in packages can use the "
            "'anchorbench.tasks' entry point instead",
        )  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import os

    if "" not in sys.path and os.getcwd() not in sys.path:
        # `--model mymodels:Net` finds mymodels.py in the working folder, as `python -m` would; appended,
        # so a file there never shadows an installed package
        sys.path.append(os.getcwd())
    try:
        from anchorbench.specs import include_task_dir

        for folder in getattr(args, "include_path", None) or []:
            include_task_dir(Path(folder))
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"anchorbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `anchorbench ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"anchorbench: interrupted; `anchorbench {args.command} ... --resume` continues from the last checkpoint",
              file=sys.stderr)  # fmt: skip
        return 130


if __name__ == "__main__":
    sys.exit(main())
