"""What a new user trips over first (issue 22, part 4), each fixed and held here: help for every
argument, seeds as a count or a list, a module in the working folder, a shortened run with the
default warmup, ci's files beside its results, `list --json`, a plug-in's run header."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from leaderboard_fixtures import TINY_SUITE

from anchorbench.cli import build_parser
from anchorbench.registry import DYNAMICS_PROBES, INTERVENTIONS, MODELS, PROBES, TASKS
from anchorbench.specs import suite_paths, sweep_paths

PLUGIN = """
import torch
from torch import nn


class Net(nn.Module):  # no Config: kwargs checked against the signature
    def __init__(self, vocab_size, seq_len, width=16):
        super().__init__()
        self.embed, self.head = nn.Embedding(vocab_size, width), nn.Linear(width, vocab_size)

    def forward(self, tokens):
        return self.head(self.embed(tokens).cumsum(1))  # causal: a running sum
"""
FAST = ["--set", "train.steps=20", "--set", "task.n_train=200", "--set", "task.n_test=100", "--quiet"]


def parsers(parser: argparse.ArgumentParser, path: str = "anchorbench"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def test_top_level_help_speaks_to_users_and_every_argument_has_help() -> None:
    parser = build_parser()
    text = parser.format_help()
    assert "Thin:" not in text and "parse arguments" not in text  # not the module's developer docstring
    assert "architectures" in text and "anchorbench run quickstart" in text
    structural = (argparse._HelpAction, argparse._SubParsersAction)
    missing = [f"{path}: {action.dest}" for path, p in parsers(parser) for action in p._actions
               if not isinstance(action, structural) and not action.help]  # fmt: skip
    assert not missing, missing


def test_bench_only_names_every_benchmark() -> None:
    from anchorbench.bench import BENCHMARKS

    bench = dict(parsers(build_parser()))["anchorbench bench"]
    only = next(a for a in bench._actions if a.dest == "only")
    assert all(name in only.help for name in BENCHMARKS), only.help


def test_seeds_is_a_count_and_seed_list_names_them(cli) -> None:
    r = cli("run", "anchor-identity-v1", "--seeds", "3", "--dry-run")
    assert r.code == 0 and r.out.splitlines()[2].split()[-3:] == ["0,", "1,", "2"]
    r = cli("run", "anchor-identity-v1", "--seed-list", "0,5,7", "--dry-run")
    assert r.code == 0 and r.out.splitlines()[2].split()[-3:] == ["0,", "5,", "7"]
    r = cli("sweep", "af-identity-ncurve", "--seed-list", "4", "--dry-run")
    assert r.code == 0 and "x 1 seed(s)" in r.out


def test_a_model_in_the_working_folder_is_found_by_the_installed_command(tmp_path: Path) -> None:
    (tmp_path / "mymodels.py").write_text(PLUGIN)
    command = Path(sys.executable).parent / "anchorbench"  # the console script: no '' on its sys.path
    done = subprocess.run([str(command), "run", "anchor-identity-v1", "--model", "mymodels:Net", *FAST],
                          cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if "mymodels:Net" in line)
    assert "(; " not in header and "params)" in header  # a plug-in without Config: no empty size list


def test_a_shortened_run_clamps_the_default_warmup_and_refuses_a_chosen_one(cli, tmp_path: Path) -> None:
    r = cli("run", "anchor-identity-v1", "--set", "train.steps=60", "--out", str(tmp_path / "a"), *FAST[2:])
    assert r.code == 0, r.err
    result = json.loads(next((tmp_path / "a").glob("*/seed-0/result.json")).read_text())
    assert result["train"]["warmup_steps"] == 6  # the task's 100, cut to a tenth of the run
    r = cli("run", "anchor-identity-v1", "--set", "train.steps=60", "--set", "train.warmup_steps=100", "--dry-run")
    assert r.code == 2 and "set train.warmup_steps <= 60" in r.err


def test_ci_writes_its_report_files_with_the_results(tmp_path: Path, monkeypatch) -> None:
    from anchorbench.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["ci", "--suite", TINY_SUITE, "--save-baseline", "base.json", "--out", "results/gate", "--quiet"]
    assert main([*args, "--set", "train.threads=1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.json", "results"]  # nothing else in the cwd
    assert (tmp_path / "results" / "gate" / "junit.xml").is_file()
    assert "| identity | test_accuracy" in (tmp_path / "results" / "gate" / "summary.md").read_text()


def test_list_json_names_everything_a_user_can_name(cli) -> None:
    r = cli("list", "--json")
    assert r.code == 0
    found = json.loads(r.out)
    names = {key: {x.get("id") or x.get("name") for x in rows} for key, rows in found.items()}
    assert names["tasks"] == set(TASKS.names()) and names["models"] == set(MODELS.names())
    assert names["suites"] == set(suite_paths()) and names["sweeps"] == set(sweep_paths())
    assert names["interventions"] == set(INTERVENTIONS.names()) and names["probes"] == set(PROBES.names())
    assert names["dynamics_probes"] == set(DYNAMICS_PROBES.names())
    text = cli("list").out
    for title in ("Sweeps", "Interventions", "Mechanism probes", "Training-dynamics probes"):
        assert title in text
