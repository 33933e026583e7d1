"""One small dataset of a registered task, for tests that read its rows."""

from __future__ import annotations

from typing import Any

from anchorbench.data.dataset import Dataset
from anchorbench.registry import TASKS


def generated(task_id: str, seed: int = 0, **params: Any) -> tuple[Dataset, Any]:
    """The task's dataset at ``seed`` with ``params`` over its defaults, and the resolved params."""
    spec = TASKS.get(task_id)
    p = spec.resolve_params(params)
    return spec.family_obj.generate(p, seed), p
