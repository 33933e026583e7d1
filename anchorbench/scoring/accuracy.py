"""Generic per-split metrics (every task has a train and a test split)."""

from __future__ import annotations

from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import mean_loss, proportion


@metric(
    "train_accuracy",
    "higher",
    "accuracy on (the first eval_size examples of) the training set",
    bounds=(0, 1),
    tolerance=proportion("train"),
)
def train_accuracy(ev: Evaluation) -> float:
    return ev["train"].accuracy()


@metric(
    "test_accuracy",
    "higher",
    "accuracy on the test split: held-out keys of trained rules",
    bounds=(0, 1),
    tolerance=proportion("test"),
)
def test_accuracy(ev: Evaluation) -> float:
    return ev["test"].accuracy()


@metric(
    "unseen_accuracy",
    "higher",
    "accuracy on held-out anchor pairs (never trained compositions)",
    bounds=(0, 1),
    tolerance=proportion("unseen"),
)
def unseen_accuracy(ev: Evaluation) -> float:
    return ev["unseen"].accuracy()


@metric(
    "train_loss",
    "lower",
    "mean cross-entropy of the label on the training set",
    bounds=(0, None),
    tolerance=mean_loss("train"),
)
def train_loss(ev: Evaluation) -> float:
    return ev["train"].loss()


@metric(
    "test_loss",
    "lower",
    "mean cross-entropy of the label on the test split",
    bounds=(0, None),
    tolerance=mean_loss("test"),
)
def test_loss(ev: Evaluation) -> float:
    return ev["test"].loss()


@metric(
    "ood_accuracy",
    "higher",
    "accuracy on out-of-distribution inputs (e.g. node ids never trained)",
    bounds=(0, 1),
    tolerance=proportion("ood"),
)
def ood_accuracy(ev: Evaluation) -> float:
    return ev["ood"].accuracy()
