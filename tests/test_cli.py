"""The `anchorbench` command in-process: list, show, export, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_ARGS, snapshot
from task_data import generated

from anchorbench.registry import METRICS, MODELS, TASKS
from anchorbench.specs import suite_paths

IDENTITY = "anchor-identity-v1"
COMPOSITE = "anchor-composite-v1"


# -- list / show -----------------------------------------------------------------------------------
def line_starting(text: str, word: str) -> str:
    lines = [line for line in text.splitlines() if line.split()[:1] == [word]]
    assert len(lines) == 1, f"{word!r} not listed once in:\n{text}"
    return lines[0]


def test_list_prints_tasks_with_versions_suites_models_and_metric_directions(cli) -> None:
    r = cli("list")
    assert r.code == 0
    for task_id in TASKS.names():
        assert str(TASKS.get(task_id).version) in line_starting(r.out, task_id).split()
    for suite in suite_paths():
        line_starting(r.out, suite)
    for model in MODELS.names():
        line_starting(r.out, model)
    for name in METRICS.names():
        assert METRICS.get(name).direction in line_starting(r.out, name)


def test_show_prints_one_example_per_group_the_split_sizes_and_the_rule(cli) -> None:
    r = cli("show", COMPOSITE, "--set", "task.n_train=500", "--set", "task.n_test=200", "--seed", "3")
    assert r.code == 0, r.err
    spec = TASKS.get(COMPOSITE)
    params = spec.resolve_params({"n_train": 500, "n_test": 200})
    ds = spec.family_obj.generate(params, 3)
    for group in ds.group_names:
        assert group in r.out, group
    for split in ("train 500", "test 200", "unseen 200"):
        assert split in r.out
    assert spec.family_obj.rule in r.out
    assert spec.spec_hash(params) in r.out
    # the example shown for a group is the first example of that group in the generated data
    g = ds.group_names.index("43/test-key")
    first = int(np.flatnonzero(ds.splits["unseen"].groups == g)[0])
    assert spec.family_obj.decode(ds, "unseen", first) in r.out


def test_show_rejects_non_task_overrides(cli) -> None:
    r = cli("show", COMPOSITE, "--set", "train.steps=3")
    assert r.code == 2
    assert r.err_lines == [r.err_lines[0]] and r.err_lines[0].startswith("anchorbench: error:")


# -- export -----------------------------------------------------------------------------------------
def test_export_npz_matches_the_generator(cli, tmp_path: Path) -> None:
    out = tmp_path / "data" / "train.npz"
    r = cli("export", COMPOSITE, "--seed", "4", "--set", "task.n_train=300", "--out", str(out))
    assert r.code == 0, r.err
    ds = generated(COMPOSITE, 4, n_train=300)[0]
    split = ds.splits["train"]
    with np.load(out) as f:
        assert set(f.files) == {"tokens", "labels", "groups", "group_names", *(f"meta_{k}" for k in split.meta)}
        for key in ("tokens", "labels", "groups"):
            assert f[key].dtype == np.uint8, key
        np.testing.assert_array_equal(f["tokens"], split.tokens)
        np.testing.assert_array_equal(f["labels"], split.labels)
        np.testing.assert_array_equal(f["groups"], split.groups)
        assert tuple(f["group_names"].tolist()) == ds.group_names
        for key, values in split.meta.items():
            np.testing.assert_array_equal(f[f"meta_{key}"], values)


def test_export_jsonl_matches_the_generator(cli, tmp_path: Path) -> None:
    out = tmp_path / "unseen.jsonl"
    r = cli("export", COMPOSITE, "--split", "unseen", "--seed", "2", "--set", "task.n_test=40", "--out", str(out))
    assert r.code == 0, r.err
    ds = generated(COMPOSITE, 2, n_test=40)[0]
    split = ds.splits["unseen"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(split) == 40
    for i, row in enumerate(rows):
        assert row["tokens"] == split.tokens[i].tolist()
        assert row["label"] == int(split.labels[i])
        assert row["group"] == ds.group_names[split.groups[i]]
        assert row["symmetric"] == int(split.meta["symmetric"][i])


def test_export_parquet_and_every_split_match_the_generator(cli, tmp_path: Path) -> None:
    import pandas as pd

    sets = ["--set", "task.n_train=60", "--set", "task.n_test=30"]
    r = cli("export", COMPOSITE, "--split", "all", "--seed", "3", *sets, "--out", str(tmp_path / "all.parquet"))
    assert r.code == 0, r.err
    ds = generated(COMPOSITE, 3, n_train=60, n_test=30)[0]
    table = pd.read_parquet(tmp_path / "all.parquet")
    assert list(table["split"].unique()) == list(ds.splits)  # every split, in the generator's order
    for name, split in ds.splits.items():
        rows = table[table["split"] == name]
        assert len(rows) == len(split)
        assert [list(t) for t in rows["tokens"]] == split.tokens.tolist()
        assert rows["label"].tolist() == split.labels.tolist()
        assert rows["group"].tolist() == [ds.group_names[g] for g in split.groups]
    assert cli("export", COMPOSITE, "--split", "all", *sets, "--out", str(tmp_path / "all.npz")).code == 0
    with np.load(tmp_path / "all.npz") as f:
        for name, split in generated(COMPOSITE, 0, n_train=60, n_test=30)[0].splits.items():
            np.testing.assert_array_equal(f[f"{name}_tokens"], split.tokens)
            np.testing.assert_array_equal(f[f"{name}_labels"], split.labels)


def test_export_refuses_to_overwrite_without_force(cli, tmp_path: Path) -> None:
    out = tmp_path / "x.npz"
    assert cli("export", IDENTITY, "--set", "task.n_train=20", "--out", str(out)).code == 0
    before = out.read_bytes()
    r = cli("export", IDENTITY, "--set", "task.n_train=20", "--seed", "1", "--out", str(out))
    assert r.code == 2
    assert r.err_lines[0].startswith("anchorbench: error:") and len(r.err_lines) == 1
    assert out.read_bytes() == before
    assert cli("export", IDENTITY, "--set", "task.n_train=20", "--seed", "1", "--out", str(out), "--force").code == 0
    with np.load(out) as f:
        np.testing.assert_array_equal(f["tokens"], generated(IDENTITY, 1, n_train=20)[0].splits["train"].tokens)


def test_export_unknown_split_writes_nothing(cli, tmp_path: Path) -> None:
    r = cli("export", IDENTITY, "--split", "unseen", "--out", str(tmp_path / "sub" / "x.npz"))
    assert r.code == 2
    assert "unseen" in r.err
    assert list(tmp_path.iterdir()) == []


# -- bad input: exit 2, one line, nothing written ---------------------------------------------------------
BROKEN_YAML = "id: broken\nversion: 1\ntitle: x\nruns: [\n  - task: anchor-identity-v1\n"
UNKNOWN_FIELD_SUITE = "id: extra\nversion: 1\ntitle: x\ncolour: red\nruns:\n  - task: anchor-identity-v1\n"
BAD_SET_SUITE = "id: badset\nversion: 1\ntitle: x\nruns:\n  - task: anchor-identity-v1\n    set: {train.stepz: 3}\n"

BAD_INPUT = {
    "unknown-task": (["run", "anchor-identiti-v1"], "Did you mean 'anchor-identity-v1'"),
    "outdated-version": (["run", "anchor-identity-v0"], "anchor-identity-v1"),
    "unknown-suite": (["run", "no-such-suite"], "no-such-suite"),
    "missing-suite-file": (["run", "missing.yaml"], "missing.yaml"),
    "unknown-model": (["run", IDENTITY, "--model", "transfomer"], "Did you mean 'transformer'"),
    "unknown-model-key": (["run", IDENTITY, "--set", "model.d_modle=8"], "model.d_modle"),
    "unknown-train-key": (["run", IDENTITY, "--set", "train.stepz=8"], "train.stepz"),
    "unknown-task-key": (["run", IDENTITY, "--set", "task.n_trian=8"], "task.n_trian"),
    "unknown-section": (["run", IDENTITY, "--set", "optim.lr=1"], "optim"),
    "wrong-type": (["run", IDENTITY, "--set", "train.steps=abc"], "train.steps"),
    "bad-task-param": (["run", IDENTITY, "--set", "task.noise_high=300"], "noise_high"),
    "malformed-yaml-suite": (["run", "broken.yaml"], "broken.yaml"),
    "suite-unknown-field": (["run", "extra.yaml"], "colour"),
    "suite-unknown-set-key": (["run", "badset.yaml"], "train.stepz"),
    "bad-seeds": (["run", IDENTITY, "--seeds", "abc"], "abc"),
    "repeated-seeds": (["run", IDENTITY, "--seed-list", "1,1"], "1,1"),
    "resume-nothing": (["run", IDENTITY, "--resume"], "resume"),
    "resume-empty-out": (["run", IDENTITY, "--resume", "--out", "fresh"], "resume"),
    "plugin-missing": (["run", IDENTITY, "--model", "ab_no_such_module_xyz:Net"], "ab_no_such_module_xyz"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: str, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, fragment = BAD_INPUT[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.yaml").write_text(BROKEN_YAML)
    (tmp_path / "extra.yaml").write_text(UNKNOWN_FIELD_SUITE)
    (tmp_path / "badset.yaml").write_text(BAD_SET_SUITE)
    before = snapshot(tmp_path)
    r = cli(*argv, "--quiet")
    assert r.code == 2
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith("anchorbench: error:")
    assert fragment in r.err_lines[0]
    assert "Traceback" not in r.err + r.out
    assert snapshot(tmp_path) == before  # no results folder, nothing else


def test_out_folder_with_results_is_not_reused_without_resume(cli, tmp_path: Path) -> None:
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "run.json").write_text("{}\n")
    before = snapshot(tmp_path)
    r = cli("run", IDENTITY, "--out", str(out), "--quiet")
    assert r.code == 2
    assert len(r.err_lines) == 1 and "--resume" in r.err_lines[0]
    assert snapshot(tmp_path) == before


def test_cuda_without_a_gpu_is_rejected_before_anything_is_written(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available")
    monkeypatch.chdir(tmp_path)
    r = cli("run", IDENTITY, *TINY_ARGS, "--set", "train.device=cuda")
    assert r.code == 2
    assert len(r.err_lines) == 1 and "cuda" in r.err_lines[0]
    assert list(tmp_path.iterdir()) == []
