"""Every `anchorbench ...` command the docs show parses with the real parser and names only
things that exist; the quick ones run. A doc that shows a retired task, a refused flag or a
stale error message misleads the reader who copies it.

Commands are taken from README.md, docs/*.md, docs/notes/*.md and leaderboard/RULES.md: lines of
code blocks (indented or fenced) and inline code spans that start with `anchorbench `. A command
with a placeholder (`my_pkg`, `<run>`, `NAME`, `results/...`) is parsed, and what it names that
is not a placeholder must exist. Without a placeholder: `run` and `sweep` are validated by
`--dry-run` (every task, suite, sweep, model, key and probe checked by the code that runs them),
`list`, `show`, `export`, `leaderboard validate` and `leaderboard build` run for real (on a copy
of the board), and for the rest (training for minutes) every name and file is checked. The table
of bad inputs in docs/reliability.md is checked the other way round: each input is refused with
exit code 2 and exactly the message the table quotes.

ANCHORBENCH_DOCS_ROOT=DIR checks the docs of another checkout (the test's own check of itself:
run it on an older commit's docs to see what it catches).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from anchorbench.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
DOCS_ROOT = Path(os.environ.get("ANCHORBENCH_DOCS_ROOT", ROOT))
# A word the reader replaces: their package, model, folder or file, or a letter standing for a value.
PLACEHOLDER = re.compile(
    r"<|>|\.\.\.|my_pkg|\bmy[-_]|mynet|MyNet|\b(NAME|FILE|PATH|DIR)\b|^[A-Z][A-Z_]*$|^results/|^/tmp/"
)
FENCE = re.compile(r"^\s*(```|~~~)")
SPAN = re.compile(r"(?<!`)`(anchorbench [^`]+)`(?!`)")
# Run for real: each takes a second or less.
QUICK = {"list", "show", "export"}


@dataclass(frozen=True)
class Documented:
    where: str  # file:line
    command: str
    table_row: str | None = None  # the whole Markdown table row, when the command is in one


def doc_files() -> list[Path]:
    files = [DOCS_ROOT / "README.md", DOCS_ROOT / "leaderboard" / "RULES.md"]
    return files + sorted((DOCS_ROOT / "docs").glob("*.md")) + sorted((DOCS_ROOT / "docs" / "notes").glob("*.md"))


def extract(path: Path) -> list[Documented]:
    """The `anchorbench ...` commands of one Markdown file, with where they are."""
    found: list[Documented] = []
    rel = path.relative_to(DOCS_ROOT).as_posix()
    lines = path.read_text().splitlines()
    fenced, pending, start = False, "", 0
    for number, line in enumerate(lines, 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        indented = line.startswith("    ") and (pending or not line.lstrip().startswith(("-", "*", "|")))
        code = fenced or indented  # a list item indented by four spaces is not code
        text = line.strip().removeprefix("$ ")
        if code and (pending or text.startswith("anchorbench ")):
            start = start if pending else number
            pending += text.removesuffix("\\").strip() + " "
            if not text.endswith("\\"):
                found.append(Documented(f"{rel}:{start}", without_comment(pending)))
                pending = ""
            continue
        for match in SPAN.finditer(line):
            row = line if line.lstrip().startswith("|") else None
            found.append(Documented(f"{rel}:{number}", match.group(1).strip(), row))
    return found


def without_comment(command: str) -> str:
    return shlex.join(shlex.split(command, comments=True)) if "#" in command else command.strip()


def documented() -> list[Documented]:
    return [d for f in doc_files() for d in extract(f)]


def refused(d: Documented) -> bool:
    """A row of a table of bad inputs: the command next to the error it is refused with."""
    return bool(d.table_row) and "`anchorbench: error:" in d.table_row


def bad_inputs() -> list[Documented]:
    """Documented refusals that need nothing but the command (no file written first, no placeholder)."""
    rows = [d for d in documented() if refused(d)]
    alone = [d for d in rows if re.fullmatch(r"`anchorbench [^`]+`", d.table_row.split("|")[1].strip())]
    return [d for d in alone if not any(placeholder(w) for w in shlex.split(d.command))]


def commands() -> list[Documented]:
    seen, out = set(), []
    for d in documented():
        if refused(d) or d.command in seen:
            continue
        seen.add(d.command)
        out.append(d)
    return out


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices if actions else {}


def command_path(argv: list[str]) -> list[str]:
    """The leading words of argv that name (sub)commands: ['leaderboard', 'verify']."""
    parser, path = build_parser(), []
    for word in argv:
        choices = subcommands(parser)
        if word not in choices:
            break
        parser = choices[word]
        path.append(word)
    return path


def parse(argv: list[str], where: str) -> argparse.Namespace:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"{where}: `anchorbench {shlex.join(argv)}` does not parse (exit {exc.code})") from None


def placeholder(word: str | None) -> bool:
    return bool(word) and bool(PLACEHOLDER.search(word))


def synopsis(argv: list[str]) -> list[str] | None:
    """A usage line (`verify FILE [--task LABEL] [--sample K | --seed S]`) as one parseable command."""
    if not any(w.startswith("[") or w == "|" for w in argv):
        return None
    words, skipping = [], False
    for w in argv:
        if w == "|":  # of alternatives, the first
            skipping = True
        elif not skipping:
            words.append(w if "=" in w else w.removeprefix("[").removesuffix("]"))
        if w.endswith("]") and "=" not in w:
            skipping = False
    return words


def needs_gpu(argv: list[str]) -> bool:
    import torch

    return any(w.startswith("train.device=cuda") for w in argv) and not torch.cuda.is_available()


def check_names(ns: argparse.Namespace, where: str) -> None:
    """What a command names must exist: the slow commands are not run, so check by hand."""
    from anchorbench.bench import BENCHMARKS
    from anchorbench.registry import MODELS
    from anchorbench.specs import load_suite

    def exists(path: str | None, what: str) -> None:
        # relative to the repository, or (a file of the example package, run from its folder) anywhere in it
        if path and not placeholder(path):
            found = glob.glob(str(ROOT / path)) or glob.glob(str(ROOT / "**" / path), recursive=True)
            assert found, f"{where}: {what} {path} does not exist"

    def model(name: str | None) -> None:
        if name and not placeholder(name) and ":" not in name:
            assert name in MODELS.names(), f"{where}: no model {name!r}"

    if ns.command == "ci":
        model(ns.model)
        if not placeholder(ns.suite):
            load_suite(ns.suite if not ns.suite.endswith(".yaml") else str(ROOT / ns.suite))
        exists(ns.thresholds, "thresholds file")
    elif ns.command == "leaderboard" and ns.leaderboard_command == "verify":
        exists(ns.file, "submission")
        entries = {e.name for e in load_suite("standard").runs}
        assert {t for t in ns.task if not placeholder(t)} <= entries, (
            f"{where}: --task {ns.task} not among the standard suite's {sorted(entries)}"
        )
    elif ns.command == "bench":
        assert set(ns.only) <= set(BENCHMARKS), f"{where}: unknown benchmark in {ns.only}"
    elif ns.command in ("plot", "report", "answers", "submit", "collect"):
        for path in [getattr(ns, k, None) for k in ("path", "run", "results")] + list(getattr(ns, "folders", [])):
            exists(path, "folder")


def test_the_docs_show_commands() -> None:
    found = commands()
    assert len(found) > 60, f"only {len(found)} documented commands found: is the extraction broken?"
    assert any(d.where.startswith("README.md") for d in found)
    assert len(bad_inputs()) > 20


@pytest.mark.parametrize("doc", commands(), ids=lambda d: d.where)
def test_documented_command(doc: Documented, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(doc.command)[1:]
    path = command_path(argv)
    if path == argv:  # the command's name alone, as prose says `anchorbench ci`
        assert path, f"{doc.where}: `{doc.command}` names no command"
        return
    usage = synopsis(argv)
    # a letter standing for a number (--sample K, --seed-list S) is given one, to parse
    ns = parse([("1" if re.fullmatch("[A-Z]", w) else w) for w in usage or argv], doc.where)
    if usage or needs_gpu(argv) or any(placeholder(w) for w in argv):
        check_names(ns, doc.where)
        return
    if ns.command in ("run", "sweep"):
        if "--resume" in argv:  # resumes a folder the reader has: validate the rest
            argv.remove("--resume")
        code = main([*argv, "--dry-run"])
    elif ns.command in QUICK:
        code = main([*argv, "--force"] if ns.command == "export" else argv)
    elif ns.command == "leaderboard" and ns.leaderboard_command in ("validate", "build"):
        shutil.copytree(ROOT / "leaderboard", tmp_path / "leaderboard")
        code = main([p for a in argv for p in (sorted(glob.glob(a)) if "*" in a else [a])])
    else:
        check_names(ns, doc.where)
        return
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0, f"{doc.where}: `{doc.command}` exits {code}: {err[-1] if err else ''}"


@pytest.mark.parametrize("doc", bad_inputs(), ids=lambda d: d.where)
def test_documented_bad_input(doc: Documented, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(doc.command)[1:]
    message = re.findall(r"`([^`]+)`", doc.table_row.split("|")[2])
    assert message, f"{doc.where}: the row quotes no message"
    code = main([*argv, "--dry-run"] if argv[0] in ("run", "sweep") else argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, f"{doc.where}: `{doc.command}` exits {code}, the docs say 2"
    assert err and err[-1] == message[0], (
        f"{doc.where}: the docs quote\n  {message[0]}\nthe command prints\n  {err[-1:]}"
    )
    assert not any(tmp_path.iterdir()), f"{doc.where}: `{doc.command}` wrote {sorted(tmp_path.iterdir())}"
