"""An RWKV-style time-mixing layer (RWKV-4, Peng et al. 2023), in plain PyTorch.

Token shift mixes each position with the previous one (learned per-channel mixes mu), then

    r, k, v = W_r x_r, W_k x_k, W_v x_v
    wkv_t = (sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t)
            / (sum_{i<t} e^{-(t-1-i) w + k_i}   + e^{u + k_t})          per channel
    out = W_o (sigmoid(r) * wkv)

with a learned decay w = exp(time_decay) > 0 and a bonus u (time_first) for the current token.
Training runs the recurrence with RWKV's running-maximum rescaling (no overflow for large k);
:meth:`RWKVTimeMix.parallel` computes the formula above directly (the reference test checks they
agree).

Initialization follows the RWKV-4 reference (BlinkDL/RWKV-LM, ``RWKV-v4/src/model.py``,
``RWKV_TimeMix.__init__``), with a = l / (L-1) (0 to 1 over depth) and b = 1 - l / L (1 to
almost 0):

* decay: channel c gets -5 + 8 (c / (C-1))^(0.7 + 1.3 a);
* bonus u (``time_first``): log(0.3) + 0.5 zigzag, zigzag = (c+1) mod 3 - 1 (0, +1, -1, ...);
* token-shift mixes on x_c = c / C: mu_k = x^b, mu_v = x^b + 0.3 a, mu_r = x^(0.5 b).

Deviations, each for a reason: the FFN of the shared stack stands in for RWKV's channel mixing
(every zoo model shares one stack, so that only the mixer differs); the weight matrices take the
benchmark's initialization rate gamma (the quantity it varies) instead of RWKV's orthogonal and
zero "fancy" init of the key, receptance and output projections; the RWKV-4 language model's
extra head (a copy-attention "head_qk") is left out.

Known for: an RNN at inference and a transformer-like parallel form in training; attention-free,
with an exponentially decaying memory per channel.

Shapes: B batch, T length, C = d_model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from anchorbench.models.mixer_stack import MixerStack, MixerStackConfig


class RWKVConfig(MixerStackConfig):
    pass


class RWKVTimeMix(nn.Module):
    dynamics = ("time_decay", "time_first", "mix_k", "mix_v", "mix_r")  # the gamma init keeps these

    def __init__(self, d_model: int, seq_len: int, cfg: RWKVConfig, layer: int) -> None:
        super().__init__()
        C = d_model
        index = torch.arange(C, dtype=torch.float32)  # [C]
        depth = layer / max(cfg.n_layers - 1, 1)  # a: 0 for the first layer, 1 for the last
        keep = 1.0 - layer / cfg.n_layers  # b: 1 for the first layer, 1/L for the last
        self.time_decay = nn.Parameter(-5 + 8 * (index / max(C - 1, 1)) ** (0.7 + 1.3 * depth))  # [C]: w = exp(.)
        zigzag = ((torch.arange(C) + 1) % 3 - 1).float()  # [C]: 0, 1, -1, 0, 1, -1, ...
        self.time_first = nn.Parameter(math.log(0.3) + 0.5 * zigzag)  # [C]: u
        x = index / C  # [C] in [0, 1)
        self.mix_k = nn.Parameter(x**keep)  # [C]: deeper layers take more of the previous token
        self.mix_v = nn.Parameter(x**keep + 0.3 * depth)
        self.mix_r = nn.Parameter(x ** (0.5 * keep))
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)

    def _rkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        previous = nn.functional.pad(x, (0, 0, 1, -1))  # [B, T, C]: x_{t-1}, zeros at t = 0
        mixed = lambda mu: x * mu + previous * (1 - mu)  # noqa: E731
        return self.receptance(mixed(self.mix_r)), self.key(mixed(self.mix_k)), self.value(mixed(self.mix_v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, k, v = self._rkv(x)  # [B, T, C] each
        w, u = torch.exp(self.time_decay), self.time_first  # [C]
        # numerator a, denominator b, both scaled by e^{-p} (p: the largest exponent so far)
        a = torch.zeros_like(x[:, 0])  # [B, C]
        b = torch.zeros_like(x[:, 0])
        p = torch.full_like(x[:, 0], -1e38)
        outs = []
        for t in range(x.shape[1]):
            kt, vt = k[:, t], v[:, t]
            now = u + kt  # the current token's exponent, with its bonus
            q = torch.maximum(p, now)
            e1, e2 = torch.exp(p - q), torch.exp(now - q)
            outs.append((e1 * a + e2 * vt) / (e1 * b + e2))  # wkv_t [B, C]
            decayed = p - w  # the past one step older
            q = torch.maximum(decayed, kt)
            e1, e2 = torch.exp(decayed - q), torch.exp(kt - q)
            a, b, p = e1 * a + e2 * vt, e1 * b + e2, q
        wkv = torch.stack(outs, dim=1)  # [B, T, C]
        return self.output(torch.sigmoid(r) * wkv)  # [B, T, C]

    def parallel(self, x: torch.Tensor) -> torch.Tensor:
        """The wkv formula over a [T, T] weight per channel, each row divided by its largest term
        (wkv is a weighted mean, so that changes nothing); for the reference test."""
        r, k, v = self._rkv(x)
        T = x.shape[1]
        t = torch.arange(T)
        age = (t[:, None] - 1 - t[None, :]).float()  # [T, T]: t - 1 - i
        exponent = -age[None, :, :, None] * torch.exp(self.time_decay) + k[:, None, :, :]  # [B, T(t), T(i), C]
        exponent = torch.where((t[:, None] > t[None, :])[None, :, :, None], exponent, -torch.inf)  # i < t
        current = (self.time_first + k)[:, :, None, :]  # [B, T, 1, C]: u + k_t, for i = t
        exponent = torch.where(torch.eye(T, dtype=torch.bool)[None, :, :, None], current, exponent)
        weight = torch.exp(exponent - exponent.amax(dim=2, keepdim=True))  # [B, T, T, C]
        wkv = (weight * v[:, None]).sum(2) / weight.sum(2)  # [B, T, C]
        return self.output(torch.sigmoid(r) * wkv)


class RWKV(MixerStack):
    """Pre-LN stack of RWKV-4 time mixing (no positions: the decay and token shift carry order)."""

    Config = RWKVConfig
    mixer = RWKVTimeMix
