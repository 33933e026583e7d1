"""Interventions: changes applied to a built model before training, compared against the plain arm.

``orthogonal-noise`` ([MATCH]): a fixed random matrix R with entries N(0, 1/d_model),
nearly orthogonal in high dimension, is added to an attention weight product of chosen
layers, per head h:

* ``vo``: W_VO <- W_VO + alpha_h R_h, i.e. the head's output gains ``alpha_h * A_h (x R_h)``;
* ``qk``: W_QK <- W_QK + alpha_h R_h, i.e. the head's scores gain ``alpha_h * x R_h x^T / sqrt(d_head)``;

with alpha a learnable scalar per (layer, head) started at ``scale``, or fixed at ``scale``.
``mode: identity`` uses R = I (the control arm, reported not to help). The exact v1
definition is not public; this is the v2 form SPEC.md describes, and our choice of
defaults (target vo, all layers, scale 0.1, learnable) is recorded in every result.

R is drawn from its own generator seeded by (run seed, layer), so the plain and the
intervention arm of one seed start from identical model weights and see the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from anchorbench.config import validate
from anchorbench.data.seeding import stream_id
from anchorbench.errors import UserError
from anchorbench.registry import INTERVENTIONS


class OrthogonalNoiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Literal["qk", "vo", "both"] = Field("vo", description="which weight product gets R")
    layers: list[int] | None = Field(None, description="0-based block indices; null: every layer")
    scale: float = Field(0.1, allow_inf_nan=False, description="alpha (its initial value when learnable)")
    learnable: bool = Field(True, description="alpha is a trained parameter per (layer, head)")
    mode: Literal["random", "identity"] = Field("random", description="R ~ N(0, 1/d) or the identity (control)")


class OrthogonalNoise(nn.Module):
    """Replaces one attention layer's forward; holds R (buffers) and alpha."""

    def __init__(self, attn: nn.Module, d_model: int, cfg: OrthogonalNoiseConfig, generator: torch.Generator):
        super().__init__()
        self.qk = cfg.target in ("qk", "both")
        self.vo = cfg.target in ("vo", "both")
        heads = attn.n_heads
        for name, on in (("qk", self.qk), ("vo", self.vo)):
            if not on:
                continue
            if cfg.mode == "identity":
                r = torch.eye(d_model).expand(heads, d_model, d_model).clone()
            else:
                r = torch.randn(heads, d_model, d_model, generator=generator) / math.sqrt(d_model)
            self.register_buffer(f"r_{name}", r)  # [H, C, C], fixed
            alpha = torch.full((heads,), float(cfg.scale))
            if cfg.learnable:
                self.register_parameter(f"alpha_{name}", nn.Parameter(alpha))
            else:
                self.register_buffer(f"alpha_{name}", alpha)

    def extra_scores(self, attn: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
        """``alpha_h * x R_h x^T / sqrt(d_head)``: what the qk target adds to the scores, ``[B, H, T, T]``."""
        if not self.qk:
            return None
        xr = torch.einsum("btc,hcd->bhtd", x, self.r_qk)  # [B, H, T, C]
        return xr @ x.transpose(1, 2).unsqueeze(1) * (self.alpha_qk.view(1, -1, 1, 1) / math.sqrt(attn.d_head))

    def forward(self, attn: nn.Module, x: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        B, T, C = x.shape
        H, D = attn.n_heads, attn.d_head
        scale = 1.0 / math.sqrt(D)
        mask = None
        if self.qk:
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            mask = self.extra_scores(attn, x).masked_fill(~causal, float("-inf"))  # SDPA adds it to the scores
        value = v
        if self.vo:
            # One attention call serves both: A @ [V | xR] = [A V | A xR].
            value = torch.cat([v, torch.einsum("btc,hcd->bhtd", x, self.r_vo)], dim=-1)  # [B, H, T, D + C]
        y = F.scaled_dot_product_attention(q, k, value, attn_mask=mask, is_causal=mask is None, scale=scale)
        out = attn.out(y[..., :D].transpose(1, 2).reshape(B, T, H * D))  # [B, T, C]
        if self.vo:
            out = out + torch.einsum("h,bhtc->btc", self.alpha_vo, y[..., D:])
        return out


@dataclass(frozen=True)
class OrthogonalNoiseIntervention:
    Config = OrthogonalNoiseConfig
    name = "orthogonal-noise"
    description = "[MATCH] fixed random matrix R added to W_VO and/or W_QK of chosen layers, scaled by alpha"

    @staticmethod
    def apply(model: nn.Module, cfg: OrthogonalNoiseConfig, seed: int) -> None:
        blocks = _attention_blocks(model, "orthogonal-noise")
        layers = cfg.layers if cfg.layers is not None else list(range(len(blocks)))
        for layer in layers:
            if not 0 <= layer < len(blocks):
                raise UserError(
                    f"intervention.layers: layer {layer} does not exist "
                    f"(the model has {len(blocks)} layers: 0..{len(blocks) - 1})"
                )
        d_model = model.tok_emb.embedding_dim
        for layer in layers:
            attn = blocks[layer].attn
            gen = torch.Generator().manual_seed((seed * 1_000_003 + stream_id(f"orthogonal-noise/{layer}")) % 2**63)
            noise = OrthogonalNoise(attn, d_model, cfg, gen)
            attn.intervention = noise.to(next(model.parameters()).device)


def _attention_blocks(model: nn.Module, name: str) -> Any:
    blocks = getattr(model, "blocks", None)
    ok = blocks is not None and len(blocks) and all(hasattr(getattr(b, "attn", None), "intervention") for b in blocks)
    if not ok:
        raise UserError(
            f"intervention '{name}' needs the standard transformer's attention blocks; "
            f"{type(model).__name__} has none (use --model transformer)"
        )
    return blocks


INTERVENTIONS.register("orthogonal-noise", OrthogonalNoiseIntervention, origin="built-in")


@dataclass(frozen=True)
class InterventionSpec:
    """A resolved intervention: registry name and validated config."""

    name: str
    config: dict[str, Any]

    def apply(self, model: nn.Module, seed: int) -> None:
        kind = INTERVENTIONS.get(self.name)
        kind.apply(model, kind.Config.model_validate(self.config), seed)


def resolve_intervention(name: str, kwargs: dict[str, Any]) -> InterventionSpec:
    kind = INTERVENTIONS.get(name)
    return InterventionSpec(name, validate(kind.Config, kwargs, "intervention").model_dump(mode="json"))
