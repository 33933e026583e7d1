"""The Python API: the example in docs/api.md runs as written, and API runs carry the CLI's
provenance (the same records for the same request; a class recorded by its import path)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import anchorbench
from anchorbench.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
FAST = {"train.steps": 40, "train.eval_every": 20, "task.n_train": 200, "task.n_test": 100}


def test_the_documented_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/api.md", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "transformer train accuracy" in out and "local.RunningMean" in out
    assert (tmp_path / "results" / "api-mine" / "run.json").is_file()


def test_an_api_run_records_what_the_cli_records(tmp_path: Path, cli) -> None:
    sets = [f"--set={k}={v}" for k, v in FAST.items()]
    assert cli("run", "anchor-identity-v1", "--seeds", "2", "--out", str(tmp_path / "cli"), "--quiet", *sets).code == 0
    run = anchorbench.run("anchor-identity-v1", seeds=2, sets=FAST, out=tmp_path / "api")
    for seed in (0, 1):
        by_cli = json.loads((tmp_path / "cli" / "anchor-identity-v1" / f"seed-{seed}" / "result.json").read_text())
        by_api = run["anchor-identity-v1"].results[seed].model_dump(mode="json")
        for key in ("task", "model", "train", "config_hash", "scores", "env"):
            assert by_api[key] == by_cli[key], key
    manifest = lambda name: json.loads((tmp_path / name / "run.json").read_text())  # noqa: E731
    assert {k: v for k, v in manifest("api").items() if k != "created_at"} == {
        k: v for k, v in manifest("cli").items() if k != "created_at"
    }
    loaded = anchorbench.load(tmp_path / "api")
    assert loaded["anchor-identity-v1"].aggregate == run["anchor-identity-v1"].aggregate
    assert [row["seed"] for row in loaded.rows()] == [0, 1]


def test_a_class_is_recorded_by_its_import_path(tmp_path: Path, anchorbench_run) -> None:
    from plugins.outsider import BagOfTokens  # tests/plugins: importable as plugins.outsider

    run = anchorbench.run("anchor-identity-v1", model=BagOfTokens, sets=FAST, out=tmp_path / "api")
    assert run["anchor-identity-v1"].results[0].model.name == "plugins.outsider:BagOfTokens"
    result = anchorbench_run("anchor-identity-v1", model=BagOfTokens, sets={"train.steps": 20})
    assert result.model.name == "plugins.outsider:BagOfTokens"  # the pytest fixture too, not "pytest-..."


def test_bad_input_raises_the_cli_message_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown config key 'train.stepz'"):
        anchorbench.run("anchor-identity-v1", sets={"train.stepz": 3}, out=tmp_path / "x")
    with pytest.raises(UserError, match="seeds as a count must be at least 1"):
        anchorbench.run("anchor-identity-v1", seeds=0, out=tmp_path / "x")
    with pytest.raises(UserError, match="neither a results folder"):
        anchorbench.load(tmp_path)
    assert not (tmp_path / "x").exists()
