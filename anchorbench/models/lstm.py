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

    def token_embedding(self) -> nn.Embedding:
        """The table of token embeddings ``[V, C]`` (the fourier probe reads the number tokens' rows)."""
        return self.embed

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Each LSTM layer's output ``[B, T, hidden]``, in depth order (the integration-windows probe).
        ``nn.LSTM`` returns only the last layer's; this runs its stacked weights one layer at a time."""
        x = self.embed(tokens)  # [B, T, d_model]
        zeros = x.new_zeros(1, x.shape[0], self.config.hidden)  # [1, B, hidden]: the initial h and c
        states = []
        for k in range(self.config.n_layers):
            weights = [getattr(self.lstm, f"{w}_l{k}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            # torch.lstm(input, (h0, c0), params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
            x, _, _ = torch.lstm(x, (zeros, zeros), weights, True, 1, 0.0, False, False, True)  # [B, T, hidden]
            states.append(x)
        return states
