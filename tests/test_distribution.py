"""How anchorbench reaches users: the sdist does not ship tests it could not run, and the example
project's workflow installs anchorbench from its repository (the name is not on a package index)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def test_the_sdist_ships_the_package_and_its_tasks_but_not_the_tests() -> None:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]
    shipped = build["sdist"]["include"]
    assert "anchorbench" in shipped and "tasks" in shipped  # a wheel built from it finds its task specs
    # the tests read docs/, leaderboard/, examples/ and git history: without those they would fail
    assert "tests" not in shipped
    assert build["wheel"]["force-include"] == {"tasks": "anchorbench/_tasks"}


def test_the_example_workflow_installs_anchorbench_from_its_repository() -> None:
    flow = yaml.safe_load((ROOT / "examples" / "gated-attention" / "github-workflow.yml").read_text())
    source = flow["env"]["ANCHORBENCH"]
    assert source.startswith("anchorbench @ git+https://")  # a direct reference, not an index lookup
    install = next(s["run"] for s in flow["jobs"]["smoke"]["steps"] if s.get("name", "").startswith("Install"))
    lines = [line.strip() for line in install.splitlines() if line.strip()]
    assert lines[0].startswith("pip install torch --index-url https://download.pytorch.org/whl/cpu")
    assert 'pip install "$ANCHORBENCH"' in lines and "pip install anchorbench" not in " ".join(lines)
    gate = next(s["run"] for s in flow["jobs"]["smoke"]["steps"] if "anchorbench ci" in s.get("run", ""))
    assert "--out results/smoke" in gate  # junit.xml and summary.md land with the results, kept as the artifact
