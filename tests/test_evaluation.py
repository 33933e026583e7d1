"""The trainer's evaluation (inference mode, the last-position path, large batches, one pass per
split) scores what a plain evaluation scores: the full forward of every example, one by one
split, computed here in the same run. A later change that makes evaluation cheaper must keep
this test passing: cheaper, never different."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from anchorbench.execution.plan import Request, make_plan
from anchorbench.registry import METRICS
from anchorbench.training.loop import Trainer


def plain_evaluation(model: torch.nn.Module, dataset, eval_size: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split: argmax and loss of the label from the full logits [B, T, V], 64 examples at a time."""
    out = {}
    model.eval()
    with torch.no_grad():
        for name, split in dataset.splits.items():
            x = torch.from_numpy(split.tokens[:eval_size].astype(np.int64))
            y = torch.from_numpy(split.labels[:eval_size].astype(np.int64))
            preds, losses = [], []
            context_only = "context_only" in split.meta  # argmax over the example's own input tokens
            for i in range(0, len(x), 64):
                logits = model(x[i : i + 64])[:, -1]  # [b, V]: every position computed, the last one read
                if context_only:
                    allowed = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, x[i : i + 64], True)
                    preds.append(logits.masked_fill(~allowed, float("-inf")).argmax(-1))
                else:
                    preds.append(logits.argmax(-1))
                losses.append(F.cross_entropy(logits, y[i : i + 64], reduction="none"))
            out[name] = (torch.cat(preds).numpy(), torch.cat(losses).numpy())
    model.train()
    return out


@pytest.mark.parametrize("task, model", [("anchor-composite-v1", None), ("matching-chain-v2", None),
                                         ("modular-addition-v1", None), ("anchor-identity-v1", "lstm")])  # fmt: skip
def test_the_trainers_evaluation_equals_a_plain_one(task: str, model: str | None) -> None:
    sets = ("train.steps=30", "train.warmup_steps=5", "train.eval_every=30", "train.threads=1", "train.eval_size=300")
    sets += ("task.n_train=2000", "task.n_test=300") if not task.startswith("modular") else ()
    plan = make_plan(Request(task, model=model, sets=sets)).entries[0]
    dataset = plan.task.family_obj.generate(plan.params, 0)
    metrics = [METRICS.get(m) for m in plan.task.scores]
    trainer = Trainer(plan.build_model(0), dataset, plan.train, seed=0, metrics=metrics, progress=False)
    final = trainer.fit().final  # trained a little, so predictions are not all one token
    plain = plain_evaluation(trainer.model, dataset, plan.train.eval_size)
    for name, (preds, losses) in plain.items():
        assert np.array_equal(final[name].preds, preds), name
        np.testing.assert_allclose(final[name].losses, losses, rtol=1e-4, atol=1e-5, err_msg=name)
    assert len({int(p) for p in final["train"].preds}) > 1
