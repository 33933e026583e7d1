"""One anchorbench process per results folder.

Two invocations writing the same folder (a ``--resume`` started while the first still runs)
would train the same cells twice and overwrite each other's checkpoints and index. ``hold``
takes an exclusive ``flock`` on ``<folder>/.lock`` for the whole invocation. The kernel drops
the lock when its process ends, however it ends (SIGKILL, out of memory), so a crash never
leaves the folder locked; a clean exit also removes the file. On a platform without
``fcntl`` (Windows) or a filesystem without ``flock`` the lock is skipped: nothing is
refused there that runs elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError

LOCK = ".lock"


@contextmanager
def hold(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock (the folder exists); UserError when another process holds it."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = folder / LOCK
    fd = _acquire(path, fcntl)
    try:
        yield
    finally:
        if fd is not None:
            # Unlink while still holding it: a process that opened the old file before this
            # point sees, once it gets the lock, that the path no longer names that file.
            path.unlink(missing_ok=True)
            os.close(fd)


def _acquire(path: Path, fcntl: Any) -> int | None:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise UserError(
                f"{path.parent} is in use by another anchorbench process{who}; wait for it or choose another --out"
            ) from None
        except OSError:  # the filesystem does not lock (some network mounts): run unlocked
            os.close(fd)
            return None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # locked a file its holder had just removed: take the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None  # the holder has not written its pid yet
