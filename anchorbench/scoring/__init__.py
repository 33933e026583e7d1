"""Metrics and scores. Importing this package registers the built-in metrics."""

from anchorbench.scoring import (  # noqa: F401  (registration on import)
    accuracy,
    condensation,
    frequency,
    kernels,
    matching,
    noise_geometry,
    power_laws,
    reasoning,
    recitation,
    statistical,
    text,
    windows,
)
from anchorbench.scoring.evaluation import Evaluation, SplitEval
from anchorbench.scoring.metric import Metric, metric

__all__ = ["Evaluation", "Metric", "SplitEval", "metric"]
