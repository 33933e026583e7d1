"""``anchorbench submit`` and ``anchorbench leaderboard validate|verify|build``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from anchorbench.errors import UserError

DEFAULT_FOLDER = Path("leaderboard")


def cmd_submit(args: argparse.Namespace) -> int:
    from anchorbench.leaderboard.submit import build_submission, write_submission
    from anchorbench.leaderboard.validate import check_file

    sub = build_submission(Path(args.results), args.name, args.description or "")
    path = write_submission(sub, Path(args.out))
    checked = check_file(path)
    if not checked.ok:  # a fresh submission should always pass; if not, say so loudly
        path.unlink()
        raise UserError(f"the submission would not validate ({checked.problems[0]}); nothing written")
    track = "ranked" if checked.comparable else f"free-for-all ({'; '.join(checked.notes)})"
    print(f"wrote {path} ({sub.content_hash[:19]}; {track})")
    return 0


def _submission_files(paths: list[str]) -> list[Path]:
    files = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    if not files:
        raise UserError(f"no submission files in {', '.join(paths)}")
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from anchorbench.leaderboard.validate import validate_files

    results = validate_files(_submission_files(args.files))
    for c in results:
        if c.ok:
            track = "ranked" if c.comparable else "free-for-all: " + "; ".join(c.notes)
            print(f"ok       {c.path} ({track})")
        else:
            print(f"INVALID  {c.path}")
            for problem in c.problems:
                print(f"  - {problem}")
    bad = sum(not c.ok for c in results)
    print(f"{len(results) - bad} valid, {bad} invalid", file=sys.stderr)
    return 1 if bad else 0


def cmd_verify(args: argparse.Namespace) -> int:
    from anchorbench.leaderboard.validate import check_file
    from anchorbench.leaderboard.verify import verify
    from anchorbench.render import tables

    checked = check_file(Path(args.file))
    if not checked.ok or checked.submission is None:
        print(f"INVALID  {args.file}")
        for problem in checked.problems:
            print(f"  - {problem}")
        return 1
    report = verify(checked.submission, tasks=args.task or None, seed=args.seed, sample=args.sample,
                    threads=args.threads, progress=not args.quiet, allow_import=args.allow_import,
                    extra_seeds=args.extra_seeds)  # fmt: skip
    if report.drawn:
        drawn = "; ".join(f"{label}: {', '.join(map(str, seeds))}" for label, seeds in report.rerun.items())
        print(f"seeds drawn by the verifier: {drawn}")
    for explanation in dict.fromkeys(v.explain() for v in report.verdicts):  # once per distinct rule and stack
        print(explanation)
    print(f"re-run on {report.threads} thread(s) (the verifier's; the record's thread count is not used)")
    for label, seeds in report.extra.items():
        print(f"{label}: a claim fell outside its band; fresh seeds {', '.join(map(str, seeds))} were trained and "
              "the spread of all re-runs judged it again")  # fmt: skip
    rows = [[c.task, c.where, c.score, _num(c.recorded), _num(c.rerun), _band(c), c.why, "ok" if c.ok else "DIFFERS"]
            for c in report.checks]  # fmt: skip
    print(tables.table(rows, ["task", "seed", "score", "claimed", "re-run", "allowed |diff|", "rule", ""]))
    missing = report.not_covered()
    if missing:
        print("not checked (not re-run): " + "; ".join(f"{label} seeds {', '.join(map(str, s))}"
                                                       for label, s in missing.items()))  # fmt: skip
    bad = [c for c in report.checks if not c.ok]
    rules = " and ".join(sorted({v.rule for v in report.verdicts}))
    if bad:
        names = {}
        for c in bad:
            names.setdefault(f"{c.task}.{c.score}", []).append(c.where)
        named = ", ".join(f"{name} ({', '.join(where)})" for name, where in names.items())
        print(f"verify FAILED ({rules}): {len(bad)} check(s) differ: {named}")
        return 1
    word = "reproduced exactly" if rules == "exact" else "consistent" if rules == "consistent" else "verified"
    scope = " of the re-run seeds only" if missing else ""
    print(f"verified ({rules}): {len(report.checks)} check(s) {word}{scope}")
    return 0


def _band(c) -> str:  # noqa: ANN001
    return "0 (bitwise)" if c.rule == "exact" else f"{c.tolerance:.4g}"


def _num(v: float | None) -> str:
    from anchorbench.render.tables import num

    return num(v, 6, significant=True)


def cmd_build(args: argparse.Namespace) -> int:
    from anchorbench.leaderboard.build import build, primary_mean
    from anchorbench.leaderboard.suite import historical
    from anchorbench.leaderboard.validate import check_file, validate_files

    folder = Path(args.folder)
    files = sorted((folder / "submissions").glob("*.json"))
    checked = validate_files(files)
    for c in checked:
        if not c.ok:
            print(f"skipped invalid {c.path}: {c.problems[0]}", file=sys.stderr)
    history, n_old, bad_old = [], 0, 0
    for req, kept in historical(folder):
        old = [check_file(p, req) for p in sorted(kept.glob("*.json"))]
        for c in old:
            if not c.ok:
                print(f"skipped invalid {c.path}: {c.problems[0]}", file=sys.stderr)
        subs = [c.submission for c in old if c.ok]
        history.append((req, sorted(subs, key=lambda s: (-(primary_mean(s, req) or -1.0), s.name))))
        n_old, bad_old = n_old + len(subs), bad_old + sum(not c.ok for c in old)
    md, page = build(checked, folder, history)
    n_ok = sum(c.ok for c in checked)
    older = f" and {n_old} of earlier suite versions" if history else ""
    print(f"{n_ok} submission(s){older} -> {md}, {page}")
    return 1 if n_ok < len(checked) or bad_old else 0


def cmd_power(args: argparse.Namespace) -> int:
    from anchorbench.leaderboard.power import markdown, simulate

    if args.reps < 10:
        raise UserError(f"--reps must be at least 10, not {args.reps}")
    print(markdown(simulate(args.reps)))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("submit", help="make a leaderboard submission from an `anchorbench run standard` folder")
    q.add_argument("results", help="the results folder of `anchorbench run standard --seeds 3`")
    q.add_argument("--name", required=True, help="display name on the board")
    q.add_argument("--description", help="one paragraph: what the model is")
    q.add_argument("--out", default=str(DEFAULT_FOLDER / "submissions"), help="folder (or .json file) to write")
    q.set_defaults(func=cmd_submit)

    q = sub.add_parser("leaderboard", help="validate, verify and build the leaderboard")
    lb = q.add_subparsers(dest="leaderboard_command", required=True, metavar="command")
    v = lb.add_parser(
        "validate", help="check submission files (schema, hash, suite, seeds, scores); exit 1 if any fails"
    )
    v.add_argument("files", nargs="+", help="submission files or folders")
    v.set_defaults(func=cmd_validate)
    v = lb.add_parser("verify", help="re-run recorded seeds and compare their scores with the submission")
    v.add_argument("file", help="the submission file to verify")
    v.add_argument("--seed", type=int, help="re-run only this seed, a quick look (default: every recorded seed)")
    v.add_argument("--sample", type=int, metavar="K",
                   help="re-run K seeds per entry that the verifier draws at random (printed)")  # fmt: skip
    v.add_argument("--extra-seeds", type=int, default=5, metavar="N",
                   help="fresh seeds trained before a cross-stack failure stands (default 5; 0: none)")  # fmt: skip
    v.add_argument("--threads", type=int, default=1,
                   help="torch threads per re-run: the verifier's, at most its usable cores (default 1)")  # fmt: skip
    v.add_argument("--task", action="append", default=[], help="re-run only this suite entry (repeatable)")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.add_argument(
        "--allow-import", action="store_true",
        help="let a submission that names a 'module:attr' model import (run) that module",
    )  # fmt: skip
    v.set_defaults(func=cmd_verify)
    v = lb.add_parser(
        "power", help="simulate how often verify's cross-stack rule catches a forged score (committed baselines)"
    )
    v.add_argument("--reps", type=int, default=300, help="simulated honest submissions per baseline row and entry")
    v.set_defaults(func=cmd_power)
    v = lb.add_parser("build", help="write <folder>/README.md and <folder>/index.html from <folder>/submissions/")
    v.add_argument("--folder", default=str(DEFAULT_FOLDER), help="the leaderboard folder (default: leaderboard)")
    v.set_defaults(func=cmd_build)
