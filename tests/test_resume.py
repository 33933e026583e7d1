"""Kill a real run with SIGKILL, resume it, and end exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_ARGS, read_history, read_result, seed_dir, sets, snapshot

from anchorbench.errors import UserError
from anchorbench.execution.plan import Request, make_plan
from anchorbench.registry import METRICS
from anchorbench.training.loop import CHECKPOINT, HISTORY, Trainer

IDENTITY = "anchor-identity-v1"
# ~600 steps of a tiny model: a few seconds, long enough to kill the run in the middle.
STEPS = 600
LONG_ARGS = [
    *sets(
        ["task.n_train=200", "task.n_test=50", "model.d_model=32"],
        [f"train.steps={STEPS}", "train.warmup_steps=10", "train.eval_every=20", "train.threads=1"],
    ),
    "--quiet",
]
KILL_AFTER_EVALS = 4  # history lines (steps 0, 20, 40, 60) before the kill


def anchorbench(*argv: str) -> list[str]:
    return [sys.executable, "-m", "anchorbench", "run", IDENTITY, *argv]


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("resume")
    a, b = root / "A", root / "B"
    # The uninterrupted run B goes alongside A (one torch thread each, two cores).
    proc_b = subprocess.Popen(anchorbench(*LONG_ARGS, "--out", str(b)), cwd=root, stdout=subprocess.DEVNULL)
    proc_a = subprocess.Popen(
        anchorbench(*LONG_ARGS, "--out", str(a)), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    folder = seed_dir(a, IDENTITY)
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc_a.poll() is not None or (folder / "result.json").exists():
                pytest.skip(
                    f"run A ended (rc {proc_a.returncode}) before it could be killed; raise STEPS "
                    f"(stderr: {proc_a.stderr.read().decode()[-300:] if proc_a.stderr else ''})"
                )
            history = folder / HISTORY
            lines = len(history.read_text().splitlines()) if history.exists() else 0
            if (folder / CHECKPOINT).exists() and lines >= KILL_AFTER_EVALS:
                break
            assert time.monotonic() < deadline, "run A made no progress in 120 s"
            time.sleep(0.02)
        proc_a.kill()  # SIGKILL: no cleanup, no final writes
        proc_a.wait()
    finally:
        if proc_a.poll() is None:
            proc_a.kill()
            proc_a.wait()
    assert not (folder / "result.json").exists()
    assert (folder / CHECKPOINT).exists()
    resumed = subprocess.run(
        anchorbench(*LONG_ARGS, "--out", str(a), "--resume"), cwd=root, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert proc_b.wait(timeout=120) == 0
    return {"A": a, "B": b, "root": root}


def test_killed_and_resumed_run_ends_with_the_same_scores(killed_and_resumed: dict[str, Path]) -> None:
    a = read_result(killed_and_resumed["A"], IDENTITY)
    b = read_result(killed_and_resumed["B"], IDENTITY)
    assert a["status"] == b["status"] == "completed"
    assert a["steps_completed"] == b["steps_completed"] == STEPS
    assert a["scores"] == b["scores"]
    assert a["splits"] == b["splits"]
    assert a["config_hash"] == b["config_hash"]


def test_resumed_result_records_where_it_resumed(killed_and_resumed: dict[str, Path]) -> None:
    a = read_result(killed_and_resumed["A"], IDENTITY)
    b = read_result(killed_and_resumed["B"], IDENTITY)
    assert b["resumed_from"] is None
    assert isinstance(a["resumed_from"], int)
    assert 0 < a["resumed_from"] < STEPS
    assert a["resumed_from"] % 20 == 0  # checkpoints are written at the evaluations
    assert not (seed_dir(killed_and_resumed["A"], IDENTITY) / CHECKPOINT).exists()


def test_resumed_history_has_the_same_steps_without_duplicates(killed_and_resumed: dict[str, Path]) -> None:
    ha = read_history(killed_and_resumed["A"], IDENTITY)
    hb = read_history(killed_and_resumed["B"], IDENTITY)
    steps = [h["step"] for h in ha]
    assert steps == [h["step"] for h in hb]
    assert steps == list(range(0, STEPS + 1, 20))
    assert ha == hb  # every recorded number, not just the steps


def test_resuming_a_finished_run_is_a_no_op(killed_and_resumed: dict[str, Path], cli) -> None:
    b = killed_and_resumed["B"]
    seed_files = {k: v for k, v in snapshot(b).items() if "seed-" in k}
    r = cli("run", IDENTITY, *LONG_ARGS, "--out", str(b), "--resume")
    assert r.code == 0, r.err
    assert {k: v for k, v in snapshot(b).items() if "seed-" in k} == seed_files
    assert json.loads((b / IDENTITY / "aggregate.json").read_text())["scores"]["test_accuracy"]["values"] == [
        read_result(b, IDENTITY)["scores"]["test_accuracy"]
    ]


def test_resuming_with_a_changed_config_is_refused(killed_and_resumed: dict[str, Path], cli) -> None:
    b = killed_and_resumed["B"]
    before = snapshot(b)
    r = cli("run", IDENTITY, *LONG_ARGS, "--set", "train.lr=0.002", "--out", str(b), "--resume")
    assert r.code == 2
    assert len(r.err_lines) == 1 and r.err_lines[0].startswith("anchorbench: error:")
    assert snapshot(b) == before


def test_resume_without_out_continues_the_latest_matching_run(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("run", IDENTITY, *TINY_ARGS).code == 0
    (first,) = (tmp_path / "results").iterdir()
    result = read_result(first, IDENTITY)
    r = cli("run", IDENTITY, *TINY_ARGS, "--resume")
    assert r.code == 0, r.err
    assert list((tmp_path / "results").iterdir()) == [first]  # no new folder
    assert read_result(first, IDENTITY) == result


# -- the checkpoint itself, in-process -----------------------------------------------------------------------
TINY_SETS = ["task.n_train=200", "task.n_test=50", "model.d_model=32", "train.warmup_steps=5", "train.threads=1"]


def trainer(run_dir: Path, config_hash: str, extra: list[str], on_eval=None) -> Trainer:
    plan = make_plan(Request(IDENTITY, sets=(*TINY_SETS, *extra))).entries[0]
    torch.set_num_threads(1)
    dataset = plan.task.family_obj.generate(plan.params, 0)
    torch.manual_seed(0)
    model = plan.model.build(plan.params.vocab_size, plan.params.seq_len)
    metrics = [METRICS.get(n) for n in plan.task.scores]
    return Trainer(
        model, dataset, plan.train, seed=0, metrics=metrics, run_dir=run_dir,
        config_hash=config_hash, progress=False, on_eval=on_eval,
    )  # fmt: skip


class Interrupt(Exception):
    pass


def interrupt_at(step: int):
    def on_eval(record: dict) -> None:
        if record["step"] == step:
            raise Interrupt

    return on_eval


def test_checkpoint_of_another_config_is_refused(tmp_path: Path) -> None:
    extra = ["train.steps=40", "train.eval_every=20"]
    with pytest.raises(Interrupt):
        trainer(tmp_path, "sha256:one", extra, interrupt_at(40)).fit()
    assert (tmp_path / CHECKPOINT).exists()
    with pytest.raises(UserError, match="different configuration"):
        trainer(tmp_path, "sha256:two", extra).fit(resume=True)


def test_in_process_interruption_resumes_to_the_same_history(tmp_path: Path) -> None:
    extra = ["train.steps=60", "train.eval_every=20"]
    whole = trainer(tmp_path / "whole", "h", extra).fit()
    with pytest.raises(Interrupt):
        trainer(tmp_path / "cut", "h", extra, interrupt_at(40)).fit()
    resumed = trainer(tmp_path / "cut", "h", extra).fit(resume=True)
    assert resumed.resumed_from == 20  # the eval at 40 ran, its checkpoint was never written
    assert resumed.history == whole.history
    assert [json.loads(x) for x in (tmp_path / "cut" / HISTORY).read_text().splitlines()] == whole.history


def test_resume_from_a_checkpoint_between_evals_gives_the_same_history(tmp_path: Path) -> None:
    extra = ["train.steps=60", "train.eval_every=20", "train.checkpoint_every=30"]
    whole = trainer(tmp_path / "whole", "h", extra).fit()
    with pytest.raises(Interrupt):
        trainer(tmp_path / "cut", "h", extra, interrupt_at(40)).fit()
    resumed = trainer(tmp_path / "cut", "h", extra).fit(resume=True)
    assert resumed.resumed_from == 30
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history]
    assert resumed.history == whole.history
