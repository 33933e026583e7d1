"""What one evaluation produced: per-example predictions and losses, per split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anchorbench.data.dataset import Split


@dataclass(frozen=True)
class SplitEval:
    """One split's evaluation. Token objectives: ``preds`` are argmax tokens shaped like the labels
    (``[N]`` for last-token, ``[N, T]`` for all-tokens, with ``losses`` ``[N, T]`` then); regression:
    ``preds`` are the outputs ``[N, d_out]``, ``losses`` the squared errors ``[N]``, no accuracy."""

    split: Split  # the evaluated examples (labels, groups, meta)
    preds: np.ndarray  # [N] argmax token; [N, T] per position; [N, d_out] floats for regression
    losses: np.ndarray  # [N] loss of the label (cross-entropy or squared error); [N, T] per position

    @property
    def has_accuracy(self) -> bool:
        return not np.issubdtype(self.split.labels.dtype, np.floating)

    @property
    def correct(self) -> np.ndarray:
        """Per example: 1/0 for one label, the share of positions right for all-tokens."""
        hits = self.preds == self.split.labels
        return hits if hits.ndim == 1 else hits.mean(axis=tuple(range(1, hits.ndim)))

    @property
    def example_losses(self) -> np.ndarray:
        return self.losses if self.losses.ndim == 1 else self.losses.mean(axis=tuple(range(1, self.losses.ndim)))

    def accuracy(self) -> float | None:
        return float(self.correct.mean()) if self.has_accuracy else None

    def loss(self) -> float:
        return float(self.example_losses.mean())

    def summary(self, group_names: tuple[str, ...]) -> dict[str, Any]:
        n_groups = len(group_names)
        counts = np.bincount(self.split.groups, minlength=n_groups)
        losses = np.bincount(self.split.groups, weights=self.example_losses, minlength=n_groups)
        hits = np.bincount(self.split.groups, weights=self.correct, minlength=n_groups) if self.has_accuracy else None
        groups = {
            name: {
                "accuracy": float(hits[g] / counts[g]) if hits is not None else None,
                "loss": float(losses[g] / counts[g]),
                "n": int(counts[g]),
            }
            for g, name in enumerate(group_names)
            if counts[g]
        }
        out = {
            "accuracy": self.accuracy(),
            "loss": self.loss(),
            "loss_sd": float(self.example_losses.std()),  # per example: the loss's standard error is this / sqrt(n)
            "n": len(self.preds),
            "groups": groups,
        }
        if self.losses.ndim == 2:  # all-tokens: one entry per position, from the first to the last
            out["positions"] = {
                "accuracy": [float(a) for a in (self.preds == self.split.labels).mean(0)],
                "loss": [float(x) for x in self.losses.mean(0)],
            }
        return out


@dataclass(frozen=True)
class Evaluation:
    step: int
    splits: dict[str, SplitEval]
    group_names: tuple[str, ...]
    # training-dynamics probe values at this step (rd_input, ...), for metrics that report one
    dynamics: dict[str, Any] = field(default_factory=dict)
    # the run's history.jsonl records before this step, for metrics of the training course ([FREQ])
    history: tuple[dict[str, Any], ...] = ()

    def course(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Steps and ``split``'s loss at every evaluation so far, this one last (NaN where not recorded)."""
        records = [r for r in self.history if r["step"] < self.step]
        losses = [r["splits"].get(split, {}).get("loss") for r in records] + [self[split].loss()]
        steps = [r["step"] for r in records] + [self.step]
        return np.array(steps), np.array([np.nan if v is None else v for v in losses], dtype=float)

    def __getitem__(self, split: str) -> SplitEval:
        return self.splits[split]

    def summary(self) -> dict[str, Any]:
        return {name: s.summary(self.group_names) for name, s in self.splits.items()}
