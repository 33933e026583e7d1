"""Leaderboard: submit, validate (schema, hash, suite, seeds, scores, malformed files),
verify by re-run, build. Submissions are real: tiny runs of a stand-in suite."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from leaderboard_fixtures import MODELS, XSS_NAME, load, save, submission_files

from anchorbench.cli import main
from anchorbench.leaderboard.record import MAX_BYTES, content_hash_of, schema
from anchorbench.registry import METRICS
from anchorbench.scoring.stats import mean_ci

ROOT = Path(__file__).resolve().parent.parent


def validate(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str]:
    code = main(["leaderboard", "validate", *map(str, paths)])
    return code, capsys.readouterr().out


def rehash(data: dict) -> dict:
    return {**data, "content_hash": content_hash_of(data)}


def test_committed_schema_is_current_and_submissions_follow_it(board: Path) -> None:
    committed = json.loads((ROOT / "leaderboard" / "schema" / "submission.schema.json").read_text())
    assert committed == schema(), "regenerate: python -m anchorbench.leaderboard.record"
    for path in submission_files(board):
        jsonschema.validate(load(path), committed)


def test_fresh_submissions_validate(board: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = validate(capsys, board / "submissions")
    assert code == 0
    assert out.count("ok ") == len(MODELS) and "INVALID" not in out
    data = load(board / "submissions" / "transformer-tiny.json")
    assert data["suite"]["id"] == "standard-tiny" and data["model_name"] == "transformer"
    assert set(data["tasks"]) == {"identity", "grokking"}
    assert [s["seed"] for s in data["tasks"]["identity"]["seeds"]] == [0, 1, 2]
    assert data["n_params"] == max(t["model"]["n_params"] for t in data["tasks"].values()) > 0


def test_an_edited_score_fails_on_the_content_hash(board: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = board / "submissions" / "transformer-tiny.json"
    data = load(path)
    data["tasks"]["identity"]["scores"]["test_accuracy"]["mean"] += 0.1
    save(path, data)
    code, out = validate(capsys, board / "submissions")
    assert code == 1
    assert f"INVALID  {path}" in out and "content_hash: does not match" in out
    assert out.count("ok ") == len(MODELS) - 1  # the other files are still checked


def _raise_score(data: dict, task: str, score: str, delta: float) -> dict:
    """Change one seed's score and the aggregate consistently: only a re-run can tell."""
    result = data["tasks"][task]
    result["seeds"][0]["scores"][score] += delta
    values = [s["scores"][score] for s in result["seeds"]]
    result["scores"][score].update(values=values, **mean_ci(values, METRICS.get(score).bounds))
    return rehash(data)


def test_verify_reproduces_a_seed_and_catches_a_consistent_forgery(
    board: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = board / "submissions" / "transformer-tiny.json"
    assert main(["leaderboard", "verify", str(path), "--seed", "1", "--task", "identity", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "rule: exact (same numerics stack" in out
    assert "verified (exact): 4 check(s) reproduced exactly of the re-run seeds only" in out and "DIFFERS" not in out
    assert "not checked (not re-run): identity seeds 0, 2" in out, "--seed says what it does not cover"

    save(path, _raise_score(load(path), "identity", "test_loss", -0.05))
    code, _ = validate(capsys, path)
    assert code == 0, "a forgery with a recomputed hash passes validate..."
    assert main(["leaderboard", "verify", str(path), "--seed", "0", "--task", "identity", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "verify FAILED (exact): 1 check(s) differ: identity.test_loss (seed 0)" in out


def test_verify_refuses_a_config_that_does_not_hash_to_the_record(
    board: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = board / "submissions" / "transformer-tiny.json"
    data = load(path)
    data["tasks"]["identity"]["train"]["lr"] = 0.5  # claims another recipe than was run
    save(path, rehash(data))
    assert main(["leaderboard", "verify", str(path), "--seed", "0", "--task", "identity", "--quiet"]) == 2
    assert "does not hash to the recorded config_hash" in capsys.readouterr().err


MALFORMED = {
    "not-json.json": ("{ this is not json", "not JSON: "),
    "array.json": ("[1, 2, 3]", "top level must be a JSON object"),
    "empty-object.json": ("{}", "name: Field required"),
    "nan.json": (None, "tasks.identity.scores.test_accuracy.mean: NaN and infinities are not allowed"),
    "wrong-type.json": (None, "n_params: Input should be a valid integer"),
    "missing-field.json": (None, "env: Field required"),
    "two-seeds.json": (None, "tasks.identity.seeds: 2 distinct seed(s), at least 3 required"),
    "old-suite.json": (None, "suite.version: 0 is not the current version 1"),
    "missing-score.json": (None, "tasks.grokking.scores.test_loss: missing"),
    "huge.json": (None, f"over the {MAX_BYTES:,}-byte limit"),
    "binary.json": (None, "not UTF-8 text"),
}


def _malformed(name: str, good: dict, folder: Path) -> Path:
    path = folder / name
    text = MALFORMED[name][0]
    data = json.loads(json.dumps(good))
    if text is not None:
        path.write_text(text)
        return path
    if name == "nan.json":
        data["tasks"]["identity"]["scores"]["test_accuracy"]["mean"] = float("nan")
        path.write_text(json.dumps(data))  # json writes NaN, as a careless tool would
        return path
    if name == "wrong-type.json":
        data["n_params"] = "lots"
    elif name == "missing-field.json":
        del data["env"]
    elif name == "two-seeds.json":
        result = data["tasks"]["identity"]
        result["seeds"] = result["seeds"][:2]
    elif name == "old-suite.json":
        data["suite"]["version"] = 0
    elif name == "missing-score.json":
        del data["tasks"]["grokking"]["scores"]["test_loss"]
    elif name == "huge.json":
        data["description"] = "x" * (MAX_BYTES + 10)
    elif name == "binary.json":
        path.write_bytes(b"\xff\xfe\x00garbage")
        return path
    save(path, rehash(data))
    return path


def test_malformed_submissions_are_named_and_the_rest_still_checked(
    board: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = load(board / "submissions" / "mlp-pipes.json")
    bad = [_malformed(name, good, tmp_path) for name in MALFORMED]
    code, out = validate(capsys, *bad, board / "submissions" / "mlp-pipes.json")
    assert code == 1
    assert "ok       " + str(board / "submissions" / "mlp-pipes.json") in out
    blocks = out.split("INVALID  ")[1:]
    assert len(blocks) == len(MALFORMED)
    for name, (_, expected) in MALFORMED.items():
        block = next(b for b in blocks if b.startswith(str(tmp_path / name)))
        assert expected in block, (name, block)


def test_submit_refuses_other_runs_with_one_line(
    tiny_suite: str, tiny_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["submit", str(tmp_path), "--name", "x", "--out", str(tmp_path / "subs")]) == 2
    assert "is not a results folder" in capsys.readouterr().err
    quick = tmp_path / "quick"
    args = ["--set", "train.steps=5", "--set", "train.warmup_steps=1", "--out", str(quick), "--quiet"]
    assert main(["run", "quickstart", *args]) == 0
    capsys.readouterr()
    assert main(["submit", str(quick), "--name", "x", "--out", str(tmp_path / "subs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a run of 'quickstart', not of the 'standard-tiny' suite" in err[0]
    assert not (tmp_path / "subs").exists()


def test_a_changed_budget_is_valid_but_not_ranked(
    tiny_suite: str, tiny_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leaderboard_fixtures import TINY_SUITE

    out = tmp_path / "longer"
    args = ["run", TINY_SUITE, "--model", "mlp", "--seeds", "3", "--out", str(out), "--quiet"]
    assert main([*args, "--set", "train.steps=45"]) == 0
    capsys.readouterr()
    assert main(["submit", str(out), "--name", "Longer MLP", "--out", str(tmp_path / "subs")]) == 0
    assert "free-for-all (tasks.identity.train: steps differ" in capsys.readouterr().out
    code, text = validate(capsys, tmp_path / "subs")
    assert code == 0 and "free-for-all" in text


def test_build_escapes_names_and_ranks_by_mean_primary_score(board: Path) -> None:
    assert main(["leaderboard", "build", "--folder", str(board)]) == 0
    page = (board / "index.html").read_text()
    md = (board / "README.md").read_text()
    assert "<script>document" not in page and "&lt;script&gt;document.title=&quot;pwned&quot;" in page
    assert "<b>bold</b>" not in page and "<b>bold</b>" not in md
    assert "MLP \\| pipes" in md  # a pipe would split the Markdown row
    assert page.count("<script>") == 1  # only the page's own sorting script
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    ranked = md.split("## Ranked")[1].split("## Free-for-all")[0]
    rows = [line for line in ranked.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(MODELS)
    means = [float(r.split(" | ")[4].split()[0]) for r in rows]
    assert means == sorted(means, reverse=True)
    # the main table: rank, submission, model, params, the mean primary with its interval, one primary per task
    assert len(rows[0].split(" | ")) == 4 + 1 + 2 and "[" in rows[0].split(" | ")[4]
    assert "## Scores per task" in md and "### grokking" in md
    assert XSS_NAME not in md


def test_committed_submissions_validate_and_the_board_is_current(tmp_path: Path, capsys) -> None:
    """What CI checks on a pull request: every committed submission is valid against the
    current standard suite, and the committed README.md / index.html are what build makes."""
    import shutil

    committed = ROOT / "leaderboard"
    files = sorted((committed / "submissions").glob("*.json"))
    if files:
        code, out = validate(capsys, *files)
        assert code == 0, out
    shutil.copytree(committed / "submissions", tmp_path / "submissions")
    if (committed / "history").is_dir():
        shutil.copytree(committed / "history", tmp_path / "history")
    assert main(["leaderboard", "build", "--folder", str(tmp_path)]) == 0
    for name in ("README.md", "index.html"):
        assert (tmp_path / name).read_text() == (committed / name).read_text(), (
            f"leaderboard/{name} is stale: run `anchorbench leaderboard build`"
        )


def test_an_earlier_suite_version_stays_readable_as_a_historical_table(board: Path, capsys) -> None:
    """Rows recorded on an earlier suite version are kept beside the suite file they ran
    (history/<id>-v<N>/), checked against it, and shown in their own table, not ranked with the current."""
    import shutil

    from leaderboard_fixtures import TINY_SUITE

    kept = board / "history" / "standard-tiny-v1"
    kept.mkdir(parents=True)
    shutil.copy(TINY_SUITE, kept / "suite.yaml")
    for path in submission_files(board):
        shutil.move(path, kept / path.name)
    assert main(["leaderboard", "build", "--folder", str(board)]) == 0
    md = (board / "README.md").read_text()
    ranked = md.split("## Ranked")[1].split("## Free-for-all")[0]
    assert "No submissions yet." in ranked
    old = md.split("## Earlier version: suite `standard-tiny` v1 (historical)")[1]
    rows = [line for line in old.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(MODELS) and "[" in rows[0].split(" | ")[4]
    means = [float(r.split(" | ")[4].split()[0]) for r in rows]
    assert means == sorted(means, reverse=True)
    assert 'id="history-v1"' in (board / "index.html").read_text()
    # a kept row is still checked against the suite it ran: an edited score is refused
    path = kept / "transformer-tiny.json"
    data = load(path)
    data["tasks"]["identity"]["scores"]["test_accuracy"]["mean"] += 0.1
    save(path, data)
    capsys.readouterr()
    assert main(["leaderboard", "build", "--folder", str(board)]) == 1
    assert f"skipped invalid {path}: content_hash" in capsys.readouterr().err


def test_committed_configs_still_hash_to_their_recorded_config_hashes() -> None:
    """A field added to a task, model or train config must not move earlier runs' hashes
    (anchorbench.config.hashed): verify refuses a record whose config no longer hashes to it."""
    from anchorbench.leaderboard.record import Submission
    from anchorbench.leaderboard.verify import entry_plan

    files = sorted((ROOT / "leaderboard" / "submissions").glob("*.json"))
    assert files
    for path in files:
        sub = Submission.model_validate(json.loads(path.read_text()))
        for label, result in sub.tasks.items():
            plan = entry_plan(sub, label)
            for recorded in result.seeds:
                assert plan.config_hash(recorded.seed) == recorded.config_hash, (path.name, label, recorded.seed)


def test_the_board_ranks_each_entry_by_its_suites_primary_score(board: Path) -> None:
    """A suite entry may name the score it is ranked by (standard v2's 1-hop matching ranks by
    ood_query_accuracy: its ood split has a 1.0 shortcut); otherwise the task's primary score."""
    from anchorbench.leaderboard.build import primary_mean
    from anchorbench.leaderboard.record import Submission
    from anchorbench.leaderboard.suite import requirement

    entries = requirement().entries
    assert entries["identity"].primary_score == "train_accuracy"  # the entry's choice
    assert entries["grokking"].primary_score == "test_accuracy"  # the task's
    differs = False
    for path in submission_files(board):
        sub = Submission.model_validate(load(path))
        identity, grokking = sub.tasks["identity"].scores, sub.tasks["grokking"].scores
        want = (identity["train_accuracy"].mean + grokking["test_accuracy"].mean) / 2
        assert primary_mean(sub) == pytest.approx(want)
        differs |= identity["train_accuracy"].mean != identity["test_accuracy"].mean
    assert differs  # else this test could not tell the two rules apart


def test_a_suite_entry_naming_a_score_its_task_lacks_is_a_user_error() -> None:
    from anchorbench.errors import UserError
    from anchorbench.execution.plan import plan_entry
    from anchorbench.specs import SuiteEntry

    with pytest.raises(UserError, match="primary_score 'ood_accuracy' is not a score of anchor-identity-v1"):
        plan_entry(SuiteEntry(task="anchor-identity-v1", primary_score="ood_accuracy"), None, ())
