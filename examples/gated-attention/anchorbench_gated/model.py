"""A decoder-only transformer whose attention output passes through a learned sigmoid gate
(per position and channel, computed from the block's input), in the spirit of gated attention.

anchorbench builds it as ``GatedAttentionNet(vocab_size, seq_len, **config)`` and expects
logits ``[batch, seq_len, vocab_size]``. ``see_past=False`` is a deliberately broken variant
(each token attends only to itself, so nothing moves between positions): `anchorbench ci`
must catch it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GatedBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.gate = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.norm1(x)
        q, k, v = self.qkv(h).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:t, :t])
        att = att.transpose(1, 2).reshape(b, t, d)
        x = x + self.out(torch.sigmoid(self.gate(h)) * att)
        return x + self.mlp(self.norm2(x))


class GatedAttentionNet(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        d_model: int = 64,
        n_heads: int = 2,
        n_layers: int = 2,
        d_ff: int = 256,
        see_past: bool = True,
    ):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) * 0.02)
        self.blocks = nn.ModuleList(GatedBlock(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        allowed = torch.ones(seq_len, seq_len).tril() if see_past else torch.eye(seq_len)
        self.register_buffer("mask", allowed.bool(), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.hidden_states(tokens)[-1]))

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream after each block, [batch, seq, d_model] per layer. Optional: anchorbench's
        integration-windows probe measures a model that has this method and refuses one that has not."""
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        states = []
        for block in self.blocks:
            x = block(x, self.mask)
            states.append(x)
        return states
