"""[INIT] reasoning scores on the held-out pair (4,3) of anchor-composite.

The ``unseen`` split is labelled with the inferential value (x - 10 for (4,3)); its meta
field ``symmetric`` holds the value a model gets by copying the mirrored pair (x - 6).
"""

from __future__ import annotations

from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import proportion


@metric(
    "inferential_accuracy",
    "higher",
    "held-out pair predicted as the composition (reasoning)",
    bounds=(0, 1),
    tolerance=proportion("unseen"),
)
def inferential_accuracy(ev: Evaluation) -> float:
    return ev["unseen"].accuracy()


@metric(
    "symmetric_accuracy",
    "lower",
    "held-out pair predicted as its mirrored, trained pair (memorizing)",
    bounds=(0, 1),
    tolerance=proportion("unseen"),
)
def symmetric_accuracy(ev: Evaluation) -> float:
    s = ev["unseen"]
    return float((s.preds == s.split.meta["symmetric"]).mean())
