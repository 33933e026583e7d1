"""Typed configs: --set parsing, validation messages, layering of a run's config, the lr/eval schedules."""

from __future__ import annotations

import math

import pytest

from anchorbench.config import TrainConfig, parse_set, validate
from anchorbench.errors import UserError
from anchorbench.execution.plan import plan_entry
from anchorbench.registry import MODELS, TASKS
from anchorbench.specs import SuiteEntry
from anchorbench.training.loop import eval_steps, lr_at

IDENTITY = "anchor-identity-v1"


# -- parse_set ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("model.init_rate=0.8", ("model", "init_rate", 0.8)),
        ("model.norm=post", ("model", "norm", "post")),
        ("train.betas=[0.9, 0.98]", ("train", "betas", [0.9, 0.98])),
        ("train.grad_clip=null", ("train", "grad_clip", None)),
        ("train.steps=500", ("train", "steps", 500)),
        ("task.label_overrides={'34': -6}", ("task", "label_overrides", {"34": -6})),
        (" train.steps =7", ("train", "steps", 7)),
    ],
)
def test_parse_set_reads_values_as_yaml(expr: str, expected: tuple) -> None:
    assert parse_set(expr) == expected
    assert type(parse_set(expr)[2]) is type(expected[2])


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("train.steps", "section.key=value"),  # no "="
        ("steps=5", "section.key"),  # no section
        ("training.steps=5", "unknown config section 'training'"),
        ("train.=5", "section.key"),
        ("train.lr=[1", "cannot parse"),
    ],
)
def test_parse_set_errors_are_one_line_user_errors(expr: str, fragment: str) -> None:
    with pytest.raises(UserError) as info:
        parse_set(expr)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


# -- TrainConfig validation -------------------------------------------------------------------------
def test_unknown_train_key_names_it_and_the_known_keys() -> None:
    with pytest.raises(UserError) as info:
        validate(TrainConfig, {"stepz": 10}, "train")
    message = str(info.value)
    assert message.startswith("unknown config key 'train.stepz' (known: ")
    assert "steps" in message and "warmup_steps" in message


@pytest.mark.parametrize(("key", "value"), [("steps", "abc"), ("steps", 1.5), ("lr", "fast"), ("lr", -1.0)])
def test_wrong_value_names_the_key_and_the_value(key: str, value: object) -> None:
    with pytest.raises(UserError) as info:
        validate(TrainConfig, {key: value}, "train")
    message = str(info.value)
    assert f"train.{key}" in message
    assert repr(value) in message
    assert "\n" not in message


def test_closed_choices_are_rejected_at_load_time() -> None:
    with pytest.raises(UserError, match="train.eval_schedule"):
        validate(TrainConfig, {"eval_schedule": "cosine"}, "train")


def test_warmup_longer_than_training_is_rejected() -> None:
    with pytest.raises(UserError, match="warmup_steps"):
        validate(TrainConfig, {"steps": 50, "warmup_steps": 51}, "train")
    assert validate(TrainConfig, {"steps": 50, "warmup_steps": 50}, "train").warmup_steps == 50


def test_validated_config_is_typed() -> None:
    cfg = validate(TrainConfig, {"betas": [0.9, 0.98], "grad_clip": None, "steps": "12", "warmup_steps": 2}, "train")
    assert cfg.betas == (0.9, 0.98)
    assert cfg.grad_clip is None
    assert cfg.steps == 12


# -- layering: task defaults < suite set < --model < --set ---------------------------------------------
def plan(model: str | None = None, cli_sets: list[str] | None = None, suite_set: dict | None = None):
    return plan_entry(SuiteEntry(task=IDENTITY, set=suite_set or {}), model, cli_sets or [])


def test_task_defaults_are_the_base_layer() -> None:
    spec = TASKS.get(IDENTITY)
    p = plan()
    assert p.model.name == spec.defaults.model["name"]
    for key, value in spec.defaults.model.items():
        if key != "name":
            assert p.model.config[key] == value, key
    for key, value in spec.defaults.train.items():
        assert getattr(p.train, key) == value, key
    assert p.params.n_train == spec.params["n_train"]


def test_suite_set_overrides_task_defaults() -> None:
    p = plan(suite_set={"train.steps": 500, "model.d_model": 64, "task.n_train": 300})
    assert (p.train.steps, p.model.config["d_model"], p.params.n_train) == (500, 64, 300)
    assert p.model.config["n_heads"] == TASKS.get(IDENTITY).defaults.model["n_heads"]  # untouched keys stay


def test_cli_set_overrides_suite_set() -> None:
    p = plan(cli_sets=["train.steps=150", "model.d_model=16"], suite_set={"train.steps": 500, "model.d_model": 64})
    assert p.train.steps == 150
    assert p.model.config["d_model"] == 16


def test_model_flag_naming_the_default_model_keeps_task_kwargs() -> None:
    assert plan(model="transformer").model == plan().model


def test_switching_model_drops_the_task_transformer_kwargs() -> None:
    p = plan(model="lstm")
    assert p.model.name == "lstm"
    assert p.model.config == MODELS.get("lstm").Config().model_dump(mode="json")


def test_cli_set_applies_on_top_of_a_switched_model() -> None:
    p = plan(model="lstm", cli_sets=["model.hidden=16"])
    assert p.model.config["hidden"] == 16


def test_set_model_name_is_the_same_as_the_model_flag() -> None:
    assert plan(cli_sets=["model.name=lstm"]).model == plan(model="lstm").model
    assert (
        plan(cli_sets=["model.name=lstm", "model.hidden=8"]).model
        == plan(model="lstm", cli_sets=["model.hidden=8"]).model
    )


def test_set_model_name_beats_the_model_flag() -> None:
    assert plan(model="mlp", cli_sets=["model.name=lstm"]).model.name == "lstm"


def test_suite_set_model_name_switches_model_like_the_flag() -> None:
    assert plan(suite_set={"model.name": "lstm"}).model == plan(model="lstm").model


def test_unknown_model_key_is_an_error_naming_the_key() -> None:
    with pytest.raises(UserError) as info:
        plan(cli_sets=["model.d_modle=32"])
    assert "model.d_modle" in str(info.value)


def test_unknown_train_key_through_the_plan() -> None:
    with pytest.raises(UserError, match="unknown config key 'train.stepz'"):
        plan(cli_sets=["train.stepz=3"])


PLUGIN = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, vocab_size, seq_len, width=8):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, width)
        self.head = nn.Linear(width, vocab_size)

    def forward(self, tokens):
        return self.head(self.emb(tokens))
"""


def test_plugin_without_config_accepts_its_own_kwargs(plugin_module) -> None:
    name = f"{plugin_module(PLUGIN)}:Net"
    p = plan(model=name, cli_sets=["model.width=4"])
    assert p.model.name == name
    assert p.model.config == {"width": 4}
    assert p.model.build(201, 9).emb.embedding_dim == 4


def test_plugin_without_config_rejects_unknown_kwargs(plugin_module) -> None:
    name = f"{plugin_module(PLUGIN)}:Net"
    with pytest.raises(UserError) as info:
        plan(model=name, cli_sets=["model.depth=2"])
    assert "model.depth" in str(info.value)
    assert "width" in str(info.value)  # the accepted keys are listed


# -- lr schedule and eval schedule ----------------------------------------------------------------------
CFG = TrainConfig(steps=100, warmup_steps=10, lr=2.0, min_lr_ratio=0.1)


def test_warmup_is_linear_and_peaks_at_its_end() -> None:
    warm = [lr_at(s, CFG) for s in range(CFG.warmup_steps)]
    assert warm == pytest.approx([2.0 * (s + 1) / 10 for s in range(10)])
    assert lr_at(CFG.warmup_steps - 1, CFG) == pytest.approx(CFG.lr)
    assert max(lr_at(s, CFG) for s in range(CFG.steps + 1)) == pytest.approx(CFG.lr)


def test_cosine_decays_to_min_lr_at_the_last_step() -> None:
    decay = [lr_at(s, CFG) for s in range(CFG.warmup_steps, CFG.steps + 1)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_at(CFG.steps, CFG) == pytest.approx(CFG.lr * CFG.min_lr_ratio)
    mid = CFG.warmup_steps + (CFG.steps - CFG.warmup_steps) // 2  # half way: cosine term 0.5
    assert lr_at(mid, CFG) == pytest.approx(CFG.lr * (0.1 + 0.9 * 0.5))
    s = 70
    cosine = 0.5 * (1 + math.cos(math.pi * (s - 10) / 90))
    assert lr_at(s, CFG) == pytest.approx(2.0 * (0.1 + 0.9 * cosine))


def test_no_warmup_starts_at_peak() -> None:
    cfg = TrainConfig(steps=10, warmup_steps=0, lr=1.0)
    assert lr_at(0, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(0.0, abs=1e-12)


def _init_code_lr(step: int, peak: float, warmup: int, t_max: int) -> float:
    """The [INIT] code's schedule written out: GradualWarmupScheduler (multiplier 20, from
    peak / 20) then CosineAnnealingLR (T_max, eta_min peak / 20), one scheduler step per batch."""
    base = peak / 20
    if step <= warmup:
        return base * (19 * step / warmup + 1)
    return base + (peak - base) * (1 + math.cos(math.pi * (step - warmup) / t_max)) / 2


def test_the_init_code_schedule_is_expressible() -> None:
    # Scaled down 100x from the code's 3,700 warmup / 74,000 cosine / 77,700 steps.
    cfg = TrainConfig(steps=777, warmup_steps=37, lr=2e-4, warmup_start_ratio=0.05, min_lr_ratio=0.05)
    increment = 2e-4 * 0.95 / 37 * 1.001  # ours reaches each warmup value one step earlier than the code
    for s in range(cfg.steps + 1):
        want = _init_code_lr(s, 2e-4, 37, 740)
        assert lr_at(s, cfg) == pytest.approx(want, abs=increment if s < 37 else 1e-12)
    assert lr_at(0, cfg) == pytest.approx(2e-4 * (0.05 + 0.95 / 37))


def test_decay_steps_longer_than_the_run_hold_the_lr_near_its_peak() -> None:
    long = TrainConfig(steps=100, warmup_steps=10, lr=1.0, decay_steps=900)
    assert lr_at(100, long) == pytest.approx(0.5 * (1 + math.cos(math.pi * 90 / 900)))  # 0.975
    assert lr_at(100, long) > 0.97 > lr_at(100, TrainConfig(steps=100, warmup_steps=10, lr=1.0))
    # The default (None) is the rest of the run, exactly as before the field existed.
    same = TrainConfig(steps=100, warmup_steps=10, lr=1.0, decay_steps=90)
    default = TrainConfig(steps=100, warmup_steps=10, lr=1.0)
    assert [lr_at(s, same) for s in range(101)] == [lr_at(s, default) for s in range(101)]


def test_new_schedule_fields_at_their_defaults_leave_the_hash_alone() -> None:
    from anchorbench.config import hashed

    plain = hashed(TrainConfig())
    assert "warmup_start_ratio" not in plain and "decay_steps" not in plain
    assert hashed(TrainConfig(warmup_start_ratio=0.05))["warmup_start_ratio"] == 0.05
    assert hashed(TrainConfig(decay_steps=500))["decay_steps"] == 500


def test_linear_eval_steps_include_0_every_k_and_the_last() -> None:
    cfg = TrainConfig(steps=95, warmup_steps=0, eval_every=10)
    assert eval_steps(cfg) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert eval_steps(TrainConfig(steps=5, warmup_steps=0, eval_every=10)) == [0, 5]


@pytest.mark.parametrize(("steps", "points"), [(1000, 20), (50, 40), (1, 5)])
def test_log_eval_steps_are_sorted_unique_and_span_the_run(steps: int, points: int) -> None:
    got = eval_steps(TrainConfig(steps=steps, warmup_steps=0, eval_schedule="log", eval_points=points))
    assert got[0] == 0 and got[-1] == steps
    assert got == sorted(set(got))
    assert all(isinstance(s, int) and 0 <= s <= steps for s in got)
    assert len(got) <= points + 1


def test_log_eval_steps_are_denser_early() -> None:
    got = eval_steps(TrainConfig(steps=1000, warmup_steps=0, eval_schedule="log", eval_points=20))
    assert sum(s <= 100 for s in got) > sum(s > 100 for s in got) / 2
    assert 1 in got


# -- one typed run configuration ---------------------------------------------------------------
def test_a_result_carries_its_run_config_and_its_hash_is_recomputed_from_it_alone(tmp_path, cli) -> None:
    """result.config is the whole configuration as hashed: from the JSON record alone, without the
    task spec, the model class or the plan, RunConfig gives back the recorded config hash; a record
    written before the field existed (schema 2) still reads."""
    import json

    from conftest import TINY_ARGS

    from anchorbench.config import RunConfig
    from anchorbench.execution.results import RunResult

    out = tmp_path / "r"
    args = ["run", "matching-chain-v2", *TINY_ARGS, "--set", "task.n_train=2000", "--out", str(out)]
    assert cli(*args, "--intervention", "orthogonal-noise").code == 0
    results = [json.loads(p.read_text()) for p in sorted(out.rglob("result.json"))]
    assert len(results) == 2  # the plain arm and its twin
    hashes = set()
    for data in results:
        config = RunConfig.model_validate(data["config"])
        assert config.config_hash() == data["config_hash"]
        assert config.task.spec_hash() == data["task"]["spec_hash"]
        assert config.train.model_dump(mode="json") == data["train"]
        hashes.add(data["config_hash"])
    assert len(hashes) == 2  # the intervention enters the hash
    plain = next(d for d in results if d["intervention"] is None)
    changed = {**plain["config"], "seed": 1}
    assert RunConfig.model_validate(changed).config_hash() != plain["config_hash"]
    old = {k: v for k, v in plain.items() if k != "config"} | {"schema_version": 2}
    assert RunResult.model_validate(old).config is None


def test_run_config_hashes_are_the_hashes_recorded_before_it(tmp_path) -> None:
    """The committed leaderboard records were hashed by the hand-built payload that RunConfig
    replaced; planning their suite entries today gives the same config hashes."""
    import json
    from pathlib import Path

    from anchorbench.leaderboard.record import Submission
    from anchorbench.leaderboard.verify import entry_plan

    checked = 0
    for path in sorted((Path(__file__).parent.parent / "leaderboard" / "submissions").glob("*.json")):
        sub = Submission.model_validate(json.loads(path.read_text()))
        for label, task in sub.tasks.items():
            plan = entry_plan(sub, label)
            for seed in task.seeds:
                assert plan.config_hash(seed.seed) == seed.config_hash, (path.name, label)
                checked += 1
    assert checked >= 6 * 3
