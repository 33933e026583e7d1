"""An order-blind plug-in model: token embeddings mean-pooled over positions, then a linear
head. It cannot tell which token follows the anchor, so a CI gate must fail it on every task
whose answer depends on order (tests/test_gate.py)."""

from __future__ import annotations

import torch
from torch import nn


class BagOfTokens(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int, d_model: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pooled = self.embed(tokens).mean(dim=1, keepdim=True)  # [B, 1, D]: order is gone
        return self.head(pooled)  # [B, 1, V]
