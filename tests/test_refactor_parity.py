"""Every task scores what it scored before the "one house" refactor (objectives, one training loop,
interventions as modules, the new layout), measured here: the smoke suite is run at a short
budget by the code of the commit before the refactor (checked out from git into a temporary
folder) and by this checkout, side by side on this machine (one thread each), and every score and split
summary must be bitwise equal. Nothing is compared with numbers recorded elsewhere."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The last commit before the refactor's first change to training, scoring or layout (issue 16).
BEFORE = "45ae73c"
SHORT = ["train.steps=40", "train.warmup_steps=10", "train.eval_every=20", "train.threads=1",
         "train.eval_size=256"]  # fmt: skip


def checkout(commit: str, into: Path) -> Path:
    """``anchorbench/`` and ``tasks/`` of ``commit``, or a skip when the history is not there."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git history (a source archive has none)")
    try:
        data = subprocess.run(["git", "archive", commit, "anchorbench", "tasks"], cwd=ROOT, capture_output=True,
                              check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"commit {commit} is not in this clone (a shallow clone?)")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def start_smoke(code: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    cmd = [sys.executable, "-m", "anchorbench", "run", "smoke", "--seeds", "1", "--out", str(out), "--quiet"]
    for s in SHORT:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(code)}
    return subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out


def smoke_scores(started: tuple[subprocess.Popen, Path]) -> dict[str, dict]:
    proc, out = started
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    found = {}
    for path in sorted(out.glob("*/seed-0/result.json")):
        r = json.loads(path.read_text())
        found[path.parent.parent.name] = {"scores": r["scores"], "splits": r["splits"]}
    return found


def test_the_smoke_suite_scores_as_it_did_before_the_refactor(tmp_path):
    before_code = checkout(BEFORE, tmp_path / "before")
    # side by side, one thread each: the same numbers as one after the other
    before, after = start_smoke(before_code, tmp_path / "results-before"), start_smoke(ROOT, tmp_path / "results-after")
    before, after = smoke_scores(before), smoke_scores(after)
    assert len(before) >= 10 and set(before) <= set(after)  # every task of the smoke suite
    for entry, old in before.items():
        new = after[entry]
        # splits gained fields since (all-tokens positions): compare what both record
        new_splits = {
            s: {k: v for k, v in summary.items() if k in old["splits"][s]} for s, summary in new["splits"].items()
        }
        assert new["scores"] == old["scores"], entry
        assert new_splits == old["splits"], entry
