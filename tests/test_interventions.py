"""Orthogonal-noise intervention, paired comparisons, probes and the capacity report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from anchorbench.errors import UserError
from anchorbench.execution.compare import first_step_reaching
from anchorbench.models.interventions import NoisyAttention, OrthogonalNoiseConfig, resolve_intervention
from anchorbench.models.transformer import CausalSelfAttention, Transformer

TINY = [
    "--set", "task.n_train=300", "--set", "task.n_test=60", "--set", "model.d_model=32",
    "--set", "train.steps=20", "--set", "train.warmup_steps=2", "--set", "train.eval_every=10",
    "--set", "train.threads=1", "--quiet",
]  # fmt: skip


def model(seed: int = 0, **kw) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(50, 7, d_model=16, n_layers=2, n_heads=2, **kw)


@pytest.mark.parametrize("target", ["qk", "vo", "both"])
def test_zero_alpha_leaves_the_model_unchanged(target):
    m = model()
    x = torch.randint(1, 50, (4, 7))
    before = m(x)
    resolve_intervention("orthogonal-noise", {"target": target, "scale": 0.0}).apply(m, seed=0)
    assert torch.allclose(m(x), before, atol=1e-5)


@pytest.mark.parametrize("target", ["qk", "vo"])
def test_noise_matches_a_hand_computation(target):
    m = model()
    attn = m.blocks[0].attn
    h = torch.randn(2, 7, 16)
    B, T, _ = h.shape
    H, D = attn.n_heads, attn.d_head
    q, k, v = attn.qkv(h).view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)
    noisy = NoisyAttention(attn, 16, OrthogonalNoiseConfig(target=target, scale=0.7), torch.Generator().manual_seed(1))
    r = getattr(noisy.noise, f"r_{target}")
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)
    if target == "qk":  # W_QK <- W_QK + alpha R
        scores = scores + 0.7 * torch.einsum("btc,hcd,bsd->bhts", h, r, h) / math.sqrt(D)
    a = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
    expected = attn.out((a @ v).transpose(1, 2).reshape(B, T, H * D))
    if target == "vo":  # W_VO <- W_VO + alpha R
        expected = expected + 0.7 * torch.einsum("bhts,bsc,hcd->btd", a, h, r)
    assert torch.allclose(noisy(h), expected, atol=1e-5)
    assert torch.allclose(noisy(h, last_only=True), expected[:, -1:], atol=1e-5)
    # The swapped module shares the projections, and the probe sees what it computes (the qk term too).
    assert noisy.qkv is attn.qkv and noisy.out is attn.out
    assert torch.allclose(noisy.attention_weights(h), a, atol=1e-6)
    assert torch.allclose(attn.attention_weights(h), (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(
        ~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1), atol=1e-6)  # fmt: skip


def test_random_r_is_nearly_orthogonal_and_identity_is_exact():
    m = Transformer(50, 7, d_model=256, n_layers=1)
    resolve_intervention("orthogonal-noise", {"mode": "random"}).apply(m, seed=3)
    r = m.blocks[0].attn.noise.r_vo[0]
    gram = r @ r.T
    assert abs(gram.diag().mean().item() - 1) < 0.05  # rows of norm ~1: entries N(0, 1/d)
    assert gram.fill_diagonal_(0).abs().max().item() < 0.35
    m2 = Transformer(50, 7, d_model=16, n_layers=1)
    resolve_intervention("orthogonal-noise", {"mode": "identity"}).apply(m2, seed=3)
    assert torch.equal(m2.blocks[0].attn.noise.r_vo[0], torch.eye(16))


def test_alpha_is_learnable_per_layer_and_head_or_fixed():
    m = model()
    resolve_intervention("orthogonal-noise", {"target": "both", "layers": [1]}).apply(m, seed=0)
    names = {n for n, _ in m.named_parameters() if "alpha" in n}
    assert names == {"blocks.1.attn.noise.alpha_qk", "blocks.1.attn.noise.alpha_vo"}
    assert type(m.blocks[0].attn) is CausalSelfAttention and isinstance(m.blocks[1].attn, NoisyAttention)
    fixed = model()
    resolve_intervention("orthogonal-noise", {"learnable": False}).apply(fixed, seed=0)
    assert not any("alpha" in n for n, _ in fixed.named_parameters())


def test_r_depends_on_the_seed_and_not_on_the_global_rng():
    a, b, c = model(), model(), model()
    resolve_intervention("orthogonal-noise", {}).apply(a, seed=0)
    torch.manual_seed(123)
    resolve_intervention("orthogonal-noise", {}).apply(b, seed=0)
    resolve_intervention("orthogonal-noise", {}).apply(c, seed=1)
    ra, rb, rc = (x.blocks[0].attn.noise.r_vo for x in (a, b, c))
    assert torch.equal(ra, rb) and not torch.equal(ra, rc)


def test_refusals_are_user_errors():
    with pytest.raises(UserError, match="layer 5 does not exist"):
        resolve_intervention("orthogonal-noise", {"layers": [5]}).apply(model(), seed=0)
    from anchorbench.models.lstm import LSTM

    with pytest.raises(UserError, match="needs the standard transformer"):
        resolve_intervention("orthogonal-noise", {}).apply(LSTM(50, 7), seed=0)
    with pytest.raises(UserError, match="intervention.target"):
        resolve_intervention("orthogonal-noise", {"target": "kq"})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--intervention", "orthogonal-noise", "--set", "intervention.layers=[7]"], "layer 7 does not exist"),
        (["--intervention", "orthogonal-noise", "--model", "lstm"], "needs the standard transformer"),
        (["--intervention", "orthogonal-nois"], "Did you mean 'orthogonal-noise'"),
        (["--set", "intervention.scale=0.5"], "no intervention is chosen"),
        (["--set", "task.hops=0"], "task.hops"),
        (["--set", "task.chain_len=3", "--set", "task.hops=3"], "shorter than hops+1"),
    ],
)
def test_bad_input_exits_2_before_anything_is_written(tmp_path, monkeypatch, capsys, argv, message):
    from anchorbench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", "matching-chain-v2", *argv, *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("anchorbench: error:") and message in err[0]
    assert not (tmp_path / "results").exists()


def test_intervention_run_pairs_arms_on_the_same_seeds(tmp_path, monkeypatch, capsys):
    from anchorbench.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["run", "matching-chain-v2", "--intervention", "orthogonal-noise", "--seeds", "2", "--out", "r", *TINY]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Paired comparison: matching-chain-v2+orthogonal-noise vs matching-chain-v2" in out
    comparison = json.loads((tmp_path / "r" / "comparison.json").read_text())["comparisons"][0]
    plain = [json.loads((tmp_path / f"r/matching-chain-v2/seed-{s}/result.json").read_text()) for s in (0, 1)]
    arm = [
        json.loads((tmp_path / f"r/matching-chain-v2+orthogonal-noise/seed-{s}/result.json").read_text())
        for s in (0, 1)
    ]
    assert [r["intervention"] for r in plain] == [None, None]
    assert arm[0]["intervention"]["name"] == "orthogonal-noise" and arm[0]["intervention"]["mode"] == "random"
    for score, d in comparison["deltas"].items():
        expected = [a["scores"][score] - p["scores"][score] for p, a in zip(plain, arm)]
        assert d["values"] == pytest.approx(expected)
    assert comparison["steps_to"]["resolution"] == "every 10 steps"
    # Same data in both arms: the initial evaluation (step 0) sees identical examples.
    h0 = json.loads((tmp_path / "r/matching-chain-v2/seed-0/history.jsonl").read_text().splitlines()[0])
    h1 = json.loads(
        (tmp_path / "r/matching-chain-v2+orthogonal-noise/seed-0/history.jsonl").read_text().splitlines()[0]
    )
    assert h0["splits"]["test"]["n"] == h1["splits"]["test"]["n"]
    # The mechanism probe is saved with the result and drawn.
    probe = plain[0]["probes"]["matching-attention"]
    assert probe["layers"] == 3 and len(probe["query_to_hop"][0][0]) == 2
    assert (tmp_path / "r/matching-chain-v2/seed-0/matching-attention.png").stat().st_size > 1000


def test_first_step_reaching_threshold():
    history = [
        {"step": s, "splits": {"test": {"accuracy": a}}} for s, a in [(0, 0.1), (10, 0.85), (20, 0.95), (30, 0.5)]
    ]
    assert first_step_reaching(history, "test", 0.9) == 20
    assert first_step_reaching(history, "test", 0.99) is None


def test_matching_depth_report_writes_table_and_plot(tmp_path, monkeypatch, capsys):
    from anchorbench.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["run", "matching-depth", "--grid", "model.n_layers=2,3", "--grid", "task.hops=1,2", "--out", "d", *TINY]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Capacity: test accuracy by layers x hops" in out
    cap = json.loads((tmp_path / "d" / "capacity.json").read_text())
    assert cap["depths"] == [2, 3] and cap["hops"] == [1, 2]
    assert len(cap["test_accuracy"]) == 2 and len(cap["max_hops_solved"]) == 2
    assert (tmp_path / "d" / "capacity.png").stat().st_size > 1000
    assert sorted(p.name for p in Path(tmp_path / "d").iterdir() if p.is_dir()) == [
        "matching-chain-v2@n_layers=2,hops=1",
        "matching-chain-v2@n_layers=2,hops=2",
        "matching-chain-v2@n_layers=3,hops=1",
        "matching-chain-v2@n_layers=3,hops=2",
    ]
