"""Where a sweep's jobs run: in this process, in a local process pool, or on a Ray cluster.

A backend maps a picklable function over jobs and yields each job's return value as soon
as it finishes (in completion order), so the sweep index and the progress bar stay current.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from anchorbench.errors import UserError

BACKENDS = ("local", "ray")


class Inline:
    """workers=1: no pool, no process start-up cost."""

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        for job in jobs:
            yield fn(job)


class ProcessPool:
    """A pool of ``workers`` fresh processes ("spawn": no forked torch thread pools)."""

    def __init__(self, workers: int):
        self.workers = workers

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        if not jobs:
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(fn, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    yield future.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise


class RayBackend:
    """Jobs as Ray tasks, one CPU each per thread. ``address``: join that cluster ("auto":
    the one this machine belongs to); None: start a local Ray runtime for this sweep."""

    def __init__(self, workers: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise UserError("--backend ray needs Ray: pip install 'anchorbench[ray]'") from None
        self.ray = ray
        self.address = address
        self.workers = workers

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        ray = self.ray
        if not jobs:
            return
        started_here = not ray.is_initialized()
        if started_here:
            try:
                if self.address:
                    ray.init(address=self.address, log_to_driver=False)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            except ConnectionError as exc:
                raise UserError(f"cannot reach a Ray cluster at {self.address}: {exc}") from None
        try:
            remote = ray.remote(fn)
            # Each job is told its thread count; reserve that many CPUs so Ray packs them honestly.
            refs = [remote.options(num_cpus=max(1, getattr(job, "threads", 1))).remote(job) for job in jobs]
            while refs:
                done, refs = ray.wait(refs, num_returns=1)
                yield ray.get(done[0])
        finally:
            if started_here:
                ray.shutdown()


def get_backend(name: str, *, workers: int, address: str | None = None) -> Any:
    if name == "ray":
        return RayBackend(workers, address)
    if name != "local":
        raise UserError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")
    if address is not None:
        raise UserError("--address applies to --backend ray")
    return Inline() if workers == 1 else ProcessPool(workers)
