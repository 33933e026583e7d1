"""Leave no trace in the caller's process: anchorbench runs inside other people's programs
(the pytest plugin, notebooks, ``anchorbench.run``), so seeding and thread counts must not leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def isolated(seed: int | None = None, threads: int | None = None) -> Iterator[None]:
    """Fork torch's global RNGs (CPU, and CUDA where initialized) and restore the thread count
    on exit; inside, seed the fork with ``seed`` and use ``threads`` threads when given."""
    import torch

    before = torch.get_num_threads()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        try:
            if seed is not None:
                torch.manual_seed(seed)
            if threads:
                torch.set_num_threads(threads)
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
