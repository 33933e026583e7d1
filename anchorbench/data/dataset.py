"""The in-memory dataset every task family produces: named splits, named groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds every token id (memory, cache)."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if vocab_size - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


@dataclass(frozen=True)
class Split:
    """One split: ``tokens[i]`` is the input, ``labels[i]`` what the model must predict.

    What the arrays hold depends on the dataset's objective (``anchorbench.training.objectives``):
    last-token: tokens ``[N, T]``, labels ``[N]`` (the next token); all-tokens: labels ``[N, T]``
    (the token after each position); regression: float inputs ``[N, d_in]`` and targets
    ``[N, d_out]`` (``tokens`` then holds floats).

    ``groups[i]`` indexes :attr:`Dataset.group_names`; accuracy is reported per group.
    ``meta`` holds per-example fields the generator knows (key, anchor position, ...)
    that scoring and contract tests use; all arrays have the same first dimension.
    """

    tokens: np.ndarray  # [N, T], token_dtype(vocab)  (regression: [N, d_in] float32)
    labels: np.ndarray  # [N],    token_dtype(vocab)  (all-tokens: [N, T]; regression: [N, d_out] float32)
    groups: np.ndarray  # [N],    index into group_names (uint8 unless there are > 256 groups)
    meta: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, n: int) -> Split:
        """The first ``n`` examples (a uniform sample: examples are drawn i.i.d.)."""
        return Split(self.tokens[:n], self.labels[:n], self.groups[:n], {k: v[:n] for k, v in self.meta.items()})


@dataclass(frozen=True)
class Dataset:
    seed: int
    vocab_size: int
    seq_len: int
    group_names: tuple[str, ...]
    splits: Mapping[str, Split]
    objective: str = "last-token"  # a registered objective: what is predicted, trained and scored

    def group_sizes(self, split: str) -> dict[str, int]:
        counts = np.bincount(self.splits[split].groups, minlength=len(self.group_names))
        return {name: int(c) for name, c in zip(self.group_names, counts) if c}
