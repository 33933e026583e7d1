"""Hostile and malformed input: one line on stderr, exit 2, nothing written.

Every case runs the real command (``anchorbench.cli.main``, in-process) in an empty working
folder and checks: exit code 2, exactly one non-empty stderr line starting
``anchorbench: error:`` that contains the expected fragment, no traceback, and the folder
unchanged (no ``results/``, no ``--out`` folder). ``CASES`` is also the table in the docs
(docs page "Bad input"). Then the leaderboard: names that look like the page template's
placeholders, Markdown specials, and invisible characters in displayed text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import snapshot

from anchorbench.cli import main
from anchorbench.leaderboard.build import fill, main_columns, markdown, md_code, md_escape, page
from anchorbench.leaderboard.record import Submission, content_hash_of
from anchorbench.leaderboard.text import check_text
from anchorbench.specs import SLUG, load_suite, load_sweep, suite_paths, sweep_paths

ROOT = Path(__file__).resolve().parent.parent
ID, COMPOSITION = "anchor-identity-v1", "anchor-composition-v1"
CHAIN, ADDITION = "matching-chain-v2", "modular-addition-v1"
RLO, LRI, ZWSP = "\u202e", "\u2066", "\u200b"

# Files the cases refer to, written into the working folder first.
SWEEP = "version: 1\ntitle: t\nbase: {task: anchor-identity-v1}\n"
TASK_YAML = "family: anchor-identity\ntitle: t\nsource: s\nscores: [test_accuracy]\nprimary_score: test_accuracy\n"
FILES = {
    "broken.yaml": "id: broken\nversion: 1\ntitle: x\nruns: [\n  - task: anchor-identity-v1\n",
    "sweep-id.yaml": "id: ../../evil\n" + SWEEP + "axes: {model.n_layers: [1, 2]}\n",
    "sweep-axis.yaml": "id: ok\n" + SWEEP + "axes: {model.norm: [pre, ../../x]}\n",
    "suite-id.yaml": "id: a/b\nversion: 1\ntitle: t\nruns: [{task: anchor-identity-v1}]\n",
    "entry-name.yaml": "id: s\nversion: 1\ntitle: t\nruns: [{task: anchor-identity-v1, name: ../../escape}]\n",
    "entry-task.yaml": "id: s\nversion: 1\ntitle: t\nruns: [{task: ../../x-v1}]\n",
    "grid-value.yaml": "id: g\nversion: 1\ntitle: t\nruns: [{task: anchor-identity-v1, name: identity}]\n"
    "grid: {model.norm: [pre, a/b]}\n",
    "tasks/Evil.yaml": "id: ../../Evil\n" + TASK_YAML,
    "own-suite.yaml": "id: own\nversion: 1\ntitle: t\nruns: [{task: anchor-identity-v1}]\n",
}


def sets(*exprs: str) -> list[str]:
    return [x for e in exprs for x in ("--set", e)]


# case -> (argv, a fragment of the one-line message). Task runs add --quiet.
CASES: dict[str, tuple[list[str], str]] = {
    # names that become paths
    "sweep-id": (["sweep", "sweep-id.yaml"], "sweep id '../../evil' cannot name a folder"),
    "sweep-axis-value": (["sweep", "sweep-axis.yaml"], "axis value '../../x' of model.norm cannot be part of a folder"),
    "suite-id": (["run", "suite-id.yaml"], "suite id 'a/b' cannot name a folder"),
    "suite-entry-name": (["run", "entry-name.yaml"], "entry name '../../escape' cannot name a folder"),
    "suite-entry-task": (["run", "entry-task.yaml"], "task id '../../x-v1' must look like 'name-v1'"),
    "suite-grid-value": (["run", "grid-value.yaml"], "grid value 'a/b' of model.norm cannot be part of a folder"),
    "cli-grid-value": (["run", "matching-depth", "--grid", "task.hops=../x"], "grid value '../x' of task.hops"),
    "include-path-task-id": (["run", ID, "--include-path", "tasks"], "task id '../../Evil' must look like 'name-v1'"),
    # family parameters the generators cannot serve
    "seq-len-300": (["run", ID, *sets("task.seq_len=300")], "seq_len 300 is over 257"),
    "seq-len-300-big-vocab": (["run", ID, *sets("task.seq_len=300", "task.vocab_size=600")], "seq_len 300 is over 257"),
    "composition-seq-len": (["run", COMPOSITION, *sets("task.seq_len=300", "task.vocab_size=600")], "over 258"),
    "vocab-too-large": (["run", ID, *sets("task.vocab_size=1000000000")], "task.vocab_size"),
    "noise-outside-vocab": (["run", ID, *sets("task.noise_high=300")], "noise_high"),
    "key-mod-too-large": (["run", ID, *sets("task.key_mod=1000")], "leaves no test-type key"),
    "n-train-zero": (["run", ID, *sets("task.n_train=0")], "task.n_train"),
    "n-test-negative": (["run", ID, *sets("task.n_test=-5")], "task.n_test"),
    "n-train-huge": (["run", ID, *sets("task.n_train=1000000000000")], "is over 100,000,000"),
    "n-train-bool": (["run", ID, *sets("task.n_train=yes")], "n_train takes an integer, got True"),
    "held-out-empty": (["run", COMPOSITION, *sets("task.held_out_pairs=[]")], "held_out_pairs is empty"),
    "held-out-repeated": (["run", COMPOSITION, *sets("task.held_out_pairs=[[3,4],[3,4]]")], "repeats a pair"),
    "too-many-anchors": (
        ["run", COMPOSITION, *sets("task.shifts={" + ",".join(f"{a}: 0" for a in range(1, 18)) + "}")],
        "at most 256 trained",
    ),
    "chain-never-distinct": (
        ["run", CHAIN, *sets("task.train_shifts=[0]", "task.chain_len=17")],
        "avoid revisiting a node",
    ),
    "chain-len-too-long": (["run", CHAIN, *sets("task.chain_len=300")], "task.chain_len"),
    "chain-len-float": (["run", CHAIN, *sets("task.chain_len=7.0")], "task.chain_len"),
    "modular-p-float": (["run", ADDITION, *sets("task.p=97.0")], "task.p"),
    "modular-p-huge": (["run", ADDITION, *sets("task.p=1000000")], "task.p"),
    "modular-division-composite": (["run", "modular-division-v1", *sets("task.p=91")], "needs a prime"),
    "modular-seq-len": (["run", ADDITION, *sets("task.seq_len=5")], "seq_len is 4"),
    "train-fraction-one": (["run", ADDITION, *sets("task.train_fraction=1.0")], "task.train_fraction"),
    # submission text
    "submit-name-bidi": (["submit", "results/x", "--name", f"good{RLO}txt.exe"], "--name: U+202E"),
    "submit-name-control": (["submit", "results/x", "--name", "red\x1b[31m"], "--name: U+001B"),
    "submit-name-newline": (["submit", "results/x", "--name", "two\nlines"], "--name: U+000A"),
    "submit-name-zero-width": (["submit", "results/x", "--name", f"MLP{ZWSP}"], "--name: U+200B"),
    "submit-description-isolate": (
        ["submit", "results/x", "--name", "ok", "--description", f"a {LRI}b"],
        "--description: U+2066",
    ),
    # the common ones
    "unknown-task": (["run", "anchor-identiti-v1"], "Did you mean 'anchor-identity-v1'"),
    "outdated-version": (["run", "anchor-identity-v0"], "the current version is anchor-identity-v1"),
    "unknown-set-key": (["run", ID, *sets("train.stepz=8")], "unknown config key 'train.stepz'"),
    "unknown-section": (["run", ID, *sets("optim.lr=1")], "unknown config section 'optim'"),
    "wrong-type": (["run", ID, *sets("train.steps=abc")], "train.steps"),
    "malformed-yaml": (["run", "broken.yaml"], "malformed YAML in broken.yaml"),
    "missing-suite-file": (["run", "missing.yaml"], "no such suite file: missing.yaml"),
    "missing-sweep-file": (["sweep", "missing.yaml"], "no such sweep file: missing.yaml"),
    "unknown-model": (["run", ID, "--model", "transfomer"], "Did you mean 'transformer'"),
    "bad-seeds": (["run", ID, "--seeds", "abc"], "--seeds is a count of seeds"),
    "zero-seeds": (["run", ID, "--seeds", "0"], "must be at least 1, got 0 (seed 0 alone: --seeds 1 or --seed-list 0)"),
    "seeds-list-in-count": (["run", ID, "--seeds", "0,5"], "for the seeds 0,5 use --seed-list 0,5"),
    "seeds-and-seed-list": (["run", ID, "--seeds", "2", "--seed-list", "3"], "not both"),
    "negative-seed": (["run", ID, "--seed-list", "0,-1"], "non-negative"),
    # a gate with nothing to gate on, and trust in earlier results
    "ci-nothing-to-gate-on": (["ci", "--suite", "own-suite.yaml"], "nothing to gate on: suite 'own-suite.yaml'"),
    "ci-tolerance-without-baseline": (["ci", "--tolerance", "0.1"], "--tolerance applies to --baseline"),
    "ci-negative-tolerance": (["ci", "--baseline", "b.json", "--tolerance", "-1"], "--tolerance must be >= 0"),
}


def argv_of(case: str) -> list[str]:
    argv, _ = CASES[case]
    return [*argv, "--quiet"] if argv[0] in ("run", "sweep") else argv


def prepare(folder: Path) -> None:
    for name, text in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: str, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    prepare(tmp_path)
    before = snapshot(tmp_path)
    r = cli(*argv_of(case))
    assert r.code == 2, (r.code, r.err)
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith("anchorbench: error:"), r.err
    assert CASES[case][1] in r.err_lines[0], r.err_lines[0]
    assert "Traceback" not in r.err + r.out
    assert snapshot(tmp_path) == before  # no results/ folder, no submission, nothing else


# -- the slug rule keeps the names in use -----------------------------------------------------
def test_builtin_suite_and_sweep_labels_are_slugs() -> None:
    labels = [e.label for name in suite_paths() for e in load_suite(name).expanded()]
    labels += [e.label for name in sweep_paths() for e in load_sweep(name)[0].as_suite().expanded()]
    assert "matching-chain-v2@n_layers=2,hops=3" in labels and "identity" in labels
    labels += [f"{label}+orthogonal-noise" for label in labels]  # --intervention twins
    assert all(SLUG.fullmatch(label) for label in labels), [x for x in labels if not SLUG.fullmatch(x)]


# -- the leaderboard ----------------------------------------------------------------------------
def committed(name: str = "mlp.json") -> dict:
    return json.loads((ROOT / "leaderboard" / "submissions" / name).read_text())


def test_the_page_is_filled_in_one_pass() -> None:
    assert fill("<{{a}}|{{b}}>", {"a": "{{b}}", "b": "{{a}}"}) == "<{{b}}|{{a}}>"
    with pytest.raises(KeyError):
        fill("{{missing}}", {})


@pytest.mark.parametrize("name", ["{{free}}", "{{ranked}}", "{{suite}} {{task_options}}", "{{tuned}}"])
def test_a_submission_named_like_a_placeholder_renders_literally(name: str) -> None:
    sub = Submission.model_validate(committed()).model_copy(update={"name": name})
    other = Submission.model_validate(committed("lstm.json"))
    html = page([sub], [(other, ["a note"])], [(sub, [])])
    assert html.count('<table id="ranked">') == 1 and html.count('<table id="free">') == 1
    from anchorbench.leaderboard.suite import requirement

    per_task = len(requirement().entries)  # the ranked row, one per task's own table, the tuned row
    assert html.count('<table id="tuned">') == 1 and html.count(f'<tr data-name="{name}">') == 2 + per_task
    assert html.count("<select") == 1
    assert f'<tr data-name="{name}">' in html
    assert f">{name}</td>" in html
    assert f"| {md_escape(name)} |" in markdown([sub], [], [])


def test_markdown_specials_are_escaped() -> None:
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("*x* _y_ `z` [l](u) # ~s~ $m$ \\") == "\\*x\\* \\_y\\_ \\`z\\` \\[l\\](u) \\# \\~s\\~ \\$m\\$ \\\\"
    assert md_escape("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert md_escape("- item") == "\\- item" and md_escape("+ x") == "\\+ x" and md_escape("1. x") == "1\\. x"
    assert md_escape("see http://x.org or www.x.org") == "see http\\://x.org or www\\.x.org"
    assert md_escape("two\nlines\r\n  and   spaces") == "two lines and spaces"
    assert md_escape("Transformer, pre-LN, small init (gamma 0.8)") == "Transformer, pre-LN, small init (gamma 0.8)"


@pytest.mark.parametrize(
    "model, span",
    [
        ("mlp", "`mlp`"),
        ("pkg.m:Net", "`pkg.m:Net`"),
        ("a`b", "``a`b``"),
        ("`x", "`` `x ``"),
        ("x``", "``` x`` ```"),
        ("a|b", "`a\\|b`"),
    ],
)
def test_a_backtick_in_the_model_name_cannot_leave_its_code_span(model: str, span: str) -> None:
    assert md_code(model) == span
    sub = Submission.model_validate(committed()).model_copy(update={"model_name": model, "name": "n|*a*"})
    cols = main_columns()
    row = next(line for line in markdown([sub], [], []).splitlines() if line.startswith("| 1 |"))
    cells = re.split(r"(?<!\\)\|", row)[1:-1]  # GitHub splits at every unescaped pipe, code spans included
    assert len(cells) == 4 + len(cols), row
    assert cells[2].strip() == span


@pytest.mark.parametrize(
    "text, code",
    [(f"a{RLO}b", "U+202E"), (f"{LRI}x", "U+2066"), ("\u200fx", "U+200F"), ("\u061cx", "U+061C"),
     ("a\tb", "U+0009"), ("a\x00", "U+0000"), ("a\u2028b", "U+2028"), (f"a{ZWSP}", "U+200B"), ("a\ud800", "U+D800")],
)  # fmt: skip
def test_check_text_names_the_character(text: str, code: str) -> None:
    problem = check_text(text)
    assert problem is not None and problem.startswith(code) and "\n" not in problem


def test_check_text_accepts_ordinary_names() -> None:
    for text in ("Transformer, pre-LN (γ 0.8)", "模型 · ü", "MLP | pipes <b>", "emoji 🚀", ""):
        assert check_text(text) is None, text


@pytest.mark.parametrize(
    "key, value, code",
    [("name", f"MLP{RLO}", "U+202E"), ("description", "line\nbreak", "U+000A"), ("model_name", f"ml{ZWSP}p", "U+200B")],
)
def test_validate_reports_invisible_characters_as_a_problem(
    key: str, value: str, code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {**committed(), key: value}
    data["content_hash"] = content_hash_of(data)
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    assert main(["leaderboard", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"INVALID  {path}" in out
    problems = [line for line in out.splitlines() if line.startswith("  - ")]
    assert any(line.startswith(f"  - {key}: {code}") for line in problems), out
    assert value not in out  # the problem names the character; it never prints it
