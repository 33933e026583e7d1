"""Files every stage writes: atomic JSON and JSON lines, readable per the user's umask.

Below every stage (training appends its history here; execution writes result records), so
that nothing low in the pipeline has to import the record types to write a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def write_json(path: Path, data: Any) -> None:
    """Write a record or JSON data atomically (see ``atomic_write``)."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    atomic_write(path, lambda f: (json.dump(data, f, indent=2, allow_nan=False), f.write("\n")))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    atomic_write(path, lambda f: f.writelines(json.dumps(r, allow_nan=False) + "\n" for r in records))


def atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """Write to a temporary file beside ``path``, flush it to the disk, then rename it over ``path``.

    A reader, a crash of the process, or a crash of the machine (power loss) sees the old file
    or the new one, never half: the data is on the disk (``fsync``) before the rename makes it
    the file, and the folder is synced after, so the rename itself survives. A failed write
    leaves the old file and no temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a result is as readable as any file the user writes
        os.chmod(tmp, 0o666 & ~current_umask())
        with os.fdopen(fd, "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory); a no-op where folders
    cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the file itself is synced
    finally:
        os.close(fd)


@lru_cache(maxsize=1)
def current_umask() -> int:
    """The process's umask, read once (setting it to read it is racy, so not on every write)."""
    try:  # Linux: readable without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record, allow_nan=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
