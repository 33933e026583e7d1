"""LSTM baseline: the recurrent model [AF] compares the transformer against.

Embedding -> multi-layer ``nn.LSTM`` -> linear head. Causal by construction (the state at t
has only seen tokens <= t), so it follows the same ``[B, T] -> [B, T, V]`` contract as the
transformer. No dropout, for determinism.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from anchorbench.models.init import OptionalInitConfig, apply_init_rate


class LSTMConfig(OptionalInitConfig):
    """Hyperparameters of :class:`LSTM` (everything except vocab_size and seq_len)."""

    d_model: int = Field(128, ge=1, description="token embedding width (LSTM input size)")
    hidden: int = Field(256, ge=1, description="LSTM hidden state width")
    n_layers: int = Field(2, ge=1, description="stacked LSTM layers")


class LSTM(nn.Module):
    """Recurrent baseline: ``forward(tokens [B, T]) -> logits [B, T, V]`` (causal)."""

    Config = LSTMConfig
    accepts = ("tokens",)  # token objectives (anchorbench.training.objectives)

    def __init__(self, vocab_size: int, seq_len: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        self.vocab_size = vocab_size
        self.seq_len = seq_len  # unused by the computation: the LSTM takes any length

        self.embed = nn.Embedding(vocab_size, cfg.d_model)
        self.lstm = nn.LSTM(cfg.d_model, cfg.hidden, num_layers=cfg.n_layers, batch_first=True)
        self.head = nn.Linear(cfg.hidden, vocab_size)

        if cfg.init_rate is not None:  # None: keep PyTorch's defaults (N(0,1) embedding, U(+-1/sqrt(hidden)) LSTM)
            apply_init_rate(self, cfg.init_rate, cfg.init_distribution)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # [B, T, d_model]
        h, _ = self.lstm(x)  # [B, T, hidden]
        return self.head(h)  # [B, T, V]
