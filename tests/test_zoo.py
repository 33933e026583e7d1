"""Reference tests of the architecture zoo: each mixer's fast form equals a slow, obviously
correct one on a tiny input (recurrent vs parallel, scan vs scalar loop, FFT vs direct sum), and
the shared stack's gamma init leaves the mixers' dynamics parameters alone. Float64 throughout,
so agreement is to rounding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anchorbench.models.gru import GRU
from anchorbench.models.hyena import Hyena, HyenaMixer, direct_causal_conv, fft_causal_conv
from anchorbench.models.linear_attention import LinearAttention
from anchorbench.models.mixer_stack import ShortConv
from anchorbench.models.rwkv import RWKV
from anchorbench.models.selective_ssm import SelectiveSSM, naive_scan, selective_scan


def x64(B: int = 2, T: int = 7, C: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(B, T, C, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def built(cls, **kw) -> nn.Module:
    torch.manual_seed(0)
    return cls(11, 7, d_model=16, n_layers=2, d_ff=32, **kw).double()


def test_linear_attention_parallel_form_equals_its_recurrence() -> None:
    mixer = built(LinearAttention, n_heads=2).blocks[0].mixer
    x = x64()
    assert torch.allclose(mixer(x), mixer.recurrent(x), atol=1e-12)


def test_gru_equals_the_gru_equations_run_by_hand() -> None:
    torch.manual_seed(0)
    model = GRU(11, 7, d_model=8, hidden=12, n_layers=2).double()
    tokens = torch.randint(0, 11, (3, 7))
    x = model.embed(tokens)  # [B, T, d_model]
    for k in range(2):
        W_ih, W_hh = getattr(model.gru, f"weight_ih_l{k}"), getattr(model.gru, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(model.gru, f"bias_ih_l{k}"), getattr(model.gru, f"bias_hh_l{k}")
        h, out = x.new_zeros(3, 12), []
        for t in range(7):
            gi, gh = x[:, t] @ W_ih.T + b_ih, h @ W_hh.T + b_hh  # [B, 3 hidden]: reset, update, new
            r = torch.sigmoid(gi[:, :12] + gh[:, :12])
            z = torch.sigmoid(gi[:, 12:24] + gh[:, 12:24])
            n = torch.tanh(gi[:, 24:] + r * gh[:, 24:])
            h = (1 - z) * n + z * h
            out.append(h)
        x = torch.stack(out, dim=1)
        assert torch.allclose(model.hidden_states(tokens)[k], x, atol=1e-12)  # each layer, as the probe reads it
    assert torch.allclose(model(tokens), model.head(x), atol=1e-12)


def test_selective_scan_equals_the_scalar_loop() -> None:
    g = torch.Generator().manual_seed(1)
    B, T, E, N = 2, 5, 3, 4
    u = torch.randn(B, T, E, generator=g, dtype=torch.float64)
    delta = torch.rand(B, T, E, generator=g, dtype=torch.float64)
    A = -torch.rand(E, N, generator=g, dtype=torch.float64) * 3
    Bm, Cm = (torch.randn(B, T, N, generator=g, dtype=torch.float64) for _ in range(2))
    D = torch.randn(E, generator=g, dtype=torch.float64)
    assert torch.allclose(selective_scan(u, delta, A, Bm, Cm, D), naive_scan(u, delta, A, Bm, Cm, D), atol=1e-12)


def test_selective_ssm_input_dependence_reaches_the_step_size() -> None:
    # "selective": the step size (and so the decay) differs between inputs, per position
    mixer = built(SelectiveSSM, d_state=4).blocks[0].mixer
    _, delta, A, *_ = mixer.ssm_inputs(x64())
    assert (delta > 0).all() and (A < 0).all()
    assert delta.std(dim=(0, 1)).min() > 0


@pytest.mark.parametrize("key_scale", [1.0, 400.0])  # 400: exponents near 1e3: e^k overflows without the rescaling
def test_rwkv_recurrence_equals_its_parallel_form(key_scale: float) -> None:
    mixer = built(RWKV).blocks[1].mixer
    with torch.no_grad():
        mixer.key.weight.mul_(key_scale)
    x = x64()
    recurrent = mixer(x)
    assert torch.isfinite(recurrent).all()
    assert torch.allclose(recurrent, mixer.parallel(x), atol=1e-10)


def test_rwkv_decays_vary_with_depth_as_rwkv4_initializes_them() -> None:
    model = built(RWKV)
    first, last = (block.mixer.time_decay for block in model.blocks)
    assert not torch.equal(first, last) and first[0] == last[0] == -5


def test_fft_long_convolution_equals_the_direct_sum() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 9, generator=g, dtype=torch.float64)
    h = torch.randn(3, 9, generator=g, dtype=torch.float64)
    assert torch.allclose(fft_causal_conv(x, h), direct_causal_conv(x, h), atol=1e-12)


def test_hyena_layer_with_the_direct_sum_equals_the_fft_layer() -> None:
    mixer: HyenaMixer = built(Hyena).blocks[0].mixer
    x = x64()
    assert torch.allclose(mixer(x), mixer(x, conv=direct_causal_conv), atol=1e-12)
    h = mixer.filter(7)  # [K, C, T]: the implicit filters decay along t, faster in later channels
    envelope = torch.exp(-mixer.filter.rates[:, None] * torch.arange(7) / 7)
    assert envelope[-1, -1] < envelope[0, -1] < 1 and h.shape == (2, 16, 7)


def test_short_convolution_is_a_causal_depthwise_conv1d() -> None:
    conv = ShortConv(5, 3).double()
    reference = nn.Conv1d(5, 5, 3, groups=5, padding=2).double()
    with torch.no_grad():
        reference.weight.copy_(conv.weight.flip(-1)[:, None, :])  # Conv1d's last tap multiplies the latest input
        reference.bias.copy_(conv.bias)
    x = x64(C=5)
    expected = reference(x.transpose(1, 2))[..., :7].transpose(1, 2)
    assert torch.allclose(conv(x), expected, atol=1e-12)


@pytest.mark.parametrize("cls", [LinearAttention, SelectiveSSM, RWKV, Hyena])
def test_gamma_init_scales_the_weights_and_keeps_the_mixer_dynamics(cls) -> None:
    torch.manual_seed(0)
    default = cls(11, 7, d_model=64)
    torch.manual_seed(0)
    small = cls(11, 7, d_model=64, init_rate=0.8)
    kept = small.dynamics_parameters()
    assert kept or cls is LinearAttention  # every mixer with dynamics names them
    params = dict(small.named_parameters())
    for name in kept:
        assert torch.equal(params[name], dict(default.named_parameters())[name]), name
    ffn_in = small.blocks[0].ffn[0].weight  # [d_ff, d_model]: std d_model^-0.8
    assert abs(ffn_in.std().item() / 64**-0.8 - 1) < 0.05


@pytest.mark.parametrize("name", ["gru", "linear-attention", "selective-ssm", "rwkv", "hyena"])
def test_each_zoo_model_has_a_board_row_and_its_docs_line_matches_it(name: str) -> None:
    import json
    from pathlib import Path

    from anchorbench.leaderboard.build import primary_mean
    from anchorbench.leaderboard.record import Submission

    root = Path(__file__).resolve().parent.parent
    sub = Submission.model_validate(json.loads((root / "leaderboard" / "submissions" / f"{name}.json").read_text()))
    assert sub.model_name == name and all(len(t.seeds) == 3 for t in sub.tasks.values())
    row = next(
        line
        for line in (root / "docs" / "models.md").read_text().splitlines()
        if f"| `{name}` | {sub.n_params:,} |" in line
    )
    assert f"**{primary_mean(sub):.3f}**" in row  # the docs' table is the board's numbers
