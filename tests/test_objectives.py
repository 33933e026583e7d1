"""Objectives beyond the last token: a tiny all-tokens task and a tiny regression task (plug-in
fixtures in tests/plugins/) through `run`, `sweep`, `ci` and the pytest fixture, results checked
against the published schemas; and a model that cannot serve an objective refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch

from anchorbench.execution.results import SCHEMA_DIR
from anchorbench.registry import OBJECTIVES, TASKS

PLUGINS = Path(__file__).parent / "plugins"
TASK_DIR = PLUGINS / "objective-tasks"
LM, REG = "counting-lm-v1", "squares-regression-v1"


@pytest.fixture
def fixtures(monkeypatch: pytest.MonkeyPatch):
    """The fixture families importable and their task specs registered (as `--include-path` does)."""
    from anchorbench.specs import include_task_dir

    monkeypatch.syspath_prepend(str(PLUGINS))
    yield include_task_dir(TASK_DIR)
    for task in (LM, REG):
        TASKS.unregister(task)


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text())


def check_results(folder: Path) -> list[dict]:
    """Every result.json and aggregate.json under ``folder`` validates; returns the results."""
    results = [json.loads(p.read_text()) for p in sorted(folder.rglob("result.json"))]
    assert results
    for r in results:
        jsonschema.validate(r, schema("result.schema.json"))
    for p in folder.rglob("aggregate.json"):
        jsonschema.validate(json.loads(p.read_text()), schema("aggregate.schema.json"))
    return results


def test_the_three_objectives_are_registered():
    assert set(OBJECTIVES.names()) >= {"last-token", "all-tokens", "regression"}


def test_all_tokens_scores_every_position(fixtures, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(PLUGINS))  # the spawned workers import the fixture family
    out = tmp_path / "lm"
    # two worker processes: each registers the task folder and imports the plug-in family itself
    r = cli("run", LM, "--seeds", "2", "--out", str(out), "--quiet", "--workers", "2", "--include-path", str(TASK_DIR))
    assert r.code == 0, r.err
    results = check_results(out)
    for res in results:
        assert res["task"]["objective"] == "all-tokens"
        test = res["splits"]["test"]
        positions = test["positions"]
        assert len(positions["accuracy"]) == len(positions["loss"]) == 8  # seq_len
        # the split's accuracy is the mean over positions (every example has all of them)
        assert test["accuracy"] == pytest.approx(np.mean(positions["accuracy"]), abs=1e-9)
        # the first position cannot know the stride; later ones can: the per-position view shows it
        assert positions["accuracy"][0] < max(positions["accuracy"][1:])
        assert test["accuracy"] > 0.5  # it learned to count (chance is 1/15)
        assert set(test["groups"]) == {"stride-1", "stride-2"}


def test_answers_refuses_a_task_without_one_answer_per_example(fixtures, cli, tmp_path):
    out = tmp_path / "lm"
    assert cli("run", LM, "--seeds", "1", "--set", "train.steps=5", "--out", str(out), "--quiet").code == 0
    r = cli("answers", str(out / LM / "seed-0"))
    assert r.code == 2 and len(r.err_lines) == 1 and "last-token tasks" in r.err and "all-tokens" in r.err, r.err


def test_regression_trains_on_mse_and_reports_no_accuracy(fixtures, cli, tmp_path):
    out = tmp_path / "reg"
    r = cli("run", REG, "--seeds", "1", "--out", str(out))
    assert r.code == 0, r.err
    assert "group (mean loss)" in r.out
    (res,) = check_results(out)
    assert res["task"]["objective"] == "regression"
    assert res["splits"]["test"]["accuracy"] is None
    history = [json.loads(line) for line in (out / REG / "seed-0" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["splits"]["train"]["loss"] < history[0]["splits"]["train"]["loss"] / 10
    assert res["scores"]["test_loss"] == res["splits"]["test"]["loss"]


def test_regression_loss_is_the_mean_squared_error(fixtures):
    """The evaluator's loss is the MSE of the model's outputs, recomputed here by hand."""
    from anchorbench.config import TrainConfig
    from anchorbench.models.two_layer import TwoLayer
    from anchorbench.registry import FAMILIES
    from anchorbench.training.loop import Evaluator

    family = FAMILIES.get("objective_fixtures:SQUARES")
    ds = family.generate(family.params(n_train=4, n_test=9), 0)
    model = TwoLayer(1, 1, width=8)
    ev = Evaluator(ds, TrainConfig(), torch.device("cpu"))(model, 0)
    x = torch.from_numpy(ds.splits["test"].tokens)
    expected = ((model(x) - torch.from_numpy(ds.splits["test"].labels)) ** 2).mean().item()
    assert ev["test"].loss() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("task", "model", "says"),
    [
        (REG, "transformer", "model 'transformer' takes tokens; the task's objective 'regression' feeds floats"),
        ("anchor-identity-v1", "two-layer",
         "model 'two-layer' takes floats; the task's objective 'last-token' feeds tokens"),
        (LM, "mlp", "every position is scored"),  # the MLP predicts the last position only
    ],
)  # fmt: skip
def test_a_model_that_cannot_serve_the_objective_is_refused_before_anything_is_written(
    fixtures, cli, tmp_path, task, model, says
):
    out = tmp_path / "refused"
    r = cli("run", task, "--model", model, "--out", str(out))
    assert r.code == 2
    assert len(r.err_lines) == 1 and says in r.err
    assert not out.exists()


def test_sweep_over_the_fixture_tasks(fixtures, cli, tmp_path):
    sweep = tmp_path / "objective-sweep.yaml"
    sweep.write_text(
        "id: objective-sweep\nversion: 1\ntitle: regression width x seed\n"
        f"base: {{task: {REG}}}\naxes: {{model.width: [8, 32], seed: [0, 1]}}\n"
    )
    out = tmp_path / "sweep"
    r = cli("sweep", str(sweep), "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    results = check_results(out)
    assert sorted((x["model"]["config"]["width"], x["seed"]) for x in results) == [(8, 0), (8, 1), (32, 0), (32, 1)]


def test_ci_gates_the_fixture_tasks(fixtures, cli, tmp_path):
    suite = tmp_path / "objective-suite.yaml"
    suite.write_text(f"id: objective-suite\nversion: 1\ntitle: fixtures\nruns: [{{task: {LM}}}, {{task: {REG}}}]\n")
    floors = tmp_path / "floors.yaml"
    # test_loss is lower-is-better: its threshold is a maximum
    floors.write_text(f"{LM}: {{test_accuracy: 0.5}}\n{REG}: {{test_loss: 0.05}}\n")
    out = tmp_path / "ci"
    # one process: the fixture registers the tasks in this one (--include-path would reach workers)
    r = cli("ci", "--suite", str(suite), "--thresholds", str(floors), "--out", str(out), "--workers", "1",
            "--junit", str(tmp_path / "j.xml"), "--summary", str(tmp_path / "s.md"), "--quiet")  # fmt: skip
    assert r.code == 0, r.out + r.err
    check_results(out)
    floors.write_text(f"{LM}: {{test_accuracy: 0.5}}\n{REG}: {{test_loss: 0.0000001}}\n")
    r = cli("ci", "--suite", str(suite), "--thresholds", str(floors), "--out", str(tmp_path / "ci2"), "--workers", "1",
            "--junit", str(tmp_path / "j2.xml"), "--summary", str(tmp_path / "s2.md"), "--quiet")  # fmt: skip
    assert r.code == 1  # a regression loss above its maximum fails the gate


def test_the_pytest_fixture_runs_both_objectives(fixtures, anchorbench_run):
    lm = anchorbench_run(LM, budget="default")
    reg = anchorbench_run(REG, budget="default", sets={"model.width": 16})
    assert lm.task.objective == "all-tokens" and lm.splits["test"].positions is not None
    assert reg.task.objective == "regression" and reg.splits["test"].accuracy is None
    for r in (lm, reg):
        jsonschema.validate(r.model_dump(mode="json"), schema("result.schema.json"))
