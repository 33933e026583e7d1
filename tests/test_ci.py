"""`anchorbench ci`: floors, baseline comparison, JUnit XML, Markdown summary, exit codes; the
smoke suite covers every task; --include-path; the pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from leaderboard_fixtures import TINY_SUITE

from anchorbench.cli import main
from anchorbench.registry import TASKS
from anchorbench.specs import load_suite

ROOT = Path(__file__).resolve().parent.parent
JUNIT_XSD = Path(__file__).parent / "data" / "junit.xsd"
ENTRIES = {"anchor-identity-v1": ("test_accuracy", "train_accuracy", "test_loss"),
           "modular-addition-v1": ("test_accuracy", "train_accuracy", "test_loss")}  # fmt: skip


def ci(tmp: Path, *extra: str) -> int:
    args = ["ci", "--suite", TINY_SUITE, "--quiet", "--junit", str(tmp / "junit.xml"), "--summary",
            str(tmp / "summary.md"), "--results-dir", str(tmp / "results")]  # fmt: skip
    return main([*args, *extra])


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real ci run of the tiny suite; its saved baseline holds the scores to gate on."""
    tmp = tmp_path_factory.mktemp("ci")
    assert ci(tmp, "--save-baseline", str(tmp / "baseline.json")) == 0
    return json.loads((tmp / "baseline.json").read_text())


def test_smoke_suite_covers_every_builtin_task() -> None:
    # The gate runs any sequence model on every entry, a last-position-only one (the MLP, plug-ins
    # returning [B, 1, V]) included: a regression task (floats in, the two-layer network's setting)
    # and an all-tokens task (every position scored; [WINDOWS]'s also needs hidden states) would
    # refuse such a model, so only last-token tasks are required.
    smoke = {e.task for e in load_suite("smoke").expanded()}
    builtin = {
        n for n in TASKS.names()
        if TASKS.entry(n).origin.startswith("built-in") and TASKS.get(n).objective == "last-token"
    }  # fmt: skip
    assert {"sentence-grammar-v1", "anchor-identity-v1"} & builtin == {"anchor-identity-v1"}
    assert builtin, "no token task found"
    assert builtin <= smoke, f"add to tasks/suites/smoke.yaml: {sorted(builtin - smoke)}"


def test_passing_floors_exit_0_with_junit_and_summary(measured: dict, tmp_path: Path) -> None:
    scores = measured["scores"]["identity"]
    floors = {"identity": {"train_accuracy": scores["train_accuracy"] - 0.01, "test_loss": scores["test_loss"] + 0.1}}
    (tmp_path / "floors.yaml").write_text(yaml.safe_dump(floors))
    assert ci(tmp_path, "--thresholds", str(tmp_path / "floors.yaml")) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "**passed**: 6 checks" in summary
    assert "| identity | train_accuracy ↑ |" in summary

    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    cases = [(case.classname, case.name) for suite in xml for case in suite]
    expected = {(f"anchorbench.{TINY_SUITE}.{label}", s) for label in ("identity", "grokking")
                for s in ENTRIES["anchor-identity-v1"]}  # fmt: skip
    assert sorted(cases) == sorted(expected), "one testcase per task and score"
    assert all(case.is_passed for suite in xml for case in suite)


def test_junit_validates_against_the_junit_schema(measured: dict, tmp_path: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    floors = {"grokking": {"train_accuracy": 1.01}}  # cannot be met: a failure element too
    (tmp_path / "floors.yaml").write_text(yaml.safe_dump(floors))
    assert ci(tmp_path, "--thresholds", str(tmp_path / "floors.yaml")) == 1
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(tmp_path / "junit.xml"))


def test_a_floor_that_is_not_met_exits_1_naming_the_task(measured: dict, tmp_path: Path) -> None:
    scores = measured["scores"]["identity"]
    floors = {"identity": {"train_accuracy": scores["train_accuracy"] + 0.01},  # above what it reaches
              "grokking": {"test_loss": measured["scores"]["grokking"]["test_loss"] - 0.1}}  # a ceiling  # fmt: skip
    (tmp_path / "floors.yaml").write_text(yaml.safe_dump(floors))
    assert ci(tmp_path, "--thresholds", str(tmp_path / "floors.yaml")) == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "**FAILED**: 2 of 6 checks, in `grokking`, `identity`" in summary
    assert "below floor" in summary and "above ceiling" in summary
    junit = (tmp_path / "junit.xml").read_text()
    assert junit.count("<failure ") == 2


def test_baseline_comparison_is_exact_when_nothing_changed(measured: dict, tmp_path: Path) -> None:
    (tmp_path / "same.json").write_text(json.dumps(measured))
    assert ci(tmp_path, "--baseline", str(tmp_path / "same.json"), "--tolerance", "0") == 0
    better = json.loads(json.dumps(measured))
    better["scores"]["identity"]["train_accuracy"] += 0.2  # the baseline was better: a regression
    (tmp_path / "better.json").write_text(json.dumps(better))
    assert ci(tmp_path, "--baseline", str(tmp_path / "better.json"), "--tolerance", "0.05") == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "regressed from baseline" in summary and "in `identity`" in summary
    assert ci(tmp_path, "--baseline", str(tmp_path / "better.json"), "--tolerance", "0.25") == 0


@pytest.mark.parametrize(
    "floors, message",
    [
        ({"nope": {"test_accuracy": 0.5}}, "'nope' is not an entry of the suite"),
        ({"identity": {"accuracy": 0.5}}, "identity: unknown score 'accuracy'"),
        ({"identity": {"test_accuracy": "high"}}, "identity.test_accuracy: floor must be a number"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_bad_thresholds_exit_2_before_training(
    floors, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "floors.yaml").write_text(yaml.safe_dump(floors))
    assert ci(tmp_path, "--thresholds", str(tmp_path / "floors.yaml")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "results").exists() and not (tmp_path / "junit.xml").exists()


def test_bad_baseline_and_model_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ci(tmp_path, "--baseline", str(tmp_path / "missing.json")) == 2
    assert "cannot read baseline" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert ci(tmp_path, "--baseline", str(tmp_path / "bad.json")) == 2
    assert "not JSON" in capsys.readouterr().err
    assert ci(tmp_path, "--model", "no-such-model") == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_include_path_registers_task_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = yaml.safe_load((ROOT / "tasks" / "anchor-identity-v1.yaml").read_text())
    spec["id"] = "my-identity-v1"
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "my-identity-v1.yaml").write_text(yaml.safe_dump(spec))
    try:
        assert main(["list", "--include-path", str(tmp_path / "tasks")]) == 0
        assert "my-identity-v1" in capsys.readouterr().out
        assert TASKS.entry("my-identity-v1").origin.startswith("--include-path")
        assert main(["run", "my-identity-v1", "--include-path", str(tmp_path / "tasks"), "--dry-run"]) == 0
    finally:
        TASKS.unregister("my-identity-v1")
    assert main(["list", "--include-path", str(tmp_path / "nothing")]) == 2
    assert "not a folder" in capsys.readouterr().err


PLUGIN_TESTS = '''
import pytest
from torch import nn

class Echo(nn.Module):
    """Predicts from the last token only: cannot learn the identity task."""
    def __init__(self, vocab_size, seq_len, d=16):
        super().__init__()
        self.emb, self.head = nn.Embedding(vocab_size, d), nn.Linear(d, vocab_size)
    def forward(self, tokens):
        return self.head(self.emb(tokens))

def test_fixture_runs_a_class(anchorbench_run):
    result = anchorbench_run("anchor-identity-v1", model=Echo, sets={"train.steps": 30, "train.warmup_steps": 5})
    assert result.task.id == "anchor-identity-v1" and result.steps_completed == 30
    assert result.scores["train_accuracy"] < 0.5

def test_fixture_runs_a_registered_name_at_the_tiny_budget(anchorbench_run):
    result = anchorbench_run("anchor-identity-v1", model="mlp", sets={"train.steps": 20, "train.warmup_steps": 5})
    assert result.model.name == "mlp" and result.train["batch_size"] == 100

@pytest.mark.anchorbench_slow
def test_slow():
    raise AssertionError("must be skipped without --anchorbench-slow")
'''


def test_pytest_plugin_fixture_and_slow_marker(tmp_path: Path) -> None:
    (tmp_path / "test_user_model.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_user_model.py")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed, 1 skipped" in proc.stdout
    proc = subprocess.run([*cmd, "--anchorbench-slow", "-k", "slow"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and "must be skipped" in proc.stdout


def test_recording_a_baseline_applies_no_floors_and_gating_does(tmp_path: Path, monkeypatch) -> None:
    """`--save-baseline` alone records (a model under the shipped floors can record its baseline on
    main); the same run without it gates on the shipped floors and fails there."""
    from anchorbench.gate import checks

    impossible = tmp_path / "floors.yaml"
    impossible.write_text(yaml.safe_dump({"identity": {"train_accuracy": 1.0, "test_loss": 0.0}}))
    monkeypatch.setattr(checks, "shipped_floors", lambda suite_id, target: impossible)
    tiny = ["--set", "train.steps=20", "--set", "train.eval_every=10", "--set", "train.threads=1"]
    assert ci(tmp_path, *tiny, "--save-baseline", str(tmp_path / "b.json")) == 0
    assert json.loads((tmp_path / "b.json").read_text())["scores"]["identity"]
    assert "**FAIL**" not in (tmp_path / "summary.md").read_text()
    assert ci(tmp_path, *tiny) == 1  # no baseline to save: the shipped floors gate
    assert "**FAIL**" in (tmp_path / "summary.md").read_text()
