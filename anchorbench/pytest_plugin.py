"""pytest plugin (entry point ``pytest11``): the ``anchorbench_run`` fixture and a slow marker.

    def test_mynet_learns_identity(anchorbench_run):
        result = anchorbench_run("anchor-identity-v1", model=MyNet, budget="tiny")
        assert result.scores["test_accuracy"] > 0.9

``model`` is a registered name, a ``"module:attr"`` path, or the model class (or factory)
itself; ``budget`` is ``"tiny"`` (the task's entry in the smoke suite, seconds on a CPU),
``"standard"`` (its entry in the standard suite) or ``"default"`` (the task's own recipe).
Tests marked ``@pytest.mark.anchorbench_slow`` are skipped unless pytest runs with
``--anchorbench-slow``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

BUDGET_SUITES = {"tiny": "smoke", "standard": "standard"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--anchorbench-slow", action="store_true", help="run tests marked anchorbench_slow")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "anchorbench_slow: trains at a larger budget; run with --anchorbench-slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--anchorbench-slow"):
        return
    skip = pytest.mark.skip(reason="anchorbench_slow: run with --anchorbench-slow")
    for item in items:
        if "anchorbench_slow" in item.keywords:
            item.add_marker(skip)


def budget_sets(task: str, budget: str) -> dict[str, Any]:
    """The suite entry's overrides that define ``budget`` for ``task``."""
    from anchorbench.errors import UserError
    from anchorbench.specs import load_suite

    if budget == "default":
        return {}
    if budget not in BUDGET_SUITES:
        raise UserError(f"unknown budget '{budget}' (known: tiny, standard, default)")
    suite = load_suite(BUDGET_SUITES[budget])
    for entry in suite.expanded():
        if entry.task == task:
            return dict(entry.set)
    raise UserError(f"task '{task}' has no entry in the {BUDGET_SUITES[budget]} suite (budget '{budget}')")


def run_task(
    task: str,
    folder: Path,
    *,
    model: Any = None,
    budget: str = "tiny",
    seed: int = 0,
    sets: dict[str, Any] | None = None,
) -> Any:
    """Train and score one seed of ``task`` into ``folder``; returns the RunResult."""
    from anchorbench.api import registered
    from anchorbench.execution.plan import plan_entry
    from anchorbench.execution.runner import run_seed
    from anchorbench.specs import SuiteEntry

    # a class or factory is recorded by its import path, as the CLI would record it (anchorbench.api)
    with registered(model) as name:
        entry = SuiteEntry(task=task, set={**budget_sets(task, budget), **(sets or {})})
        plan = plan_entry(entry, name, ())
        return run_seed(plan, seed, folder / task / f"seed-{seed}", results_root=folder, resume=False, progress=False)


@pytest.fixture
def anchorbench_run(tmp_path: Path):
    """Call ``anchorbench_run(task, model=..., budget="tiny", seed=0, sets={...})`` -> RunResult."""

    def run(task: str, model: Any = None, budget: str = "tiny", seed: int = 0, sets: dict[str, Any] | None = None):
        return run_task(task, tmp_path / "anchorbench", model=model, budget=budget, seed=seed, sets=sets)

    return run
