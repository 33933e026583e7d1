import pytest


def pytest_collection_modifyitems(items):
    # Everything here is a benchmark: deselected by default (pyproject addopts).
    for item in items:
        if "benchmarks" in str(item.fspath):
            item.add_marker(pytest.mark.bench)
