"""A small decoder-only transformer, as used by [AF], [INIT] and [MATCH].

nanoGPT-shaped and deliberately plain: token embedding + learned position embedding,
``n_layers`` blocks of causal self-attention and a two-layer FFN, a linear head. The three
knobs the papers study are explicit config fields:

* ``norm``: where LayerNorm sits ("post" as in the papers, "pre" as in GPT-2, or "none"),
* ``init_rate`` / ``init_distribution``: the initialization rate gamma of [INIT]
  (see :func:`anchorbench.models.init.apply_init_rate`),
* ``n_layers`` / ``n_heads`` / ``d_model`` / ``d_ff``: the size.

There is no dropout: runs must be deterministic, and the papers train without it.

Shapes in comments: B batch, T sequence length, C = d_model, H = n_heads, D = d_head,
V = vocab_size.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from torch import nn

from anchorbench.models.init import apply_init_rate, init_bound, init_weight, reference_scale, scale_summary

NormPlacement = Literal["pre", "post", "none"]
Activation = Literal["relu", "gelu"]


class TransformerConfig(BaseModel):
    """Hyperparameters of :class:`Transformer` (everything except vocab_size and seq_len).

    ``d_head`` and ``d_ff`` are resolved on validation, so ``TransformerConfig().d_ff == 384``
    and a dumped config states the sizes that were actually built.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The [MATCH] init knobs came after runs were recorded: at these values they are left out of
    # a run's recorded config and its hash (anchorbench.config.hashed), so earlier runs keep theirs.
    HASH_ONLY_IF_SET: ClassVar[dict] = {
        "embedding_fan_in": "d_model",
        "head_bias_init": "zero",
        "init_reference_width": None,
    }

    n_layers: int = Field(2, ge=1, description="number of transformer blocks")
    n_heads: int = Field(1, ge=1, description="attention heads per block")
    d_model: int = Field(128, ge=1, description="residual stream width")
    d_head: int | None = Field(
        None,
        ge=1,
        validate_default=True,
        description="width of one head; None -> d_model // n_heads",
    )
    d_ff: int | None = Field(
        None,
        ge=1,
        validate_default=True,
        description="FFN hidden width; None -> 3 * d_model ([AF]: 1200 for 400)",
    )
    norm: NormPlacement = Field("post", description="LayerNorm placement: post (papers), pre (GPT-2) or none")
    activation: Activation = Field("relu", description="FFN nonlinearity")
    bias: bool = Field(
        False,
        description="biases in the attention and FFN linears ([AF] code has none)",
    )
    init_distribution: Literal["normal", "uniform"] = Field(
        "normal", description="normal: std d_in^-gamma; uniform: bound (6/d_in)^gamma"
    )
    init_rate: float = Field(
        0.5,
        ge=0,
        allow_inf_nan=False,
        description="initialization rate gamma; larger = smaller init",
    )
    init_reference_width: int | None = Field(
        None,
        ge=1,
        description="give every weight the init scale it would have at this d_model (e.g. 400: [INIT]'s "
        "gamma 0.8 is std 0.0083 at any width); None: the scale of gamma at this model's own width",
    )
    max_len: int | None = Field(None, ge=1, description="rows of the learned position table; None -> seq_len")
    tie_embeddings: bool = Field(
        False, description="the head reuses the token embedding (GPT-2 style): can emit tokens never trained as labels"
    )
    freeze_embeddings: bool = Field(
        False, description="keep token embeddings at their random init: unseen tokens then look like seen ones"
    )
    head_bias: bool = Field(True, description="a bias per output token in the head (the [AF] code has one)")
    # Two details of the [MATCH] code's init (its gamma formula applied with PyTorch's fan-in):
    embedding_fan_in: Literal["d_model", "rows"] = Field(
        "d_model",
        description="d_in of the embedding tables in the gamma init: d_model ([INIT]), or their rows "
        "(vocab_size for tokens, max_len for positions: the [MATCH] code, where positions dominate at init)",
    )
    head_bias_init: Literal["zero", "torch"] = Field(
        "zero", description="zero, or PyTorch's default U(+-1/sqrt(d_model)) (the [MATCH] code's head bias)"
    )

    @model_validator(mode="after")
    def _tied_embeddings_cannot_be_frozen(self) -> TransformerConfig:
        # tied, the head *is* the token table: freezing it would silently freeze the head too
        if self.tie_embeddings and self.freeze_embeddings:
            raise ValueError(
                "tie_embeddings and freeze_embeddings exclude each other: a tied head is the token table, "
                "so freezing the embeddings would freeze the head"
            )
        return self

    @field_validator("d_head")
    @classmethod
    def _resolve_d_head(cls, d_head: int | None, info: ValidationInfo) -> int | None:
        if d_head is not None:
            return d_head
        d_model, n_heads = info.data.get("d_model"), info.data.get("n_heads")
        if d_model is None or n_heads is None:  # already reported as invalid
            return None
        if d_model % n_heads != 0:
            raise ValueError(
                f"d_model={d_model} is not divisible by n_heads={n_heads}; set d_head explicitly or change them"
            )
        return d_model // n_heads

    @field_validator("d_ff")
    @classmethod
    def _resolve_d_ff(cls, d_ff: int | None, info: ValidationInfo) -> int | None:
        if d_ff is not None:
            return d_ff
        d_model = info.data.get("d_model")
        return None if d_model is None else 3 * d_model


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused QKV projection.

    Layout of ``qkv.weight`` (shape ``[3 * H * D, C]``): rows ``[0, H*D)`` are W_Q, rows
    ``[H*D, 2*H*D)`` W_K, rows ``[2*H*D, 3*H*D)`` W_V; inside each block head h owns the
    contiguous rows ``[h*D, (h+1)*D)``. :meth:`head_weights` returns these slices.
    ``out.weight`` (shape ``[C, H * D]``) takes the heads concatenated in the same order, so
    W_O of head h is ``out.weight[:, h*D:(h+1)*D]``.
    """

    def __init__(self, d_model: int, n_heads: int, d_head: int, bias: bool) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_head
        # One matmul instead of three: noticeably faster for small models on CPU.
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head, bias=bias)
        self.out = nn.Linear(n_heads * d_head, d_model, bias=bias)

    def head_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """W_Q, W_K, W_V as views of shape ``[H, D, C]`` (per head, rows act on the residual)."""
        w = self.qkv.weight.view(3, self.n_heads, self.d_head, -1)
        return w[0], w[1], w[2]

    def attention_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The scores before the mask and softmax, ``[B, H, T, T]`` (for probes)."""
        B, T, _ = x.shape
        q, k, _ = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        return q @ k.transpose(-1, -2) / self.d_head**0.5

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention pattern ``[B, H, T, T]`` for input ``x`` (for probes; forward never builds it)."""
        T = x.shape[1]
        scores = self.attention_scores(x)  # [B, H, T, T]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        B, T, _ = x.shape
        # [B, T, 3*H*D] -> [B, T, 3, H, D] -> [3, B, H, T, D]; the view follows the weight layout.
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        if last_only:  # the last query sees every position: no mask needed
            y = F.scaled_dot_product_attention(q[:, :, -1:], k, v)  # [B, H, 1, D]
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, D], scale 1/sqrt(D)
        y = y.transpose(1, 2).reshape(B, y.shape[2], self.n_heads * self.d_head)  # heads concatenated
        return self.out(y)  # [B, T or 1, C]


class Block(nn.Module):
    """One transformer block; ``norm`` decides where (and whether) LayerNorm is applied."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        assert cfg.d_head is not None and cfg.d_ff is not None  # resolved by the config
        self.norm = cfg.norm
        self.attn = CausalSelfAttention(cfg.d_model, cfg.n_heads, cfg.d_head, cfg.bias)
        act = nn.ReLU() if cfg.activation == "relu" else nn.GELU()
        self.ffn = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias),
            act,
            nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias),
        )
        if cfg.norm != "none":  # "none" has no LayerNorm modules at all
            self.ln1 = nn.LayerNorm(cfg.d_model)
            self.ln2 = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """[B, T, C] -> [B, T, C], or [B, 1, C] for the last position only (keys see all of x)."""
        res = x[:, -1:] if last_only else x  # the residual stream that leaves the block
        if self.norm == "post":  # [AF]/[INIT]/[MATCH]: normalize after the residual add
            x = self.ln1(res + self.attn(x, last_only))
            x = self.ln2(x + self.ffn(x))
        elif self.norm == "pre":  # GPT-2: normalize the branch input, keep the stream raw
            x = res + self.attn(self.ln1(x), last_only)
            x = x + self.ffn(self.ln2(x))
        elif self.norm == "none":
            x = res + self.attn(x, last_only)
            x = x + self.ffn(x)
        else:
            raise ValueError(f"unknown norm placement '{self.norm}'")
        return x


class Transformer(nn.Module):
    """Decoder-only transformer: ``forward(tokens [B, T]) -> logits [B, T, V]`` (causal)."""

    Config = TransformerConfig
    accepts = ("tokens",)  # token objectives (anchorbench.training.objectives)

    def __init__(self, vocab_size: int, seq_len: int, **kwargs: object) -> None:
        super().__init__()
        cfg = self.Config(**kwargs)
        self.config = cfg
        self.vocab_size = vocab_size
        self.seq_len = seq_len
        self.max_len = cfg.max_len if cfg.max_len is not None else seq_len
        if self.max_len < seq_len:
            raise ValueError(f"max_len={self.max_len} is shorter than seq_len={seq_len}")

        self.tok_emb = nn.Embedding(vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(self.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        # Post-LN already ends every block with a LayerNorm; pre-LN needs one before the head.
        self.ln_f = nn.LayerNorm(cfg.d_model) if cfg.norm == "pre" else None
        self.head = nn.Linear(cfg.d_model, vocab_size, bias=cfg.head_bias)  # biased by default, as the [AF] code

        fan_in_scale = reference_scale(cfg.d_model, cfg.init_reference_width)
        apply_init_rate(self, cfg.init_rate, cfg.init_distribution, fan_in_scale)
        with torch.no_grad():
            # d_in = the table's rows, as nn.Embedding's weight.T would have; they do not grow with
            # the width, so init_reference_width leaves them as they are.
            if cfg.embedding_fan_in == "rows":
                for table in (self.tok_emb, self.pos_emb):
                    bound = init_bound(table.num_embeddings, cfg.init_rate, cfg.init_distribution)
                    init_weight(table.weight, bound, cfg.init_distribution)
            if cfg.head_bias_init == "torch" and self.head.bias is not None:
                nn.init.uniform_(self.head.bias, -(cfg.d_model**-0.5), cfg.d_model**-0.5)
        if cfg.tie_embeddings:
            # logit_t = h . E_t (+ b_t): a token never seen as a label can still win if the
            # model copies its embedding forward, which OOD matching needs ([MATCH] ood split).
            self.head.weight = self.tok_emb.weight
        if cfg.freeze_embeddings:
            # Adam moves even never-used rows (tiny but consistent gradients through the
            # softmax); frozen, an OOD token's embedding is a random vector like the rest.
            self.tok_emb.weight.requires_grad_(False)

    def init_summary(self) -> dict[str, float | int | None]:
        """The init scale as built (:func:`scale_summary`); recorded in every result (``model.init``)."""
        cfg = self.config
        return scale_summary(cfg.init_rate, cfg.init_distribution, cfg.d_model, cfg.init_reference_width)

    # Training and scoring need only the last position; forward(last_only=True) skips the
    # last block's output projection, FFN and head at every other position (~25-33% of a step).
    supports_last_only = True

    def forward(self, tokens: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Logits ``[B, T, V]``, or ``[B, 1, V]`` for the last position when ``last_only``."""
        x = self.embed(tokens)  # [B, T, C]
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, last_only=last_only and i == last)  # [B, T, C] ([B, 1, C] after a last_only block)
        if self.ln_f is not None:
            x = self.ln_f(x)
        return self.head(x)  # [B, T, V]

    def token_embedding(self) -> nn.Embedding:
        """The table of token embeddings ``[V, C]`` (the fourier probe reads the number tokens' rows)."""
        return self.tok_emb

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token plus position embeddings: ``[B, T] -> [B, T, C]``."""
        T = tokens.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds the position table (max_len={self.max_len})")
        positions = torch.arange(T, device=tokens.device)  # [T]
        return self.tok_emb(tokens) + self.pos_emb(positions)  # [B, T, C] (+ [T, C] broadcast)

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream after each block, ``[B, T, C]`` per layer in depth order (what the
        integration-windows probe measures; a plug-in opts in with a method of this name)."""
        x = self.embed(tokens)
        states = []
        for block in self.blocks:
            x = block(x)  # [B, T, C]
            states.append(x)
        return states
