"""Scores of the real-text tasks: bits per byte, overall and split by recall bytes.

Tokens are bytes, so the mean cross-entropy in nats over every held-out position, divided by
ln 2, is bits per byte (bpb): 8.0 for a model that predicts every byte uniformly. The recall split
(Zoology's analysis) averages the same per-position losses over the bytes an associative-recall
mechanism could copy from the window (``meta["recall"]``, see anchorbench.data.text) and over the
rest.
"""

from __future__ import annotations

import math

import numpy as np

from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import Tolerance

LN2 = math.log(2)
# bpb is a mean loss in other units; a relative band with an absolute floor (bits) across stacks
BPB = Tolerance("relative", rel=0.05, floor=0.05)


def bits(ev: Evaluation, split: str, recall: bool | None = None) -> float:
    """Mean loss over the split's positions (all, the recall bytes, or the others), in bits."""
    s = ev[split]
    losses = s.losses  # [N, T] nats
    if recall is not None:
        mask = np.asarray(s.split.meta["recall"], dtype=bool)
        losses = losses[mask if recall else ~mask]
    return float(losses.mean()) / LN2 if losses.size else math.nan


for split in ("test", "validation"):
    metric(f"{split}_bpb", "lower", f"bits per byte on the held-out {split} split (mean cross-entropy / ln 2)",
           bounds=(0, None), tolerance=BPB)(lambda ev, split=split: bits(ev, split))  # fmt: skip

metric("test_recall_bpb", "lower", "bits per byte on the test split's recall bytes (they complete an n-gram seen "
       "earlier in the window)", bounds=(0, None), tolerance=BPB)(lambda ev: bits(ev, "test", recall=True))  # fmt: skip
metric("test_nonrecall_bpb", "lower", "bits per byte on the test split's other bytes", bounds=(0, None),
       tolerance=BPB)(lambda ev: bits(ev, "test", recall=False))  # fmt: skip
metric("test_recall_share", "higher", "share of the test split's bytes that are recall bytes (a property of the data)",
       bounds=(0, 1), of_data=True)(lambda ev: float(np.asarray(ev["test"].split.meta["recall"]).mean()))  # fmt: skip
