"""anchor-statistical-v1: the scores read the model's distribution, not only its argmax."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from anchorbench.config import TrainConfig
from anchorbench.registry import METRICS, TASKS
from anchorbench.training.loop import Evaluator

TASK = "anchor-statistical-v1"


class Answers(nn.Module):
    """Reads the key after anchor 3 and puts probability ``q`` on x and ``1 - q`` on x+1
    (``q`` = 1: a model that always answers x, with a floor of e^-30 on every other token)."""

    def __init__(self, vocab_size: int, q: float):
        super().__init__()
        self.vocab_size, self.q = vocab_size, q

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, T, V]
        rows = torch.arange(len(tokens))
        key = tokens[rows, (tokens == 3).int().argmax(1) + 1]
        logits = torch.full((len(tokens), tokens.shape[1], self.vocab_size), -30.0)
        logits[rows, -1, key] = math.log(self.q) if self.q < 1 else 0.0
        if self.q < 1:
            logits[rows, -1, key + 1] = math.log(1 - self.q)
        return logits


def scores(q: float, seed: int = 0) -> dict[str, float]:
    spec = TASKS.get(TASK)
    params = spec.resolve_params({})
    ds = spec.family_obj.generate(params, seed)
    ev = Evaluator(ds, TrainConfig(eval_size=10_000), torch.device("cpu"))(Answers(params.vocab_size, q), 0)
    return {name: METRICS.get(name)(ev) for name in spec.scores}


def test_always_x_scores_clearly_worse_than_the_rule_though_its_argmax_is_the_same():
    always_x, rule, half = scores(1.0), scores(0.8), scores(0.5)
    # argmax: x for all three (0.5 / 0.5 ties go to the first index, x)
    assert always_x["mode_accuracy"] == rule["mode_accuracy"] == 1.0
    assert rule["distribution_divergence"] == pytest.approx(0.0, abs=1e-6)
    assert rule["p_x_error"] == pytest.approx(0.0, abs=1e-6)
    # always x: KL = 0.8 log(0.8 / q(x)) + 0.2 log(0.2 / q(x+1)), q(x) ~ 1, q(x+1) ~ e^-30: 5.50 nats
    kl = 0.8 * math.log(0.8) + 0.2 * (math.log(0.2) + 30)
    assert always_x["distribution_divergence"] == pytest.approx(kl, rel=1e-4)
    assert always_x["p_x_error"] == pytest.approx(0.2, abs=1e-6)
    # 0.5 / 0.5 is in between: KL((0.8, 0.2) || (0.5, 0.5)) = 0.193 nats
    want = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert half["distribution_divergence"] == pytest.approx(want, rel=1e-5)
    assert rule["distribution_divergence"] < half["distribution_divergence"] < always_x["distribution_divergence"]


def test_the_training_set_holds_each_input_in_the_rule_s_shares():
    spec = TASKS.get(TASK)
    params = spec.resolve_params({})
    train = spec.family_obj.generate(params, 0).splits["train"]
    _, inverse, counts = np.unique(train.tokens, axis=0, return_inverse=True, return_counts=True)
    x_labels = np.bincount(inverse.ravel(), weights=train.groups == 0)
    assert (counts % 5 == 0).all() and np.allclose(x_labels / counts, 0.8)
    assert len(counts) == 600  # 3000 sequences: 600 inputs x 5 copies


def test_verify_catches_a_flipped_label():
    spec = TASKS.get(TASK)
    params = spec.resolve_params({})
    ds = spec.family_obj.generate(params, 0)
    assert spec.family_obj.verify(ds, params) == []
    labels = ds.splits["train"].labels
    labels[0] += 1  # the first copy of the first input: x -> x+1; its group and p_label now disagree
    assert spec.family_obj.verify(ds, params)
