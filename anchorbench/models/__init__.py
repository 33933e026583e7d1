"""Built-in models, registered lazily so that importing this package does not import torch.

Every model follows one contract: ``Model(vocab_size, seq_len, **kwargs)`` is an
``nn.Module`` whose ``forward(tokens [B, T] int64)`` returns float logits ``[B, T, V]``
(causal: logits at t depend only on tokens <= t), or ``[B, 1, V]`` when the design can only
predict the last position. The trainer scores ``logits[:, -1]``. ``Model.Config`` is a
frozen pydantic model whose fields are exactly the accepted kwargs.
"""

from __future__ import annotations

from anchorbench.registry import MODELS

MODELS.register(
    "transformer",
    lazy="anchorbench.models.transformer:Transformer",
    origin="built-in",
    description="standard small decoder-only transformer ([AF]/[INIT]/[MATCH]): "
    "learned positions, pre/post/no LayerNorm, init rate gamma",
)
MODELS.register(
    "lstm",
    lazy="anchorbench.models.lstm:LSTM",
    origin="built-in",
    description="LSTM baseline ([AF]): embedding, stacked LSTM, linear head",
)
MODELS.register(
    "mlp",
    lazy="anchorbench.models.mlp:MLP",
    origin="built-in",
    description="MLP baseline: flattened token embeddings, predicts the last position only",
)
