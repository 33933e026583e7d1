"""`anchorbench answers`: a finished run's answers on a split, as offsets from the key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from anchorbench.registry import TASKS
from anchorbench.scoring.answers import _trained_offsets, answers
from tests.conftest import TINY_ARGS

COMPOSITE = "anchor-composite-v1"


@pytest.fixture(scope="module")
def composite_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anchorbench.cli import main

    out = tmp_path_factory.mktemp("answers") / "run"
    assert main(["run", COMPOSITE, "--seed-list", "1", "--set", "train.steps=120", *TINY_ARGS, "--out", str(out)]) == 0
    return out / COMPOSITE / "seed-1"


def test_the_shares_are_the_recorded_scores(composite_run: Path, cli):
    """The label's share is inferential_accuracy and the symmetric answer's share is
    symmetric_accuracy, as the run recorded them: the same model and the same examples."""
    scores = json.loads((composite_run / "result.json").read_text())["scores"]
    a = answers(composite_run, "unseen")
    assert a.n == 50 and sum(o.share for o in a.offsets) == pytest.approx(1.0)
    share = {o.offset: o.share for o in a.offsets}
    assert share.get(-10, 0.0) == pytest.approx(scores["inferential_accuracy"]) == pytest.approx(a.accuracy)
    assert share.get(-6, 0.0) == pytest.approx(scores["symmetric_accuracy"])
    assert [o.share for o in a.offsets] == sorted((o.share for o in a.offsets), reverse=True)
    for o in a.offsets:
        assert ("a label" in o.marks) == (o.offset == -10) and ("symmetric" in o.marks) == (o.offset == -6)
        assert o.correct == (o.share if o.offset == -10 else 0.0)  # (4,3)'s only label is x-10
    assert sum(o.correct for o in a.offsets) == pytest.approx(a.accuracy)
    r = cli("answers", str(composite_run), "--top", "2")
    assert r.code == 0 and "split 'unseen', 50 examples" in r.out
    listed = [line for line in r.out.splitlines() if re.match(r"[+-]\d+ ", line)]
    assert len(listed) == 2 and (len(a.offsets) == 2 or f"{len(a.offsets) - 2} more" in r.out)


def test_an_answer_names_the_trained_pairs_whose_label_it_is():
    spec = TASKS.get(COMPOSITE)
    params = spec.resolve_params({"n_train": 2000, "n_test": 50})
    ds = spec.family_obj.generate(params, 0)
    named = {k: set(v) for k, v in _trained_offsets(ds.splits["train"], ds.group_names).items()}
    # shifts 1:+5, 2:+1, 3:-2, 4:-8; (3,4) is overridden to -6 and (4,3) is held out
    assert named[-7] == {"24", "42"} and named[-6] == {"34"} and -10 not in named
    assert named[10] == {"11"} and named[-16] == {"44"}


def test_bad_input_is_one_line(composite_run: Path, tmp_path: Path, cli):
    for args, message in (
        ((str(tmp_path),), "is not a finished run's folder (no result.json)"),
        ((str(composite_run), "--split", "nope"), "has no split 'nope' (splits: train, test, unseen)"),
        ((str(composite_run), "--top", "0"), "--top must be at least 1"),
    ):
        r = cli("answers", *args)
        assert r.code == 2 and len(r.err_lines) == 1 and message in r.err and "Traceback" not in r.err, r.err
    weights = tmp_path / "copy"
    weights.mkdir()
    (weights / "result.json").write_text((composite_run / "result.json").read_text())
    r = cli("answers", str(weights))
    assert r.code == 2 and "has no model.pt" in r.err
