"""Tiny end-to-end runs: result records and their schemas, determinism, seeds, history, divergence."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import torch
from conftest import TINY_ARGS, TINY_TASK, TINY_TRAIN, TINY_TRANSFORMER, read_history, read_result, seed_dir, sets

from anchorbench.cli import main
from anchorbench.execution.plan import Request, make_plan
from anchorbench.execution.results import SCHEMA_DIR, schemas
from anchorbench.registry import METRICS, TASKS
from anchorbench.training.loop import BatchOrder, eval_steps

IDENTITY = "anchor-identity-v1"
TINY_SETS = [*TINY_TASK, *TINY_TRAIN, *TINY_TRANSFORMER]


def run(out: Path, *extra: str, task: str = IDENTITY) -> int:
    return main(["run", task, *TINY_ARGS, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    assert run(out) == 0
    return out


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seeds") / "run"
    assert run(out, "--seeds", "3") == 0
    return out


# -- records and schemas ------------------------------------------------------------------------------
def test_run_writes_result_history_and_aggregate(single: Path) -> None:
    folder = seed_dir(single, IDENTITY)
    for name in ("result.json", "history.jsonl", "model.pt"):
        assert (folder / name).is_file(), name
    assert not (folder / "checkpoint.pt").exists()  # superseded by result.json and model.pt
    assert (single / IDENTITY / "aggregate.json").is_file()
    assert (single / "run.json").is_file()
    result = read_result(single, IDENTITY)
    assert result["status"] == "completed"
    assert result["steps_completed"] == 30
    assert set(result["scores"]) == set(TASKS.get(IDENTITY).scores)
    init = result["model"]["init"]  # the init scale as built, in gamma and in std
    gamma, width = result["model"]["config"]["init_rate"], result["model"]["config"]["d_model"]
    assert init["init_rate"] == gamma and init["reference_width"] is None
    assert init["scale_at_d_model_fan_in"] == pytest.approx(width**-gamma)


def test_result_and_aggregate_validate_against_the_committed_schemas(single: Path) -> None:
    result = read_result(single, IDENTITY)
    aggregate = json.loads((single / IDENTITY / "aggregate.json").read_text())
    jsonschema.validate(result, json.loads((SCHEMA_DIR / "result.schema.json").read_text()))
    jsonschema.validate(aggregate, json.loads((SCHEMA_DIR / "aggregate.schema.json").read_text()))


def test_schema_rejects_a_record_with_an_unknown_field(single: Path) -> None:
    result = {**read_result(single, IDENTITY), "surprise": 1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(result, json.loads((SCHEMA_DIR / "result.schema.json").read_text()))


@pytest.mark.parametrize("name", sorted(schemas()))
def test_committed_schemas_match_the_records(name: str) -> None:
    committed = json.loads((SCHEMA_DIR / name).read_text())
    assert committed == schemas()[name], (
        f"anchorbench/schema/{name} is out of date with the record types; regenerate it with "
        "`python -m anchorbench.execution.results`"
    )


# -- determinism and seeds --------------------------------------------------------------------------------
def test_same_command_and_seed_give_identical_scores(single: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert run(again) == 0
    a, b = read_result(single, IDENTITY), read_result(again, IDENTITY)
    assert a["scores"] == b["scores"]
    assert a["splits"] == b["splits"]
    assert a["config_hash"] == b["config_hash"]
    assert read_history(single, IDENTITY) == read_history(again, IDENTITY)


def test_different_seeds_train_on_different_data(three_seeds: Path) -> None:
    histories = [read_history(three_seeds, IDENTITY, s) for s in range(3)]
    results = [read_result(three_seeds, IDENTITY, s) for s in range(3)]
    assert len({r["config_hash"] for r in results}) == 3
    for i in range(3):
        for j in range(i + 1, 3):
            assert histories[i] != histories[j]
            assert results[i]["splits"]["train"]["loss"] != results[j]["splits"]["train"]["loss"]


def test_three_seeds_aggregate_to_mean_and_ci(three_seeds: Path) -> None:
    folder = three_seeds / IDENTITY
    assert sorted(p.name for p in folder.glob("seed-*")) == ["seed-0", "seed-1", "seed-2"]
    results = [read_result(three_seeds, IDENTITY, s) for s in range(3)]
    agg = json.loads((folder / "aggregate.json").read_text())
    assert agg["seeds"] == [0, 1, 2]
    assert agg["statuses"] == ["completed"] * 3
    assert agg["runs"] == [f"seed-{s}/result.json" for s in range(3)]
    for name, summary in agg["scores"].items():
        values = [r["scores"][name] for r in results]
        assert summary["values"] == values
        assert summary["n"] == 3
        assert summary["mean"] == pytest.approx(statistics.fmean(values))
        assert summary["ci_low"] <= summary["mean"] <= summary["ci_high"]
        assert summary["direction"] == METRICS.get(name).direction


def test_seed_zero_of_many_equals_a_single_seed_run(single: Path, three_seeds: Path) -> None:
    assert read_result(single, IDENTITY)["scores"] == read_result(three_seeds, IDENTITY, 0)["scores"]


# -- history ------------------------------------------------------------------------------------------
def test_history_has_the_eval_schedule_with_per_group_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert run(out, "--set", "train.steps=25") == 0  # 25 is not a multiple of eval_every=10
    history = read_history(out, IDENTITY)
    assert [h["step"] for h in history] == [0, 10, 20, 25]
    ds_groups = {f"p={p}" for p in range(8)}
    scores = set(TASKS.get(IDENTITY).scores)
    for record in history:
        assert set(record["splits"]) == {"train", "test"}
        for split in record["splits"].values():
            assert 0.0 <= split["accuracy"] <= 1.0
            assert set(split["groups"]) == ds_groups
            assert all(0.0 <= g["accuracy"] <= 1.0 and g["n"] > 0 for g in split["groups"].values())
            assert sum(g["n"] for g in split["groups"].values()) == split["n"]
        assert set(record["scores"]) == scores
    assert history[0]["train_loss_running"] is None  # nothing trained yet at step 0
    assert all(h["train_loss_running"] is not None for h in history[1:])
    result = read_result(out, IDENTITY)
    assert history[-1]["splits"] == result["splits"]
    assert history[-1]["scores"] == result["scores"]


def test_result_group_accuracy_matches_the_saved_model(single: Path) -> None:
    """Recompute per-group accuracy from model.pt's predictions, independently of the Evaluator."""
    plan = make_plan(Request(IDENTITY, sets=tuple(TINY_SETS))).entries[0]
    model = plan.model.build(plan.params.vocab_size, plan.params.seq_len)
    model.load_state_dict(torch.load(seed_dir(single, IDENTITY) / "model.pt", weights_only=True))
    model.eval()
    ds = plan.task.family_obj.generate(plan.params, 0)
    result = read_result(single, IDENTITY)
    for name, split in ds.splits.items():
        with torch.no_grad():
            preds = model(torch.from_numpy(split.tokens.astype(np.int64)))[:, -1].argmax(-1).numpy()
        correct = preds == split.labels
        assert result["splits"][name]["accuracy"] == pytest.approx(correct.mean())
        for g, group in enumerate(ds.group_names):
            mask = split.groups == g
            got = result["splits"][name]["groups"][group]
            assert got["n"] == int(mask.sum())
            assert got["accuracy"] == pytest.approx(correct[mask].mean())


def test_training_reduces_the_training_loss(single: Path) -> None:
    history = read_history(single, IDENTITY)
    assert history[-1]["splits"]["train"]["loss"] < history[0]["splits"]["train"]["loss"]


@pytest.mark.parametrize(
    ("model", "model_sets"),
    [("mlp", ["model.d_hidden=32", "model.d_embed=8"]), ("lstm", ["model.d_model=16", "model.hidden=16"])],
)
def test_baseline_models_train_through_the_trainer(model: str, model_sets: list[str], tmp_path: Path) -> None:
    out = tmp_path / model
    argv = ["run", IDENTITY, *sets(TINY_TASK, TINY_TRAIN, model_sets), "--model", model, "--quiet", "--out", str(out)]
    assert main(argv) == 0
    result = read_result(out, IDENTITY)
    assert result["status"] == "completed"
    assert result["model"]["name"] == model
    for expr in model_sets:
        key, value = expr.removeprefix("model.").split("=")
        assert result["model"]["config"][key] == int(value)
    history = read_history(out, IDENTITY)
    assert history[-1]["splits"]["train"]["loss"] < history[0]["splits"]["train"]["loss"]


# -- divergence -----------------------------------------------------------------------------------------
NAN_PLUGIN = """
from torch import nn

class NaNAfter(nn.Module):
    '''Trains normally for a few steps, then returns NaN logits (a model that blows up).'''

    def __init__(self, vocab_size, seq_len, after=12):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, 8)
        self.head = nn.Linear(8, vocab_size)
        self.after, self.calls = after, 0

    def forward(self, tokens):
        logits = self.head(self.emb(tokens))
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                logits = logits * float("nan")
        return logits
"""


def assert_diverged(out: Path, code: int, steps: int) -> dict[str, Any]:
    assert code == 0
    result = read_result(out, IDENTITY)
    assert result["status"] == "diverged"
    assert result["diverged_at"] is not None and result["diverged_at"] <= steps
    assert result["steps_completed"] == result["diverged_at"]
    history = read_history(out, IDENTITY)  # valid JSON lines, no NaN
    assert history[-1]["step"] == result["diverged_at"]
    agg = json.loads((out / IDENTITY / "aggregate.json").read_text())
    assert agg["statuses"] == ["diverged"]
    return result


def test_nan_model_ends_as_diverged_not_a_crash(plugin_module, tmp_path: Path) -> None:
    model = f"{plugin_module(NAN_PLUGIN)}:NaNAfter"
    out = tmp_path / "nan"
    argv = ["run", IDENTITY, *sets(TINY_TASK, TINY_TRAIN), "--set", "train.steps=60", "--model", model]
    code = main([*argv, "--quiet", "--out", str(out)])
    result = assert_diverged(out, code, 60)
    assert result["diverged_at"] <= 20  # NaN from step 12 on, caught within 10 steps


def test_absurd_learning_rate_ends_as_diverged_not_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "lr"
    code = run(out, "--set", "train.lr=1e6", "--set", "train.grad_clip=null", "--set", "train.warmup_steps=0")
    assert_diverged(out, code, 30)


# -- batch order --------------------------------------------------------------------------------------------
def test_batch_order_depends_only_on_seed_and_step() -> None:
    sequential = BatchOrder(50, 8, seed=3)
    expected = [sequential.indices(s).tolist() for s in range(20)]
    for s in (17, 2, 9, 0, 19, 6):  # any order, fresh or reused instance
        assert BatchOrder(50, 8, seed=3).indices(s).tolist() == expected[s]
        assert sequential.indices(s).tolist() == expected[s]
    assert [BatchOrder(50, 8, seed=4).indices(s).tolist() for s in range(20)] != expected


def test_each_epoch_is_a_permutation_without_repeats() -> None:
    order = BatchOrder(50, 8, seed=1)  # 6 full batches per epoch, the ragged tail of 2 dropped
    epochs = []
    for e in range(3):
        idx = np.concatenate([order.indices(e * 6 + b) for b in range(6)])
        assert len(idx) == 48 and len(set(idx.tolist())) == 48
        assert idx.min() >= 0 and idx.max() < 50
        epochs.append(idx.tolist())
    assert epochs[0] != epochs[1] != epochs[2]


def test_batch_larger_than_the_data_is_one_full_batch() -> None:
    order = BatchOrder(5, 64, seed=0)
    assert sorted(order.indices(0).tolist()) == [0, 1, 2, 3, 4]
    assert sorted(order.indices(1).tolist()) == [0, 1, 2, 3, 4]


def test_eval_schedule_of_the_tiny_config() -> None:
    plan = make_plan(Request(IDENTITY, sets=tuple(TINY_SETS))).entries[0]
    assert eval_steps(plan.train) == [0, 10, 20, 30]


def test_train_compile_keeps_earlier_config_hashes_and_the_ranked_budget() -> None:
    """A field added later (train.compile) must not change the hash of runs recorded before it."""
    from anchorbench.config import TrainConfig, hashed
    from anchorbench.leaderboard.suite import budget_train

    plain, compiled = TrainConfig(), TrainConfig(compile=True)
    assert "compile" not in hashed(plain) and hashed(compiled)["compile"] is True
    recorded_before = {k: v for k, v in plain.model_dump(mode="json").items() if k != "compile"}
    assert hashed(TrainConfig.model_validate(recorded_before)) == hashed(plain)
    assert budget_train(compiled.model_dump(mode="json")) == budget_train(recorded_before)


@pytest.mark.slow
def test_train_compile_trains_like_eager(tmp_path) -> None:
    """torch.compile'd training steps: finite, and close to eager (fused kernels move the last bits)."""
    from anchorbench.pytest_plugin import run_task

    sets = {"task.n_train": 200, "task.n_test": 50, "model.d_model": 32, "train.steps": 20, "train.warmup_steps": 2,
            "train.eval_every": 10, "train.threads": 1}  # fmt: skip
    eager = run_task("anchor-identity-v1", tmp_path / "e", budget="default", sets=sets)
    compiled = run_task("anchor-identity-v1", tmp_path / "c", budget="default", sets={**sets, "train.compile": True})
    assert compiled.train["compile"] is True and compiled.config_hash != eager.config_hash
    assert compiled.scores["test_loss"] == pytest.approx(eager.scores["test_loss"], rel=1e-3)
