"""The initialization rate gamma of [INIT] and [MATCH], as one function.

[INIT] (Zhang et al., arXiv 2405.05409) shows that the *scale* of the initial weights
decides whether a transformer learns a composite task by reasoning (small init) or by
memorizing (large init). The scale is given by one number, the initialization rate gamma:
a weight with d_in inputs starts with standard deviation d_in ** -gamma, so a larger gamma
means a smaller initialization. [MATCH] uses the uniform variant with bound (6/d_in)**gamma.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

InitDistribution = Literal["normal", "uniform"]

# Normalization layers whose affine parameters start as the identity (weight 1, bias 0).
_NORM_LAYERS: tuple[type[nn.Module], ...] = (nn.LayerNorm, nn.RMSNorm)


def init_bound(d_in: float, rate: float, distribution: InitDistribution) -> float:
    """The scale a weight with ``d_in`` inputs gets: the std (normal) or the bound b (uniform)."""
    if distribution == "normal":
        return d_in**-rate
    elif distribution == "uniform":
        return (6.0 / d_in) ** rate
    else:
        raise ValueError(f"unknown init distribution '{distribution}'; use 'normal' or 'uniform'")


def reference_scale(d_model: int, reference_width: int | None) -> float:
    """The factor on every fan-in that gives a model of width ``d_model`` the init scale it
    would have at ``reference_width`` (every fan-in of a transformer grows with its width:
    d_model, d_ff = 3 d_model, heads x d_head)."""
    return 1.0 if reference_width is None else reference_width / d_model


def scale_summary(rate: float, distribution: InitDistribution, d_model: int, reference_width: int | None) -> dict:
    """The init scale in both languages: gamma (with its reference width), the scale (std, or
    uniform bound) it gives a weight with d_model inputs, and the gamma that gives that scale
    at d_model itself: gamma 0.8 at width 400 is std 0.0083, which is gamma ~0.99 at 128."""
    scale = init_bound(reference_width or d_model, rate, distribution)
    unit = math.log(init_bound(d_model, 1.0, distribution))
    return {
        "init_rate": rate,
        "reference_width": reference_width,
        "d_model": d_model,
        "scale_at_d_model_fan_in": scale,
        # at a width whose bound is 1 (uniform at d_model 6, normal at 1) every gamma gives scale 1:
        # no gamma is "the" one (null), rather than a division by zero
        "init_rate_at_own_width": math.log(scale) / unit if unit != 0 else None,
    }


@torch.no_grad()
def apply_init_rate(
    module: nn.Module,
    rate: float,
    distribution: InitDistribution,
    fan_in_scale: float = 1.0,
    keep: Collection[str] = (),
) -> None:
    """Re-initialize every parameter of ``module`` with initialization rate ``rate`` (gamma).

    Rules, applied to every parameter of every submodule:

    * A weight matrix ``W`` of shape ``[d_out, d_in]`` (``nn.Linear`` weights, ``nn.Embedding``
      weights including learned position tables, LSTM ``weight_ih``/``weight_hh``, a fused
      ``qkv`` projection, ...) uses ``d_in = W.shape[1]``. For an ``nn.Linear`` that is
      ``in_features``; for an embedding table ``[vocab, d_model]`` it is ``d_model``, which is
      the [INIT] rule "embeddings use d_in = d_model".

      - ``normal``:  ``W ~ N(0, std^2)`` with ``std = d_in ** -gamma``
        (the variance is ``d_in ** (-2 * gamma)``).
      - ``uniform``: ``W ~ U(-b, b)`` with ``b = (6 / d_in) ** gamma``
        (so ``std = b / sqrt(3)``); at gamma = 0.5 this is Glorot/He-style ``sqrt(6 / d_in)``.

      A weight with more than two dimensions (a convolution kernel) uses its fan-in,
      ``d_in = W.shape[1] * W.shape[2] * ...``.
    * Every bias is set to 0 (attention, FFN, output head, LSTM gate biases).
    * LayerNorm (and RMSNorm) weights are set to 1 and their biases to 0.

    ``keep`` names parameters (qualified, as ``named_parameters`` gives them) left as they are:
    a sequence mixer's dynamics (decay rates, token-shift mixes, an SSM's A and D), which have
    no fan-in and whose initialization is part of the design (anchorbench.models.mixer_stack).

    ``fan_in_scale`` multiplies every ``d_in`` in these formulas (see :func:`reference_scale`:
    the scale of the same gamma at another width).

    Larger gamma means smaller initial weights: gamma = 0.5 is the usual 1/sqrt(d_in) scale,
    gamma > 0.5 is "small init" (condensation, reasoning), gamma < 0.5 "large init".

    The values are drawn from torch's global RNG, in the order of ``module.named_modules()``,
    so ``torch.manual_seed`` before construction makes the weights reproducible.

    Raises ``ValueError`` for an unknown ``distribution`` and for a parameter none of the
    rules covers (e.g. a learned scalar), instead of silently leaving it as it was.
    """
    init_bound(1, rate, distribution)  # validates the distribution even for a module without weights
    for module_name, sub in module.named_modules():
        for param_name, param in sub.named_parameters(recurse=False):
            qualified = f"{module_name}.{param_name}" if module_name else param_name
            if qualified in keep:
                continue
            if isinstance(sub, _NORM_LAYERS):
                if param_name == "weight":
                    param.fill_(1.0)
                elif param_name == "bias":
                    param.zero_()
                else:
                    raise ValueError(f"apply_init_rate: unexpected normalization parameter '{qualified}'")
            elif param_name.startswith("bias") and param.dim() == 1:
                param.zero_()
            elif param.dim() >= 2:
                d_in = math.prod(param.shape[1:]) * fan_in_scale
                init_weight(param, init_bound(d_in, rate, distribution), distribution)
            else:
                raise ValueError(
                    f"apply_init_rate: no rule for parameter '{qualified}' of shape {tuple(param.shape)} "
                    "(neither a weight matrix, a bias nor a normalization parameter)"
                )


def init_weight(weight: torch.Tensor, scale: float, distribution: InitDistribution) -> None:
    if distribution == "normal":
        nn.init.normal_(weight, mean=0.0, std=scale)
    elif distribution == "uniform":
        nn.init.uniform_(weight, -scale, scale)
    else:
        raise ValueError(f"unknown init distribution '{distribution}'; use 'normal' or 'uniform'")


class OptionalInitConfig(BaseModel):
    """Config fields of a baseline whose gamma initialization is opt-in (None: PyTorch's default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    init_rate: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="initialization rate gamma; None keeps PyTorch's default init",
    )
    init_distribution: Literal["normal", "uniform"] = Field(
        "normal",
        description="distribution for init_rate (normal: std d_in^-gamma; uniform: bound (6/d_in)^gamma)",
    )

    @model_validator(mode="after")
    def _distribution_needs_rate(self) -> OptionalInitConfig:
        # A non-default distribution without a rate would be silently ignored.
        if self.init_rate is None and self.init_distribution != "normal":
            raise ValueError("init_distribution has no effect without init_rate; set init_rate too")
        return self
