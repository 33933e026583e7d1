"""Generic per-split metrics: the accuracy and the mean loss of the label on one split
(every task has a train and a test split; some add ``unseen`` or ``ood``)."""

from __future__ import annotations

from anchorbench.scoring.metric import Metric, metric
from anchorbench.scoring.tolerance import mean_loss, proportion


def split_accuracy(split: str, description: str, name: str | None = None) -> Metric:
    """Register ``<split>_accuracy`` (or ``name``, where a task gives the split a meaning of its own);
    its tolerance is a binomial band over the split's examples."""
    name = name or f"{split}_accuracy"
    return metric(name, "higher", description, bounds=(0, 1), tolerance=proportion(split))(
        lambda ev: ev[split].accuracy()
    )


def split_loss(split: str, description: str) -> Metric:
    """Register ``<split>_loss``; its tolerance is the standard error of a mean over the split."""
    return metric(f"{split}_loss", "lower", description, bounds=(0, None), tolerance=mean_loss(split))(
        lambda ev: ev[split].loss()
    )


train_accuracy = split_accuracy("train", "accuracy on (the first eval_size examples of) the training set")
test_accuracy = split_accuracy("test", "accuracy on the test split: held-out keys of trained rules")
unseen_accuracy = split_accuracy("unseen", "accuracy on held-out anchor pairs (never trained compositions)")
synonym_accuracy = split_accuracy(
    "unseen",
    "accuracy on the held-out pairs where the synonym anchor stands in for the one it means ([AF] synonym)",
    name="synonym_accuracy",
)
ood_accuracy = split_accuracy("ood", "accuracy on out-of-distribution inputs (e.g. node ids never trained)")
train_loss = split_loss("train", "mean cross-entropy of the label on the training set")
test_loss = split_loss("test", "mean cross-entropy of the label on the test split")
