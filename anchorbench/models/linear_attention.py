"""Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"): softmax(q.k) replaced by
phi(q).phi(k) with phi = elu + 1, so causal attention is a running sum and the layer is an RNN
with a [D, D] state per head. What training runs is the parallel form: it builds the full
[T, T] matrix of phi(q_t).phi(k_s), masked causally, so its cost is quadratic in length like
softmax attention's (at the benchmark's lengths, T <= 64, one matrix product is faster on a CPU
than a scan). :meth:`recurrent` is the same map one position at a time, linear in length with a
constant-size state: the form the architecture is known for (the reference test checks they
agree).

Known for: linear cost in length (recurrent form) and a constant-size state, at the price of
recall: the state cannot hold more key-value pairs than it has dimensions (zoology's
associative-recall finding).

The normalizer phi(q).sum phi(k) is positive but not bounded away from 0: elu + 1 of a large
negative input underflows (in bf16 from about -10 on), and 0 / 0 is NaN. As the reference
implementation (fast-transformers) does, ``EPS`` is added to it.

Shapes: B batch, T length, C = d_model, H heads, D = C // H.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from anchorbench.models.mixer_stack import MixerStack, MixerStackConfig


class LinearAttentionConfig(MixerStackConfig):
    n_heads: int = Field(2, ge=1, description="heads; each keeps a [D, D] state, D = d_model // n_heads")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> LinearAttentionConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        return self


EPS = 1e-6  # added to the normalizer, as fast-transformers' LinearAttention does


def feature_map(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0  # positive; the normalizer can still underflow to 0, hence EPS


class LinearAttentionMixer(nn.Module):
    def __init__(self, d_model: int, seq_len: int, cfg: LinearAttentionConfig, layer: int) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, C // self.n_heads).permute(2, 0, 3, 1, 4)  # [B, H, T, D]
        return feature_map(q), feature_map(k), v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self._heads(x)  # [B, H, T, D]
        scores = (q @ k.transpose(-1, -2)).tril()  # [B, H, T, T]: phi(q_t).phi(k_s) for s <= t
        y = (scores @ v) / (scores.sum(-1, keepdim=True) + EPS)  # [B, H, T, D]
        return self.out(y.transpose(1, 2).reshape(B, T, C))  # [B, T, C]

    def recurrent(self, x: torch.Tensor) -> torch.Tensor:
        """The same map as an RNN: S_t = S_{t-1} + phi(k_t) v_t^T, z_t = z_{t-1} + phi(k_t),
        y_t = phi(q_t) S_t / phi(q_t).z_t (slow; for the reference test)."""
        B, T, C = x.shape
        q, k, v = self._heads(x)  # [B, H, T, D]
        state = q.new_zeros(B, self.n_heads, C // self.n_heads, C // self.n_heads)  # [B, H, D, D]
        norm = q.new_zeros(B, self.n_heads, C // self.n_heads)  # [B, H, D]
        ys = []
        for t in range(T):
            state = state + k[:, :, t, :, None] * v[:, :, t, None, :]
            norm = norm + k[:, :, t]
            numerator = (q[:, :, t, :, None] * state).sum(-2)  # [B, H, D]
            ys.append(numerator / ((q[:, :, t] * norm).sum(-1, keepdim=True) + EPS))
        y = torch.stack(ys, dim=2)  # [B, H, T, D]
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class LinearAttention(MixerStack):
    """Pre-LN stack of causal linear attention (elu + 1 features) with learned positions."""

    Config = LinearAttentionConfig
    mixer = LinearAttentionMixer
    learned_positions = True  # a running sum is blind to the order of the prefix
