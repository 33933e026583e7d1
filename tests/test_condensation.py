"""[COND-PD] condensation-phase-v1: the data, gradient descent at the curvature's step, the early
stop, the rd_w score, the theorem's regimes, and a slope sweep's report end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from anchorbench.config import TrainConfig
from anchorbench.models.two_layer import TwoLayer
from anchorbench.registry import TASKS
from anchorbench.render.sweep_slope import fit_slope, slope_cells, zero_crossings
from anchorbench.scoring.condensation import cond_pd_regime
from anchorbench.training.curvature import ntk_top_eigenvalue

TASK = "condensation-phase-v1"


# -- the data ---------------------------------------------------------------------------------------------
def test_the_data_is_the_codes_four_points_of_x_squared_and_verify_catches_a_wrong_target() -> None:
    spec = TASKS.get(TASK)
    params = spec.resolve_params()
    ds = spec.family_obj.generate(params, 0)
    x = ds.splits["train"].tokens[:, 0]
    assert np.allclose(x, np.linspace(-0.5, 0.5, 4)) and np.allclose(ds.splits["train"].labels[:, 0], x**2)
    assert len(ds.splits["test"]) == 1000 and spec.family_obj.verify(ds, params) == []
    ds.splits["test"].labels[3, 0] += 0.01
    assert spec.family_obj.verify(ds, params) == ["test: a target is not x^2"]


# -- the theorem ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "gamma, gamma_prime, regime",
    [(0.5, 0.0, "linear"), (1.75, 0.0, "condensed"), (1.0, 0.0, "critical"), (1.0, -0.4, "critical"),
     (1.0, 0.4, "linear"), (1.2, 0.4, "linear"), (1.2, -0.4, "condensed"), (1.4, 0.4, "critical"),
     (0.9, -0.4, "linear")],
)  # fmt: skip
def test_regimes_of_the_theorem(gamma: float, gamma_prime: float, regime: str) -> None:
    assert cond_pd_regime(gamma, gamma_prime) == regime


# -- gradient descent at the curvature's step -------------------------------------------------------------
def test_the_step_uses_the_ntk_of_the_two_layer_network_in_closed_form() -> None:
    torch.manual_seed(0)
    net = TwoLayer(1, 1, width=16, gamma=1.2, gamma_prime=0.1, antisymmetric=True, bias_init="input").double()
    x = torch.linspace(-0.5, 0.5, 4, dtype=torch.float64)[:, None]
    lam = ntk_top_eigenvalue(net, list(net.parameters()), x)
    xb = torch.cat([x, torch.ones_like(x)], 1)  # [n, 2]: the bias as an input
    w = torch.cat([net.hidden.weight, net.hidden.bias[:, None]], 1).detach()  # [2m, 2]
    a, alpha = net.out.weight[0].detach(), net.output_scale
    pre = w @ xb.T  # [2m, n]
    h, d = pre.clamp_min(0), (pre > 0).double()
    theta = (h.T @ h + (d * a[:, None] ** 2).T @ d * (xb @ xb.T)) / alpha**2  # NTK over (a, w, b)
    assert lam == pytest.approx(float(torch.linalg.eigvalsh(2 / 4 * theta)[-1]), rel=1e-9)


def test_gd_ntk_is_plain_gradient_descent_and_needs_the_regression_objective(cli, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weight_decay 0 and grad_clip null"):
        TrainConfig(optimizer="gd-ntk", weight_decay=0.01)
    sets = ["train.optimizer=gd-ntk", "train.weight_decay=0", "train.grad_clip=null", "train.warmup_steps=0"]
    r = cli(
        "run", "anchor-identity-v1", *[a for s in sets for a in ("--set", s)], "--out", str(tmp_path / "out"), "--quiet"
    )
    assert r.code == 2 and len(r.err_lines) == 1 and "needs the regression objective" in r.err, r.err
    assert not (tmp_path / "out").exists()


def test_a_run_stops_at_the_loss_threshold_and_reports_rd_w(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = cli("run", TASK, "--set", "model.width=64", "--set", "train.stop_loss=1e-4", "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    result = json.loads((out / TASK / "seed-0" / "result.json").read_text())
    history = [json.loads(line) for line in (out / TASK / "seed-0" / "history.jsonl").read_text().splitlines()]
    assert 0 < result["steps_completed"] < 100_000 and history[-1]["step"] == result["steps_completed"]
    assert result["scores"]["train_loss"] < 1e-4 < history[-2]["splits"]["train"]["loss"]
    # rd_w is the rd_input probe of the final evaluation, which every run of the task records
    assert result["scores"]["rd_w"] == pytest.approx(history[-1]["probes"]["rd_input"]) and result["scores"]["rd_w"] > 0


# -- slopes -----------------------------------------------------------------------------------------------
def test_fit_slope_recovers_a_power_and_skips_what_a_log_cannot_take() -> None:
    xs = [250.0, 500.0, 1000.0, 2000.0]
    assert fit_slope(xs, [3 * x**-0.5 for x in xs]) == pytest.approx(-0.5)
    assert fit_slope(xs, [None, 0.0, 2.0, 4.0]) == pytest.approx(1.0)  # two usable points
    assert fit_slope(xs, [None, 0.0, math.nan, 4.0]) is None


def _row(gamma: float, width: int, by_seed: dict[int, float]) -> SimpleNamespace:
    return SimpleNamespace(coords={"model.gamma": gamma, "model.width": width}, scores={"rd_w": {"mean": 1.0}},
                           seed_scores={s: {"rd_w": v} for s, v in by_seed.items()},
                           model_config={"gamma": gamma, "gamma_prime": 0.0})  # fmt: skip


def test_slope_cells_fit_per_seed_judge_the_side_and_locate_the_crossing() -> None:
    slope = {"x": "model.width", "score": "rd_w", "across": "model.gamma", "theory": "cond-pd"}
    powers = {0.5: -0.5, 1.0: -0.1, 1.5: 0.3}
    rows = [_row(g, m, {0: m**p, 1: 2 * m ** (p + 0.02)}) for g, p in powers.items() for m in (100, 400, 1600)]
    cells = {c.coords["model.gamma"]: c for c in slope_cells(rows, slope)}
    assert cells[0.5].slopes == pytest.approx([-0.5, -0.48]) and cells[0.5].mean == pytest.approx(-0.49)
    assert (cells[0.5].regime, cells[0.5].on_side) == ("linear", True)
    assert (cells[1.0].regime, cells[1.0].on_side) == ("critical", None)
    assert (cells[1.5].regime, cells[1.5].on_side) == ("condensed", True)
    ((_, crossing),) = zero_crossings(list(cells.values()), slope)
    assert crossing == pytest.approx(1.0 + 0.5 * 0.09 / (0.09 + 0.31))


# -- the sweep spec and report ----------------------------------------------------------------------------
def _sweep(tmp_path: Path, axes: dict, slope: dict, name: str = "s.yaml") -> Path:
    base = {"task": TASK, "set": {"train.stop_loss": 1e-4}}
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump({"id": "cp", "version": 1, "title": "t", "base": base, "axes": axes, "slope": slope})
    )
    return path


@pytest.mark.parametrize(
    "axes, slope, message",
    [
        ({"model.width": [64]}, {"x": "model.width", "score": "rd_w"}, "at least 2 positive numbers"),
        ({"model.width": [64, 128], "model.gamma": [0.5]}, {"x": "model.width", "score": "rd_w"}, "would mix cells"),
        ({"model.width": [64, 128]}, {"x": "model.gamma", "score": "rd_w"}, "slope axis 'model.gamma'"),
        ({"model.width": [64, 128], "model.gamma": [0.5]},
         {"x": "model.width", "score": "rd_w", "across": "model.gamma",
          "reference": {"label": "p", "values": [{"model.gamma": 0.7, "slope": 0.1}]}}, "0.7 is not a value"),
    ],
)  # fmt: skip
def test_bad_slope_specs_are_one_line_errors(tmp_path: Path, cli, axes: dict, slope: dict, message: str) -> None:
    r = cli("sweep", str(_sweep(tmp_path, axes, slope)), "--out", str(tmp_path / "out"), "--quiet")
    assert r.code == 2 and len(r.err_lines) == 1 and message in r.err, r.err
    assert not (tmp_path / "out").exists()


def test_a_slope_sweep_reads_linear_and_condensed_on_the_theorems_sides(tmp_path: Path, cli) -> None:
    axes = {"model.gamma": [0.5, 1.75], "model.width": [64, 256], "seed": [0, 1]}
    slope = {"x": "model.width", "score": "rd_w", "across": "model.gamma", "theory": "cond-pd",
             "reference": {"label": "paper", "values": [{"model.gamma": 0.5, "slope": -0.506}]}}  # fmt: skip
    out = tmp_path / "out"
    assert cli("sweep", str(_sweep(tmp_path, axes, slope)), "--workers", "1", "--out", str(out), "--quiet").code == 0
    r = cli("report", str(out))
    assert r.code == 0, r.err
    assert "cells on the predicted side of zero (critical cells not judged): 2/2 = 1.00" in r.out
    assert "zero crossing of the mean slope along gamma: gamma = " in r.out
    slopes = {c["coords"]["model.gamma"]: c for c in json.loads((out / "report.json").read_text())["slopes"]}
    assert slopes[0.5]["mean"] < 0 < slopes[1.75]["mean"] and slopes[0.5]["reference"] == -0.506
    assert len(slopes[0.5]["slopes"]) == 2
    assert (out / "slope-rd_w.png").stat().st_size > 0 and (out / "slope-rd_w-vs-width.png").stat().st_size > 0


# -- initial condensation (the lab's demo) -----------------------------------------------------------------
def test_directions_count_signed_clusters_that_hold_a_tenth_of_the_neurons() -> None:
    from anchorbench.scoring.dynamics import directions

    rng = np.random.default_rng(0)
    u, v = np.array([1.0, 2.0, 0.5]), np.array([-2.0, 0.3, 1.0])
    rows = [s * u * (1 + 0.001 * rng.standard_normal(3)) for s in (1,) * 10 + (-1,) * 8]
    rows += [v * (1 + 0.001 * rng.standard_normal(3)) for _ in range(2)]  # 2 of 24: under a tenth
    rows += [np.array(r) for r in ([0.0, 0, 1], [1.0, 0, 0], [0.0, 1, 0], [1.0, -1, 1])]  # scattered: cos < 0.95
    out = directions(np.array(rows))
    assert out["directions"] == 2 and out["direction_share"] == pytest.approx(18 / 24)
    assert out["clusters"] >= 3 + 1  # u, -u, v, and the scattered rest
    assert directions(np.zeros((4, 3)))["directions"] == 0  # no vector, no direction


def test_xtanh_is_x_times_tanh() -> None:
    net = TwoLayer(1, 1, width=3, activation="xtanh")
    x = torch.linspace(-2, 2, 5)
    assert torch.allclose(net.act(x), x * torch.tanh(x))


def test_tanh_condenses_onto_two_opposite_directions_and_the_cosine_map_is_drawn(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = cli("run", "initial-condensation-v1", "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    seed = out / "initial-condensation-v1" / "seed-0"
    result = json.loads((seed / "result.json").read_text())
    assert result["scores"]["condensed_directions"] == 2 and result["scores"]["condensed_share"] > 0.9
    cos = np.array(result["probes"]["cosine-map"]["cosine"])
    assert cos.shape == (50, 50) and np.allclose(np.diag(cos), 1, atol=1e-3) and cos.min() < -0.95  # w and -w
    assert (seed / "cosine-map.png").stat().st_size > 0
    history = [json.loads(line) for line in (seed / "history.jsonl").read_text().splitlines()]
    assert history[0]["probes"]["directions"]["directions"] == 0  # at init: no direction holds a tenth
