"""Constants and helpers of the leaderboard tests; their fixtures (tiny_runs, tiny_suite,
board: real submissions of a seconds-long stand-in suite) are in conftest.py."""

from __future__ import annotations

import json
from pathlib import Path

TINY_SUITE = str(Path(__file__).parent / "data" / "leaderboard-suite.yaml")
XSS_NAME = 'LSTM <script>document.title="pwned"</script> & <b>bold</b>'
MODELS = {"transformer": "Transformer (tiny)", "lstm": XSS_NAME, "mlp": "MLP | pipes"}


def submission_files(board: Path) -> list[Path]:
    return sorted((board / "submissions").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))
