"""Where a sweep's jobs run: in this process, in a local process pool, or on a Ray cluster.

A backend maps a picklable function over jobs and yields each job's return value as soon
as it finishes (in completion order), so the sweep index and the progress bar stay current.
A job that returns nothing because its worker died (SIGKILL, the out-of-memory killer, a
crashed Ray worker) or because the function raised yields a :class:`Lost` record instead;
the other jobs go on, on a fresh worker where needed.
"""

from __future__ import annotations

import os
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from anchorbench.errors import UserError

BACKENDS = ("local", "ray")


@dataclass
class Lost:
    """A job that returned no result: ``error`` is one line, ``detail`` the full story."""

    job: Any
    error: str
    detail: str


class Inline:
    """workers=1: no pool, no process start-up cost."""

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        for job in jobs:
            yield fn(job)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or a job scheduler's
    share), not every core of the machine that ``os.cpu_count()`` reports."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The CUDA devices the workers may share out: ``CUDA_VISIBLE_DEVICES`` when it is set, else every
    device torch sees; none on a machine without CUDA."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


class ProcessPool:
    """``workers`` fresh processes ("spawn": no forked torch thread pools), one pipe each.

    Our own pool rather than ProcessPoolExecutor: when one of its workers dies, the executor
    fails every job in flight (BrokenProcessPool). Here the parent knows which job each
    worker runs, so a death loses that job alone and a fresh worker takes the next one.
    With GPUs visible, worker slot i sees one of them (``CUDA_VISIBLE_DEVICES``, round robin), so
    ``train.device=auto`` or ``cuda`` puts each worker on its own GPU.
    """

    def __init__(self, workers: int):
        self.workers = workers

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        import multiprocessing as mp
        from multiprocessing.connection import wait

        if not jobs:
            return
        ctx = mp.get_context("spawn")
        todo = deque(jobs)
        slots: list[_Worker] = []
        gpus = visible_gpus()
        gpu = lambda i: gpus[i % len(gpus)] if gpus else None  # noqa: E731
        try:
            for i in range(min(self.workers, len(jobs))):
                slots.append(_Worker(ctx, fn, gpu(i)))  # one by one: a failed start still closes the others
            while True:
                for i, w in enumerate(slots):
                    if w.job is None and todo:
                        if not w.alive():  # died while idle, or lost its last job
                            w.close()
                            slots[i] = w = _Worker(ctx, fn, gpu(i))
                        w.start(todo.popleft())
                busy = [w for w in slots if w.job is not None]
                if not busy:
                    return
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for w in busy:
                    if w.conn in ready or w.process.sentinel in ready:
                        yield w.collect()
        finally:
            # Normal end, Ctrl-C or an exception in the caller: no worker outlives the pool.
            for w in slots:
                w.close()


class _Worker:
    def __init__(self, ctx: Any, fn: Callable[[Any], Any], gpu: str | None = None):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, fn, gpu), daemon=True)
        self.process.start()
        child.close()  # the child holds its end; ours would keep EOF from ever arriving
        self.job: Any = None

    def alive(self) -> bool:
        return self.process.is_alive()

    def start(self, job: Any) -> None:
        self.job = job
        try:
            self.conn.send(job)
        except OSError:  # died before it read the job: collect() reports the death
            pass

    def collect(self) -> Any:
        """The running job's return value, or a :class:`Lost` record of why there is none."""
        job, self.job = self.job, None
        try:
            # A reply wins even when the process has exited since: it did finish the job.
            if self.conn.poll():
                kind, value = self.conn.recv()
                if kind == "ok":
                    return value
                return Lost(job, _last_line(value), value)
        except (EOFError, OSError):
            pass  # no reply, or half of one: the worker died
        self.process.join(timeout=10)
        return Lost(job, *_death(self.process.pid, self.process.exitcode))

    def close(self) -> None:
        if self.process.is_alive() and self.job is None:
            try:
                self.conn.send(None)  # idle: ask it to leave
            except OSError:
                pass
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.terminate()  # busy (Ctrl-C, an error in the caller) or not leaving
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        self.process.close()


def _serve(conn: Any, fn: Callable[[Any], Any], gpu: str | None = None) -> None:
    """A worker's loop: receive a job, send back ("ok", value) or ("raised", traceback)."""
    if gpu is not None:  # before anything in this fresh process initializes CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    # Ctrl-C reaches the whole process group; the parent handles it and stops its workers, so
    # a worker ignores it rather than printing a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    _thread_lock_for_tqdm()
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            reply = ("ok", fn(job))
        except BaseException:  # noqa: BLE001  (sys.exit in a plug-in too: the pool reports it)
            reply = ("raised", traceback.format_exc())
        try:
            conn.send(reply)
        except OSError:
            return  # the parent is gone
        except Exception:  # noqa: BLE001  (the value does not pickle; nothing was sent yet)
            conn.send(("raised", traceback.format_exc()))


def _exit_with_parent() -> None:
    """A parent killed outright (SIGKILL) cannot stop its workers; they notice and leave, so
    that no orphan keeps training and writing into a folder that a --resume works on."""
    import multiprocessing as mp
    import threading
    from multiprocessing.connection import wait

    parent = mp.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _thread_lock_for_tqdm() -> None:
    """tqdm's default lock holds a multiprocessing semaphore, which a worker killed outright
    never releases: the resource tracker then warns of a leak when the sweep ends. A worker
    draws no bars of its own, so a thread lock serves."""
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _death(pid: int | None, exitcode: int | None) -> tuple[str, str]:
    """The one-line error and the note for error.txt of a worker that died mid-job."""
    if exitcode is not None and exitcode < 0:
        why = f"signal {-exitcode}"
        try:
            name = f" ({signal.Signals(-exitcode).name})"
        except ValueError:
            name = ""
    else:
        why, name = f"exit code {exitcode}", ""
    note = (
        f"The worker process (pid {pid}) died with {why}{name} before it returned a result.\n"
        "SIGKILL (signal 9) usually means the out-of-memory killer or `kill -9`; check `dmesg` and the\n"
        "job's memory. `anchorbench sweep ... --resume` runs the cell again, from its last checkpoint\n"
        "if it wrote one.\n"
    )
    return f"worker died ({why})", note


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no result"


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
        pending: list[Any] = []
        try:
            remote = ray.remote(fn)
            # One GPU per job where the cluster has GPUs (Ray then sets CUDA_VISIBLE_DEVICES for it).
            gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
            # Each job is told its thread count; reserve that many CPUs so Ray packs them honestly.
            # No automatic retries: like the local pool, a crashed job becomes an error cell that
            # `--resume` runs again, rather than a cell that may silently run (and OOM) four times.
            refs = {
                remote.options(num_cpus=max(1, getattr(job, "threads", 1)), num_gpus=gpus, max_retries=0).remote(
                    job
                ): job
                for job in jobs
            }
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    value = ray.get(done[0])
                except ray.exceptions.RayError as exc:
                    value = _ray_lost(ray, refs[done[0]], exc)
                yield value
        finally:
            # Stopped early (Ctrl-C, an error, the caller closing the generator): cancel what is
            # still in flight, also on a runtime this sweep did not start, so that no task outlives
            # the sweep folder's lock and writes into it afterwards.
            for ref in pending:
                ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()


def _ray_lost(ray: Any, job: Any, exc: BaseException) -> Lost:
    died = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError)
    if isinstance(exc, died):
        error = f"worker died (Ray {type(exc).__name__})"
    else:
        error = f"Ray {type(exc).__name__}: {_last_line(str(exc))}"
    return Lost(job, error, f"{type(exc).__name__}: {exc}\n")


def get_backend(name: str, *, workers: int, address: str | None = None) -> Any:
    if name == "ray":
        return RayBackend(workers, address)
    if name != "local":
        raise UserError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")
    if address is not None:
        raise UserError("--address applies to --backend ray")
    return Inline() if workers == 1 else ProcessPool(workers)
