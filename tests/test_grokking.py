"""[GROK] timing on synthetic curves, Kaplan-Meier, power-law fits, condensation, Fourier, modular data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anchorbench.scoring.dynamics import condensation, fourier_concentration, power_law
from anchorbench.scoring.grokking import timing
from anchorbench.scoring.stats import kaplan_meier_median

STEPS = np.arange(0, 5001, 50)


def curve(points: list[tuple[int, float]]) -> np.ndarray:
    """A step function through (from_step, value) pairs, sampled at STEPS."""
    out = np.zeros(len(STEPS))
    for start, value in points:
        out[STEPS >= start] = value
    return out


def t(train, test, q=0.95, budget=5000):
    return timing(STEPS, train, test, budget, q)


def test_clean_grok():
    r = t(curve([(0, 0.1), (300, 1.0)]), curve([(0, 0.05), (2500, 1.0)]))
    assert (r["t_fit"], r["t_gen"]) == (300, 2500)
    assert r["ratio"] == pytest.approx(2500 / 300) and r["delay"] == 2200
    assert r["grokked"] and not r["censored"] and r["spikes"] == 0
    assert r["resolution_fit"] == 50 and r["resolution_gen"] == 50


def test_a_spike_that_recovers_is_not_t_gen():
    test = curve([(0, 0.05), (1000, 0.97), (1050, 0.2), (3000, 1.0)])
    r = t(curve([(0, 0.1), (300, 1.0)]), test)
    assert r["t_gen"] == 3000 and r["spikes"] == 1 and r["grokked"]


def test_ungrok_after_t_gen_is_recorded():
    test = curve([(0, 0.05), (2000, 1.0), (4000, 0.3)])
    r = t(curve([(0, 0.1), (300, 1.0)]), test)
    assert r["t_gen"] == 2000 and r["grokked"] and r["ungrokked_at"] == 4000


def test_falling_back_inside_the_hold_window_is_a_spike():
    test = curve([(0, 0.05), (2000, 1.0), (2100, 0.5)])  # window: 2000..2200
    r = t(curve([(0, 0.1), (300, 1.0)]), test)
    assert r["t_gen"] is None and r["censored"] and r["spikes"] == 1 and not r["grokked"]


def test_never_fitting():
    r = t(curve([(0, 0.3)]), curve([(0, 0.1)]))
    assert r["t_fit"] is None and r["t_gen"] is None and r["censored"] and not r["grokked"]
    assert "never fit" in r["verdict"]


def test_censored_when_the_budget_ends_first():
    r = t(curve([(0, 0.1), (300, 1.0)]), curve([(0, 0.1), (2000, 0.6)]))
    assert r["t_fit"] == 300 and r["t_gen"] is None and r["censored"] and not r["grokked"]
    assert r["budget"] == 5000


def test_generalizing_right_after_fitting_is_not_grokking():
    r = t(curve([(0, 0.1), (1000, 1.0)]), curve([(0, 0.1), (1500, 1.0)]))
    assert r["t_gen"] == 1500 and not r["grokked"] and "too soon" in r["verdict"]


def test_train_accuracy_must_stay_fitted_until_t_gen():
    train = curve([(0, 0.1), (300, 1.0), (1000, 0.5), (1200, 1.0)])
    r = t(train, curve([(0, 0.1), (3000, 1.0)]))
    assert not r["grokked"] and "fell below" in r["verdict"]


def test_a_hold_window_cut_off_by_the_budget_is_unverified():
    r = t(curve([(0, 0.1), (300, 1.0)]), curve([(0, 0.1), (4900, 1.0)]))
    assert r["t_gen"] == 4900 and not r["grokked"] and "cut off" in r["verdict"]


def test_kaplan_meier_median_with_and_without_censoring():
    all_events = kaplan_meier_median([100, 200, 300, 400, 500], [1000] * 5)
    assert all_events["median"] == 300 and all_events["censored"] == 0
    assert all_events["ci_low"] <= 300 <= all_events["ci_high"]
    some = kaplan_meier_median([100, 200, None, 400, None], [1000] * 5)
    assert some["median"] == 400 and some["censored"] == 2 and some["ci_high"] is None
    most = kaplan_meier_median([100, None, None, None, 300], [1000] * 5)
    assert most["median"] is None  # not reached: more than half censored
    survival = [c["survival"] for c in some["curve"]]
    assert survival == pytest.approx([0.8, 0.6, 0.4])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "alpha, c, l_inf", [(0.5, 3, 0.2), (1.0, 5, 0.05), (0.3, 2, 0.5), (1.5, 10, 0.0), (0.8, 4, 0.01)]
)
def test_power_law_fit_recovers_alpha(seed, alpha, c, l_inf):
    rng = np.random.default_rng(seed)
    steps = np.unique(np.round(np.logspace(0, 4.5, 600)))
    loss = (c * steps**-alpha + l_inf) * np.exp(rng.normal(0, 0.02, len(steps)))
    fit = power_law(steps, loss)
    assert fit["alpha"] == pytest.approx(alpha, abs=0.05)
    assert fit["window"]["decades"] >= 1.5


NOT_POWER_LAWS = {
    "exponential": lambda t: 3 * np.exp(-t / 300) + 0.1,
    "slow exponential": lambda t: 3 * np.exp(-t / 3000) + 0.1,
    "logarithmic": lambda t: np.maximum(3 - 0.6 * np.log10(t), 0.2),
    "two exponentials": lambda t: 2 * np.exp(-t / 50) + np.exp(-t / 2000) + 0.05,
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("shape", list(NOT_POWER_LAWS))
def test_power_law_fit_flags_curves_that_are_not_power_laws(shape, seed):
    # (A sigmoid in log t is not on this list: its tail is a genuine power law, ~t^-1.)
    rng = np.random.default_rng(seed)
    steps = np.unique(np.round(np.logspace(0, 4.5, 600)))
    fit = power_law(steps, NOT_POWER_LAWS[shape](steps) * np.exp(rng.normal(0, 0.02, len(steps))))
    assert fit["flag"] is True


def test_power_law_declines_a_window_shorter_than_one_and_a_half_decades():
    steps = np.arange(1, 30, dtype=float)
    fit = power_law(steps, 2 * steps**-0.5)
    assert fit["alpha"] is None and "decades" in fit["reason"]


def _two_layer_net(init_std: float, seed: int) -> np.ndarray:
    """Train f(x) = w2 . relu(W1 x) on a simple target; return W1 (neurons' input weights)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=g)
    x[:, -1] = 1.0  # a constant input plays the bias
    y = torch.tanh(x @ torch.randn(5, generator=g))[:, None]
    w1 = (torch.randn(100, 5, generator=g) * init_std).requires_grad_()
    w2 = (torch.randn(1, 100, generator=g) * init_std).requires_grad_()
    opt = torch.optim.Adam([w1, w2], lr=1e-3)
    for _ in range(2000):
        loss = ((torch.relu(x @ w1.T) @ w2.T - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w1.detach().double().numpy()


@pytest.mark.parametrize("seed", [0, 1])
def test_small_init_condenses_into_fewer_clusters_than_large_init(seed):
    small = condensation(_two_layer_net(1e-4, seed))
    large = condensation(_two_layer_net(1.0, seed))
    assert small["clusters"] < 15 < 50 < large["clusters"]
    assert small["top_eig_ratio"] > large["top_eig_ratio"]


def test_condensation_counts_aligned_and_random_neurons():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 20))
    aligned = np.repeat(base, 10, axis=0) * rng.uniform(-2, 2, size=(30, 1))  # 3 directions, either sign
    assert condensation(aligned)["clusters"] == 3
    assert condensation(rng.normal(size=(40, 200)))["clusters"] == 40


def test_fourier_concentration_of_a_single_frequency_embedding():
    class Emb(torch.nn.Module):  # a model declares its table through token_embedding() (the model contract)
        def __init__(self, weight):
            super().__init__()
            self.embed = torch.nn.Embedding.from_pretrained(weight)

        def token_embedding(self) -> torch.nn.Embedding:
            return self.embed

    p = 31
    k = np.arange(p)
    pure = np.zeros((p + 3, 8))
    pure[1 : p + 1, 0] = np.cos(2 * np.pi * 3 * k / p)
    pure[1 : p + 1, 1] = np.sin(2 * np.pi * 5 * k / p)
    assert fourier_concentration(Emb(torch.tensor(pure)), p, top=2) == pytest.approx(1.0)
    noise = np.random.default_rng(0).normal(size=(p + 3, 8))
    assert fourier_concentration(Emb(torch.tensor(noise)), p, top=2) < 0.5


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_modular_labels_and_split(op):
    from anchorbench.registry import TASKS

    spec = TASKS.get("modular-addition-v1")
    p = spec.resolve_params({"p": 11, "op": op, "train_fraction": 0.3})
    ds = spec.family_obj.generate(p, 4)
    pairs = {}
    for name, s in ds.splits.items():
        a, b = s.tokens[:, 0].astype(int) - 1, s.tokens[:, 2].astype(int) - 1
        for x, y, c in zip(a, b, s.labels.astype(int) - 1):
            expected = {"+": x + y, "-": x - y, "*": x * y, "/": x * pow(int(y), -1, 11) if y else None}[op]
            assert c == expected % 11
        pairs[name] = set(zip(a.tolist(), b.tolist()))
    assert not pairs["train"] & pairs["test"]
    assert len(pairs["train"]) + len(pairs["test"]) == (110 if op == "/" else 121)
    other = spec.family_obj.generate(p, 5)
    assert set(zip(*(other.splits["train"].tokens[:, [0, 2]].T.tolist()))) != pairs["train"]  # the seed splits


def test_grokking_run_records_timing_probes_and_power_law(tmp_path, monkeypatch, capsys):
    from anchorbench.cli import main

    monkeypatch.chdir(tmp_path)
    sets = ["task.p=13", "model.d_embed=16", "model.d_hidden=32", "train.steps=60", "train.eval_every=5",
            "train.eval_dense_until=20", "train.eval_points=10", "train.threads=1"]  # fmt: skip
    argv = ["run", "modular-addition-v1", *(x for s in sets for x in ("--set", s)), "--probes", "all", "--seeds", "2"]
    argv += ["--out", "g", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Grokking timing" in out and "Kaplan-Meier median t_gen" in out
    result = json.loads((tmp_path / "g/modular-addition-v1/seed-0/result.json").read_text())
    assert set(result["timing"]) == {"0.95", "0.99"}
    assert result["timing"]["0.95"]["budget"] == 60
    assert "power_law" in result["probes"]
    history = [
        json.loads(x) for x in (tmp_path / "g/modular-addition-v1/seed-0/history.jsonl").read_text().splitlines()
    ]
    steps = [r["step"] for r in history]
    assert steps[:5] == [0, 5, 10, 15, 20] and steps[-1] == 60 and len(steps) == len(set(steps))
    probes = history[-1]["probes"]
    assert set(probes) == {"weight_norm", "rd", "condensation", "fourier_top5"}
    assert history[0]["probes"]["rd"] == 0 and probes["rd"] > 0
    agg = json.loads((tmp_path / "g/modular-addition-v1/aggregate.json").read_text())
    assert agg["timing"]["0.95"]["n"] == 2


def test_plot_command_draws_curves_probes_and_survival(tmp_path, monkeypatch, capsys):
    from anchorbench.cli import main

    monkeypatch.chdir(tmp_path)
    sets = ["task.p=13", "model.d_embed=16", "model.d_hidden=32", "train.steps=40", "train.eval_every=5",
            "train.threads=1"]  # fmt: skip
    argv = ["run", "modular-addition-v1", *(x for s in sets for x in ("--set", s)), "--probes", "rd", "--seeds", "2"]
    assert main([*argv, "--out", "g", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["plot", "g"]) == 0
    written = capsys.readouterr().out.split()
    names = sorted(str(Path(p).relative_to("g")) for p in written)
    assert names == [
        "modular-addition-v1/seed-0/curves.png", "modular-addition-v1/seed-0/probes.png",
        "modular-addition-v1/seed-1/curves.png", "modular-addition-v1/seed-1/probes.png",
        "modular-addition-v1/survival.png",
    ]  # fmt: skip
    for p in written:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(p).stat().st_size > 5000
    assert main(["plot", "nowhere"]) == 2


IDENTITY_TINY = ["task.n_train=200", "task.n_test=50", "model.d_model=16", "model.n_layers=1", "train.steps=20",
                 "train.warmup_steps=2", "train.eval_every=5", "train.threads=1"]  # fmt: skip


def test_grokking_timing_only_where_the_task_declares_it_or_it_is_asked_for(tmp_path, monkeypatch, capsys):
    """An identity task has no grokking story: no timing table, no empty power-law table, no
    one-seed survival curve; `--analyses grokking-timing` asks for the timing on any task."""
    from anchorbench.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["run", "anchor-identity-v1", *(x for s in IDENTITY_TINY for x in ("--set", s)), "--quiet"]
    assert main([*argv, "--out", "plain"]) == 0
    out = capsys.readouterr().out
    assert "Grokking timing" not in out and "censored" not in out
    assert "loss power law" not in out  # 20 steps: no window long enough for a fit
    result = json.loads((tmp_path / "plain/anchor-identity-v1/seed-0/result.json").read_text())
    assert result["timing"] == {} and result["probes"]["power_law"]["alpha"] is None
    assert main(["plot", "plain"]) == 0
    assert "survival" not in capsys.readouterr().out

    assert main([*argv, "--out", "asked", "--analyses", "grokking-timing", "--seeds", "2"]) == 0
    assert "Grokking timing" in capsys.readouterr().out
    result = json.loads((tmp_path / "asked/anchor-identity-v1/seed-0/result.json").read_text())
    assert set(result["timing"]) == {"0.95", "0.99"}
    assert json.loads((tmp_path / "asked/run.json").read_text())["analyses"] == ["grokking-timing"]
    assert "analyses" not in json.loads((tmp_path / "plain/run.json").read_text())  # old folders resume as they were
    assert main(["plot", "asked"]) == 0
    assert "survival.png" in capsys.readouterr().out  # two seeds: a curve worth drawing

    assert main([*argv, "--out", "bad", "--analyses", "grokking-timnig"]) == 2
    assert "unknown analysis 'grokking-timnig'" in capsys.readouterr().err and not (tmp_path / "bad").exists()
