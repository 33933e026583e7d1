"""Regression tests of defects a line-by-line review found: each fails on the code before its fix."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from anchorbench.cli import main
from anchorbench.errors import UserError
from anchorbench.registry import DYNAMICS_PROBES, MODELS

# One task per kind of input a probe can need: modular tokens (fourier), sentences (windows), and the
# regression families (two-layer, superposition, the teacher-student and 1-D frequency tasks).
PROBE_TASKS = ("modular-addition-v1", "sentence-grammar-v1", "condensation-phase-v1", "frequency-grokking-v1",
               "sgd-noise-geometry-v1", "superposition-dynamics-v1", "cnn-condensation-v1")  # fmt: skip
# the windows probe swaps every word of every stimulus: a few stimuli keep it to a second
TINY = {
    "sentence-grammar-v1": {"task.n_yoking": 4, "task.n_train": 256, "task.n_test": 64},
    "cnn-condensation-v1": {"task.source": "synthetic", "task.n_train": 20, "task.n_test": 20},
}
TOKEN_MODELS = ("transformer", "lstm", "gru", "mlp", "linear-attention", "selective-ssm", "rwkv", "hyena")


def _plans(model: str):
    """(plan, dataset) for every probe task the model can train on."""
    from anchorbench.execution.plan import plan_entry
    from anchorbench.specs import SuiteEntry

    for task in PROBE_TASKS:
        try:
            plan = plan_entry(SuiteEntry(task=task, set=TINY.get(task, {})), model, ())
            plan.check_model()
        except UserError:
            continue  # a token model on a regression task, or the reverse
        yield plan, plan.task.family_obj.generate(plan.params, 0)


@pytest.mark.parametrize("model", MODELS.names())
def test_every_dynamics_probe_runs_on_every_model_it_applies_to(model: str) -> None:
    ran = set()
    for plan, dataset in _plans(model):
        built = plan.build_model(0)
        for name in DYNAMICS_PROBES.names():
            probe = DYNAMICS_PROBES.get(name)
            if probe.problem(built, plan.task.family, plan.objective.name, plan.params) is not None:
                continue
            fn = probe.start(built, plan.task.family, plan.params, dataset)
            assert fn is not None, f"{name} says it applies to {model} on {plan.task.id} but does not start"
            out = fn(built)
            assert isinstance(out, dict) and out, (name, model, plan.task.id)
            ran.add(name)
    assert {"weight_norm", "rd"} <= ran
    if model in TOKEN_MODELS:
        assert "fourier" in ran, "every token model on the board declares its token embedding"
    if model == "cnn":
        assert "kernels" in ran, "the CNN declares its kernels"


@pytest.mark.parametrize("model", TOKEN_MODELS)
def test_fourier_reads_each_token_models_embedding_table(model: str) -> None:
    from anchorbench.scoring.dynamics import fourier_concentration, token_embedding

    built = MODELS.get(model)(13 + 3, 3)
    assert isinstance(token_embedding(built), torch.nn.Embedding)
    value = fourier_concentration(built, 13)
    assert value is not None and 0 < value <= 1


def test_probes_all_runs_and_a_named_probe_that_cannot_run_is_refused(tmp_path: Path, capsys) -> None:
    args = ["run", "modular-addition-v1", "--model", "transformer", "--set", "task.p=13", "--set", "train.steps=30",
            "--set", "train.threads=1", "--quiet"]  # fmt: skip
    assert main([*args, "--probes", "all", "--out", str(tmp_path / "all")]) == 0
    history = (tmp_path / "all" / "modular-addition-v1" / "seed-0" / "history.jsonl").read_text()
    assert '"fourier_top5"' in history
    capsys.readouterr()
    for probe in ("integration-windows", "directions", "spectrum"):
        assert main([*args, "--probes", probe, "--out", str(tmp_path / probe)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"--probes {probe}: cannot run on modular-addition-v1" in err[0], err
        assert not (tmp_path / probe).exists(), "refused at planning: nothing written"


def test_a_sweep_report_never_averages_seeds_of_other_code() -> None:
    from anchorbench.execution.sweep import finished

    result = {"config_hash": "sha256:c", "status": "completed", "model": {"code_hash": "sha256:old"}}
    assert finished(result, "sha256:c", "sha256:old")
    assert not finished(result, "sha256:c", "sha256:new"), "a seed of other code is not this cell's result"
    assert finished(result, "sha256:c", None), "an index from before code hashes: the config hash alone"


def test_time_to_excess_is_null_when_the_power_law_fit_failed(monkeypatch) -> None:
    from anchorbench.scoring import power_laws

    ev = _FakeEval(np.array([1, 10, 100]), np.array([1.0, 0.1, 0.001]))
    monkeypatch.setattr(power_laws, "_fit", lambda ev: {"alpha": None, "l_inf": None, "reason": "too short"})
    assert math.isnan(power_laws.time_to_excess(ev))
    monkeypatch.setattr(power_laws, "_fit", lambda ev: {"alpha": 1.0, "l_inf": 0.0})
    assert power_laws.time_to_excess(ev) == pytest.approx(10.0, rel=0.5)


class _FakeEval:
    def __init__(self, steps: np.ndarray, loss: np.ndarray) -> None:
        self.steps, self.loss = steps, loss

    def course(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return self.steps, self.loss

    def __getitem__(self, split: str):
        return SimpleNamespace(split=SimpleNamespace(labels=np.ones((4, 1))))


@pytest.mark.parametrize("distribution, d_model", [("uniform", 6), ("normal", 1)])
def test_the_init_summary_of_a_width_whose_bound_is_one_is_not_a_division_by_zero(distribution, d_model) -> None:
    from anchorbench.models.init import scale_summary

    summary = scale_summary(0.5, distribution, d_model, None)
    assert summary["init_rate_at_own_width"] is None and summary["scale_at_d_model_fan_in"] == 1.0
    built = MODELS.get("transformer")(10, 4, d_model=d_model, n_heads=1, init_distribution=distribution)
    assert built.init_summary()["init_rate_at_own_width"] is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_attention_stays_finite_where_its_features_underflow(dtype) -> None:
    from anchorbench.models.linear_attention import LinearAttentionConfig, LinearAttentionMixer

    mixer = LinearAttentionMixer(8, 4, LinearAttentionConfig(d_model=8, n_heads=2), 0).to(dtype)
    with torch.no_grad():
        mixer.qkv.weight.fill_(-1.0)  # every q and k -800: elu + 1 underflows to 0 in float32 and bfloat16
    x = torch.full((1, 4, 8), 100.0, dtype=dtype)
    assert torch.isfinite(mixer(x)).all() and torch.isfinite(mixer.recurrent(x)).all()


def test_rwkv_starts_as_the_rwkv4_reference_does() -> None:
    from anchorbench.models.rwkv import RWKVConfig, RWKVTimeMix

    cfg = RWKVConfig(d_model=8, n_layers=2)
    first, last = RWKVTimeMix(8, 4, cfg, 0), RWKVTimeMix(8, 4, cfg, 1)
    u = first.time_first.detach()
    assert torch.allclose(u[:3], torch.tensor([math.log(0.3), math.log(0.3) + 0.5, math.log(0.3) - 0.5]))
    x = torch.arange(8) / 8
    assert torch.allclose(first.mix_k.detach(), x**1.0) and torch.allclose(first.mix_v.detach(), x**1.0)
    assert torch.allclose(last.mix_k.detach(), x**0.5) and torch.allclose(last.mix_v.detach(), x**0.5 + 0.3)
    assert torch.allclose(last.mix_r.detach(), x**0.25)
    assert torch.allclose(first.time_decay.detach()[[0, -1]], torch.tensor([-5.0, 3.0]))


def test_orthogonal_noise_follows_a_float64_model() -> None:
    from anchorbench.models.interventions import resolve_intervention

    model = MODELS.get("transformer")(10, 4, d_model=16, n_heads=2, n_layers=1).double()
    resolve_intervention("orthogonal-noise", {"target": "both"}).apply(model, 0)
    out = model(torch.randint(0, 10, (2, 4)))
    assert out.dtype == torch.float64 and torch.isfinite(out).all()


def test_tied_and_frozen_embeddings_are_refused_with_one_line(capsys) -> None:
    code = main(["run", "anchor-identity-v1", "--set", "model.tie_embeddings=true",
                 "--set", "model.freeze_embeddings=true", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "tie_embeddings and freeze_embeddings exclude each other" in err[0]


def test_subnormals_are_flushed_inside_a_run_and_the_callers_mode_comes_back() -> None:
    from anchorbench.execution.results import environment
    from anchorbench.training.torch_state import flushing_subnormals, isolated

    torch.set_flush_denormal(False)
    with isolated(0, 1, "flush"):
        assert flushing_subnormals() and environment("cpu", 1).subnormals == "flush"
    assert not flushing_subnormals(), "the caller's setting is restored"
    torch.set_flush_denormal(True)
    try:
        with isolated(0, 1, "keep"):
            assert not flushing_subnormals() and environment("cpu", 1).subnormals == "keep"
        assert flushing_subnormals()
    finally:
        torch.set_flush_denormal(False)


def test_a_sweep_job_trains_on_its_own_threads_not_the_specs(monkeypatch, tmp_path: Path) -> None:
    from anchorbench.execution import runner, sweep

    seen = []
    monkeypatch.setattr(runner, "run_seed", lambda *a, **k: seen.append(k.get("threads")) or (_ for _ in ()).throw(
        RuntimeError("stop")))  # fmt: skip
    job = sweep.Job(label="x", entry={"task": "anchor-identity-v1", "set": {"train.threads": 8}}, model=None,
                    sets=(), seeds=[0], out=str(tmp_path), threads=1, batch=False)  # fmt: skip
    reports = sweep.run_job(job)
    assert seen == [1] and reports[0].status == "error"


def test_batched_sweeps_say_they_do_not_checkpoint(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert "does not checkpoint" in " ".join(capsys.readouterr().out.split())


def test_ray_cancels_its_tasks_in_flight_when_stopped_on_a_runtime_it_did_not_start() -> None:
    from anchorbench.execution.backends import RayBackend

    cancelled = []

    class Remote:
        def options(self, **kwargs):
            return self

        def remote(self, job):
            return f"ref-{job}"

    fake = SimpleNamespace(
        is_initialized=lambda: True, remote=lambda fn: Remote(), cluster_resources=lambda: {},
        wait=lambda pending, num_returns: (pending[:1], pending[1:]), get=lambda ref: ref,
        cancel=lambda ref, force: cancelled.append(ref), shutdown=lambda: cancelled.append("shutdown"),
        exceptions=SimpleNamespace(RayError=RuntimeError),
    )  # fmt: skip
    backend = RayBackend.__new__(RayBackend)
    backend.ray, backend.address, backend.workers = fake, None, 2
    results = backend.map(lambda job: job, [1, 2, 3])
    assert next(results) == "ref-1"
    results.close()  # Ctrl-C in the sweep's loop
    assert cancelled == ["ref-2", "ref-3"], "in-flight tasks cancelled; the runtime (not ours) left running"


def test_every_band_fits_its_score() -> None:
    from anchorbench.registry import METRICS
    from anchorbench.scoring.tolerance import COUNT, Z

    assert COUNT.band(2, 3, spread=0.5)[0] == pytest.approx(math.hypot(1, Z * 0.5)), "quadrature, as every kind"
    # an honest re-run of a near-zero control (docs/windows.md: -0.016 and -0.004 across seeds) passes
    band, _ = METRICS.get("windows_yoking_last_untrained").tolerance.band(-0.016, -0.004)
    assert band >= 0.012


def test_the_noise_geometry_probe_refuses_a_model_too_large_for_its_hessian() -> None:
    from anchorbench.scoring.noise_geometry import MAX_HESSIAN_PARAMS, hessian_size_problem

    small = torch.nn.Linear(10, 10)
    big = torch.nn.Linear(100, 100)
    assert hessian_size_problem(small) is None
    problem = hessian_size_problem(big)
    assert problem and f"{MAX_HESSIAN_PARAMS:,}" in problem and "10,100" in problem


def test_the_windows_probe_draws_its_likely_swaps_from_the_model_in_eval_mode(monkeypatch) -> None:
    from anchorbench.scoring import windows

    modes = []

    def likely(model, tokens, classes, rng):
        modes.append(model.training)
        raise RuntimeError("stop")

    monkeypatch.setattr(windows, "likely_swaps", likely)
    model = torch.nn.Dropout(0.5).train()
    starts = np.zeros((2, 8), dtype=bool)
    starts[:, [0, 4]] = True
    with pytest.raises(RuntimeError):
        windows.measure(model, model, np.zeros((2, 8), dtype=np.int64), starts, 10, 0)
    assert modes == [False] and model.training, "swaps drawn in eval mode, the mode restored after"


def test_a_score_computed_from_another_needs_the_task_to_score_that_one_too() -> None:
    from anchorbench.execution.plan import plan_entry
    from anchorbench.registry import TASKS
    from anchorbench.specs import SuiteEntry

    spec = TASKS.get("parity-frequency-v1")
    broken = spec.model_copy(update={"id": "parity-broken-v1", "scores": [s for s in spec.scores if s != "sign_error"]})
    TASKS.register(broken.id, broken, origin="test")
    try:
        with pytest.raises(UserError, match="computed from 'sign_error'"):
            plan_entry(SuiteEntry(task=broken.id), None, ())
    finally:
        TASKS.unregister(broken.id)


def test_a_result_is_on_the_disk_before_it_replaces_the_old_one(monkeypatch, tmp_path: Path) -> None:
    from anchorbench import files

    synced = []
    real = os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: synced.append(fd) or real(fd))
    files.write_json(tmp_path / "result.json", {"a": 1})
    assert len(synced) == 2, "the file, then its folder"
