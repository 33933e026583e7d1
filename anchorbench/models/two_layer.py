"""Two-layer network for regression, with its init scales stated explicitly.

``f(x) = (1 / output_scale) * sum_k a_k act(w_k . x + b_k)`` with ``a_k ~ N(0, output_std^2)``
and ``w_k ~ N(0, input_std^2 I)``: the network of the condensation phase diagram (Luo, Xu, Ma,
Zhang, JMLR 2021: there ``output_scale`` is alpha, the stds are beta_1 and beta_2, and the bias
is absorbed into x) and of the frequency view of grokking. It takes the ``regression``
objective: float inputs ``[B, d_in]`` to outputs ``[B, d_out]``.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class TwoLayerConfig(BaseModel):
    """Hyperparameters of :class:`TwoLayer` (everything except d_in and d_out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(1000, ge=1, description="hidden units m")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden nonlinearity")
    input_std: float | None = Field(
        None, gt=0, description="std of the input weights w_k (beta_2); null: PyTorch's default init"
    )
    output_std: float | None = Field(
        None, gt=0, description="std of the output weights a_k (beta_1); null: PyTorch's default init"
    )
    output_scale: float = Field(1.0, gt=0, description="the output is divided by it (alpha)")
    bias: bool = Field(True, description="a bias per hidden unit (initialized to zero when input_std is set)")


class TwoLayer(nn.Module):
    """``forward(x [B, d_in] float) -> [B, d_out]``."""

    Config = TwoLayerConfig
    accepts = ("floats",)  # the regression objective (anchorbench.training.objectives)

    def __init__(self, d_in: int, d_out: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        self.hidden = nn.Linear(d_in, cfg.width, bias=cfg.bias)  # rows are the w_k
        self.out = nn.Linear(cfg.width, d_out, bias=False)  # columns are the a_k
        self.act = nn.ReLU() if cfg.activation == "relu" else nn.Tanh()
        with torch.no_grad():
            if cfg.input_std is not None:
                nn.init.normal_(self.hidden.weight, 0.0, cfg.input_std)
                if self.hidden.bias is not None:
                    self.hidden.bias.zero_()
            if cfg.output_std is not None:
                nn.init.normal_(self.out.weight, 0.0, cfg.output_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.hidden(x))  # [B, width]
        return self.out(h) / self.config.output_scale  # [B, d_out]
