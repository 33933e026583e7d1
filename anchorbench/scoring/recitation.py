"""[AF] recitation: test accuracy per direction (the test split's groups forward and reverse)."""

from __future__ import annotations

from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import proportion


def _direction_accuracy(ev: Evaluation, direction: str) -> float:
    s = ev["test"]
    rows = s.split.groups == ev.group_names.index(direction)
    return float(s.correct[rows].mean())


@metric("forward_accuracy", "higher", "test accuracy when the cue is a and the answer b (what came after)",
        bounds=(0, 1), tolerance=proportion("test"))  # fmt: skip
def forward_accuracy(ev: Evaluation) -> float:
    return _direction_accuracy(ev, "forward")


@metric("reverse_accuracy", "higher", "test accuracy when the cue is b and the answer a (what came before)",
        bounds=(0, 1), tolerance=proportion("test"))  # fmt: skip
def reverse_accuracy(ev: Evaluation) -> float:
    return _direction_accuracy(ev, "reverse")
