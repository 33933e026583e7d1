"""The numerics stack a result was computed on, and whether two results share one.

Scores are bitwise reproducible only on the same stack: PyTorch's CPU kernels dispatch on
the instruction set (``torch.backends.cpu.get_cpu_capability()``: DEFAULT, AVX2, AVX512...),
MKL and oneDNN pick their own code paths by CPU vendor, generation, ISA extensions and version,
reductions split work by thread count, and GPUs add their own kernels.

The CPU's marketing name does not identify it: a virtual machine may call very different Xeons
"Intel(R) Xeon(R) Processor", and torch's capability says AVX512 on all of them while MKL picks
another kernel on a CPU with AVX512-FP16 and AMX than on one without. So the fingerprint holds
the CPU's identity as CPUID reports it (vendor, family, model, stepping), the ISA extensions the
libraries dispatch on, the code branch MKL says it chose, and the environment variables that
override any of these choices. Every result records the stack (``Environment``), and a
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
    "cpu_id",
    "cpu_isa",
    "mkl_dispatch",
    "dispatch_env",
    "subnormals",
)

# The CPUID extensions that ATen, MKL and oneDNN select kernels by (as /proc/cpuinfo names them).
DISPATCH_FLAGS = (
    "sse4_2", "avx", "fma", "f16c", "avx2", "avx_vnni", "avx512f", "avx512cd", "avx512bw", "avx512dq",
    "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
    "asimd", "sve", "sve2",  # arm64
)  # fmt: skip
# Environment variables that override those choices: a stack read with one set is another stack.
DISPATCH_ENV = (
    "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "MKL_DEBUG_CPU_TYPE", "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE", "DNNL_DEFAULT_FPMATH_MODE", "ONEDNN_CPU_ISA_HINTS",
)  # fmt: skip
NOT_APPLICABLE = "n/a"  # a field that does not apply on this machine (no MKL, no /proc/cpuinfo): known, not unknown


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux /proc/cpuinfo; elsewhere what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        out.setdefault(key.strip(), value.strip())
    return out


def cpu_id() -> str:
    """The CPU as CPUID identifies it: ``GenuineIntel family 6 model 207 stepping 2``."""
    info = _cpuinfo()
    if "cpu family" in info:
        return f"{info.get('vendor_id', '?')} family {info['cpu family']} model {info.get('model', '?')} " \
            f"stepping {info.get('stepping', '?')}"  # fmt: skip
    if "CPU implementer" in info:  # arm64
        return f"arm implementer {info['CPU implementer']} part {info.get('CPU part', '?')} " \
            f"variant {info.get('CPU variant', '?')} revision {info.get('CPU revision', '?')}"  # fmt: skip
    return NOT_APPLICABLE


def cpu_isa() -> str:
    """The dispatch-relevant ISA extensions this CPU reports, space-separated in a fixed order."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    if not flags:
        return NOT_APPLICABLE
    return " ".join(f for f in DISPATCH_FLAGS if f in flags) or "none"


def dispatch_env() -> str:
    """The dispatch-overriding environment variables that are set, ``NAME=value`` in a fixed order."""
    import os

    return " ".join(f"{k}={os.environ[k]}" for k in DISPATCH_ENV if k in os.environ)


@lru_cache(maxsize=1)
def mkl_dispatch() -> str:
    """The code branch MKL chose, in its own words (the ``for ... processors`` of its verbose header,
    e.g. "Intel(R) Advanced Vector Extensions 512 (Intel(R) AVX-512) ... enabled processors").

    MKL says it once per process when verbose mode first meets a call; one small matrix product
    with verbose on, stdout caught at the file-descriptor level, reads it.
    """
    import os
    import tempfile

    import torch

    if not torch.backends.mkl.is_available():
        return NOT_APPLICABLE
    a = torch.ones(8, 8)
    with tempfile.TemporaryFile() as caught:
        saved = os.dup(1)
        try:
            import sys

            sys.stdout.flush()
            os.dup2(caught.fileno(), 1)
            with torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
                a @ a
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        caught.seek(0)
        text = caught.read().decode(errors="replace")
    found = re.search(r"MKL_VERBOSE (?:oneMKL|Intel\(R\) MKL) [^\n]*? for (.+?), Lnx", text)
    if found is None:
        found = re.search(r"MKL_VERBOSE (?:oneMKL|Intel\(R\) MKL) [^\n]*? for ([^\n]+)", text)
    return found.group(1).strip() if found else "unknown"


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
        "cpu_id": cpu_id(),
        "cpu_isa": cpu_isa(),
        "mkl_dispatch": mkl_dispatch(),
        "dispatch_env": dispatch_env(),
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
    text = str(value) or "none"
    return text if len(text) <= 14 else text[:12] + "…"
