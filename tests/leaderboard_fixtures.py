"""Real submissions for the leaderboard tests: a seconds-long stand-in suite (tests/data),
trained for three models at 3 seeds each, then submitted with `anchorbench submit`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchorbench.cli import main
from anchorbench.leaderboard import suite

TINY_SUITE = str(Path(__file__).parent / "data" / "leaderboard-suite.yaml")
XSS_NAME = 'LSTM <script>document.title="pwned"</script> & <b>bold</b>'
MODELS = {"transformer": "Transformer (tiny)", "lstm": XSS_NAME, "mlp": "MLP | pipes"}


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
    monkeypatch.setattr(suite, "SUITE", TINY_SUITE)
    return TINY_SUITE


@pytest.fixture
def board(tiny_suite: str, tiny_runs: dict[str, Path], tmp_path: Path) -> Path:
    """A leaderboard folder holding one submission per model."""
    folder = tmp_path / "leaderboard"
    for model, name in MODELS.items():
        assert main(["submit", str(tiny_runs[model]), "--name", name, "--out", str(folder / "submissions")]) == 0
    return folder


def submission_files(board: Path) -> list[Path]:
    return sorted((board / "submissions").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))
