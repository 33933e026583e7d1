"""The model contract: shapes, causality, trainability, configs, lazy registration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from anchorbench.registry import MODELS

VOCAB, SEQ_LEN, BATCH = 20, 5, 4

# Tiny sizes so every test runs in well under a second on a shared CPU.
TINY: dict[str, dict[str, object]] = {
    "transformer": {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64},
    "lstm": {"d_model": 16, "hidden": 32, "n_layers": 1},
    "mlp": {"d_embed": 8, "d_hidden": 32, "n_layers": 1},
    "gru": {"d_model": 16, "hidden": 32, "n_layers": 1},
    "linear-attention": {"d_model": 32, "n_layers": 2, "d_ff": 64},
    "selective-ssm": {"d_model": 32, "n_layers": 2, "d_ff": 64, "d_state": 4},
    "rwkv": {"d_model": 32, "n_layers": 2, "d_ff": 64},
    "hyena": {"d_model": 32, "n_layers": 2, "d_ff": 64, "filter_hidden": 16},
}
ZOO = ["gru", "linear-attention", "selective-ssm", "rwkv", "hyena"]  # the architecture zoo (tests/test_zoo.py)
NORMS = ["pre", "post", "none"]
# (model name, extra kwargs): every built-in model, the transformer with every norm placement.
VARIANTS = [("transformer", {"norm": norm}) for norm in NORMS] + [("lstm", {})] + [(z, {}) for z in ZOO] + [("mlp", {})]
VARIANT_IDS = [f"transformer-{norm}" for norm in NORMS] + ["lstm", *ZOO, "mlp"]


def build(name: str, seed: int = 0, **kwargs: object) -> nn.Module:
    torch.manual_seed(seed)
    return MODELS.get(name)(vocab_size=VOCAB, seq_len=SEQ_LEN, **{**TINY[name], **kwargs})


def random_tokens(batch: int = BATCH, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB, (batch, SEQ_LEN), generator=generator)  # token 0 is padding


def test_builtin_models_are_registered() -> None:
    assert {"transformer", "lstm", "mlp", *ZOO} <= set(MODELS.names())
    assert MODELS.entry("transformer").meta["description"]


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_output_shape_and_finite(name: str, kwargs: dict[str, object]) -> None:
    logits = build(name, **kwargs)(random_tokens())
    expected_t = 1 if name == "mlp" else SEQ_LEN
    assert logits.shape == (BATCH, expected_t, VOCAB)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(("name", "kwargs"), [v for v in VARIANTS if v[0] != "mlp"], ids=VARIANT_IDS[:-1])
def test_causal(name: str, kwargs: dict[str, object]) -> None:
    model = build(name, **kwargs)
    tokens = random_tokens()
    changed = tokens.clone()
    t = 2
    changed[:, t] = changed[:, t] % (VOCAB - 1) + 1  # a different non-padding token
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert torch.allclose(before[:, :t], after[:, :t], atol=1e-6)  # the past does not see the future
    assert not torch.allclose(before[:, t], after[:, t])  # but position t does see token t


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_few_adamw_steps_reduce_loss_on_copy_task(name: str, kwargs: dict[str, object]) -> None:
    # Copy task: the label is the first token; only the last position is scored, as in training.
    model = build(name, **kwargs)
    tokens = random_tokens(batch=64)
    labels = tokens[:, 0]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        return nn.functional.cross_entropy(model(tokens)[:, -1], labels)

    initial = loss().item()
    for _ in range(15):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < 0.8 * initial


@pytest.mark.parametrize("name", ["transformer", "lstm", "mlp", *ZOO])
def test_same_seed_identical_initial_weights(name: str) -> None:
    a, b, c = build(name, seed=3), build(name, seed=3), build(name, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def count_layernorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.LayerNorm) for m in model.modules())


def test_norm_placement_modules() -> None:
    assert count_layernorms(build("transformer", norm="none")) == 0
    pre = build("transformer", norm="pre")
    assert isinstance(pre.ln_f, nn.LayerNorm) and count_layernorms(pre) == 2 * 2 + 1
    post = build("transformer", norm="post")
    assert post.ln_f is None and count_layernorms(post) == 2 * 2


def test_submodule_names_and_qkv_layout() -> None:
    model = build("transformer")  # d_model 32, 2 heads -> d_head 16
    attn = model.blocks[1].attn
    assert attn.qkv.weight.shape == (3 * 2 * 16, 32) and attn.out.weight.shape == (
        32,
        2 * 16,
    )
    assert isinstance(model.blocks[0].ffn, nn.Module)
    w_q, w_k, w_v = attn.head_weights()
    assert w_q.shape == (2, 16, 32)
    assert torch.equal(w_k[1], attn.qkv.weight[2 * 16 + 16 : 2 * 16 + 32])  # K block, head 1
    assert torch.equal(w_v[0], attn.qkv.weight[4 * 16 : 5 * 16])


@pytest.mark.parametrize("name", ["transformer", "lstm", "mlp", *ZOO])
def test_unknown_config_key_raises(name: str) -> None:
    with pytest.raises(ValidationError):
        build(name, dropout=0.1)


def test_transformer_config_defaults() -> None:
    config = MODELS.get("transformer").Config
    assert config().d_ff == 3 * 128 and config().d_head == 128
    assert config(d_model=64).d_ff == 192
    assert config(d_model=400, d_ff=1200).d_ff == 1200
    assert config(d_model=64, n_heads=4).d_head == 16
    assert config(d_model=10, n_heads=3, d_head=4).d_head == 4  # explicit d_head need not divide


@pytest.mark.parametrize(
    "bad",
    [
        {"d_model": 10, "n_heads": 3},
        {"norm": "sandwich"},
        {"init_rate": -0.1},
        {"n_layers": 0},
    ],
)
def test_invalid_transformer_config_raises(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MODELS.get("transformer").Config(**bad)


def test_transformer_rejects_sequences_longer_than_max_len() -> None:
    model = build("transformer")
    with pytest.raises(ValueError, match="max_len"):
        model(torch.ones(1, SEQ_LEN + 1, dtype=torch.long))
    longer = build("transformer", max_len=8)
    assert longer(torch.ones(1, 8, dtype=torch.long)).shape == (1, 8, VOCAB)


def test_baseline_distribution_without_rate_raises() -> None:
    with pytest.raises(ValidationError):
        MODELS.get("lstm").Config(init_distribution="uniform")


def test_importing_models_does_not_import_torch() -> None:
    root = Path(__file__).resolve().parents[1]
    code = "import sys, anchorbench.models; assert 'torch' not in sys.modules, 'torch was imported'"
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_tied_embeddings_share_one_matrix_and_still_train() -> None:
    from anchorbench.models.transformer import Transformer

    torch.manual_seed(0)
    tied = Transformer(30, 5, d_model=16, tie_embeddings=True)
    untied = Transformer(30, 5, d_model=16)
    assert tied.head.weight is tied.tok_emb.weight
    n = sum(p.numel() for p in tied.parameters())
    assert n == sum(p.numel() for p in untied.parameters()) - 30 * 16
    x = torch.randint(1, 30, (8, 5))
    loss = torch.nn.functional.cross_entropy(tied(x)[:, -1], x[:, 0])
    loss.backward()
    assert tied.tok_emb.weight.grad is not None and tied.tok_emb.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("norm", ["pre", "post", "none"])
def test_last_only_forward_equals_the_last_position_of_the_full_forward(norm) -> None:
    from anchorbench.models.transformer import Transformer

    torch.manual_seed(0)
    m = Transformer(40, 7, d_model=32, n_layers=3, n_heads=2, norm=norm)
    x = torch.randint(1, 40, (5, 7))
    out = m(x, last_only=True)
    assert out.shape == (5, 1, 40)
    assert torch.allclose(out[:, -1], m(x)[:, -1], atol=1e-5)
