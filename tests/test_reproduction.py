"""Slow: the shipped CPU defaults reproduce what the papers report, where they do.

Run with `pytest -m slow`. docs/tasks.md lists the figures these commands gave.
"""

from __future__ import annotations

import json

import pytest

from anchorbench.cli import main

pytestmark = pytest.mark.slow


def test_identity_defaults_generalize_like_the_paper(tmp_path, monkeypatch):
    """[AF]: at N = 1000 training sequences the identity task reaches test accuracy 1.0."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", "anchor-identity-v1", "--seeds", "3", "--quiet", "--out", "r"]) == 0
    agg = json.loads((tmp_path / "r" / "anchor-identity-v1" / "aggregate.json").read_text())
    assert agg["statuses"] == ["completed"] * 3
    assert min(agg["scores"]["test_accuracy"]["values"]) >= 0.99
