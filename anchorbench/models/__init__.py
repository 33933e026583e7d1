"""Built-in models, registered lazily so that importing this package does not import torch.

Every token model follows one contract: ``Model(vocab_size, seq_len, **kwargs)`` is an
``nn.Module`` whose ``forward(tokens [B, T] int64)`` returns float logits ``[B, T, V]``
(causal: logits at t depend only on tokens <= t), or ``[B, 1, V]`` when the design can only
predict the last position (then it serves the last-token objective only). A regression model
is ``Model(d_in, d_out, **kwargs)`` with ``forward(x [B, d_in] float) -> [B, d_out]`` and says
so with ``accepts = ("floats",)`` (anchorbench.training.objectives). ``Model.Config`` is a
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
    "gru",
    lazy="anchorbench.models.gru:GRU",
    origin="built-in",
    description="GRU baseline: embedding, stacked GRU, linear head",
)
MODELS.register(
    "linear-attention",
    lazy="anchorbench.models.linear_attention:LinearAttention",
    origin="built-in",
    description="zoo: causal linear attention (elu+1 features, Katharopoulos et al.) in a pre-LN stack",
)
MODELS.register(
    "selective-ssm",
    lazy="anchorbench.models.selective_ssm:SelectiveSSM",
    origin="built-in",
    description="zoo: Mamba-style selective state-space layer (input-dependent step, sequential scan)",
)
MODELS.register(
    "rwkv",
    lazy="anchorbench.models.rwkv:RWKV",
    origin="built-in",
    description="zoo: RWKV-4-style time mixing (token shift, per-channel decay, bonus for the current token)",
)
MODELS.register(
    "hyena",
    lazy="anchorbench.models.hyena:Hyena",
    origin="built-in",
    description="zoo: order-2 Hyena operator (implicit long convolutions by FFT, data-controlled gates)",
)
MODELS.register(
    "mlp",
    lazy="anchorbench.models.mlp:MLP",
    origin="built-in",
    description="MLP baseline: flattened token embeddings, predicts the last position only",
)
MODELS.register(
    "two-layer",
    lazy="anchorbench.models.two_layer:TwoLayer",
    origin="built-in",
    description="two-layer network for regression, f(x) = (1/alpha) sum_k a_k act(w_k . x + b_k), "
    "init stds explicit ([COND-PD], [FREQ])",
)
MODELS.register(
    "cnn",
    lazy="anchorbench.models.cnn:CNN",
    origin="built-in",
    description="convolutional network for 8x8 images: M kernels per layer, activation, linear readout of every "
    "position; init std M^-gamma ([COND-CNN])",
)
MODELS.register(
    "toy-superposition",
    lazy="anchorbench.models.superposition:ToySuperposition",
    origin="built-in",
    description="toy model of superposition for regression, ReLU(W_d W_e x + b) through K hidden dims ([PLAW-SUP])",
)
MODELS.register(
    "feature-channels",
    lazy="anchorbench.models.superposition:FeatureChannels",
    origin="built-in",
    description="one linear channel per feature, y_i = w_i x_i + b_i: no bottleneck, no interference ([PLAW-SUP])",
)
