"""GRU baseline: a gated recurrent network (Cho et al. 2014), beside the LSTM.

Embedding -> multi-layer ``nn.GRU`` -> linear head, as :mod:`anchorbench.models.lstm`; causal by
construction. Known for: fewer gates than the LSTM (update and reset, no cell), a fixed-size
state, and order from the recurrence itself (no positions).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from anchorbench.models.init import OptionalInitConfig, apply_init_rate


class GRUConfig(OptionalInitConfig):
    d_model: int = Field(128, ge=1, description="token embedding width (GRU input size)")
    hidden: int = Field(256, ge=1, description="GRU hidden state width")
    n_layers: int = Field(2, ge=1, description="stacked GRU layers")


class GRU(nn.Module):
    """Recurrent baseline: ``forward(tokens [B, T]) -> logits [B, T, V]`` (causal)."""

    Config = GRUConfig
    accepts = ("tokens",)

    def __init__(self, vocab_size: int, seq_len: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        self.vocab_size = vocab_size
        self.seq_len = seq_len  # unused: the recurrence takes any length
        self.embed = nn.Embedding(vocab_size, cfg.d_model)
        self.gru = nn.GRU(cfg.d_model, cfg.hidden, num_layers=cfg.n_layers, batch_first=True)
        self.head = nn.Linear(cfg.hidden, vocab_size)
        if cfg.init_rate is not None:  # None: PyTorch's defaults
            apply_init_rate(self, cfg.init_rate, cfg.init_distribution)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.embed(tokens))  # [B, T, hidden]
        return self.head(h)  # [B, T, V]

    def token_embedding(self) -> nn.Embedding:
        """The table of token embeddings ``[V, C]`` (the fourier probe reads the number tokens' rows)."""
        return self.embed

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Each GRU layer's output ``[B, T, hidden]`` (``nn.GRU`` returns only the last layer's)."""
        x = self.embed(tokens)  # [B, T, d_model]
        h0 = x.new_zeros(1, x.shape[0], self.config.hidden)  # [1, B, hidden]
        states = []
        for k in range(self.config.n_layers):
            weights = [getattr(self.gru, f"{w}_l{k}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            # torch.gru(input, h0, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
            x, _ = torch.gru(x, h0, weights, True, 1, 0.0, False, False, True)  # [B, T, hidden]
            states.append(x)
        return states
