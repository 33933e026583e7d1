"""Which code produced a result: anchorbench's commit and dirty flag, and a hash of the source
of every package a run executes (anchorbench itself, a plug-in model, task family or intervention).

The config hash says *what* was asked; the code hash says *with which code*. Reuse and resume
trust an earlier result only when both match, so editing a plug-in model's file, or an
uncommitted change to anchorbench, never lets an old score stand in for a new run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the checkout: anchorbench/execution/provenance.py
MAX_SOURCE_FILES = 2000  # a plug-in inside a huge package is identified by its version instead


def _git(*args: str) -> str | None:
    if not (ROOT / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


@lru_cache(maxsize=1)
def git_hash() -> str | None:
    """Commit of the anchorbench checkout; None when it is not a git checkout."""
    out = _git("rev-parse", "HEAD")
    return (out.strip() or None) if out is not None else None


@lru_cache(maxsize=1)
def git_dirty() -> bool | None:
    """Whether the package's code differs from its commit (None: not a git checkout).

    Only ``anchorbench/`` counts: results folders, docs and notebooks beside it do not change
    what a run computes; an untracked source file inside the package does.
    """
    out = _git("status", "--porcelain", "--untracked-files=normal", "--", "anchorbench")
    return None if out is None else bool(out.strip())


def package_root(obj: Any) -> tuple[str, list[Path]]:
    """The top-level package (or lone module) that defines ``obj``, and its source folders/files."""
    module_name = obj.__name__ if isinstance(obj, type(sys)) else getattr(obj, "__module__", None)
    if not module_name:
        module_name = type(obj).__module__
    top = module_name.partition(".")[0]
    module = sys.modules.get(top)
    if module is None:
        return top, []
    paths = getattr(module, "__path__", None)
    if paths is not None:
        return top, [Path(p) for p in paths]
    file = getattr(module, "__file__", None)
    return top, [Path(file)] if file else []


def _hash_sources(top: str, roots: tuple[Path, ...]) -> str:
    files: list[Path] = []
    for root in roots:
        files += [root] if root.is_file() else sorted(root.rglob("*.py"))
    if not files:
        return f"{top}: no source"
    if len(files) > MAX_SOURCE_FILES:
        try:
            return f"{top}=={metadata.version(top)}"
        except metadata.PackageNotFoundError:
            files = files[:MAX_SOURCE_FILES]
    digest = hashlib.sha256()
    for f in files:
        rel = f.name if f in roots else str(f.relative_to(next(r for r in roots if f.is_relative_to(r))))
        digest.update(rel.encode() + b"\0")
        try:
            digest.update(f.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return f"{top}:sha256:{digest.hexdigest()}"


def source_hash(obj: Any) -> str:
    """A hash of the source files of the package that defines ``obj`` (a class, function or module)."""
    top, roots = package_root(obj)
    return _hash_sources(top, tuple(roots))


def code_hash(objects: list[Any]) -> str:
    """One hash over anchorbench's source and that of every package defining one of ``objects``."""
    import anchorbench

    parts = sorted({source_hash(anchorbench), *(source_hash(o) for o in objects if o is not None)})
    return "sha256:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()
