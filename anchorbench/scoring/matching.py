"""[MATCH] reasoning scores: how many hops a model solves."""

from __future__ import annotations

import numpy as np

from anchorbench.scoring.accuracy import split_accuracy
from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import COUNT, proportion

SOLVED = 0.9  # accuracy at which a hop count counts as solved


def accuracy_per_hops(ev: Evaluation, split: str = "test") -> dict[int, float]:
    s = ev[split]
    hops = s.split.meta["hops"]
    return {int(k): float(s.correct[hops == k].mean()) for k in np.unique(hops)}


@metric(
    "max_hops_solved",
    "higher",
    f"largest k such that every hop count up to k reaches test accuracy >= {SOLVED} (0: none)",
    bounds=(0, None),
    tolerance=COUNT,
)
def max_hops_solved(ev: Evaluation) -> float:
    """Over the hop counts the task asks (all of 1..K for matching-order, one k for
    matching-chain): the largest k such that it and every smaller asked k are solved."""
    solved = 0
    for k, acc in sorted(accuracy_per_hops(ev).items()):
        if acc < SOLVED:
            break
        solved = k
    return float(solved)


# [MATCH] v2 OOD diagnostics (anchorbench/data/matching.py: the code rule and its two extra splits)
ood_unseen_accuracy = split_accuracy(
    "ood_unseen", "every node id unseen, label included; predictions restricted to the input's tokens (open problem)"
)
ood_query_accuracy = split_accuracy(
    "ood_query", "an in-range chain whose query alone is an unseen id: first-hop matching on an untrained token"
)


@metric(
    "ood_shortcut_accuracy",
    "higher",
    "not the model's: what guessing one of the input's trained-range ids (not the query) scores on the ood "
    "split: 0.5 for k >= 2 (the paper's ~52% OOD plateau), 1.0 for k = 1; read ood_accuracy against it",
    bounds=(0, 1),
    tolerance=proportion("ood"),
    of_data=True,
)
def ood_shortcut_accuracy(ev: Evaluation) -> float:
    return float(ev["ood"].split.meta["shortcut_chance"].mean())
