"""`anchorbench run --workers N`: the (entry, seed) runs on N processes, with the numbers of the
same command run one seed after another (same threads per run), measured here side by side."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_ARGS


def records(out: Path) -> dict[str, tuple]:
    found = {}
    for path in sorted(out.rglob("result.json")):
        r = json.loads(path.read_text())
        history = (path.parent / "history.jsonl").read_text()
        found[str(path.relative_to(out))] = (r["scores"], r["splits"], r["config_hash"], history)
    return found


def test_workers_give_the_numbers_of_a_sequential_run(cli, tmp_path):
    args = ["run", "anchor-identity-v1", *TINY_ARGS, "--seeds", "3", "--intervention", "orthogonal-noise"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli(*args, "--out", str(one)).code == 0
    r = cli(*args, "--out", str(two), "--workers", "2")
    assert r.code == 0, r.err
    a, b = records(one), records(two)
    assert len(a) == 6 and a == b  # 2 arms x 3 seeds, bitwise the same scores, splits and histories
    assert (two / "comparison.json").exists() and (two / "anchor-identity-v1" / "aggregate.json").exists()


def test_workers_must_be_positive(cli, tmp_path):
    r = cli("run", "anchor-identity-v1", *TINY_ARGS, "--workers", "0", "--out", str(tmp_path / "x"))
    assert r.code == 2 and len(r.err_lines) == 1 and "--workers" in r.err
    assert not (tmp_path / "x").exists()
