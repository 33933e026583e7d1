"""The numerics stack a result was computed on, and whether two results share one.

Scores are bitwise reproducible only on the same stack: PyTorch's CPU kernels dispatch on
the instruction set (``torch.backends.cpu.get_cpu_capability()``: DEFAULT, AVX2, AVX512...),
MKL and oneDNN pick their own code paths by CPU and version, reductions split work by thread
count, and GPUs add their own kernels. Every result records the stack (``Environment``), and a
verdict on a re-run says which rule it used: exact on the same stack, statistically
consistent on another (``anchorbench.scoring.tolerance``).
"""

from __future__ import annotations

import platform
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from anchorbench.execution.provenance import git_dirty

# What decides the bits of a result besides the code (the code is compared by its hash, below).
STACK_FIELDS = (
    "torch_version",
    "numpy_version",
    "cpu_capability",
    "machine",
    "cpu_model",
    "blas",
    "onednn",
    "device",
    "gpu_name",
    "cuda_version",
    "threads",
)


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux /proc/cpuinfo; elsewhere what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip() or None
    except OSError:
        pass
    return platform.processor() or None


@lru_cache(maxsize=1)
def torch_libraries() -> dict[str, str | None]:
    """BLAS and oneDNN as ``torch.__config__.show()`` reports them (e.g. ``mkl 2024.2``, ``3.12.0``)."""
    import torch

    text = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", text)
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", text)
    onednn = re.search(r"MKL-DNN v([\w.]+)", text)
    name = blas.group(1) if blas else None
    if name == "mkl" and mkl:
        name = f"mkl {mkl.group(1)}"
    return {"blas": name, "onednn": onednn.group(1) if onednn else None}


def stack_fields(device: str) -> dict[str, Any]:
    """The fields of ``Environment`` that describe the numerics stack of this process."""
    import torch

    gpu_name = cuda_version = None
    if device.startswith("cuda") and torch.cuda.is_available():
        gpu_name = torch.cuda.get_device_name(torch.device(device))
        cuda_version = torch.version.cuda
    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine() or None,
        "cpu_model": cpu_model(),
        **torch_libraries(),
        "gpu_name": gpu_name,
        "cuda_version": cuda_version,
        "git_dirty": git_dirty(),
    }


def stack_of(env: Any) -> dict[str, Any]:
    """The stack fields of an ``Environment`` (or its JSON dict); missing ones are None."""
    data = env if isinstance(env, dict) else env.model_dump()
    return {k: data.get(k) for k in STACK_FIELDS}


def stack_differences(
    recorded: Any, rerun: Any, *, recorded_code: str | None = None, rerun_code: str | None = None
) -> list[str]:
    """Why two results are not from the same stack and code; empty when they are.

    The code is the same when the code hashes (``ModelRef.code_hash``: anchorbench's source and
    the plug-ins') are equal; a record without one (schema 1) falls back to its commit, which
    says nothing when the tree was dirty. A field the recorded environment does not know
    (records from before the fingerprint existed) is a difference: an unknown stack cannot
    promise bitwise equality.
    """
    a, b = stack_of(recorded), stack_of(rerun)
    out = []
    if recorded_code is not None:
        if recorded_code != rerun_code:
            out.append(f"code {_show(recorded_code)} -> {_show(rerun_code)}")
    else:
        ra, rb = _get(recorded, "git_hash"), _get(rerun, "git_hash")
        if ra is None or ra != rb or _get(recorded, "git_dirty") is not False or _get(rerun, "git_dirty"):
            out.append(f"code: commit {_show(ra)} -> {_show(rb)}{' (dirty)' if _get(rerun, 'git_dirty') else ''}")
    for key in STACK_FIELDS:
        if a[key] is None and b[key] is None and key in ("gpu_name", "cuda_version"):
            continue  # both on a CPU
        if a[key] is None or a[key] != b[key]:
            out.append(f"{key} {_show(a[key])} -> {_show(b[key])}")
    return out


def _get(env: Any, key: str) -> Any:
    return env.get(key) if isinstance(env, dict) else getattr(env, key, None)


def describe(env: Any) -> str:
    """A short line naming a stack: ``AVX512, torch 2.13.0, mkl 2024.2, 1 thread, cpu``."""
    s = stack_of(env)
    device = s["gpu_name"] or s["device"] or "?"
    cap = s["cpu_capability"] or "CPU capability unknown"
    threads = s["threads"]
    return f"{cap}, torch {s['torch_version']}, {s['blas'] or 'BLAS unknown'}, {threads} thread(s), {device}"


def _show(value: Any) -> str:
    if value is None:
        return "unknown"
    text = str(value)
    return text if len(text) <= 14 else text[:12] + "…"
