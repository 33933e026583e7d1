"""`leaderboard verify` across numerics stacks: a committed baseline re-run under
ATEN_CPU_CAPABILITY=default (another stack on any x86 machine) gets the *consistent* verdict,
and a forged score fails it; a submission naming a module is not imported without --allow-import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from leaderboard_fixtures import load, save

from anchorbench.cli import main
from anchorbench.leaderboard.record import content_hash_of
from anchorbench.registry import METRICS
from anchorbench.scoring.stats import mean_ci

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "leaderboard" / "submissions" / "transformer-post-small.json"
SCHEMA_1 = Path(__file__).parent / "data" / "schema1-submission.json"


def forge(data: dict, task: str, score: str, value: float) -> dict:
    """Set seed 0's score and make the aggregate and the content hash consistent: only a re-run can tell."""
    result = data["tasks"][task]
    result["seeds"][0]["scores"][score] = value
    values = [s["scores"][score] for s in result["seeds"]]
    result["scores"][score].update(values=values, **mean_ci(values, METRICS.get(score).bounds))
    return {**data, "content_hash": content_hash_of(data)}


def verify_on_default_stack(path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    cmd = [sys.executable, "-m", "anchorbench", "leaderboard", "verify", str(path), "--seed", "0", "--task",
           "synonym", "--quiet", *extra]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() == "DEFAULT", reason="already the default stack")
def test_committed_baseline_is_consistent_on_another_stack_and_a_forgery_is_not(tmp_path: Path) -> None:
    forged = tmp_path / "forged.json"
    save(forged, forge(load(BASELINE), "synonym", "synonym_accuracy", 0.9))
    # The two re-runs train one seed each on one thread: run them side by side.
    honest, cheat = verify_on_default_stack(BASELINE), verify_on_default_stack(forged, "--extra-seeds", "1")
    out, err = honest.communicate(timeout=900)
    assert honest.returncode == 0, out + err
    assert "rule: consistent" in out and "-> DEFAULT" in out, "the verdict names the rule and the stacks"
    assert "verified (consistent): 4 check(s) consistent of the re-run seeds only" in out
    assert "binomial noise" in out and "not checked (not re-run): synonym seeds 1, 2" in out
    out, err = cheat.communicate(timeout=900)
    assert cheat.returncode == 1, out + err
    assert "verify FAILED (consistent): 1 check(s) differ: synonym.synonym_accuracy (seed 0)" in out
    assert "fresh seeds 3 were trained" in out, "a failure stands only after the verifier's extra seed"


def test_verify_does_not_import_a_module_named_by_a_submission(board: Path, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "evil_model.py").write_text(f"open({str(marker)!r}, 'w').close()\nNet = None\n")
    sys.path.insert(0, str(tmp_path))
    try:
        path = board / "submissions" / "transformer-tiny.json"
        data = load(path)
        data["model_name"] = "evil_model:Net"
        for result in data["tasks"].values():
            result["model"]["name"] = "evil_model:Net"
        save(path, {**data, "content_hash": content_hash_of(data)})
        assert main(["leaderboard", "verify", str(path), "--seed", "0", "--task", "identity", "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--allow-import" in err[0] and "evil_model:Net" in err[0]
        assert not marker.exists(), "verify imported the submission's module without --allow-import"
        # With --allow-import it is imported (and then refused: Net is not a model factory)
        code = main(["leaderboard", "verify", str(path), "--seed", "0", "--task", "identity", "--quiet",
                     "--allow-import"])  # fmt: skip
        assert code == 2 and marker.exists()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("evil_model", None)


def test_schema_1_records_stay_readable(capsys) -> None:
    """A submission written with schema 1 (no numerics fingerprint; the standard suite v1
    baselines, kept in tests/data) still parses with its content hash intact, its stack reads
    'unknown' and can never promise bitwise equality; validate refuses it for its suite version
    and entries only, not for its schema."""
    from anchorbench.execution.numerics import describe, stack_differences, stack_fields
    from anchorbench.leaderboard.record import Submission

    data = json.loads(SCHEMA_1.read_text())
    assert data["schema_version"] == 1 and content_hash_of(data) == data["content_hash"]
    sub = Submission.model_validate(data)
    assert "CPU capability unknown" in describe(sub.env)
    assert stack_differences(sub.env, stack_fields("cpu")), "an unknown stack is never the same stack"
    assert main(["leaderboard", "validate", str(SCHEMA_1)]) == 1
    problems = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("- ")]
    assert problems and all(p.startswith(("- suite.", "- tasks.")) for p in problems), problems
    assert not any("schema" in p for p in problems), problems
