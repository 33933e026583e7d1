"""Seed streams: every split draws from its own stream derived from one master seed.

Streams are keyed by name through a stable hash (never Python's salted ``hash``), so
adding a split to a family does not change the data of the others.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream_id(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def rng_for(seed: int, *stream: str | int) -> np.random.Generator:
    """A generator for ``(seed, *stream)``; distinct streams are statistically independent."""
    keys = [stream_id(s) if isinstance(s, str) else int(s) for s in stream]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))
