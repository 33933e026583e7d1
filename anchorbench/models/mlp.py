"""MLP baseline: embeds every token, concatenates them, and predicts the next token.

Because the first layer sees the whole flattened prefix ``[B, T * d_embed]``, its weights are
position-specific and no position embedding is needed. The price: the MLP reads the full
prefix at once, so it can only predict the position *after the last token*. It therefore
returns logits ``[B, 1, V]`` for the last position only, which is all the trainer scores
(``logits[:, -1]``), and it only accepts sequences of exactly ``seq_len`` tokens.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from anchorbench.models.init import OptionalInitConfig, apply_init_rate


class MLPConfig(OptionalInitConfig):
    """Hyperparameters of :class:`MLP` (everything except vocab_size and seq_len)."""

    d_embed: int = Field(64, ge=1, description="embedding width of one token")
    d_hidden: int = Field(512, ge=1, description="width of every hidden layer")
    n_layers: int = Field(2, ge=1, description="number of hidden layers")
    activation: Literal["relu", "gelu"] = Field("relu", description="hidden nonlinearity")


class MLP(nn.Module):
    """Feed-forward baseline: ``forward(tokens [B, seq_len]) -> logits [B, 1, V]``."""

    Config = MLPConfig
    accepts = ("tokens",)  # token objectives (anchorbench.training.objectives)

    def __init__(self, vocab_size: int, seq_len: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        self.vocab_size = vocab_size
        self.seq_len = seq_len

        self.embed = nn.Embedding(vocab_size, cfg.d_embed)
        layers: list[nn.Module] = []
        d_in = seq_len * cfg.d_embed
        for _ in range(cfg.n_layers):
            layers += [
                nn.Linear(d_in, cfg.d_hidden),
                nn.ReLU() if cfg.activation == "relu" else nn.GELU(),
            ]
            d_in = cfg.d_hidden
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(cfg.d_hidden, vocab_size)

        if cfg.init_rate is not None:  # None: keep PyTorch's defaults
            apply_init_rate(self, cfg.init_rate, cfg.init_distribution)

    def token_embedding(self) -> nn.Embedding:
        """The table of token embeddings ``[V, C]`` (the fourier probe reads the number tokens' rows)."""
        return self.embed

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        B, T = tokens.shape
        if T != self.seq_len:
            raise ValueError(f"the MLP reads exactly seq_len={self.seq_len} tokens, got {T}")
        x = self.embed(tokens).reshape(B, T * self.config.d_embed)  # [B, T * d_embed]
        logits = self.head(self.hidden(x))  # [B, V]
        return logits.unsqueeze(1)  # [B, 1, V]: only the position after the last token
