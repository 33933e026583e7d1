"""Convolutional network for small images, with the init scale as a knob ([COND-CNN]).

The two-layer CNN of the initial-condensation theory (Zhou, Zhou, Li & Xu, CSIAM Trans. Appl.
Math. 2025): one convolution layer of M kernels, an activation, and a linear readout of every
position of every kernel's map, ``f(x) = sum_{u,v,beta} a_{u,v,beta} act(W_beta * x + b_beta)[u, v]``.
``conv_layers > 1`` stacks more convolutions of M kernels before the readout (the paper's
experiments study every layer's kernels). No pooling: the readout sees every position, as in the
theory's sum over (u, v).

Init: with ``gamma`` set, every weight and bias (the readout's too) is drawn N(0, (M^-gamma)^2), the
convention of the [COND-PD] lab's code (std ``1 / m^gamma`` with m the layer's width, here the
number of kernels): gamma 4 is its small init. Without it, PyTorch's default init.

It takes the ``regression`` objective: images flattened row by row, ``[B, channels * side^2]``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from anchorbench.models.two_layer import XTanh


class CNNConfig(BaseModel):
    """Hyperparameters of :class:`CNN` (everything except d_in and d_out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kernels: int = Field(32, ge=1, le=4096, description="kernels (output channels) per convolution layer, M")
    kernel_size: int = Field(3, ge=1, le=15, description="kernel side k (k x k)")
    stride: int = Field(1, ge=1, le=8)
    padding: int = Field(1, ge=0, le=7, description="zeros around each map (1 with k = 3 keeps the side)")
    conv_layers: int = Field(1, ge=1, le=4, description="convolutions before the readout (1: the theory's CNN)")
    activation: Literal["tanh", "relu", "xtanh"] = Field("tanh", description="after every convolution")
    channels: int = Field(1, ge=1, le=16, description="input channels; the side is sqrt(d_in / channels)")
    gamma: float | None = Field(
        None, allow_inf_nan=False, description="every weight and bias ~ N(0, (M^-gamma)^2); null: PyTorch's default"
    )

    def init_std(self) -> float | None:
        return None if self.gamma is None else float(self.kernels) ** -self.gamma


class CNN(nn.Module):
    """``forward(x [B, C * S * S] float) -> [B, d_out]``."""

    Config = CNNConfig
    accepts = ("floats",)  # the regression objective (anchorbench.training.objectives)

    def __init__(self, d_in: int, d_out: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        side = math.isqrt(d_in // cfg.channels)
        if side * side * cfg.channels != d_in:
            raise ValueError(f"d_in {d_in} is not {cfg.channels} channel(s) of a square image")
        if side < cfg.kernel_size:
            raise ValueError(
                f"images of {side}x{side} pixels are smaller than a {cfg.kernel_size}x{cfg.kernel_size} kernel"
            )
        self.image_shape = (cfg.channels, side, side)
        convs = []
        c_in = cfg.channels
        for _ in range(cfg.conv_layers):
            convs.append(nn.Conv2d(c_in, cfg.kernels, cfg.kernel_size, stride=cfg.stride, padding=cfg.padding))
            side = (side + 2 * cfg.padding - cfg.kernel_size) // cfg.stride + 1
            if side < 1:
                raise ValueError(f"the maps vanish after {len(convs)} convolution(s): lower stride or kernel_size")
            c_in = cfg.kernels
        self.convs = nn.ModuleList(convs)
        self.act = {"relu": nn.ReLU, "tanh": nn.Tanh, "xtanh": XTanh}[cfg.activation]()
        self.readout = nn.Linear(cfg.kernels * side * side, d_out, bias=False)  # a_{u,v,beta}
        std = cfg.init_std()
        if std is not None:
            with torch.no_grad():
                for p in self.parameters():
                    nn.init.normal_(p, 0.0, std)

    def kernel_layers(self) -> list[nn.Conv2d]:
        """The convolution layers, input first: what the kernel probes measure."""
        return list(self.convs)

    def kernels(self) -> list[torch.Tensor]:
        """Per convolution layer ``[M, C_in * k * k + 1]``: each kernel flattened, its bias as a last column."""
        return [torch.cat([c.weight.flatten(1), c.bias[:, None]], dim=1) for c in self.convs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(x.shape[0], *self.image_shape)  # [B, C, S, S]
        for conv in self.convs:
            h = self.act(conv(h))  # [B, M, S', S']
        return self.readout(h.flatten(1))  # [B, d_out]
