"""Statistics over seeds and atomic result IO."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from anchorbench import files
from anchorbench.files import read_json, read_jsonl, write_json, write_jsonl
from anchorbench.scoring.stats import mean_ci, t975


# -- mean_ci / t975 ------------------------------------------------------------------------------------
def test_mean_ci_of_known_values() -> None:
    got = mean_ci([1, 2, 3])
    half = 4.303 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n), sd = 1
    assert got["n"] == 3
    assert got["mean"] == pytest.approx(2.0)
    assert got["ci_low"] == pytest.approx(2.0 - half)
    assert got["ci_high"] == pytest.approx(2.0 + half)
    assert got["ci_high"] - got["mean"] == pytest.approx(2.4843, abs=1e-4)


def test_mean_ci_of_identical_values_has_zero_width() -> None:
    assert mean_ci([0.5, 0.5, 0.5, 0.5]) == {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5, "n": 4}


def test_mean_ci_of_one_value_has_no_interval() -> None:
    assert mean_ci([0.7]) == {"mean": 0.7, "ci_low": None, "ci_high": None, "n": 1}


def test_mean_ci_drops_none_and_non_finite_values() -> None:
    assert mean_ci([None, 1.0, float("nan"), 3.0, float("inf")]) == mean_ci([1.0, 3.0])
    assert mean_ci([None, 1.0, float("nan"), 3.0])["n"] == 2


@pytest.mark.parametrize("values", [[], [None], [float("nan"), None]])
def test_mean_ci_of_nothing_is_all_none(values: list) -> None:
    assert mean_ci(values) == {"mean": None, "ci_low": None, "ci_high": None, "n": 0}


@pytest.mark.parametrize(
    ("df", "quantile"),
    [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042), (40, 2.0211), (60, 2.0003), (120, 1.9799)],
)
def test_t975_matches_the_table(df: int, quantile: float) -> None:
    assert t975(df) == pytest.approx(quantile, abs=2e-4)


def test_t975_is_continuous_and_decreasing_across_the_table_edge() -> None:
    values = [t975(df) for df in range(25, 40)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert 0 < t975(30) - t975(31) < 0.005
    assert t975(10**6) == pytest.approx(1.959964, abs=1e-5)


def test_t975_needs_a_degree_of_freedom() -> None:
    with pytest.raises(ValueError):
        t975(0)


# -- atomic JSON IO ---------------------------------------------------------------------------------------
def test_write_json_round_trips_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "r.json"
    write_json(path, {"x": [1, 2.5, None], "y": "z"})
    assert read_json(path) == {"x": [1, 2.5, None], "y": "z"}


def test_write_json_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((Path(src), Path(dst)))
        assert not Path(dst).exists() or read_json(Path(dst)) == {"v": 1}  # old content until the swap
        return real_replace(src, dst)

    write_json(path, {"v": 1})
    monkeypatch.setattr(files.os, "replace", spy)
    write_json(path, {"v": 2})
    assert len(calls) == 1
    src, dst = calls[0]
    assert dst == path
    assert src.parent == path.parent and src != path  # a temp file in the same folder (same filesystem)
    assert read_json(path) == {"v": 2}


def test_failing_dump_leaves_the_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})
    before = path.read_bytes()

    def broken_dump(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(files.json, "dump", broken_dump)
    with pytest.raises(RuntimeError):
        write_json(path, {"v": 2})
    assert path.read_bytes() == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_write_json_refuses_non_finite_numbers(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})
    with pytest.raises(ValueError):
        write_json(path, {"v": bad})
    assert json.loads(path.read_text()) == {"v": 1}


def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})
    with pytest.raises(ValueError):
        write_json(path, {"v": float("nan")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_jsonl_round_trip_and_nan_refusal(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    rows = [{"step": 0, "loss": None}, {"step": 10, "loss": 1.5}]
    write_jsonl(path, rows)
    assert read_jsonl(path) == rows
    with pytest.raises(ValueError):
        files.append_jsonl(path, {"step": 20, "loss": float("nan")})
    assert read_jsonl(path) == rows


def test_ci_is_clipped_to_the_bounds_without_moving_the_mean() -> None:
    from anchorbench.scoring.stats import mean_ci

    values = [0.0, 0.001, 0.287]  # bimodal seeds: the raw t-interval reaches below 0
    raw = mean_ci(values)
    clipped = mean_ci(values, bounds=(0, 1))
    assert raw["ci_low"] < 0
    assert clipped["ci_low"] == 0 and clipped["ci_high"] == raw["ci_high"]
    assert clipped["mean"] == raw["mean"]
    assert mean_ci([0.99, 1.0, 0.5], bounds=(0, 1))["ci_high"] == 1


def test_accuracy_metrics_declare_unit_bounds() -> None:
    from anchorbench.registry import METRICS

    for name in METRICS.names():
        m = METRICS.get(name)
        if name.endswith("accuracy"):
            assert m.bounds == (0, 1), name
        if name.endswith("loss"):
            assert m.bounds == (0, None), name
