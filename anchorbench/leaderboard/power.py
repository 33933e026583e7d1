"""``anchorbench leaderboard power``: how likely ``verify``'s consistent rule catches a forgery.

A simulation on the committed baselines. For each baseline row and suite entry, the honest
distribution of the entry's primary score is the row's own three seeds, smoothed (a draw is one
of them plus normal noise of half their spread, at least the split's binomial noise). The worst
case for the verifier is assumed: on another stack every re-run is an independent fresh draw
(on the same stack the exact rule applies, and any edit is caught with certainty). A forger
raises m of the three claimed seeds by delta (capped at 1); the forgery is caught when any
per-seed check or the mean check of that score fails and still fails once the verifier's extra
fresh seeds (``EXTRA_SEEDS``) join the spread, with the bands ``verify`` uses
(:func:`anchorbench.leaderboard.verify` via :mod:`anchorbench.scoring.tolerance`), the shipped
reference spread included. delta = 0 is the false-alarm rate on honest claims.

Deterministic for a fixed ``--reps`` (the generator is seeded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anchorbench.leaderboard.reference import BASELINES, BOARD, lookup
from anchorbench.leaderboard.verify import EXTRA_SEEDS
from anchorbench.scoring.tolerance import cross_stack_band, seed_sd_estimate

DELTAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
FORGED = (1, 2, 3)


@dataclass(frozen=True)
class Entry:
    row: str  # baseline name
    label: str
    score: str
    values: tuple[float, ...]  # the row's per-seed values
    n: int  # examples in the split the score is taken over


def entries(folder: Path = BOARD) -> list[Entry]:
    from anchorbench.leaderboard.record import Submission
    from anchorbench.leaderboard.suite import requirement
    from anchorbench.leaderboard.verify import entry_plan

    req = requirement()
    sizes: dict[str, int] = {}
    out = []
    for name in BASELINES:
        sub = Submission.model_validate_json((folder / f"{name}.json").read_text())
        for label, result in sub.tasks.items():
            score = req.entries[label].primary_score
            if label not in sizes:
                sizes[label] = split_size(entry_plan(sub, label), score)
            values = tuple(float(s.scores[score]) for s in result.seeds if s.scores.get(score) is not None)
            out.append(Entry(name, label, score, values, sizes[label]))
    return out


def split_size(plan, score: str) -> int:  # noqa: ANN001
    """The number of examples of the split a proportion is taken over (generated once, seed 0)."""
    from anchorbench.registry import METRICS

    split = METRICS.get(score).tolerance.split
    dataset = plan.task.family_obj.generate(plan.params, 0)
    return len(dataset.splits[split])


def caught(entry: Entry, claimed: np.ndarray, reruns: np.ndarray, suite: tuple[str, int]) -> bool:
    """verify's consistent rule on one entry's primary score: ``reruns`` holds the re-runs of the
    claimed seeds, then the extra fresh seeds the verifier trains when a first judgement fails."""
    k = len(claimed)
    first = fails(entry, claimed, reruns[:k], reruns[:k], suite)
    return first and (len(reruns) == k or fails(entry, claimed, reruns[:k], reruns, suite))


def fails(entry: Entry, claimed: np.ndarray, again: np.ndarray, pool: np.ndarray, suite: tuple[str, int]) -> bool:
    """Any per-seed check or the mean check fails, the seed spread taken over ``pool``."""
    from anchorbench.registry import METRICS

    tol = METRICS.get(entry.score).tolerance
    ref = lookup(suite[0], suite[1], entry.label, entry.score)
    sd, source = seed_sd_estimate(tol, [float(v) for v in pool], ref)
    noises = [tol.pair_noise(float(v), n=entry.n) for v in again]
    for c, r, noise in zip(claimed, again, noises):
        band, _ = cross_stack_band(tol, [float(r)], [noise], sd, what=source)
        if abs(c - r) > band:
            return True
    band, _ = cross_stack_band(tol, [float(v) for v in again], noises, sd, what=source)
    return abs(float(np.mean(claimed)) - float(np.mean(again))) > band


def draw(entry: Entry, rng: np.random.Generator, size: int) -> np.ndarray:
    values = np.array(entry.values)
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    p = float(np.clip(values.mean(), 0, 1))
    h = max(spread / 2, math.sqrt(p * (1 - p) / entry.n))
    return np.clip(rng.choice(values, size=size) + rng.normal(0, h, size=size), 0.0, 1.0)


def simulate(reps: int = 300, folder: Path = BOARD) -> dict[tuple[str, float, int], tuple[float, int]]:
    """(entry label, delta, seeds forged) -> (share caught, forgeries counted), pooled over the baseline rows.
    A forgery that the cap at 1 leaves smaller than delta / 2 on a seed is not counted (nothing to catch)."""
    from anchorbench.leaderboard.suite import requirement

    req = requirement()
    suite = (req.id, req.version)
    rng = np.random.default_rng(20261206)
    tally: dict[tuple[str, float, int], list[int]] = {}
    for entry in entries(folder):
        for _ in range(reps):
            claimed = draw(entry, rng, 3)
            reruns = draw(entry, rng, 3 + EXTRA_SEEDS)
            for delta in DELTAS:
                for m in FORGED if delta > 0 else (0,):
                    forged = claimed.copy()
                    forged[:m] = np.minimum(1.0, forged[:m] + delta)
                    if delta > 0 and np.any(forged[:m] - claimed[:m] < delta / 2):
                        continue
                    hit = caught(entry, forged, reruns, suite)
                    counts = tally.setdefault((entry.label, delta, m), [0, 0])
                    counts[0] += hit
                    counts[1] += 1
    return {key: (hits / total, total) for key, (hits, total) in tally.items()}


def markdown(result: dict[tuple[str, float, int], tuple[float, int]]) -> str:
    labels = list(dict.fromkeys(key[0] for key in result))
    head = "| score raised by | seeds forged | " + " | ".join(labels) + " |"
    lines = [head, "|" + "---|" * (2 + len(labels))]
    for delta in DELTAS:
        for m in FORGED if delta > 0 else (0,):
            cells = []
            for label in labels:
                share, total = result.get((label, delta, m), (float("nan"), 0))
                cells.append(f"{share:.2f} (n={total})" if total else "-")
            first = "0 (honest: false alarms)" if delta == 0 else f"+{delta:g}"
            lines.append(f"| {first} | {m if m else '-'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
