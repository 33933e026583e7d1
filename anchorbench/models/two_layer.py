"""Two-layer network for regression, with its init scales stated explicitly.

``f(x) = (1 / output_scale) * sum_k a_k act(w_k . x + b_k)`` with ``a_k ~ N(0, output_std^2)``
and ``w_k ~ N(0, input_std^2 I)``: the network of the condensation phase diagram (Luo, Xu, Ma,
Zhang, JMLR 2021: there ``output_scale`` is alpha, the stds are beta_1 and beta_2, and the bias
is absorbed into x) and of the frequency view of grokking. It takes the ``regression``
objective: float inputs ``[B, d_in]`` to outputs ``[B, d_out]``.

The init can be given as the phase diagram's coordinates instead of three numbers: with
``gamma`` set, ``beta_1 = m^-e``, ``beta_2 = m^-(e - gamma')`` and ``alpha = m^(gamma - 2e + gamma')``
(``e = beta1_exponent``), so that ``beta_1 beta_2 / alpha = m^-gamma`` and ``beta_1 / beta_2 =
m^-gamma'`` exactly, at any width m: the parametrization of the [COND-PD] code
(phasediagram_twolayerNN, scalestudy1d; docs/notes/cond-pd-reference-code.md), whose paper runs
take ``e = gamma' = 0`` (beta_1 = beta_2 = 1, alpha = m^gamma). ``antisymmetric`` doubles the
hidden layer as that code does: a second copy of every unit with the same input weights and the
opposite output weight, so that f = 0 at the start and the first m units are the ones measured.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn


class TwoLayerConfig(BaseModel):
    """Hyperparameters of :class:`TwoLayer` (everything except d_in and d_out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Added after runs were recorded: hashed only when set (anchorbench.config.hashed).
    HASH_ONLY_IF_SET: ClassVar[dict] = {
        "gamma": None, "gamma_prime": 0.0, "beta1_exponent": 0.0, "antisymmetric": False, "bias_init": "zero",
    }  # fmt: skip

    width: int = Field(1000, ge=1, description="hidden units m")
    activation: Literal["relu", "tanh", "xtanh"] = Field("relu", description="hidden nonlinearity (xtanh: x tanh x)")
    input_std: float | None = Field(
        None, gt=0, description="std of the input weights w_k (beta_2); null: PyTorch's default init"
    )
    output_std: float | None = Field(
        None, gt=0, description="std of the output weights a_k (beta_1); null: PyTorch's default init"
    )
    output_scale: float = Field(1.0, gt=0, description="the output is divided by it (alpha)")
    bias: bool = Field(True, description="a bias per hidden unit (see bias_init)")
    gamma: float | None = Field(
        None, allow_inf_nan=False, description="phase-diagram coordinate: beta_1 beta_2 / alpha = m^-gamma"
    )
    gamma_prime: float = Field(0.0, allow_inf_nan=False, description="with gamma: beta_1 / beta_2 = m^-gamma'")
    beta1_exponent: float = Field(0.0, allow_inf_nan=False, description="with gamma: beta_1 = m^-beta1_exponent")
    antisymmetric: bool = Field(
        False, description="2 x width units, the copies with opposite output weights: f = 0 at the start"
    )
    bias_init: Literal["zero", "input"] = Field(
        "zero", description="with an input std: biases at 0, or drawn like the input weights ([COND-PD] code)"
    )

    @model_validator(mode="after")
    def _one_way_to_scale(self) -> TwoLayerConfig:
        if self.gamma is not None:
            given = [k for k in ("input_std", "output_std") if getattr(self, k) is not None]
            if given or self.output_scale != 1.0:
                raise ValueError(f"gamma sets the stds and the output scale; drop {(given or ['output_scale'])[0]}")
        elif (self.gamma_prime, self.beta1_exponent) != (0.0, 0.0):
            raise ValueError("gamma_prime and beta1_exponent take effect only with gamma; set gamma too")
        if self.bias_init == "input" and self.gamma is None and self.input_std is None:
            raise ValueError("bias_init input draws the biases with the input std; set input_std or gamma")
        return self

    def scales(self) -> tuple[float | None, float | None, float]:
        """(beta_2: input std, beta_1: output std, alpha: output scale) at this width."""
        if self.gamma is None:
            return self.input_std, self.output_std, self.output_scale
        m, e = float(self.width), self.beta1_exponent
        return m ** -(e - self.gamma_prime), m**-e, m ** (self.gamma - 2 * e + self.gamma_prime)


class XTanh(nn.Module):
    """``x * tanh(x)``: flat to second order at 0 (the [COND-PD] lab's demo: more condensed directions)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(x)


class TwoLayer(nn.Module):
    """``forward(x [B, d_in] float) -> [B, d_out]``."""

    Config = TwoLayerConfig
    accepts = ("floats",)  # the regression objective (anchorbench.training.objectives)

    def __init__(self, d_in: int, d_out: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        units = 2 * cfg.width if cfg.antisymmetric else cfg.width
        self.hidden = nn.Linear(d_in, units, bias=cfg.bias)  # rows are the w_k
        self.out = nn.Linear(units, d_out, bias=False)  # columns are the a_k
        self.act = {"relu": nn.ReLU, "tanh": nn.Tanh, "xtanh": XTanh}[cfg.activation]()
        self.output_scale = cfg.scales()[2]
        input_std, output_std, _ = cfg.scales()
        with torch.no_grad():
            if input_std is not None:
                nn.init.normal_(self.hidden.weight, 0.0, input_std)
                if self.hidden.bias is not None:
                    if cfg.bias_init == "input":
                        nn.init.normal_(self.hidden.bias, 0.0, input_std)
                    else:
                        self.hidden.bias.zero_()
            if output_std is not None:
                nn.init.normal_(self.out.weight, 0.0, output_std)
            if cfg.antisymmetric:  # units m..2m-1 copy units 0..m-1 with the opposite output weight
                m = cfg.width
                self.hidden.weight[m:] = self.hidden.weight[:m]
                if self.hidden.bias is not None:
                    self.hidden.bias[m:] = self.hidden.bias[:m]
                self.out.weight[:, m:] = -self.out.weight[:, :m]

    def input_weights(self) -> torch.Tensor:
        """``[width, d_in (+1)]``: the measured units' input weights, bias as a last column ([COND-PD]'s theta_w)."""
        m = self.config.width
        w = self.hidden.weight[:m]
        return w if self.hidden.bias is None else torch.cat([w, self.hidden.bias[:m, None]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.hidden(x))  # [B, width]
        return self.out(h) / self.output_scale  # [B, d_out]
