"""Shared helpers: tiny run configs, an in-process CLI runner, folder snapshots, plug-in modules."""

from __future__ import annotations

import hashlib
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import browser  # noqa: F401 (the `browser` fixture, for the page tests)
from leaderboard_fixtures import MODELS, TINY_SUITE

from anchorbench.cli import main
from anchorbench.leaderboard import suite as leaderboard_suite

# Tiny, fast settings (2 shared cores): one torch thread avoids oversubscription, which
# otherwise makes a 30-step run take seconds instead of a fraction of one.
TINY_TASK = ["task.n_train=200", "task.n_test=50"]
TINY_TRAIN = ["train.steps=30", "train.warmup_steps=5", "train.eval_every=10", "train.threads=1"]
TINY_TRANSFORMER = ["model.d_model=32"]


def sets(*groups: list[str]) -> list[str]:
    """``--set`` arguments for the given lists of ``section.key=value`` strings."""
    out: list[str] = []
    for group in groups:
        for expr in group:
            out += ["--set", expr]
    return out


TINY_ARGS = [*sets(TINY_TASK, TINY_TRAIN, TINY_TRANSFORMER), "--quiet"]


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``anchorbench.cli.main(argv)`` in-process and capture its output."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a content hash (folders: '<dir>')."""
    state = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        state[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return state


def seed_dir(out: Path, task: str, seed: int = 0) -> Path:
    return out / task / f"seed-{seed}"


def read_result(out: Path, task: str, seed: int = 0) -> dict[str, Any]:
    return json.loads((seed_dir(out, task, seed) / "result.json").read_text())


def read_history(out: Path, task: str, seed: int = 0) -> list[dict[str, Any]]:
    text = (seed_dir(out, task, seed) / "history.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """Write a module with a unique name into tmp_path and make it importable; returns its name."""

    def write(source: str) -> str:
        digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
        name = f"ab_plugin_{digest}"
        (tmp_path / "plugins").mkdir(exist_ok=True)
        (tmp_path / "plugins" / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
        return name

    return write


# -- leaderboard: real submissions of a seconds-long stand-in suite (tests/data), three models
# at 3 seeds each, submitted with `anchorbench submit`
@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Results folders of the tiny suite, one per model (trained once per test session)."""
    root = tmp_path_factory.mktemp("leaderboard-runs")
    runs = {}
    for model in MODELS:
        out = root / model
        args = ["run", TINY_SUITE, "--model", model, "--seeds", "3", "--out", str(out), "--quiet"]
        assert main([*args, "--set", "train.threads=1"]) == 0
        runs[model] = out
    return runs


@pytest.fixture
def tiny_suite(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(leaderboard_suite, "SUITE", TINY_SUITE)
    return TINY_SUITE


@pytest.fixture
def board(tiny_suite: str, tiny_runs: dict[str, Path], tmp_path: Path) -> Path:
    """A leaderboard folder holding one submission per model."""
    folder = tmp_path / "leaderboard"
    for model, name in MODELS.items():
        assert main(["submit", str(tiny_runs[model]), "--name", name, "--out", str(folder / "submissions")]) == 0
    return folder
