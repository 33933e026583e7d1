"""Tolerance rules (statistical bands per metric) and numerics-stack fingerprints."""

from __future__ import annotations

import math

import pytest

from anchorbench.execution.numerics import STACK_FIELDS, describe, stack_differences
from anchorbench.execution.results import environment
from anchorbench.registry import METRICS
from anchorbench.scoring.tolerance import COUNT, RELATIVE, Z, leave_one_out_sd, mean_loss, proportion


def test_binomial_band_takes_an_honest_cross_stack_rerun_and_refuses_a_forgery() -> None:
    acc = proportion("test")
    # The README's verify line on an AVX-512 machine: 0.996 re-run against 0.998 recorded (n=500)
    band, why = acc.band(0.998, 0.996, n=500)
    assert 0.002 < band < 0.02 and "binomial" in why and "n=500" in why
    band, _ = acc.band(0.998, 0.9, n=500, spread=0.001)
    assert abs(0.998 - 0.9) > band
    # The band shrinks with more examples and is widest at p = 0.5
    assert acc.band(0.5, 0.5, n=100)[0] > acc.band(0.5, 0.5, n=10_000)[0] > acc.band(0.99, 0.99, n=10_000)[0]
    # p = 1 is not infinitely many standard errors from p = 0.999 (Laplace shrinkage)
    assert acc.band(1.0, 1.0, n=1000)[0] > 0


def test_seed_spread_widens_the_band_and_excludes_the_checked_seed() -> None:
    acc = proportion("test")
    narrow, _ = acc.band(0.5, 0.5, n=1000)
    wide, why = acc.band(0.5, 0.5, n=1000, spread=0.1)
    assert wide > narrow and wide >= Z * 0.1 and "seed sd" in why
    # A forged seed 0 cannot widen its own band: the spread is taken over the other seeds
    assert leave_one_out_sd([0.9, 0.998, 0.997], 0) == pytest.approx(math.sqrt(0.5e-6))
    assert leave_one_out_sd([0.9, 0.998], 0) is None  # one other seed: no spread
    assert leave_one_out_sd([0.5, None, 0.7, 0.9], None) == pytest.approx(0.2)


def test_losses_use_the_standard_error_of_a_mean_and_counts_are_plus_minus_one() -> None:
    loss = mean_loss("test")
    band, why = loss.band(0.0381, 0.0283, n=500, sd=0.3)
    assert band == pytest.approx(Z * 0.3 * math.sqrt(2 / 500)) and "n=500, sd 0.3" in why
    assert loss.band(5.13, 5.13, n=2048, sd=0.05)[0] < 0.01  # an untrained model's loss is tight
    # without the per-example sd (a schema-1 record): 10% relative
    assert loss.band(0.0381155, 0.0382426, n=500)[0] == pytest.approx(0.1 * 0.0382426)
    assert RELATIVE.band(2.0, 1.0)[0] == pytest.approx(0.2)
    assert COUNT.band(2, 3)[0] == 1 and COUNT.band(2, 4)[0] < 2


def test_every_builtin_metric_carries_a_fitting_rule() -> None:
    kinds = {name: METRICS.get(name).tolerance for name in METRICS.names()}
    assert kinds["test_accuracy"].kind == "proportion" and kinds["test_accuracy"].split == "test"
    assert kinds["symmetric_accuracy"].split == kinds["inferential_accuracy"].split == "unseen"
    assert kinds["test_loss"] == mean_loss("test") and kinds["max_hops_solved"].kind == "count"
    assert all(t.kind == "proportion" for n, t in kinds.items() if n.endswith("_accuracy"))


def test_the_environment_names_its_numerics_stack() -> None:
    import torch

    env = environment("cpu", 1)
    assert env.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert env.machine and env.blas and env.threads == 1
    assert stack_differences(env, env, recorded_code="sha256:a", rerun_code="sha256:a") == []
    assert stack_differences(env, env, recorded_code="sha256:a", rerun_code="sha256:b")[0].startswith("code ")
    assert env.cpu_capability in describe(env)


def test_another_capability_or_an_unknown_stack_is_a_different_stack() -> None:
    env = environment("cpu", 1)
    code = {"recorded_code": "sha256:same", "rerun_code": "sha256:same"}
    other = env.model_copy(update={"cpu_capability": "AVX2" if env.cpu_capability != "AVX2" else "AVX512"})
    assert [d.split()[0] for d in stack_differences(env, other, **code)] == ["cpu_capability"]
    assert stack_differences(env, env.model_copy(update={"threads": 2}), **code)[0].startswith("threads 1 -> 2")
    # A version-1 record (written before the fingerprint) names no capability: never "the same"
    old = {k: v for k, v in env.model_dump().items() if k in ("anchorbench_version", "git_hash", "torch_version",
                                                              "numpy_version", "device", "threads")}  # fmt: skip
    differences = stack_differences(old, env)  # and no code hash: the commit alone, dirty or not known
    assert any(d.startswith("cpu_capability unknown ->") for d in differences)
    assert any(d.startswith("code: commit") for d in differences)
    assert set(STACK_FIELDS) >= {"cpu_capability", "blas", "onednn", "threads", "gpu_name", "cuda_version"}
