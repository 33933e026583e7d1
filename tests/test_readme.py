"""The README's commands work as written (a README that names things which no longer
exist is worse than none)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from anchorbench.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    """The README's `anchorbench ...` lines (all of them, with every other doc's, are checked by
    tests/test_documented_commands.py)."""
    return [m.strip() for m in re.findall(r"^    (anchorbench [^#\n]*)", README, flags=re.M)]


def test_first_lines_give_install_and_test_commands():
    lines = [line.strip() for line in README.splitlines() if line.startswith("    ")][:2]
    assert lines[0].startswith("pip install") and lines[0].endswith("anchorbench run quickstart")
    assert lines[1].startswith("pip install") and lines[1].endswith("&& pytest")


def test_ci_runs_the_readme_test_command():
    test_command = [line.strip() for line in README.splitlines() if line.startswith("    ")][1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_quickstart_command_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "quickstart", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test_accuracy" in out
    (path,) = tmp_path.glob("results/quickstart-*/anchor-identity-v1/seed-0/result.json")
    scores = json.loads(path.read_text())["scores"]
    # The quickstart must show learning, not just run: it fits the training set and
    # generalizes to the held-out keys (0.95 at seed 0 on torch 2.13 CPU).
    assert scores["train_accuracy"] > 0.99
    assert scores["test_accuracy"] > 0.9


def test_readme_model_meets_the_contract(tmp_path, monkeypatch, capsys):
    """The README's own model file, run as the README runs it (`--model mynet:MyNet` from its folder)."""
    (code,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    (tmp_path / "mynet.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    command = next(c for c in _commands() if c.startswith("anchorbench run standard --model mynet:MyNet"))
    assert main([*shlex.split(command)[1:], "--dry-run"]) == 0  # the README's command, validated
    tiny = ["--set", "task.n_train=300", "--set", "train.steps=60", "--set", "train.eval_every=30"]
    assert main(["run", "anchor-identity-v1", "--model", "mynet:MyNet", *tiny, "--quiet", "--out", "out"]) == 0
    (path,) = tmp_path.glob("out/anchor-identity-v1/seed-0/result.json")
    record = json.loads(path.read_text())
    assert record["model"]["name"] == "mynet:MyNet" and record["model"]["n_params"] > 0
    assert record["scores"]["train_accuracy"] > 0.05  # it trained: above the 1/vocab of a constant guess


def test_placeholder_command_fails_cleanly(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "anchor-identity-v1", "--model", "my_pkg.models:MyNet", "--dry-run"]) == 2
    assert "cannot import" in capsys.readouterr().err
