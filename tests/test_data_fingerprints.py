"""Data cannot drift silently: every built-in task version's data is pinned by a sha256.

Each task is generated at seeds 0 and 1 with small sizes (``SMALL``, where the family has
size parameters; modular tasks at their own p) and hashed canonically (split names, then per
array: name, dtype as little-endian, shape, bytes). The hashes sit in
``tests/data/data-fingerprints.json``. A generator change without a version bump, or a change
in numpy's random streams, fails here naming the task; so does a task with no pinned hash.

Generators are pure numpy (integer arithmetic, elementwise float products, sorts of distinct
keys; no reductions, no torch), so the hashes do not depend on the CPU's vector units: they
pass with ``ATEN_CPU_CAPABILITY=default`` and with numpy's SIMD dispatch turned off
(``NPY_DISABLE_CPU_FEATURES="X86_V4 X86_V3"``).

Regenerate with ``python tests/test_data_fingerprints.py --update``. That is only right
together with a version bump of every task whose hash changes (copy its YAML to ``-v<N+1>``):
results of the old version were computed on the old data. The one other case is numpy itself
changing a stream; then say so in the commit and check the docs' reproduced numbers.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anchorbench.data.dataset import Dataset
from anchorbench.registry import TASKS

PINNED = Path(__file__).parent / "data" / "data-fingerprints.json"
SEEDS = (0, 1)
SMALL = {"n_train": 300, "n_test": 100}
DRIFT = "data changed without a version bump (or numpy's stream changed)"
# A task's data under other parameters that a suite runs (its fallback source): pinned the same way.
VARIANTS = {"cnn-condensation-v1+synthetic": ("cnn-condensation-v1", {"source": "synthetic"})}


def builtin_tasks() -> list[str]:
    # Plug-in packages pin their own data; only this repository's tasks are checked here.
    return [t for t in TASKS.names() if TASKS.entry(t).origin.startswith("built-in")]


def _update(h: Any, array: np.ndarray) -> None:
    a = np.ascontiguousarray(array)
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)  # one byte order on every machine
    h.update(f"{a.dtype.str}{list(a.shape)}".encode())
    h.update(a.tobytes())


def dataset_hash(ds: Dataset) -> Any:
    h = hashlib.sha256()
    h.update(json.dumps([ds.seed, ds.vocab_size, ds.seq_len, list(ds.group_names)]).encode())
    for name, split in ds.splits.items():  # generation order is part of the data
        h.update(f"split {name}".encode())
        for field, array in (("tokens", split.tokens), ("labels", split.labels), ("groups", split.groups)):
            h.update(field.encode())
            _update(h, array)
        for key in sorted(split.meta):  # meta feeds scores (symmetric solutions, hop counts)
            h.update(f"meta {key}".encode())
            _update(h, split.meta[key])
    return h


def pinned_names() -> list[str]:
    return builtin_tasks() + sorted(VARIANTS)


def fingerprint(name: str) -> str:
    task_id, overrides = VARIANTS.get(name, (name, {}))
    spec = TASKS.get(task_id)
    fields = spec.family_obj.params.model_fields
    try:
        params = spec.resolve_params({**{k: v for k, v in SMALL.items() if k in fields}, **overrides})
    except ValueError as exc:  # a task whose data needs an optional extra that is not installed (pydantic's error)
        if "pip install" in str(exc):
            pytest.skip(f"{name}: {str(exc).splitlines()[-1]}")
        raise
    h = hashlib.sha256()
    for seed in SEEDS:
        h.update(dataset_hash(spec.family_obj.generate(params, seed)).digest())
    return h.hexdigest()


def pinned() -> dict[str, str]:
    return json.loads(PINNED.read_text()) if PINNED.exists() else {}


@pytest.mark.parametrize("task_id", pinned_names())
def test_data_matches_its_pinned_fingerprint(task_id: str) -> None:
    want = pinned().get(task_id)
    assert want is not None, (
        f"{task_id}: no pinned data fingerprint; a new task adds one: python tests/test_data_fingerprints.py --update"
    )
    assert fingerprint(task_id) == want, f"{task_id}: {DRIFT}; bump the task's version (see this file's docstring)"


def test_every_pinned_task_still_exists() -> None:
    stale = sorted(set(pinned()) - set(pinned_names()))
    assert not stale, f"fingerprints of tasks that are gone: {stale}; python tests/test_data_fingerprints.py --update"


def update() -> None:
    PINNED.parent.mkdir(parents=True, exist_ok=True)
    data = {t: fingerprint(t) for t in pinned_names()}
    PINNED.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"wrote {PINNED} ({len(data)} tasks)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_data_fingerprints.py --update  (only together with a version bump)")
    update()
