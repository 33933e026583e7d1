"""The hand-written [AF] identity loop and anchorbench configured like it (anchorbench/training/paper_loops.py):
what `anchorbench bench --only paper` compares. Correctness only; the timing lives in the bench."""

from __future__ import annotations

import math

import pytest
import torch

from anchorbench import bench
from anchorbench.config import TrainConfig
from anchorbench.training.paper_loops import (
    PaperGPT,
    PaperSizes,
    anchorbench_identity_workload,
    anchorbench_paper_model,
    eval_period_epochs,
    paper_identity_workload,
    paper_lr,
)

TINY = PaperSizes(d_model=32, d_ff=96, d_k=8, d_v=8, n_layers=1, n_heads=2)


def paper_parameter_count(s: PaperSizes) -> int:
    """By hand from model/GPT.py of the [AF] code."""
    embeddings = s.vocab_size * s.d_model + s.max_pos * s.d_model  # token table, 20-row position table
    attention = 2 * s.d_model * s.n_heads * s.d_k + s.d_model * s.n_heads * s.d_v  # W_Q, W_K, W_V (no bias)
    attention += s.n_heads * s.d_v * s.d_model  # fc (no bias)
    ffn = 2 * s.d_model * s.d_ff  # two linears, no bias
    norms = 2 * 2 * s.d_model  # a LayerNorm (weight, bias) after attention and after the FFN
    head = s.d_model * s.vocab_size + s.vocab_size  # projection with bias, untied
    return embeddings + s.n_layers * (attention + ffn + norms) + head


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_model_has_the_papers_parameter_count_and_anchorbench_matches_it() -> None:
    sizes = PaperSizes()
    assert paper_parameter_count(sizes) == 5_653_801
    assert n_params(PaperGPT(sizes)) == 5_653_801
    assert n_params(anchorbench_paper_model(sizes, seq_len=9)) == 5_653_801


def test_paper_model_is_causal() -> None:
    torch.manual_seed(0)
    model = PaperGPT(TINY)
    x = torch.randint(20, 100, (3, 9))
    y = x.clone()
    y[:, -1] = 50 if int(x[0, -1]) != 50 else 51
    a, b = model(x), model(y)  # [B, T, V]
    assert a.shape == (3, 9, 201)
    assert torch.allclose(a[:, :-1], b[:, :-1])
    assert not torch.allclose(a[:, -1], b[:, -1])


def test_paper_lr_is_what_warmup_scheduler_and_cosine_give() -> None:
    # GradualWarmupScheduler(multiplier=10, total_epoch=400, after_scheduler=CosineAnnealingLR(T_max=4000,
    # eta_min=2e-5)) on AdamW(lr=2e-5), stepped once per epoch: warmup-scheduler 0.3 (PyPI), torch 2.13.
    measured = {0: 2e-05, 1: 2.045e-05, 399: 1.9955e-04, 400: 2e-04, 401: 2.0000002775826526e-04,
                1000: 1.9022267938876048e-04, 2000: 1.3787876531115331e-04, 3999: 2.444870604857242e-05}  # fmt: skip
    for epoch, lr in measured.items():
        assert paper_lr(epoch) == pytest.approx(lr, rel=1e-6), epoch


def test_hand_written_loop_trains_an_epoch() -> None:
    work = paper_identity_workload(1, n_train=200, sizes=TINY)  # 4 steps of 50, 10 test batches
    before = [p.detach().clone() for p in work.model.parameters()]
    (first,) = work()
    assert all(math.isfinite(x) and 0 < x < 10 for x in first)  # near ln(201) = 5.3 at the start
    assert all(not torch.equal(p, q) for p, q in zip(before, work.model.parameters()))
    assert work.optimizer.param_groups[0]["lr"] == pytest.approx(paper_lr(1))  # stepped once per epoch
    (second,) = work()  # the next call continues the same run
    assert work.optimizer.param_groups[0]["lr"] == pytest.approx(paper_lr(2))
    assert second[1] < first[1]  # the test loss (same examples every epoch) goes down, if slowly at lr 2e-5


def test_anchorbench_side_runs_with_the_default_evaluation() -> None:
    fit = anchorbench_identity_workload(1, n_train=100, sizes=TINY)  # 1 epoch of 100 / 50 = 2 steps
    cfg, defaults = fit.__self__.cfg, TrainConfig()
    assert (cfg.steps, cfg.batch_size, cfg.grad_clip, cfg.weight_decay) == (2, 50, 1.0, 0.01)
    for key in ("eval_schedule", "eval_every", "eval_size", "eval_batch_size", "checkpoint_every", "compile"):
        if key in TrainConfig.model_fields:
            assert getattr(cfg, key) == getattr(defaults, key), key
    for _ in range(2):  # every call does the same work
        outcome = fit()
        assert outcome.status == "completed" and outcome.steps_completed == 2


def test_differencing_spans_whole_evaluation_periods() -> None:
    assert eval_period_epochs() == 5  # eval every 100 steps, 20 steps per epoch
    assert eval_period_epochs(30) == 10  # lcm(100, 30) = 300 steps
    assert "paper" in bench.BENCHMARKS
