"""Tasks as instruments: the rank statistics (checked against scipy where it is installed and
against closed forms everywhere), and `validity screen` / `validity instrument` end to end on a
seconds-long suite."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from anchorbench.cli import main
from anchorbench.scoring import rank_stats as rs


def test_kendall_tau_b_orders_and_ties() -> None:
    assert rs.kendall_tau_b([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rs.kendall_tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # 10 pairs, ties: one in x, one in y; concordant 7, discordant 1 -> 6 / sqrt(9 * 9)
    assert rs.kendall_tau_b([1, 2, 2, 3, 4], [1, 3, 2, 2, 5]) == pytest.approx(6 / 9)
    assert math.isnan(rs.kendall_tau_b([1, 1, 1], [1, 2, 3]))


def test_the_t_distribution_and_welch_test() -> None:
    # closed forms: I_x(1, 1) = x, I_x(a, 1) = x^a; the t distribution with 1 df is Cauchy
    assert rs.betainc(1.0, 1.0, 0.3) == pytest.approx(0.3)
    assert rs.betainc(2.5, 1.0, 0.4) == pytest.approx(0.4**2.5)
    assert rs.t_two_sided_p(1.0, 1) == pytest.approx(0.5)
    assert rs.t_two_sided_p(2.0, 10) == pytest.approx(0.0733880, abs=1e-6)
    assert rs.welch_p([0.1, 0.2, 0.15], [0.3, 0.35, 0.5]) == pytest.approx(0.0421716, abs=1e-6)
    assert rs.welch_p([1.0, 1.0], [0.5, 0.5]) == 0.0 and rs.welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    with pytest.raises(ValueError):
        rs.welch_p([1.0], [1.0, 2.0])


def test_rank_statistics_agree_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.normal(0, 1, 4), rng.normal(0.5, 2, 3)
        assert rs.welch_p(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
        x, y = rng.integers(0, 4, 8), rng.integers(0, 4, 8)
        assert rs.kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, rel=1e-9)
        assert rs.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, rel=1e-9)


def test_holm_steps_down_and_stops_at_the_first_failure() -> None:
    # 4 hypotheses at 5%: 0.01 <= 0.05/4, 0.015 <= 0.05/3, then 0.03 > 0.05/2 stops (0.04 is not tried)
    assert rs.holm([0.03, 0.01, 0.015, 0.04]) == [False, True, True, False]
    assert rs.holm([0.03, 0.01, 0.02, 0.04]) == [False, True, False, False]  # 0.02 > 0.05/3
    assert rs.holm([0.001, 0.5]) == [True, False]


def test_separation_and_seed_stability_see_the_signal_and_its_absence() -> None:
    rng = np.random.default_rng(0)
    apart = [list(level + rng.normal(0, 0.01, 4)) for level in (0.1, 0.4, 0.7, 0.95)]
    same = [list(0.5 + rng.normal(0, 0.1, 4)) for _ in range(6)]
    assert rs.separated_share(apart) == (6, 6)
    assert rs.separated_share(same) == (0, 15)
    mean, low, high = rs.seed_split_tau(apart, reps=200)
    assert mean == pytest.approx(1.0) and low == pytest.approx(1.0)
    mean, low, high = rs.seed_split_tau(same, reps=400)
    assert abs(mean) < 0.2 and low < 0 < high
    assert rs.paired_tau(apart, apart[::-1], reps=100)[0] == pytest.approx(-1.0)


TINY = {
    "id": "tiny-candidates",
    "version": 1,
    "title": "two seconds-long entries",
    "runs": [
        {"task": "anchor-identity-v1", "name": "identity",
         "set": {"task.n_train": 100, "task.n_test": 50, "train.steps": 6, "train.batch_size": 20,
                 "train.eval_every": 3, "model.d_model": 16, "model.n_layers": 1, "model.d_ff": 32}},
        {"task": "anchor-composition-v1", "name": "composition",
         "set": {"task.n_train": 100, "task.n_test": 50, "train.steps": 4, "train.batch_size": 20,
                 "train.eval_every": 2, "model.d_model": 16, "model.n_layers": 1, "model.d_ff": 32}},
    ],
}  # fmt: skip
ROWS = ["transformer-pre-small", "transformer-post-large", "transformer-pre-large"]


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("screen")
    suite = root / "tiny.yaml"
    suite.write_text(yaml.safe_dump(TINY))
    rows = [a for r in ROWS for a in ("--row", r)]
    for budget in ("1", "2"):
        argv = ["validity", "screen", "--out", str(root / "out"), "--suite", str(suite), "--budget", budget,
                "--seeds", "2", "--quiet", *rows]  # fmt: skip
        assert main(argv) == 0
    return root / "out"


def test_screen_writes_each_condition_with_its_scaled_suite(screened: Path) -> None:
    one, two = (yaml.safe_load((screened / c / "suite.yaml").read_text()) for c in ("1x", "2x"))
    assert [r["set"]["train.steps"] for r in one["runs"]] == [6, 4]
    assert [r["set"]["train.steps"] for r in two["runs"]] == [12, 8]
    assert sorted(p.name for p in (screened / "2x").iterdir() if p.is_dir()) == sorted(ROWS)
    from anchorbench.api import load

    run = load(screened / "1x" / "transformer-post-large")
    result = run.entries["identity"].results[0]
    # the row's own settings (post-LN, large init) over the task's defaults, one thread per seed
    assert result.model.config["norm"] == "post" and result.model.config["init_rate"] == 0.3
    assert result.train["threads"] == 1 and result.train["steps"] == 6


def test_instrument_reports_every_metric_per_entry(screened: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validity", "instrument", str(screened), "--suite-entries", "identity,composition"]) == 0
    out = capsys.readouterr().out
    assert "Conditions: 1x, 2x (base 1x: 3 board rows" in out
    lines = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    for entry in ("identity", "composition", "suite mean"):
        cells = lines[entry].strip("|").split(" | ")
        assert len(cells) == 11
        assert cells[4].endswith(")") and "/3" in cells[4]  # three rows: three pairs
        assert "(1x->2x, 3)" in cells[6]  # budget tau over the three rows
        assert cells[7] == "-" and cells[8] == "-"  # no lr conditions, no text folder
    assert lines["identity"].split(" | ")[2] == "6"


def test_a_row_keeps_the_settings_it_recorded_on_every_entry() -> None:
    from anchorbench.leaderboard.instrument import row_sets
    from anchorbench.leaderboard.validity import board_rows

    sets = {r.slug: row_sets(r) for r in board_rows()}
    assert sets["transformer-post-large"]["model.norm"] == "post"
    assert sets["transformer-post-large"]["model.init_rate"] == 0.3
    assert sets["transformer-pre-small"]["model.norm"] == "pre"
    # settings the tasks choose differently stay the tasks' (matching's transformer is deeper)
    assert not {"model.n_layers", "model.n_heads", "model.max_len"} & set(sets["transformer-pre-small"])
    assert sets["rwkv"]["model.d_model"] == 128 and "model.max_len" not in sets["rwkv"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validity", "screen", "--out", "{tmp}/o", "--budget", "0"], "--budget and --lr must be positive"),
        (["validity", "screen", "--out", "{tmp}/o", "--row", "nope"], "--row nope: not a board row"),
        (["validity", "screen", "--out", "{tmp}/o", "--seeds", "1"], "--seeds must be at least 2"),
        (["validity", "instrument", "{tmp}/missing"], "no such folder"),
        (["validity", "instrument", "{tmp}"], "no base condition 1x/"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(argv, message, tmp_path, capsys) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_board_stands_in_for_a_condition(tmp_path: Path) -> None:
    """The committed board's rows as the base condition (nothing trained): every entry of the
    current suite measured on all eleven rows, with the suite's mean as one more instrument."""
    from anchorbench.leaderboard.instrument import from_board, report
    from anchorbench.leaderboard.reference import BOARD
    from anchorbench.leaderboard.suite import requirement

    folder = from_board(tmp_path / "board", BOARD)
    assert (folder / "suite.yaml").is_file() and len(list(folder.glob("*.json"))) == 11
    labels = list(requirement().entries)
    out = report(tmp_path / "board", suite_entries=labels, reps=50)
    assert "base 1x: 11 board rows" in out
    for label in [*labels, "suite mean"]:
        assert f"| {label} | " in out and "/55 (" in out.split(f"| {label} | ")[1].splitlines()[0]
    with pytest.raises(Exception, match="exists"):
        from_board(tmp_path / "board", BOARD)


def test_the_standard_suite_is_made_of_screened_candidates() -> None:
    """The standard suite's entries are candidates exactly (task, settings, ranked score), so the
    instrument figures measured on the candidates are those of the suite's runs."""
    from anchorbench.specs import load_suite

    candidates = {(e.task, tuple(sorted(e.set.items())), e.primary_score) for e in load_suite("candidates").runs}
    for entry in load_suite("standard").runs:
        assert (entry.task, tuple(sorted(entry.set.items())), entry.primary_score) in candidates, entry.label
