"""Experiment trackers (`run --log`) and `anchorbench collect`: what each writes is read back and
compared with the run's own history.jsonl and result.json, never with recorded numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchorbench.files import read_jsonl

FAST = ["--set", "train.steps=40", "--set", "train.eval_every=20", "--set", "task.n_train=200",
        "--set", "task.n_test=100", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anchorbench.cli import main

    out = tmp_path_factory.mktemp("trackers") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WANDB_MODE", raising=False)  # the default must be offline: no network, no account
        mp.setenv("WANDB_SILENT", "true")
        assert main(["run", "anchor-identity-v1", "--seeds", "2", "--log", "csv,tensorboard", "--log", "wandb",
                     "--out", str(out), *FAST]) == 0  # fmt: skip
    return out


def history(seed_dir: Path) -> list[dict]:
    return read_jsonl(seed_dir / "history.jsonl")


def test_csv_holds_every_evaluation_and_the_final_scores(logged: Path) -> None:
    import csv

    seed_dir = logged / "anchor-identity-v1" / "seed-1"
    rows = list(csv.DictReader((seed_dir / "metrics.csv").open()))
    by_step = {(int(r["step"]), r["metric"]): float(r["value"]) for r in rows}
    for record in history(seed_dir):
        assert by_step[(record["step"], "test/accuracy")] == record["splits"]["test"]["accuracy"]
        assert by_step[(record["step"], "score/test_accuracy")] == record["scores"]["test_accuracy"]
    result = json.loads((seed_dir / "result.json").read_text())
    assert by_step[(40, "final/test_accuracy")] == result["scores"]["test_accuracy"]


def test_tensorboard_event_files_read_back(logged: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    seed_dir = logged / "anchor-identity-v1" / "seed-0"
    events = EventAccumulator(str(seed_dir / "tensorboard"))
    events.Reload()
    test = [(e.step, e.value) for e in events.Scalars("test/accuracy")]
    expected = [(r["step"], r["splits"]["test"]["accuracy"]) for r in history(seed_dir)]
    assert [s for s, _ in test] == [s for s, _ in expected] == [0, 20, 40]
    assert [v for _, v in test] == pytest.approx([v for _, v in expected])  # stored as float32
    group = next(t for t in events.Tags()["scalars"] if t.startswith("test/p="))  # per-group curves too
    assert len(events.Scalars(group)) == 3


def test_wandb_writes_an_offline_run_with_the_config(logged: Path) -> None:
    seed_dir = logged / "anchor-identity-v1" / "seed-0"
    runs = list((seed_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((seed_dir / "wandb").iterdir())
    (data,) = runs[0].glob("run-*.wandb")  # the run's records, ready for `wandb sync`
    records = data.read_bytes()  # protobuf records: keys and string values are stored as they are
    for key in (b"run.config_hash", b"train.steps", b"anchor-identity-v1", b"test/accuracy", b"final/test_accuracy"):
        assert key in records, key


def test_collect_makes_one_row_per_seed_for_pandas(logged: Path, tmp_path: Path, cli) -> None:
    import pandas as pd

    r = cli("collect", str(logged), "--out", str(tmp_path / "table.csv"))
    assert r.code == 0, r.err
    table = pd.read_csv(tmp_path / "table.csv")
    assert sorted(table["seed"]) == [0, 1] and set(table["task"]) == {"anchor-identity-v1"}
    for _, row in table.iterrows():
        result = json.loads((logged / row["path"] / "result.json").read_text())
        assert row["score.test_accuracy"] == result["scores"]["test_accuracy"]
        assert row["train.steps"] == 40 and row["model.d_model"] == result["model"]["config"]["d_model"]
    assert cli("collect", str(logged), "--out", str(tmp_path / "table.parquet")).code == 0
    parquet = pd.read_parquet(tmp_path / "table.parquet")
    assert list(parquet.columns) == list(table.columns)
    assert parquet["seed"].tolist() == table["seed"].tolist()
    assert parquet["score.test_accuracy"].tolist() == table["score.test_accuracy"].tolist()


def test_bad_tracker_input_is_one_line_and_writes_nothing(cli, tmp_path: Path) -> None:
    from anchorbench.registry import TRACKERS

    r = cli("run", "anchor-identity-v1", "--log", "tensorbored", "--out", str(tmp_path / "x"), "--quiet")
    assert r.code == 2 and "unknown tracker 'tensorbored'" in r.err and "tensorboard" in r.err
    TRACKERS.register("needs-missing", type("Missing", (), {"needs": "no_such_module_xyz"}), origin="test")
    try:
        r = cli("run", "anchor-identity-v1", "--log", "needs-missing", "--out", str(tmp_path / "x"), "--quiet")
        assert r.code == 2 and "pip install 'anchorbench[no_such_module_xyz]'" in r.err
    finally:
        TRACKERS.unregister("needs-missing")
    assert cli("collect", str(tmp_path), "--out", str(tmp_path / "t.xlsx")).code == 2
    assert not (tmp_path / "x").exists()


def test_mlflow_logs_to_a_database_beside_the_results(tmp_path: Path, cli, monkeypatch) -> None:
    mlflow = pytest.importorskip("mlflow")  # not in the test extra (a heavy install): runs where it is installed
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli("run", "anchor-identity-v1", "--log", "mlflow", "--out", str(tmp_path / "run"), *FAST).code == 0
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("anchorbench").experiment_id])
    seed_dir = tmp_path / "run" / "anchor-identity-v1" / "seed-0"
    logged = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "test/accuracy")]
    assert logged == [(r["step"], r["splits"]["test"]["accuracy"]) for r in history(seed_dir)]
    assert run.data.params["run.config_hash"] == json.loads((seed_dir / "result.json").read_text())["config_hash"]
