"""Forgeries of what a submitter controls: claimed seeds, the parameter count, the intervals and
timings the board shows, the environment (thread count, stack). Each must be caught by validate
(what can be recomputed from the file) or by verify (what only a re-run can tell)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from leaderboard_fixtures import load, save

from anchorbench.cli import main
from anchorbench.leaderboard.record import content_hash_of
from anchorbench.registry import METRICS
from anchorbench.scoring.stats import mean_ci

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "leaderboard" / "submissions" / "mlp.json"


def claim(data: dict, task: str, score: str, values: dict[int, float]) -> dict:
    """Claim ``values`` (seed -> value) and recompute everything validate checks: values, mean,
    interval, n, the content hash. Only a re-run can tell."""
    result = data["tasks"][task]
    for s in result["seeds"]:
        if s["seed"] in values:
            s["scores"][score] = values[s["seed"]]
    per_seed = [s["scores"][score] for s in result["seeds"]]
    result["scores"][score].update(values=per_seed, **mean_ci(per_seed, METRICS.get(score).bounds))
    return rehash(data)


def rehash(data: dict) -> dict:
    return {**data, "content_hash": content_hash_of(data)}


def validate(capsys, path: Path) -> tuple[int, list[str]]:
    code = main(["leaderboard", "validate", str(path)])
    out = capsys.readouterr().out
    return code, [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("- ")]


def test_forged_seeds_vouch_for_nobody_on_another_stack(tmp_path: Path, capsys) -> None:
    """The MLP's reverse recitation accuracy (about 0.01) claimed at 0.9 on seeds 1 and 2, every aggregate
    recomputed, the environment naming another CPU so that the statistical rule applies: verify
    re-runs every seed and names the forged ones."""
    data = claim(load(MLP), "recitation", "reverse_accuracy", {1: 0.9, 2: 0.9})
    data["env"]["cpu_capability"] = "AVX2"
    path = tmp_path / "mlp-forged.json"
    save(path, rehash(data))
    assert main(["leaderboard", "validate", str(path)]) == 0, "everything the file says is consistent in itself"
    capsys.readouterr()
    code = main(["leaderboard", "verify", str(path), "--task", "recitation", "--quiet", "--extra-seeds", "1"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "rule: consistent" in out and "cpu_capability AVX2 -> " in out
    assert "verify FAILED (consistent): 3 check(s) differ: recitation.reverse_accuracy (seed 1, seed 2, mean)" in out
    assert "fresh seeds 3 were trained" in out
    assert "not checked" not in out, "every seed is re-run by default"


def test_the_cross_stack_band_is_built_from_the_reruns_never_from_the_claims() -> None:
    """Claims [1.0, 1.0, honest] do not widen the band of the honest seed (they did when the seed
    term was the claimed values' spread), and honest claims pass."""
    from anchorbench.leaderboard.power import Entry, fails
    from anchorbench.leaderboard.suite import requirement

    req = requirement()
    entry = Entry("mlp", "recitation", "reverse_accuracy", (0.008, 0.004, 0.002), 500)
    reruns = np.array([0.006, 0.004, 0.003])
    suite = (req.id, req.version)
    assert not fails(entry, np.array([0.008, 0.004, 0.002]), reruns, reruns, suite)
    assert fails(entry, np.array([1.0, 1.0, 0.002]), reruns, reruns, suite)
    # a seed claimed 0.2 above its re-run fails alone, whatever the other claims say
    for others in ([0.004, 0.002], [1.0, 1.0], [0.5, 0.9]):
        assert fails(entry, np.array([0.206, *others]), reruns, reruns, suite)


def test_a_forged_parameter_count_is_refused_by_validate(tmp_path: Path, capsys) -> None:
    path = tmp_path / "mlp-small.json"
    data = load(MLP)
    save(path, rehash({**data, "n_params": 1}))
    code, problems = validate(capsys, path)
    assert code == 1 and problems == ["n_params: 1 is not the largest per-task model's recorded count (805,129)"]
    # lowering every per-task count as well: the recorded configs are built (not trained) and counted
    for result in data["tasks"].values():
        result["model"]["n_params"] = 1
    save(path, rehash({**data, "n_params": 1}))
    code, problems = validate(capsys, path)
    assert code == 1 and "tasks.recitation.model.n_params: 1 recorded, its config builds 674,057" in problems
    assert len(problems) == 4, problems  # one line per task


@pytest.mark.parametrize(
    "edit, problem",
    [
        (
            lambda t: t["scores"]["reverse_accuracy"].update(ci_high=0.5),
            "tasks.recitation.scores.reverse_accuracy.ci_high",
        ),
        (
            lambda t: t["scores"]["reverse_accuracy"].update(ci_low=0.0001),
            "tasks.recitation.scores.reverse_accuracy.ci_low",
        ),
        (lambda t: t["scores"]["test_accuracy"].update(n=2), "tasks.recitation.scores.test_accuracy.n"),
    ],
)
def test_an_edited_interval_is_refused_by_validate(tmp_path: Path, capsys, edit, problem: str) -> None:
    data = load(MLP)
    edit(data["tasks"]["recitation"])
    path = tmp_path / "edited.json"
    save(path, rehash(data))
    code, problems = validate(capsys, path)
    assert code == 1 and len(problems) == 1 and problems[0].startswith(problem + ": "), problems


def test_an_edited_timing_is_refused_and_only_recomputed_timing_is_shown(board: Path, capsys) -> None:
    path = board / "submissions" / "transformer-tiny.json"
    data = load(path)
    seeds = data["tasks"]["grokking"]["seeds"]
    assert all("0.95" in s["timing"] for s in seeds), "a submission carries each seed's timing"
    data["tasks"]["grokking"]["timing"]["0.95"]["km_median_t_gen"] = 10
    save(path, rehash(data))
    code, problems = validate(capsys, path)
    assert code == 1 and problems[0].startswith("tasks.grokking.timing.0.95.km_median_t_gen: "), problems
    # a seed's timing changed under an unchanged summary: the summary no longer follows from the seeds
    data = load(path)
    data["tasks"]["grokking"]["timing"]["0.95"]["km_median_t_gen"] = None
    seeds = data["tasks"]["grokking"]["seeds"]
    for s in seeds:
        s["timing"]["0.95"].update(t_gen=20, grokked=True)
    save(path, rehash(data))
    code, problems = validate(capsys, path)
    assert code == 1 and any(p.startswith("tasks.grokking.timing.0.95.grokked: ") for p in problems), problems


def test_verify_runs_on_the_verifiers_threads_not_the_records(board: Path, capsys) -> None:
    path = board / "submissions" / "transformer-tiny.json"
    data = load(path)
    data["env"]["threads"] = 100_000
    save(path, rehash(data))
    code = main(["leaderboard", "verify", str(path), "--seed", "0", "--task", "identity", "--quiet",
                 "--extra-seeds", "0"])  # fmt: skip
    out = capsys.readouterr().out
    assert "re-run on 1 thread(s) (the verifier's" in out and "threads 100000 -> 1" in out
    assert code == 0, "another thread count is another stack: the consistent rule, which an honest row passes"
    assert main(["leaderboard", "verify", str(path), "--threads", "100000", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--threads must be between 1 and" in err[0]


def test_sample_reruns_seeds_the_verifier_draws_and_says_what_it_left(board: Path, capsys) -> None:
    path = board / "submissions" / "transformer-tiny.json"
    assert main(["leaderboard", "verify", str(path), "--sample", "1", "--task", "identity", "--quiet"]) == 0
    out = capsys.readouterr().out
    drawn = int(out.split("seeds drawn by the verifier: identity: ")[1].split()[0])
    left = [s for s in (0, 1, 2) if s != drawn]
    assert f"not checked (not re-run): identity seeds {left[0]}, {left[1]}" in out
    assert "of the re-run seeds only" in out
    assert main(["leaderboard", "verify", str(path), "--sample", "1", "--seed", "0", "--quiet"]) == 2


def test_the_reference_spread_is_measured_on_the_committed_baselines_only() -> None:
    """The shipped file is what the named baselines give (regenerate: python -m
    anchorbench.leaderboard.reference), and those names are baselines/run.sh's rows."""
    from anchorbench.leaderboard.reference import BASELINES, REFERENCE_FILE, lookup, measure

    assert json.loads(REFERENCE_FILE.read_text()) == json.loads(json.dumps(measure()))
    run_sh = (ROOT / "baselines" / "run.sh").read_text()
    assert all(f"TITLE[{name}]" in run_sh for name in BASELINES)
    assert lookup("standard", 3, "recitation", "reverse_accuracy") is not None
    assert lookup("standard-tiny", 1, "identity", "test_accuracy") is None, "another suite has no reference"


def test_the_fingerprint_names_what_decides_the_kernels() -> None:
    from anchorbench.execution.numerics import STACK_FIELDS, stack_differences
    from anchorbench.execution.results import environment

    env = environment("cpu", 1)
    assert {"cpu_id", "cpu_isa", "mkl_dispatch", "dispatch_env"} <= set(STACK_FIELDS)
    if Path("/proc/cpuinfo").exists():
        assert " family " in env.cpu_id or env.cpu_id.startswith("arm ")
    code = {"recorded_code": "sha256:a", "rerun_code": "sha256:a"}
    # the same marketing name and capability on another CPU generation is another stack
    other = env.model_copy(update={"cpu_id": "GenuineIntel family 6 model 207 stepping 2"})
    assert [d.split()[0] for d in stack_differences(env, other, **code)] == ["cpu_id"]
    amx = env.model_copy(update={"cpu_isa": (env.cpu_isa or "") + " amx_tile"})
    assert [d.split()[0] for d in stack_differences(env, amx, **code)] == ["cpu_isa"]
    capped = env.model_copy(update={"dispatch_env": "MKL_ENABLE_INSTRUCTIONS=AVX2"})
    assert [d.split()[0] for d in stack_differences(env, capped, **code)] == ["dispatch_env"]
    # a record from before these fields cannot promise bitwise equality
    old = env.model_copy(update={"cpu_id": None, "cpu_isa": None, "mkl_dispatch": None, "dispatch_env": None})
    assert len(stack_differences(old, env, **code)) == 4


def test_verify_compares_each_seeds_grokking_time(board: Path, capsys) -> None:
    path = board / "submissions" / "transformer-tiny.json"
    assert main(["leaderboard", "verify", str(path), "--seed", "0", "--task", "grokking", "--quiet"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "t_gen(0.95)" in line)
    assert row.split()[-1] == "ok" and "—" not in row, "the re-run's timing is compared, censored at its budget"
    # a seed claimed to have generalized at step 10, its summary recomputed: only the re-run can tell
    data = load(path)
    seeds = data["tasks"]["grokking"]["seeds"]
    seeds[0]["timing"]["0.95"].update(t_gen=10, grokked=True)
    from anchorbench.execution.results import timing_summary

    per_seed = [s["timing"]["0.95"] for s in seeds]
    summary = timing_summary([t["t_gen"] for t in per_seed], [t["budget"] for t in per_seed],
                             [t["grokked"] for t in per_seed])  # fmt: skip
    summary.pop("survival")
    data["tasks"]["grokking"]["timing"]["0.95"] = summary
    save(path, rehash(data))
    assert main(["leaderboard", "validate", str(path)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "verify", str(path), "--seed", "0", "--task", "grokking", "--quiet"]) == 1
    assert "grokking.t_gen(0.95) (seed 0)" in capsys.readouterr().out
