"""Key pools with the train/test key split used by the anchor families.

A key at position ``pos`` is a *test-type* key iff ``(key - pos) % mod == 0``:
* [AF] draws ``key = b + pos`` with ``b`` in the noise range and sends ``b % 8 == 0``
  to test (``offset_by_position=True``);
* [INIT] draws ``key`` from the noise range and sends ``key % 9 == pos`` to test
  (``offset_by_position=False``); for ``pos < mod`` that is the same formula.
"""

from __future__ import annotations

import numpy as np


def is_test_key(key: np.ndarray, pos: np.ndarray, mod: int) -> np.ndarray:
    return (key.astype(np.int64) - pos) % mod == 0


class KeyPools:
    """Per position, the keys of each type, sampled uniformly and vectorized."""

    def __init__(self, low: int, high: int, n_positions: int, mod: int, offset_by_position: bool):
        self.tables: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        for test in (False, True):
            rows = []
            for pos in range(n_positions):
                keys = np.arange(low, high + 1) + (pos if offset_by_position else 0)
                rows.append(keys[is_test_key(keys, np.full_like(keys, pos), mod) == test])
            if any(len(r) == 0 for r in rows):
                kind = "test" if test else "train"
                raise ValueError(
                    f"the key split (mod {mod}) leaves no {kind}-type key at some position; "
                    "lower key_mod or widen noise_low..noise_high"
                )
            width = max(len(r) for r in rows)
            table = np.zeros((n_positions, width), dtype=np.int64)
            for pos, r in enumerate(rows):
                table[pos, : len(r)] = r
            self.tables[test] = (table, np.array([len(r) for r in rows], dtype=np.int64))

    def sample(self, rng: np.random.Generator, pos: np.ndarray, test: np.ndarray | bool) -> np.ndarray:
        """One key per example, uniform over the pool of its position and key type."""
        if isinstance(test, (bool, np.bool_)):
            table, counts = self.tables[bool(test)]
            idx = (rng.random(pos.shape[0]) * counts[pos]).astype(np.int64)
            return table[pos, idx]
        out = np.empty(pos.shape[0], dtype=np.int64)
        for kind in (False, True):
            sel = test == kind
            out[sel] = self.sample(rng, pos[sel], kind)
        return out

    def max_key(self) -> int:
        return int(max(t.max() for t, _ in self.tables.values()))

    def min_key(self) -> int:
        return int(min(t[t > 0].min() for t, _ in self.tables.values()))
