"""[PLAW-SGD] sgd-noise-geometry-v1: the teacher-student data, the quadratic fit of the noise variance,
the exact quadratic of a linear model, the tail statistics, and a run with its plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anchorbench.registry import TASKS
from anchorbench.scoring.noise_geometry import excess_kurtosis, geometry, hill_tail_index, quadratic_fit

TASK = "sgd-noise-geometry-v1"


def test_the_teacher_is_recomputed_from_the_seed_and_label_noise_reaches_training_labels_only() -> None:
    spec = TASKS.get(TASK)
    clean = spec.resolve_params()
    ds = spec.family_obj.generate(clean, 3)
    assert ds.splits["train"].tokens.shape == (1024, 4) and spec.family_obj.verify(ds, clean) == []
    noisy_params = spec.resolve_params({"label_noise": 0.3})
    noisy = spec.family_obj.generate(noisy_params, 3)
    assert np.array_equal(noisy.splits["test"].labels, ds.splits["test"].labels)  # test labels stay clean
    gap = noisy.splits["train"].labels - ds.splits["train"].labels
    assert 0.25 < gap.std() < 0.35 and spec.family_obj.verify(noisy, noisy_params) == []
    assert spec.family_obj.verify(noisy, clean) == ["train: a label is not the teacher's output"]
    other = spec.family_obj.generate(clean, 4)
    assert not np.array_equal(other.splits["train"].labels, ds.splits["train"].labels)


def test_the_quadratic_fit_recovers_its_coefficients_over_decades_and_a_cubic_fits_worse() -> None:
    d = np.logspace(-3, -0.5, 11)
    fit = quadratic_fit(d, 2e-5 + 0.3 * d + 20 * d**2)
    assert (fit["c0"], fit["c1"], fit["c2"]) == pytest.approx((2e-5, 0.3, 20.0), rel=1e-6) and fit["r2"] > 0.9999
    assert quadratic_fit(d, 1e-6 + d**3)["r2"] < quadratic_fit(d, 1e-6 + d**2)["r2"]


def test_tail_statistics_tell_a_heavy_tail_from_a_gaussian() -> None:
    rng = np.random.default_rng(0)
    gauss, heavy = rng.standard_normal(20000), rng.standard_t(3, 20000)
    assert abs(excess_kurtosis(gauss)) < 0.15 and excess_kurtosis(heavy) > 2
    assert hill_tail_index(heavy) < hill_tail_index(gauss)
    assert 2 < hill_tail_index(heavy) < 4.5  # t(3): tail index 3


@pytest.fixture
def short_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    """SGD and control chains of 600 steps (100 burn-in) instead of 3,000: the tests check wiring, not tails."""
    import anchorbench.scoring.noise_geometry as ng

    monkeypatch.setattr(ng, "SGD_STEPS", 600)
    monkeypatch.setattr(ng, "SGD_BURN_IN", 100)


def test_a_linear_models_noise_is_exactly_the_predicted_quadratic(short_chains: None) -> None:
    # l_i(w) = (w . x_i - y_i)^2: v . grad l_i(w* + d v) = 2 (r_i + d v.x_i) v.x_i, a quadratic variance in d
    # whose d^2 coefficient is Var(2 (v.x_i)^2) = Var(v^T H_i v).
    torch.manual_seed(0)
    x = np.random.default_rng(1).standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32) + 0.1 * np.random.default_rng(2).standard_normal(64))[:, None]
    model = torch.nn.Linear(3, 1, bias=False)
    g = geometry(model, x, y.astype(np.float32), seed=0)
    for name, s in g["directions"].items():
        assert s["r2"] > 0.999999, name
        assert s["c2"] == pytest.approx(s["predicted_c2"], rel=1e-6)
        assert s["c1"] == pytest.approx(s["predicted_c1"], rel=1e-5, abs=1e-9)
        assert s["c0"] == pytest.approx(s["predicted_c0"], rel=1e-5)
    assert set(g["directions"]) == {"top", "random-1", "random-2"} and g["lambda_max"] > 0
    assert g["tails"]["sgd"]["sd"] > 0 and len(g["tails"]["gaussian"]["histogram"]) == 41
    assert g["tails"]["steps"] == 600


def test_a_run_reports_the_geometry_at_its_last_evaluation(cli, tmp_path: Path, short_chains: None) -> None:
    out = tmp_path / "run"
    r = cli("run", TASK, "--out", str(out), "--quiet", "--set", "train.steps=400", "--set", "train.eval_points=2",
            "--set", "task.n_train=64")  # fmt: skip
    assert r.code == 0, r.err
    assert "fourier top5" not in r.out  # no table of columns this task's probe does not fill
    seed = out / TASK / "seed-0"
    result = json.loads((seed / "result.json").read_text())
    history = [json.loads(line) for line in (seed / "history.jsonl").read_text().splitlines()]
    top = history[-1]["probes"]["noise_geometry"]["directions"]["top"]
    assert result["scores"]["noise_r2"] == pytest.approx(top["r2"])
    assert result["scores"]["noise_c2_ratio"] == pytest.approx(top["c2"] / top["predicted_c2"])
    assert cli("plot", str(seed)).code == 0 and (seed / "noise-geometry.png").stat().st_size > 0
