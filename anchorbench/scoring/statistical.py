"""[AF] statistical output: scores against the rule's distribution, not the argmax.

The anchor-statistical test split holds every input twice, labelled x and x+1, with
``meta.p_label`` the rule's probability of that label (0.8 and 0.2). A row's loss is
-log q(label), q the model's softmax, so per input the divergence from the rule is
sum over its two rows of t (log t + loss), t = p_label: KL(rule || model) over the answers x,
x+1 and everything else (the rule gives "everything else" 0). A model that always answers x
has the same argmax accuracy as one that learned 0.8 / 0.2, and a divergence of about
0.2 log(0.2 / q(x+1)) instead of 0.
"""

from __future__ import annotations

import numpy as np

from anchorbench.scoring.evaluation import Evaluation
from anchorbench.scoring.metric import metric
from anchorbench.scoring.tolerance import mean_loss, proportion


@metric(
    "distribution_divergence",
    "lower",
    "KL(rule || model) on the test inputs, in nats: 0 when the model gives x and x+1 the rule's probabilities",
    bounds=(0, None),
    tolerance=mean_loss("test"),
)
def distribution_divergence(ev: Evaluation) -> float:
    s = ev["test"]
    t = s.split.meta["p_label"].astype(np.float64)
    return float((t * (np.log(t) + s.example_losses)).sum() / t.sum())


@metric(
    "p_x_error",
    "lower",
    "|mean model probability of x - the rule's p_x| on the test inputs",
    bounds=(0, 1),
    tolerance=proportion("test"),
)
def p_x_error(ev: Evaluation) -> float:
    s = ev["test"]
    t = s.split.meta["p_label"]
    x_rows = s.split.groups == 0  # group 0: labelled x
    return float(abs(np.exp(-s.example_losses[x_rows]).mean() - t[x_rows].mean()))


@metric(
    "mode_accuracy",
    "higher",
    "share of test inputs whose argmax is the rule's more likely answer (argmax alone: blind to the distribution)",
    bounds=(0, 1),
    tolerance=proportion("test"),
)
def mode_accuracy(ev: Evaluation) -> float:
    s = ev["test"]
    likely = s.split.meta["p_label"] > 0.5
    return float((s.preds[likely] == s.split.labels[likely]).mean())
