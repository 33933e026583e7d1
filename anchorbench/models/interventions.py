"""Interventions: changes applied to a built model before training, compared against the plain arm.

``orthogonal-noise`` ([MATCH]): a fixed random matrix R with entries N(0, 1/d_model),
nearly orthogonal in high dimension, is added to an attention weight product of chosen
layers, per head h:

* ``vo``: W_VO <- W_VO + alpha_h R_h, i.e. the head's output gains ``alpha_h * A_h (x R_h)``;
* ``qk``: W_QK <- W_QK + alpha_h R_h, i.e. the head's scores gain ``alpha_h * x R_h x^T / sqrt(d_head)``;

with alpha a learnable scalar per (layer, head) started at ``scale``, or fixed at ``scale``.
``mode: identity`` uses R = I (the control arm, reported not to help). The exact v1
definition is not public; this is the v2 paper's form (docs/papers.md [MATCH]), and our choice of
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
from anchorbench.models.transformer import CausalSelfAttention
from anchorbench.registry import INTERVENTIONS


class OrthogonalNoiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Literal["qk", "vo", "both"] = Field("vo", description="which weight product gets R")
    layers: list[int] | None = Field(None, description="0-based block indices; null: every layer")
    scale: float = Field(0.1, allow_inf_nan=False, description="alpha (its initial value when learnable)")
    learnable: bool = Field(True, description="alpha is a trained parameter per (layer, head)")
    mode: Literal["random", "identity"] = Field("random", description="R ~ N(0, 1/d) or the identity (control)")


class NoiseTerms(nn.Module):
    """R per head (fixed buffers, ``[H, C, C]``) and alpha per head, for the qk and/or vo target."""

    def __init__(self, heads: int, d_model: int, cfg: OrthogonalNoiseConfig, generator: torch.Generator):
        super().__init__()
        self.qk = cfg.target in ("qk", "both")
        self.vo = cfg.target in ("vo", "both")
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


class NoisyAttention(CausalSelfAttention):
    """The standard attention with ``alpha_h R_h`` added to W_QK and/or W_VO of each head.

    The intervention swaps it in for a block's attention; it takes over that module's
    projections (the same parameters, so both arms of a seed start from the same weights), and
    the core attention stays free of intervention code. The attention probe calls
    :meth:`attention_scores`, so it reports what this module computes, the qk term included.
    """

    def __init__(self, attn: CausalSelfAttention, d_model: int, cfg: OrthogonalNoiseConfig, generator: torch.Generator):
        nn.Module.__init__(self)
        self.n_heads, self.d_head = attn.n_heads, attn.d_head
        self.qkv, self.out = attn.qkv, attn.out
        # Registered after the projections: the optimizer sees the parameters in the order it
        # saw them when the noise was a hook inside the attention, so the numbers are unchanged.
        self.noise = NoiseTerms(attn.n_heads, d_model, cfg, generator)

    def qk_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha_h * x R_h x^T / sqrt(d_head)``: what the qk target adds to the scores, ``[B, H, T, T]``."""
        xr = torch.einsum("btc,hcd->bhtd", x, self.noise.r_qk)  # [B, H, T, C]
        return xr @ x.transpose(1, 2).unsqueeze(1) * (self.noise.alpha_qk.view(1, -1, 1, 1) / math.sqrt(self.d_head))

    def attention_scores(self, x: torch.Tensor) -> torch.Tensor:
        scores = super().attention_scores(x)  # [B, H, T, T]
        return scores + self.qk_scores(x) if self.noise.qk else scores

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        B, T, C = x.shape
        H, D = self.n_heads, self.d_head
        q, k, v = self.qkv(x).view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)  # [B, H, T, D] each
        mask = None
        if self.noise.qk:
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            mask = self.qk_scores(x).masked_fill(~causal, float("-inf"))  # SDPA adds it to the scores
        value = v
        if self.noise.vo:
            # One attention call serves both: A @ [V | xR] = [A V | A xR].
            value = torch.cat([v, torch.einsum("btc,hcd->bhtd", x, self.noise.r_vo)], dim=-1)  # [B, H, T, D + C]
        scale = 1.0 / math.sqrt(D)
        y = F.scaled_dot_product_attention(q, k, value, attn_mask=mask, is_causal=mask is None, scale=scale)
        out = self.out(y[..., :D].transpose(1, 2).reshape(B, T, H * D))  # [B, T, C]
        if self.noise.vo:
            out = out + torch.einsum("h,bhtc->btc", self.noise.alpha_vo, y[..., D:])
        return out[:, -1:] if last_only else out


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
            gen = torch.Generator().manual_seed((seed * 1_000_003 + stream_id(f"orthogonal-noise/{layer}")) % 2**63)
            noisy = NoisyAttention(blocks[layer].attn, d_model, cfg, gen)
            like = next(model.parameters())  # R and alpha follow the model's device and dtype (float64 too)
            blocks[layer].attn = noisy.to(device=like.device, dtype=like.dtype)


def _attention_blocks(model: nn.Module, name: str) -> Any:
    blocks = getattr(model, "blocks", None)
    # Exactly the standard attention: a subclass (already swapped, or a plug-in's) may compute otherwise.
    standard = [type(getattr(b, "attn", None)) is CausalSelfAttention for b in blocks or []]
    ok = blocks is not None and len(blocks) and all(standard)
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
