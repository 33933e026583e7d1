"""[FREQ] frequency-grokking-v1: the paper's sampling, the spectrum probe, the scores of the training
course (the test-loss bump, the spurious amplitude, the delay) and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anchorbench.data.dataset import Split
from anchorbench.data.frequency import FrequencyParams, generate, train_points, verify
from anchorbench.scoring import frequency as fq
from anchorbench.scoring.dynamics import amplitudes
from anchorbench.scoring.evaluation import Evaluation, SplitEval

TASK = "frequency-grokking-v1"


def test_the_training_set_holds_the_papers_spurious_points_and_a_seeded_draw() -> None:
    p = FrequencyParams()
    x, kind = train_points(p, 0)
    assert len(x) == 65 and len(np.unique(x)) == 65 and np.all(np.diff(x) > 0)
    assert (kind == 1).sum() == 20 and (kind == 3).sum() == 10
    g = np.linspace(-np.pi, np.pi, 10_000)
    closest = np.sort(np.abs(np.sin(g) - np.sin(6 * g)))[19]
    assert np.all(np.abs(np.sin(x[kind == 1]) - np.sin(6 * x[kind == 1])) <= closest + 1e-12)
    assert np.array_equal(x[kind > 0], train_points(p, 1)[0][train_points(p, 1)[1] > 0])  # the same 30
    assert not np.array_equal(x, train_points(p, 1)[0])  # the rest is the seed's draw
    uniform = FrequencyParams(sampling="uniform")
    assert np.allclose(train_points(uniform, 0)[0], np.linspace(-np.pi, np.pi, 65))


def test_verify_passes_the_generator_and_catches_a_moved_point() -> None:
    p = FrequencyParams()
    ds = generate(p, 0)
    assert verify(ds, p) == []
    train = ds.splits["train"]
    i = int(np.flatnonzero(train.meta["kind"] == 1)[0])
    train.tokens[i, 0] += 0.3  # no longer where sin x meets sin 6x, and its target is wrong
    problems = verify(ds, p)
    assert any("not sin(6x)" in m for m in problems) and any("sin 1x" in m for m in problems)


def test_spurious_counts_must_fit_the_training_set() -> None:
    with pytest.raises(ValueError, match="n_train"):
        FrequencyParams(n_train=20)
    with pytest.raises(ValueError, match="other frequencies"):
        FrequencyParams(spurious=[(6, 5)])


def test_amplitudes_read_a_sine_on_an_even_grid() -> None:
    x = np.linspace(-np.pi, np.pi, 1000, endpoint=False)
    a = amplitudes(0.4 * np.sin(x) + np.sin(6 * x), x, 12)
    assert a[1] == pytest.approx(0.4, abs=1e-9) and a[6] == pytest.approx(1.0, abs=1e-9)
    assert np.delete(a, [1, 6]).max() < 1e-9


# -- the scores of the training course, on a made-up history ---------------------------------------------
def _evaluation(course: list[tuple[int, float, float]], low: list[float]) -> Evaluation:
    """The last point of ``course`` (step, train loss, test loss) as an evaluation, the rest as its
    history; ``low[i]``: the amplitude of frequency 1 at point i (target frequency 2: spectrum 0..4)."""
    y = np.sqrt(0.5) * np.ones((4, 1), dtype=np.float32)  # the zero function's test loss: 0.5
    split = Split(np.zeros((4, 1), dtype=np.float32), y, np.zeros(4, dtype=np.uint8), {})

    def at(loss: float) -> SplitEval:
        return SplitEval(split, np.zeros((4, 1)), np.full(4, loss))

    spectrum = [{"test": [0.0, a, 0.9, 0.0, 0.0]} for a in low]
    history = tuple(
        {"step": s, "splits": {"train": {"loss": tr}, "test": {"loss": te}}, "probes": {"spectrum": sp}}
        for (s, tr, te), sp in zip(course[:-1], spectrum[:-1])
    )
    s, tr, te = course[-1]
    return Evaluation(s, {"train": at(tr), "test": at(te)}, ("all",), {"spectrum": spectrum[-1]}, history)


def test_a_rise_of_the_test_loss_while_the_train_loss_falls_is_a_bump() -> None:
    course = [(0, 0.50, 0.50), (10, 0.40, 0.45), (20, 0.30, 0.49), (30, 0.04, 0.30), (40, 0.01, 0.04)]
    ev = _evaluation(course, [0.0, 0.3, 0.4, 0.2, 0.1])
    assert fq.test_loss_bump(ev) == pytest.approx((0.49 - 0.45) / 0.5) and fq.bump_seen(ev) == 1.0
    assert fq.spurious_amplitude(ev) == pytest.approx(0.4)  # the peak over the course, frequency 0 and 2 aside
    assert fq.grokking_delay(ev) == pytest.approx(40 - 30)  # below 0.05: train at 30, test at 40


def test_no_bump_when_the_test_loss_only_falls_or_rises_with_the_train_loss() -> None:
    falling = [(0, 0.5, 0.5), (10, 0.3, 0.4), (20, 0.1, 0.2)]
    assert fq.test_loss_bump(_evaluation(falling, [0.0] * 3)) == 0.0
    together = [(0, 0.5, 0.5), (10, 0.3, 0.4), (20, 0.35, 0.45)]  # both rose: Adam's jitter, not a bump
    assert fq.largest_rise(np.array([0.5, 0.3, 0.35]), np.array([0.5, 0.4, 0.45]))[0] == 0.0
    ev = _evaluation(together, [0.0] * 3)
    assert fq.bump_seen(ev) == 0.0 and np.isnan(fq.grokking_delay(ev))


# -- a short run end to end ------------------------------------------------------------------------------
def test_a_short_run_records_the_spectrum_scores_the_course_and_plots_it(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sets = ["model.width=200", "train.steps=400", "train.eval_dense_until=200"]
    r = cli("run", TASK, *[a for s in sets for a in ("--set", s)], "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    seed = out / TASK / "seed-0"
    result = json.loads((seed / "result.json").read_text())
    history = [json.loads(line) for line in (seed / "history.jsonl").read_text().splitlines()]
    spectra = [h["probes"]["spectrum"] for h in history]
    assert all(len(s["train"]) == len(s["test"]) == 13 for s in spectra) and "outputs_x" in spectra[0]
    assert "outputs_x" not in spectra[1]  # the shown points once, not in every record
    peak = max(max(s["test"][1:6]) for s in spectra)
    assert result["scores"]["spurious_amplitude"] == pytest.approx(peak)
    assert result["scores"]["bump_seen"] == float(result["scores"]["test_loss_bump"] > 0.01)
    r = cli("plot", str(seed))
    assert r.code == 0 and (seed / "spectrum.png").stat().st_size > 0
