"""[PLAW-SUP] superposition-dynamics-v1: the data, the two students, the exponent scores and their
theory, plain SGD, and a power_law sweep's report end to end (tiny sizes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from anchorbench.config import TrainConfig
from anchorbench.data.superposition import SuperpositionParams, presence
from anchorbench.models.superposition import FeatureChannels, ToySuperposition
from anchorbench.registry import TASKS
from anchorbench.scoring.dynamics import power_law
from anchorbench.scoring.power_laws import crossing, sequential_exponent

TASK = "superposition-dynamics-v1"
TINY = {"n_features": 32, "n_train": 2048, "n_test": 1024}


# -- the data ---------------------------------------------------------------------------------------------
def test_features_are_sparse_with_power_law_rates_and_the_target_is_a_x() -> None:
    spec = TASKS.get(TASK)
    params = spec.resolve_params({"n_features": 64, "feature_decay": 1.5, "importance_decay": 0.5,
                                  "n_train": 20000, "n_test": 100})  # fmt: skip
    ds = spec.family_obj.generate(params, 0)
    x, y = ds.splits["train"].tokens, ds.splits["train"].labels
    p = presence(params)
    assert p.sum() == pytest.approx(1.0) and p[0] / p[3] == pytest.approx(4**1.5)
    seen = (x > 0).mean(axis=0)
    assert np.allclose(seen[:4], p[:4], rtol=0.1)  # the frequent features' rates, within sampling error
    assert x.max() < 2 and np.allclose(y, x * np.arange(1, 65) ** -0.5, rtol=1e-6)
    assert spec.family_obj.verify(ds, params) == []
    y[5, 3] += 0.1
    assert spec.family_obj.verify(ds, params) == ["train: a target is not A x"]


def test_the_data_depends_on_the_seed_and_only_on_it() -> None:
    spec = TASKS.get(TASK)
    params = spec.resolve_params(TINY)
    a, b, c = (spec.family_obj.generate(params, s).splits["test"].tokens for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sizes_the_memory_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="values"):
        SuperpositionParams(n_features=65536, n_train=100_000)


# -- the students -----------------------------------------------------------------------------------------
def test_the_toy_model_is_relu_of_w_d_w_e_x_plus_b_and_tied_uses_w_e_transposed() -> None:
    x = torch.rand(5, 12)
    net = ToySuperposition(12, 12, width=3)
    assert net.encode.shape == (3, 12) and net.decode.shape == (12, 3)
    assert torch.allclose(net(x), torch.relu(x @ net.encode.T @ net.decode.T + net.bias))
    tied = ToySuperposition(12, 12, width=3, tied=True)
    assert tied.decode is None and torch.allclose(tied(x), torch.relu(x @ tied.encode.T @ tied.encode + tied.bias))


def test_feature_channels_start_at_zero_and_keep_features_apart() -> None:
    net = FeatureChannels(6, 6)
    x = torch.rand(4, 6)
    assert torch.equal(net(x), torch.zeros(4, 6))
    with torch.no_grad():
        net.weight[2] = 3.0
    out = net(x)
    assert torch.allclose(out[:, 2], 3 * x[:, 2]) and torch.equal(out[:, [0, 1, 3, 4, 5]], torch.zeros(4, 5))
    with pytest.raises(ValueError, match="d_in == d_out"):
        FeatureChannels(3, 4)


# -- the theory and the scores ----------------------------------------------------------------------------
def test_the_sequential_reference_recovers_the_time_scale_and_exponent_of_a_theory_curve() -> None:
    from anchorbench.data.dataset import Split
    from anchorbench.scoring.evaluation import Evaluation, SplitEval
    from anchorbench.scoring.power_laws import sequential_curve, sequential_reference

    spec = TASKS.get(TASK)
    params = spec.resolve_params({**TINY, "n_features": 256, "feature_decay": 2.0, "importance_decay": 0.5})
    test = spec.family_obj.generate(params, 0).splits["test"]
    weights = np.square(test.labels.astype(np.float64)).mean(axis=0) / 256
    rates = np.arange(1, 257, dtype=np.float64) ** -2.0
    steps = np.unique(np.round(np.logspace(0, 4, 40)))
    curve = sequential_curve(steps, weights, rates, 0.1)  # a student learning features one by one
    history = tuple({"step": int(t), "splits": {"test": {"loss": float(v)}}} for t, v in zip(steps[:-1], curve[:-1]))
    final = SplitEval(Split(test.tokens, test.labels, test.groups, test.meta), test.labels,
                      np.full(len(test), curve[-1]))  # fmt: skip
    ev = Evaluation(int(steps[-1]), {"test": final}, ("all",), history=history)
    ref = sequential_reference(ev)
    assert ref["r1"] == pytest.approx(0.1, rel=0.03) and ref["r2"] > 0.9999
    assert ref["alpha"] == pytest.approx(power_law(steps, curve)["alpha"], abs=1e-3)
    assert ref["alpha"] == pytest.approx(sequential_exponent(2.0, 0.5), abs=0.1)  # converging sum: near (a+2b-1)/a


def test_a_negative_floor_recovers_the_exponent_that_a_cut_sum_hides() -> None:
    # A sum cut at N is the infinite one minus its missing tail: c t^-alpha - D before the last feature
    # relaxes. The standard fit (0 <= L_inf) reads a steeper curve; the offset fit finds alpha.
    from anchorbench.scoring.power_laws import offset_fit

    steps = np.unique(np.round(np.logspace(0, 1.9, 40)))
    curve = 2.0 * steps**-0.2 - 0.5  # still positive at t = 10^1.9 (0.33)
    assert (curve > 0).all()
    assert offset_fit(steps, curve, 1.0, steps[-1]) == pytest.approx(0.2, abs=0.01)
    assert power_law(steps, curve, min_decades=1.0)["alpha"] > 0.3  # L_inf >= 0 cannot undo the cut
    assert math.isnan(offset_fit(steps, curve, 10.0, 20.0))  # under 1.5 decades


def test_crossing_interpolates_in_log_log_between_evaluations() -> None:
    steps = np.array([10.0, 100.0, 1000.0])
    values = np.array([1.0, 0.1, 0.01])
    assert crossing(steps, values, 0.1**1.5) == pytest.approx(10**2.5)
    assert crossing(steps, values, 2.0) == 10.0 and math.isnan(crossing(steps, values, 1e-3))


def test_sgd_is_plain_sgd_with_the_schedules_lr() -> None:
    from anchorbench.training.loop import Trainer

    spec = TASKS.get(TASK)
    ds = spec.family_obj.generate(spec.resolve_params(TINY), 0)
    cfg = TrainConfig(optimizer="sgd", lr=5.0, warmup_steps=0, min_lr_ratio=1.0, weight_decay=0.0, grad_clip=None,
                      batch_size=64, steps=3, threads=1)  # fmt: skip
    t = Trainer(FeatureChannels(32, 32), ds, cfg, seed=0, progress=False)
    assert isinstance(t.optimizer, torch.optim.SGD) and t.optimizer.defaults["momentum"] == 0
    before = t.model.weight.detach().clone()
    x, y = t.train_x[t.order.indices(0)], t.train_y[t.order.indices(0)]
    grad = (2 * (x * before - y) * x).mean(0) / 32  # d/dw of the mean squared error over the batch and outputs
    t.step(0)
    assert torch.allclose(t.model.weight, before - 5.0 * grad, atol=1e-6)


def test_a_run_fits_the_test_loss_and_the_channels_follow_the_theory(cli, tmp_path: Path) -> None:
    # One channel per feature at a = 2, b = 0.5: the theory's exponent 1 within 0.15, the matched finite-N curve 0.05.
    out = tmp_path / "run"
    sets = [f"task.{k}={v}" for k, v in TINY.items()]
    sets += ["task.importance_decay=0.5", "task.feature_decay=2", "train.steps=1000", "train.lr=10"]
    sets += ["train.eval_size=1024"]
    args = [a for s in sets for a in ("--set", s)]
    r = cli("run", TASK, "--model", "feature-channels", "--out", str(out), "--quiet", *args)
    assert r.code == 0, r.err
    result = json.loads((out / TASK / "seed-0" / "result.json").read_text())
    s = result["scores"]
    assert s["exponent_reference"] == pytest.approx(1.0) and s["fit_decades"] >= 1.5
    assert s["loss_exponent"] == pytest.approx(1.0, abs=0.15)
    assert s["exponent_gap"] < 0.15 and s["exponent_gap_n"] < 0.05 and s["sequential_r2"] > 0.95
    assert s["exponent_gap_offset"] < 0.15
    history = [json.loads(line) for line in (out / TASK / "seed-0" / "history.jsonl").read_text().splitlines()]
    steps = np.array([h["step"] for h in history[1:]], float)
    loss = np.array([h["splits"]["test"]["loss"] for h in history[1:]])
    assert s["loss_exponent"] == pytest.approx(power_law(steps, loss)["alpha"])  # the same pipeline, recomputed
    assert s["time_to_excess"] > 0


# -- the sweep ----------------------------------------------------------------------------------------------
def _sweep(tmp_path: Path, power_law_spec: dict, axes: dict | None = None) -> Path:
    axes = axes or {"task.feature_decay": [1.5, 2.0], "model.name": ["toy-superposition", "feature-channels"],
                    "seed": [0, 1]}  # fmt: skip
    base = {"task": TASK, "set": {**{f"task.{k}": v for k, v in TINY.items()}, "train.steps": 400,
                                  "train.lr": 10.0, "train.eval_size": 1024, "train.eval_points": 25}}  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"id": "pl", "version": 1, "title": "t", "base": base, "axes": axes,
                                    "power_law": power_law_spec}))  # fmt: skip
    return path


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"students": "model.name", "slow": "feature-channels", "fast": "nope", "x": "task.feature_decay"},
         "'nope' is not a value"),
        ({"students": "model.name", "slow": "feature-channels", "fast": "toy-superposition", "x": "task.n_test"},
         "power_law axis 'task.n_test'"),
        ({"students": "model.name", "slow": "feature-channels", "fast": "feature-channels", "x": "task.feature_decay"},
         "must be different students"),
    ],
)  # fmt: skip
def test_bad_power_law_specs_are_one_line_errors(tmp_path: Path, cli, spec: dict, message: str) -> None:
    r = cli("sweep", str(_sweep(tmp_path, spec)), "--out", str(tmp_path / "out"), "--quiet")
    assert r.code == 2 and len(r.err_lines) == 1 and message in r.err, r.err
    assert not (tmp_path / "out").exists()


def test_a_power_law_sweep_reports_exponents_the_theory_and_a_paired_speedup(tmp_path: Path, cli) -> None:
    spec = {"students": "model.name", "slow": "feature-channels", "fast": "toy-superposition",
            "x": "task.feature_decay"}  # fmt: skip
    out = tmp_path / "out"
    assert cli("sweep", str(_sweep(tmp_path, spec)), "--workers", "1", "--out", str(out), "--quiet").code == 0
    r = cli("report", str(out))
    assert r.code == 0, r.err
    assert "speed-up feature-channels / toy-superposition" in r.out
    summary = json.loads((out / "report.json").read_text())["power_law"]
    assert [e["x"] for e in summary] == [1.5, 2.0]
    channels = [e["students"]["feature-channels"]["mean"] for e in summary]  # 400 steps: the channels' fit only
    assert f"feature-channels: {min(channels):.3f} .. {max(channels):.3f} (sd" in r.out
    for e in summary:
        assert e["exponent_reference"] == pytest.approx(sequential_exponent(e["x"], 0.0))
        assert set(e["students"]) == {"toy-superposition", "feature-channels"}
    # the speed-up is the geometric mean of the per-seed ratios, recomputed from the results
    rows = {(r["coords"]["task.feature_decay"], r["coords"]["model.name"]): r
            for r in json.loads((out / "report.json").read_text())["rows"]}  # fmt: skip
    slow, fast = rows[(2.0, "feature-channels")]["seed_scores"], rows[(2.0, "toy-superposition")]["seed_scores"]
    ratios = [slow[s]["time_to_excess"] / fast[s]["time_to_excess"] for s in slow
              if slow[s]["time_to_excess"] and fast[s]["time_to_excess"]]  # fmt: skip
    if ratios:
        assert summary[1]["speedup"]["mean"] == pytest.approx(math.exp(np.mean(np.log(ratios))))
    assert (out / "pl-exponents.png").stat().st_size > 0 and (out / "pl-loss-curves.png").stat().st_size > 0
