"""What one evaluation produced: per-example predictions and losses, per split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from anchorbench.data.dataset import Split


@dataclass(frozen=True)
class SplitEval:
    split: Split  # the evaluated examples (labels, groups, meta)
    preds: np.ndarray  # [N] argmax token
    losses: np.ndarray  # [N] cross-entropy of the label

    @property
    def correct(self) -> np.ndarray:
        return self.preds == self.split.labels

    def accuracy(self) -> float:
        return float(self.correct.mean())

    def loss(self) -> float:
        return float(self.losses.mean())

    def summary(self, group_names: tuple[str, ...]) -> dict[str, Any]:
        n_groups = len(group_names)
        counts = np.bincount(self.split.groups, minlength=n_groups)
        hits = np.bincount(self.split.groups, weights=self.correct, minlength=n_groups)
        losses = np.bincount(self.split.groups, weights=self.losses, minlength=n_groups)
        groups = {
            name: {
                "accuracy": float(hits[g] / counts[g]),
                "loss": float(losses[g] / counts[g]),
                "n": int(counts[g]),
            }
            for g, name in enumerate(group_names)
            if counts[g]
        }
        return {
            "accuracy": self.accuracy(),
            "loss": self.loss(),
            "loss_sd": float(self.losses.std()),  # per example: the loss's standard error is this / sqrt(n)
            "n": len(self.preds),
            "groups": groups,
        }


@dataclass(frozen=True)
class Evaluation:
    step: int
    splits: dict[str, SplitEval]
    group_names: tuple[str, ...]

    def __getitem__(self, split: str) -> SplitEval:
        return self.splits[split]

    def summary(self) -> dict[str, Any]:
        return {name: s.summary(self.group_names) for name, s in self.splits.items()}
