"""The reference seed spread: how far honest seeds of one suite entry's score lie apart.

``leaderboard verify`` on another numerics stack needs to know how much a score moves from one
honest draw to the next. Three re-runs estimate that badly (they can agree by chance), and the
submitter's own per-seed claims must never be used for it (forged seeds would vouch for each
other). So the band's seed term is floored by a spread the project measured on its own baseline
rows, frozen in ``reference_spread.json`` beside this file and shipped with the package: the
verifier reads that file, never the board's submissions folder, which a pull request could fill.

Per suite entry and score, over the baselines named in ``BASELINES``, the *typical* honest spread:

* accuracies and counts: the median within-entry seed standard deviation;
* losses: the median coefficient of variation (sd / mean): loss scales differ by three orders of
  magnitude between a converged and an untrained model, so the spread is taken relative.

The median, not the largest: the largest belongs to an architecture whose seeds split between
two outcomes (0.1 or 0.9 on the composite task), and as a floor for everyone it would make the
check powerless on exactly the scores worth forging. A model more variable than typical shows
it in its own re-runs, and where a claim falls outside a band ``verify`` re-runs extra fresh
seeds before it concludes (``--extra-seeds``): simulated on the baselines, that keeps honest
false alarms near zero (``anchorbench leaderboard power``).

Regenerate after the baselines change: ``python -m anchorbench.leaderboard.reference``.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

REFERENCE_FILE = Path(__file__).with_name("reference_spread.json")
BOARD = Path(__file__).resolve().parents[2] / "leaderboard" / "submissions"
# The project's baseline rows (baselines/run.sh), each recorded and verified by the project.
BASELINES = (
    "transformer-post-small", "transformer-post-large", "transformer-pre-small", "transformer-pre-large",
    "lstm", "mlp", "gru", "linear-attention", "selective-ssm", "rwkv", "hyena",
)  # fmt: skip


@dataclass(frozen=True)
class ReferenceSpread:
    sd: float | None = None  # absolute (accuracies, counts)
    cv: float | None = None  # relative to the mean (losses)

    def sd_at(self, mean: float) -> float:
        """The reference seed sd for a score whose re-runs average ``mean``."""
        if self.sd is not None:
            return self.sd
        return (self.cv or 0.0) * abs(mean)


def measure(folder: Path = BOARD) -> dict[str, Any]:
    """The reference, measured on the baseline submissions in ``folder``."""
    from anchorbench.leaderboard.record import Submission
    from anchorbench.registry import METRICS

    subs = {name: Submission.model_validate_json((folder / f"{name}.json").read_text()) for name in BASELINES}
    first = next(iter(subs.values()))
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for label, result in first.tasks.items():
        scores[label] = {}
        for score in result.scores:
            sds, cvs = [], []
            for sub in subs.values():
                values = [s.scores.get(score) for s in sub.tasks[label].seeds]
                values = [v for v in values if v is not None]
                if len(values) >= 2:
                    sd = statistics.stdev(values)
                    sds.append(sd)
                    mean = abs(statistics.fmean(values))
                    if mean > 0:
                        cvs.append(sd / mean)
            if METRICS.get(score).tolerance.kind == "loss":
                scores[label][score] = {"cv": round(statistics.median(cvs), 6)}
            else:
                scores[label][score] = {"sd": round(statistics.median(sds), 6)}
    return {
        "suite": {"id": first.suite.id, "version": first.suite.version, "spec_hash": first.suite.spec_hash},
        "sources": {name: sub.content_hash for name, sub in subs.items()},
        "rule": "accuracies and counts: median within-entry seed sd; losses: median coefficient of variation",
        "scores": scores,
    }


def write(path: Path = REFERENCE_FILE) -> Path:
    path.write_text(json.dumps(measure(), indent=2, sort_keys=True) + "\n")
    return path


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    return json.loads(REFERENCE_FILE.read_text())


def lookup(suite_id: str, suite_version: int, label: str, score: str) -> ReferenceSpread | None:
    """The reference spread of one score of one entry of the suite it was measured on; None for
    any other suite or version, the tuned track's other learning rates included (then the
    re-runs' own spread stands alone)."""
    ref = _load()
    if (suite_id, suite_version) != (ref["suite"]["id"], ref["suite"]["version"]):
        return None
    entry = ref["scores"].get(label, {}).get(score)
    return ReferenceSpread(**entry) if entry else None


if __name__ == "__main__":
    print(f"wrote {write()}")
