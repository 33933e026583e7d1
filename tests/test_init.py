"""The initialization rate gamma ([INIT]/[MATCH]): std d_in^-gamma, uniform bound (6/d_in)^gamma."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from anchorbench.models.init import apply_init_rate
from anchorbench.models.lstm import LSTM
from anchorbench.models.transformer import Transformer

TRANSFORMER_SIZE = {
    "vocab_size": 201,
    "seq_len": 9,
    "d_model": 256,
    "n_layers": 2,
    "n_heads": 2,
    "d_ff": 512,
}
LSTM_SIZE = {
    "vocab_size": 201,
    "seq_len": 9,
    "d_model": 64,
    "hidden": 128,
    "n_layers": 2,
}


def weight_matrices(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters() if p.dim() == 2}


def transformer(**kwargs: object) -> Transformer:
    torch.manual_seed(0)
    return Transformer(**{**TRANSFORMER_SIZE, **kwargs})  # type: ignore[arg-type]


def test_transformer_has_every_kind_of_weight_matrix() -> None:
    names = set(weight_matrices(transformer()))
    for expected in (
        "tok_emb.weight",
        "pos_emb.weight",
        "blocks.0.attn.qkv.weight",
        "blocks.1.attn.out.weight",
        "blocks.0.ffn.0.weight",
        "blocks.0.ffn.2.weight",
        "head.weight",
    ):
        assert expected in names


@pytest.mark.parametrize("gamma", [0.3, 0.5, 0.8])
def test_normal_std_is_d_in_to_minus_gamma(gamma: float) -> None:
    model = transformer(init_rate=gamma, init_distribution="normal")
    for name, w in weight_matrices(model).items():
        expected = w.shape[1] ** -gamma
        assert w.std().item() == pytest.approx(expected, rel=0.05), name
        assert abs(w.mean().item()) < 0.1 * expected, name


def test_embeddings_use_d_model_as_d_in() -> None:
    model = transformer(init_rate=0.8)
    for table in (model.tok_emb.weight, model.pos_emb.weight):
        assert table.std().item() == pytest.approx(256**-0.8, rel=0.05)


@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_uniform_bound_is_6_over_d_in_to_gamma(gamma: float) -> None:
    model = transformer(init_rate=gamma, init_distribution="uniform")
    for name, w in weight_matrices(model).items():
        bound = (6 / w.shape[1]) ** gamma
        assert w.abs().max().item() <= bound, name
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05), name


def test_biases_zero_and_layernorm_identity() -> None:
    model = transformer(bias=True, norm="pre")
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    assert len(biases) > 10  # qkv, out, ffn, LayerNorms and head all have one
    assert all(torch.all(b == 0) for b in biases)
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 5  # two per block and the final one
    assert all(torch.all(m.weight == 1) for m in norms)


def test_lstm_with_init_rate_follows_the_rule() -> None:
    torch.manual_seed(0)
    model = LSTM(**LSTM_SIZE, init_rate=0.5)  # type: ignore[arg-type]
    weights = weight_matrices(model)
    assert {
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "lstm.weight_ih_l1",
        "embed.weight",
    } <= set(weights)
    for name, w in weights.items():
        assert w.std().item() == pytest.approx(w.shape[1] ** -0.5, rel=0.05), name
    gate_biases = [p for name, p in model.named_parameters() if "bias" in name]
    assert all(torch.all(b == 0) for b in gate_biases)


def test_lstm_without_init_rate_keeps_pytorch_default() -> None:
    torch.manual_seed(0)
    model = LSTM(**LSTM_SIZE)  # type: ignore[arg-type]
    assert model.embed.weight.std().item() == pytest.approx(1.0, rel=0.05)  # PyTorch: N(0, 1), not 64^-0.5
    w_hh = model.lstm.weight_hh_l0
    assert w_hh.abs().max().item() <= 128**-0.5  # PyTorch: U(-1/sqrt(hidden), 1/sqrt(hidden))
    assert w_hh.std().item() == pytest.approx(128**-0.5 / math.sqrt(3), rel=0.05)
    assert torch.any(model.lstm.bias_ih_l0 != 0)


def test_same_seed_same_weights_and_global_rng_is_used() -> None:
    a, b = transformer(), transformer()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    torch.manual_seed(1)
    c = Transformer(**TRANSFORMER_SIZE)  # type: ignore[arg-type]
    assert not torch.equal(a.tok_emb.weight, c.tok_emb.weight)


def test_unknown_distribution_raises() -> None:
    with pytest.raises(ValueError, match="unknown init distribution"):
        apply_init_rate(nn.Linear(4, 4), 0.5, "laplace")  # type: ignore[arg-type]


def test_parameter_without_rule_raises() -> None:
    module = nn.Linear(4, 4)
    module.scale = nn.Parameter(torch.ones(()))  # a learned scalar: no rule covers it
    with pytest.raises(ValueError, match="no rule"):
        apply_init_rate(module, 0.5, "normal")


def test_match_code_init_details_embedding_rows_and_torch_head_bias() -> None:
    """The [MATCH] code's init: tables use their rows as d_in (vocab 201, positions 13: positions
    then dominate at init), and the head bias keeps PyTorch's U(+-1/sqrt(d_model))."""
    import torch

    from anchorbench.models.transformer import Transformer

    kw = {"n_layers": 1, "d_model": 400, "d_head": 64, "init_distribution": "uniform", "init_rate": 1.0}
    torch.manual_seed(0)
    code = Transformer(201, 13, embedding_fan_in="rows", head_bias_init="torch", **kw)
    torch.manual_seed(0)
    ours = Transformer(201, 13, **kw)
    assert 0.9 * 6 / 201 < code.tok_emb.weight.abs().max() <= 6 / 201
    assert 0.9 * 6 / 13 < code.pos_emb.weight.abs().max() <= 6 / 13
    assert ours.tok_emb.weight.abs().max() <= 6 / 400 and ours.pos_emb.weight.abs().max() <= 6 / 400
    assert 0 < code.head.bias.abs().max() <= 400**-0.5 and (ours.head.bias == 0).all()
    # everything else is the same draw
    assert torch.equal(code.blocks[0].attn.qkv.weight, ours.blocks[0].attn.qkv.weight)


def test_reference_width_gives_each_weight_its_scale_at_that_width() -> None:
    """gamma 0.8 "at d_model 400" at d_model 128: every fan-in scaled by 400/128, so the
    embeddings get 400^-0.8 = 0.0083 and the FFN output (d_ff 384 -> 1200) 1200^-0.8."""
    model = Transformer(201, 9, d_model=128, n_layers=2, init_rate=0.8, init_reference_width=400)
    ratio = 400 / 128
    for name, w in weight_matrices(model).items():
        assert w.std().item() == pytest.approx((w.shape[1] * ratio) ** -0.8, rel=0.05), name
    assert model.tok_emb.weight.std().item() == pytest.approx(0.0083, rel=0.05)
    summary = model.init_summary()
    assert summary["reference_width"] == 400 and summary["init_rate"] == 0.8
    assert summary["scale_at_d_model_fan_in"] == pytest.approx(400**-0.8)
    # the same std at this width is gamma log(400)/log(128) ~ 0.99, and that gamma builds the same scales
    assert summary["init_rate_at_own_width"] == pytest.approx(0.8 * math.log(400) / math.log(128))
    torch.manual_seed(0)
    plain = Transformer(201, 9, d_model=128, n_layers=2, init_rate=summary["init_rate_at_own_width"])
    assert plain.tok_emb.weight.std().item() == pytest.approx(model.tok_emb.weight.std().item(), rel=0.05)


def test_reference_width_equal_to_the_model_width_changes_nothing() -> None:
    torch.manual_seed(0)
    a = Transformer(201, 9, d_model=64, n_layers=1, init_rate=0.7, init_distribution="uniform", init_reference_width=64)
    torch.manual_seed(0)
    b = Transformer(201, 9, d_model=64, n_layers=1, init_rate=0.7, init_distribution="uniform")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.init_summary()["init_rate_at_own_width"] == pytest.approx(0.7)
