"""The backbone the architecture zoo shares: a pre-LN residual stack around a sequence mixer.

Every zoo model is this stack with a different ``mixer`` (zoology's and MAD's protocol: the
mixer is the only thing that changes, so a comparison measures the mixer):

    tokens [B, T] -> embedding (+ learned positions, if the mixer needs them) -> n_layers x
    [x + mixer(LN(x)), x + FFN(LN(x))] -> LN -> head -> logits [B, T, V]

A mixer is an ``nn.Module`` built as ``Mixer(d_model, seq_len, cfg, layer)`` (layer: its depth
index, for inits that vary with depth) whose ``forward`` maps
``[B, T, C] -> [B, T, C]`` causally (position t sees positions <= t only). Parameters that set
its dynamics rather than map features (decay rates, token-shift mixes, an SSM's A and D) are
named in the class attribute ``dynamics``; the gamma init leaves them at the mixer's own
initialization (they have no fan-in). No dropout: runs must be deterministic.

Shapes in comments: B batch, T sequence length, C = d_model, V = vocab_size.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from anchorbench.models.init import OptionalInitConfig, apply_init_rate


class MixerStackConfig(OptionalInitConfig):
    """Hyperparameters every zoo model has; a mixer's own fields are added by subclassing."""

    d_model: int = Field(128, ge=1, description="residual stream width")
    n_layers: int = Field(2, ge=1, description="mixer + FFN blocks")
    d_ff: int = Field(384, ge=1, description="FFN hidden width (3 x d_model, as the transformer)")


class Block(nn.Module):
    """``x + mixer(LN(x))`` then ``x + FFN(LN(x))``: [B, T, C] -> [B, T, C]."""

    def __init__(self, mixer: nn.Module, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.ln2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.ln1(x))  # [B, T, C]
        return x + self.ffn(self.ln2(x))  # [B, T, C]


class ShortConv(nn.Module):
    """Causal depthwise convolution over time, ``[B, T, C] -> [B, T, C]``: y_t = b + sum_j w_j x_{t-j}.

    As shifted multiply-adds rather than ``nn.Conv1d(groups=C)``, whose backward on CPU cost more
    than the rest of a Hyena layer; the weight ``[C, K]`` has fan-in K, as the convolution's."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        bound = width**-0.5  # PyTorch's Conv1d default, U(+-1/sqrt(fan_in))
        self.weight = nn.Parameter(torch.empty(channels, width).uniform_(-bound, bound))  # [C, K]; column j: lag j
        self.bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound))  # [C]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        y = self.bias + x * self.weight[:, 0]  # [B, T, C]
        for lag in range(1, min(self.weight.shape[1], T)):
            y = y + nn.functional.pad(x[:, : T - lag], (0, 0, lag, 0)) * self.weight[:, lag]  # x_{t-lag}, 0 before 0
        return y


class MixerStack(nn.Module):
    """``forward(tokens [B, T]) -> logits [B, T, V]`` (causal); a subclass sets ``Config`` and ``mixer``."""

    Config: ClassVar[type[MixerStackConfig]] = MixerStackConfig
    mixer: ClassVar[type[nn.Module]]
    # Attention-like mixers are blind to order within the prefix without positions; recurrences
    # and convolutions carry order themselves.
    learned_positions: ClassVar[bool] = False
    accepts = ("tokens",)  # token objectives (anchorbench.training.objectives)

    def __init__(self, vocab_size: int, seq_len: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        self.vocab_size = vocab_size
        self.seq_len = seq_len
        self.tok_emb = nn.Embedding(vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(seq_len, cfg.d_model) if self.learned_positions else None
        self.blocks = nn.ModuleList(
            Block(self.mixer(cfg.d_model, seq_len, cfg, layer), cfg.d_model, cfg.d_ff) for layer in range(cfg.n_layers)
        )
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, vocab_size)
        if cfg.init_rate is not None:  # None: PyTorch's defaults and each mixer's own init
            apply_init_rate(self, cfg.init_rate, cfg.init_distribution, keep=self.dynamics_parameters())

    def dynamics_parameters(self) -> set[str]:
        """Qualified names of the mixers' ``dynamics`` parameters (left alone by the gamma init)."""
        names = set()
        for i, block in enumerate(self.blocks):
            names |= {f"blocks.{i}.mixer.{name}" for name in getattr(block.mixer, "dynamics", ())}
        return names

    def token_embedding(self) -> nn.Embedding:
        """The table of token embeddings ``[V, C]`` (the fourier probe reads the number tokens' rows)."""
        return self.tok_emb

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, T] -> [B, T, C]``: token embeddings, plus positions when the mixer needs them."""
        x = self.tok_emb(tokens)  # [B, T, C]
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(tokens.shape[1], device=tokens.device))  # + [T, C]
        return x

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.ln_f(self.hidden_states(tokens)[-1]))  # [B, T, V]

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream after each block, ``[B, T, C]`` per layer (the integration-windows probe)."""
        x = self.embed(tokens)
        states = []
        for block in self.blocks:
            x = block(x)  # [B, T, C]
            states.append(x)
        return states
