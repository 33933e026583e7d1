"""A gate that can fail: `anchorbench ci --suite smoke` with no flags gates on the floors the
smoke suite ships. An order-blind model (tests/plugins/outsider.py) fails it naming the tasks;
each task's default model passes. They run side by side as real commands (one thread each; the
default models' gate in two halves of the suite, each with its floors)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anchorbench.registry import METRICS, TASKS
from anchorbench.specs import builtin_tasks_dir, load_suite

PLUGINS = Path(__file__).parent / "plugins"
FLOORS = builtin_tasks_dir() / "floors" / "smoke.yaml"
ORDER_DEPENDENT = {"anchor-identity-v1", "anchor-composition-v1", "anchor-composite-v1", "matching-chain-v2",
                   "matching-order-v2", "anchor-multi-interval-v1", "anchor-recitation-v1", "anchor-statistical-v1",
                   "anchor-synonym-v1"}  # fmt: skip


def ci(folder: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
    # one process each: the three gates already share the 2 cores
    cmd = [sys.executable, "-m", "anchorbench", "ci", "--suite", "smoke", "--quiet", "--set", "train.threads=1",
           "--workers", "1", "--results-dir", str(folder / "results"), "--junit", str(folder / "junit.xml"),
           "--summary", str(folder / "summary.md"), *extra]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_shipped_floors_cover_every_smoke_task_above_chance() -> None:
    floors = yaml.safe_load(FLOORS.read_text())
    entries = {e.label: e for e in load_suite("smoke").expanded()}
    assert set(floors) == set(entries), "every smoke task gets a floor"
    for label, scores in floors.items():
        for score, bound in scores.items():
            assert score in TASKS.get(entries[label].task).scores, (label, score)
            assert METRICS.get(score).direction == "higher" and 0.02 < bound < 1, (label, score, bound)


def half_gates(folder: Path) -> list[Path]:
    """The smoke suite and its floors cut in two halves (suite files of their own), so that the
    default models' gate runs as two processes beside the order-blind one on 2 cores."""
    suite = yaml.safe_load(FLOORS.parent.parent.joinpath("suites", "smoke.yaml").read_text())
    floors = yaml.safe_load(FLOORS.read_text())
    halves = []
    for k in (0, 1):
        runs = suite["runs"][k::2]
        labels = [e.label for e in load_suite("smoke").expanded()][k::2]
        half = folder / f"half-{k}"
        half.mkdir()
        (half / "suite.yaml").write_text(yaml.safe_dump({**suite, "id": f"smoke-half-{k}", "runs": runs}))
        (half / "floors.yaml").write_text(yaml.safe_dump({label: floors[label] for label in labels}))
        halves.append(half)
    return halves


@pytest.mark.slow  # two minutes: the whole smoke gate, twice; .ci/run runs it after the default suite
def test_the_order_blind_model_fails_the_default_gate_and_the_default_models_pass(tmp_path: Path) -> None:
    (tmp_path / "blind").mkdir()
    blind = ci(tmp_path / "blind", "--model", "outsider:BagOfTokens")
    defaults = [
        (half, ci(half, "--suite", str(half / "suite.yaml"), "--thresholds", str(half / "floors.yaml")))
        for half in half_gates(tmp_path)
    ]
    out, err = blind.communicate(timeout=1200)
    assert blind.returncode == 1, out + err
    assert "gating on the floors shipped with the suite" in err
    summary = (tmp_path / "blind" / "summary.md").read_text()
    failed = summary.split("**FAILED**")[1].split("\n")[0]
    for task in ORDER_DEPENDENT:
        assert f"`{task}`" in failed, f"{task} not named among the failures: {failed}"
    for half, default in defaults:
        out, err = default.communicate(timeout=1200)
        assert default.returncode == 0, out + err
        assert "**passed**" in (half / "summary.md").read_text()
