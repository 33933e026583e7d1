"""Leave no trace in the caller's process: anchorbench runs inside other people's programs
(the pytest plugin, notebooks, ``anchorbench.run``), so seeding, thread counts and the CPU's
handling of subnormal floats must not leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def flushing_subnormals() -> bool:
    """Whether this thread's CPU flushes subnormal floats to zero now. torch can set the mode
    (``torch.set_flush_denormal``) but not report it, so it is measured: a float32 subnormal
    times one is zero only when flushing."""
    import torch

    return bool((torch.tensor([1e-40], dtype=torch.float32) * 1.0).item() == 0.0)


@contextmanager
def isolated(seed: int | None = None, threads: int | None = None, subnormals: str | None = None) -> Iterator[None]:
    """Fork torch's global RNGs (CPU, and CUDA where initialized) and restore the thread count
    and the subnormal mode on exit; inside, seed the fork with ``seed``, use ``threads`` threads
    and ``subnormals`` ("flush": subnormal floats read and written as zero; "keep") when given.

    Why flush: a fitted model with a saturated softmax fills its gradients with subnormals, and
    on an x86 CPU each one costs a microcode assist: a step of the large-init [INIT] transformer
    took 152 ms with them and 32-35 ms flushed, the loss the same to the printed digits."""
    import torch

    before = torch.get_num_threads()
    flushed_before = flushing_subnormals() if subnormals else None
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        try:
            if seed is not None:
                torch.manual_seed(seed)
            if threads:
                torch.set_num_threads(threads)
            if subnormals:
                torch.set_flush_denormal(subnormals == "flush")
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
            if flushed_before is not None:
                torch.set_flush_denormal(flushed_before)
