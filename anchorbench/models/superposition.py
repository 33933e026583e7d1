"""[PLAW-SUP] students of the superposition teacher-student task (regression: ``[B, N] -> [B, N]``).

* ``toy-superposition``: the toy model of superposition (Elhage et al. 2022), ``ReLU(W_d W_e x + b)``
  with ``W_e`` ``[K, N]``: N features through K < N hidden dimensions must share them (superposition).
  ``tied`` makes ``W_d = W_e^T`` (the toy model's original form and liuyz0/SuperpositionScaling's).
* ``feature-channels``: no bottleneck and no interference, one channel per feature,
  ``y_i = w_i x_i + b_i``: each feature is learned on its own at a rate set by its second moment,
  the sequential-learning picture whose loss exponent is (a + 2b - 1) / a (docs/papers.md [PLAW-SUP]).
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class ToySuperpositionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(64, ge=1, description="hidden dimensions K (a bottleneck when K < N)")
    tied: bool = Field(False, description="W_d = W_e^T (Elhage et al.'s toy model)")


class ToySuperposition(nn.Module):
    """``forward(x [B, N] float) -> [B, N]``: ReLU(W_d W_e x + b)."""

    Config = ToySuperpositionConfig
    accepts = ("floats",)

    def __init__(self, d_in: int, d_out: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        # Unit-variance hidden and output activations at the start: std 1/sqrt(fan_in).
        self.encode = nn.Parameter(torch.randn(cfg.width, d_in) / math.sqrt(d_in))  # W_e [K, N]
        self.decode = None if cfg.tied else nn.Parameter(torch.randn(d_out, cfg.width) / math.sqrt(cfg.width))
        self.bias = nn.Parameter(torch.zeros(d_out))  # [N]
        if cfg.tied and d_in != d_out:
            raise ValueError("tied weights need d_in == d_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x @ self.encode.T  # [B, K]
        w_d = self.encode.T if self.decode is None else self.decode  # [N, K]
        return torch.relu(h @ w_d.T + self.bias)  # [B, N]


class FeatureChannelsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureChannels(nn.Module):
    """``forward(x [B, N] float) -> [B, N]``: y_i = w_i x_i + b_i, w and b from zero."""

    Config = FeatureChannelsConfig
    accepts = ("floats",)

    def __init__(self, d_in: int, d_out: int, **kwargs: object) -> None:
        super().__init__()
        self.config = self.Config(**kwargs)
        if d_in != d_out:
            raise ValueError(f"one channel per feature needs d_in == d_out, got {d_in} and {d_out}")
        self.weight = nn.Parameter(torch.zeros(d_in))  # [N]
        self.bias = nn.Parameter(torch.zeros(d_out))  # [N]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias  # [B, N]
