"""The tuned track: `anchorbench run standard-tuned` runs the standard entries at every cell of a
declared lr x weight-decay grid; `submit` makes a tuned-track submission of it, which validates,
verifies, and appears on the board in its own table with each entry's best cell and the grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from leaderboard_fixtures import TINY_SUITE

from anchorbench.cli import main
from anchorbench.leaderboard import suite as leaderboard_suite
from anchorbench.specs import builtin_tasks_dir, load_suite

TINY_TUNED = str(Path(__file__).parent / "data" / "leaderboard-suite-tuned.yaml")


def test_the_tuned_suite_runs_the_standard_entries_on_mads_grid() -> None:
    standard, tuned = load_suite("standard"), load_suite("standard-tuned")
    assert tuned.runs == standard.runs  # the same entries, budgets and primary scores
    assert tuned.grid == {"train.lr": [1e-4, 5e-4, 1e-3], "train.weight_decay": [0.0, 0.1]}
    assert len(tuned.expanded()) == 6 * len(standard.runs)
    raw = yaml.safe_load((builtin_tasks_dir() / "suites" / "standard-tuned.yaml").read_text())
    assert set(raw) == {"id", "version", "title", "grid", "runs"}


@pytest.fixture
def tuned_board(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    monkeypatch.setattr(leaderboard_suite, "SUITE", TINY_SUITE)
    monkeypatch.setattr(leaderboard_suite, "TUNED_SUITE", TINY_TUNED)
    root = tmp_path_factory.mktemp("tuned")
    args = ["run", TINY_TUNED, "--model", "transformer", "--seeds", "3", "--out", str(root / "results"), "--quiet"]
    assert main([*args, "--set", "train.threads=1", "--set", "model.d_model=32"]) == 0
    return root


def primary_means(results: Path, label: str, score: str) -> dict[str, float]:
    return {
        agg.parent.name.partition("@")[2]: json.loads(agg.read_text())["scores"][score]["mean"]
        for agg in results.glob(f"{label}@*/aggregate.json")
    }


def test_a_tuned_submission_validates_verifies_and_shows_its_best_cells(tuned_board: Path, capsys) -> None:
    board = tuned_board / "leaderboard"
    out = board / "submissions" / "tuned.json"
    assert main(["submit", str(tuned_board / "results"), "--name", "Tiny tuned", "--out", str(out)]) == 0
    assert "ranked" in capsys.readouterr().out  # comparable: every cell within its own budget
    assert main(["leaderboard", "validate", str(out)]) == 0
    assert main(["leaderboard", "verify", str(out), "--seed", "1", "--task", "identity@lr=0.01", "--quiet"]) == 0
    assert "reproduced exactly" in capsys.readouterr().out

    assert main(["leaderboard", "build", "--folder", str(board)]) == 0
    readme = (board / "README.md").read_text()
    ranked, tuned = readme.split("## Tuned track")
    assert "Tiny tuned" not in ranked  # not mixed into the fixed-recipe ranking
    row = next(line for line in tuned.splitlines() if line.startswith("| 1 | Tiny tuned"))
    # each entry's best cell, from the results themselves: the highest mean primary score
    for label, score, column in (("identity", "train_accuracy", 4), ("grokking", "test_accuracy", 5)):
        means = primary_means(tuned_board / "results", label, score)
        assert len(means) == 2
        best = max(["lr=0.001", "lr=0.01"], key=means.get)  # a tie goes to the first cell in grid order
        cells = [cell.strip() for cell in row.strip("| ").split(" | ")]
        assert cells[column].endswith(f"at {best}"), (label, means, row)
    # and the grid itself, every cell's mean
    assert "| lr=0.001 |" in tuned and "| lr=0.01 |" in tuned
    page = (board / "index.html").read_text()
    assert 'id="tuned"' in page and "Tiny tuned" in page


def test_a_run_of_another_suite_is_refused_by_submit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(leaderboard_suite, "SUITE", TINY_SUITE)
    monkeypatch.setattr(leaderboard_suite, "TUNED_SUITE", TINY_TUNED)
    results = tmp_path / "results"
    results.mkdir()
    (results / "run.json").write_text(json.dumps({"target": "smoke", "suite": {"id": "smoke", "version": 3}}))
    assert main(["submit", str(results), "--name", "x", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "standard-tiny-tuned" in err and "tuned track" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()
