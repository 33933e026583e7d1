"""A long-convolution mixer in the spirit of Hyena (Poli et al. 2023), in plain PyTorch.

An order-2 Hyena operator: project x to a value v and two gates x1, x2, pass all three through a
short causal depthwise convolution, then alternate a long causal convolution (one filter per
channel, as long as the sequence) with an elementwise gate:

    y = v;  y = x1 * (h1 * y + b1 y);  y = x2 * (h2 * y + b2 y);  out = W_o y

The filters are implicit: a small MLP (sine activations) maps positional features of t to the
filter values h_i[c, t], times an exponential decay window whose rate differs per channel
(Hyena's ExponentialModulation), so the parameter count does not grow with the length. The
convolution runs by FFT (pad to 2T: no wrap-around); :func:`direct_causal_conv` is the sum it
computes, which the reference test compares it with.

Known for: subquadratic cost in length, attention-free in-context recall through data-controlled
gating (the Hyena paper's associative recall results).

Shapes: B batch, T length, C = d_model, K order, F filter features.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from anchorbench.models.mixer_stack import MixerStack, MixerStackConfig, ShortConv


class HyenaConfig(MixerStackConfig):
    order: int = Field(2, ge=1, description="gated long convolutions per layer")
    filter_features: int = Field(9, ge=3, description="positional features the filter MLP reads (t, sin/cos bands)")
    filter_hidden: int = Field(64, ge=1, description="width of the implicit filter MLP")
    short_conv: int = Field(3, ge=1, description="width of the short causal depthwise convolution")


def fft_causal_conv(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``y[..., t] = sum_{s <= t} h[..., t - s] x[..., s]`` for ``x [B, C, T]``, ``h [C, T]``, by FFT."""
    T = x.shape[-1]
    spectrum = torch.fft.rfft(x, n=2 * T) * torch.fft.rfft(h, n=2 * T)  # zero padding: no wrap-around
    return torch.fft.irfft(spectrum, n=2 * T)[..., :T]


def direct_causal_conv(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """:func:`fft_causal_conv` as the sum it is (the reference test's ground truth)."""
    T = x.shape[-1]
    y = torch.zeros_like(x)
    for t in range(T):
        for s in range(t + 1):
            y[..., t] += h[..., t - s] * x[..., s]
    return y


class ImplicitFilter(nn.Module):
    """Filter values ``[K, C, T]`` from positions: MLP(features(t)) * exp(-rate_c t)."""

    def __init__(self, d_model: int, seq_len: int, cfg: HyenaConfig) -> None:
        super().__init__()
        self.order, self.d_model, self.seq_len = cfg.order, d_model, seq_len
        bands = (cfg.filter_features - 1) // 2
        self.register_buffer("bands", torch.arange(1, bands + 1, dtype=torch.float32), persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(1 + 2 * bands, cfg.filter_hidden),
            Sine(),
            nn.Linear(cfg.filter_hidden, cfg.filter_hidden),
            Sine(),
            nn.Linear(cfg.filter_hidden, cfg.order * d_model, bias=False),
        )
        # Hyena's ExponentialModulation: channels decay to 1% of their start between 30% and 150%
        # of the sequence, so some filters stay local and some reach across it.
        fast, slow = math.log(1e-2) / 0.3, math.log(1e-2) / 1.5
        self.register_buffer("rates", torch.linspace(abs(slow), abs(fast), d_model), persistent=False)  # [C]

    def forward(self, T: int) -> torch.Tensor:
        t = torch.arange(T, device=self.rates.device, dtype=torch.float32) / self.seq_len  # [T] in [0, 1)
        angle = 2 * math.pi * t[:, None] * self.bands  # [T, bands]
        features = torch.cat([t[:, None], angle.sin(), angle.cos()], dim=-1)  # [T, F]
        h = self.mlp(features).view(T, self.order, self.d_model).permute(1, 2, 0)  # [K, C, T]
        return h * torch.exp(-self.rates[:, None] * t)  # decay window per channel


class Sine(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)  # the implicit filter's activation (SIREN-style): smooth, many frequencies


class HyenaMixer(nn.Module):
    dynamics = ("filter_bias",)  # the gamma init keeps it (the skip term b_i, not a weight)

    def __init__(self, d_model: int, seq_len: int, cfg: HyenaConfig, layer: int) -> None:
        super().__init__()
        self.order = cfg.order
        streams = (cfg.order + 1) * d_model  # v and one gate per order
        self.in_proj = nn.Linear(d_model, streams)
        self.short_conv = ShortConv(streams, cfg.short_conv)
        self.filter = ImplicitFilter(d_model, seq_len, cfg)
        self.filter_bias = nn.Parameter(torch.randn(cfg.order, d_model))  # [K, C]: b_i
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, conv=fft_causal_conv) -> torch.Tensor:
        T = x.shape[1]
        streams = self.short_conv(self.in_proj(x)).transpose(1, 2)  # [B, (K+1) C, T]
        v, *gates = streams.chunk(self.order + 1, dim=1)  # [B, C, T] each
        h = self.filter(T)  # [K, C, T]
        y = v
        for i, gate in enumerate(gates):
            y = gate * (conv(y, h[i]) + self.filter_bias[i, :, None] * y)  # [B, C, T]
        return self.out_proj(y.transpose(1, 2))  # [B, T, C]


class Hyena(MixerStack):
    """Pre-LN stack of order-2 Hyena operators (no positions: the convolutions carry order)."""

    Config = HyenaConfig
    mixer = HyenaMixer
