"""What a finished run's model answers on one split, as offsets from the key.

Accuracy says how often the answer is the label, not what the other answers are. On
anchor-composite's held-out pair (4,3) that is the question: the composed value x-10
(inferential), the mirrored pair's x-6 (symmetric), or something else, e.g. x-7, the label of
the trained pair (4,2) (docs/reproductions.md). ``anchorbench answers RUN`` rebuilds the model
from the run's record, loads its model.pt, evaluates the split as the final evaluation did (the
same examples) and counts prediction - key.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anchorbench.errors import UserError


@dataclass(frozen=True)
class Offset:
    offset: int  # prediction - key
    share: float  # of the split's evaluated examples
    correct: float  # of the split's evaluated examples: those at this offset whose label it is
    marks: tuple[str, ...]  # what an answer at this offset is: the label, the symmetric answer, a trained group's label


@dataclass(frozen=True)
class Answers:
    run: str
    split: str
    n: int
    accuracy: float | None
    offsets: list[Offset]  # most frequent first


def _exact_offsets(values: np.ndarray, key: np.ndarray) -> Counter:
    return Counter((values.astype(np.int64) - key).tolist())


def _trained_offsets(split, group_names: tuple[str, ...]) -> dict[int, list[str]]:
    """offset -> the training groups whose every label is key + offset (e.g. 42 for x-7)."""
    key = split.meta["key"].astype(np.int64)
    named: dict[int, list[str]] = {}
    for g, name in enumerate(group_names):
        rows = split.groups == g
        found = set((split.labels[rows].astype(np.int64) - key[rows]).tolist())
        if len(found) == 1:
            named.setdefault(found.pop(), []).append(name.split("/")[0])
    return named


def answers(run_dir: Path, split: str) -> Answers:
    import torch

    from anchorbench.execution.plan import recorded_entry
    from anchorbench.execution.results import RunResult
    from anchorbench.files import read_json
    from anchorbench.training.loop import Evaluator

    if not (run_dir / "result.json").is_file():
        raise UserError(f"{run_dir} is not a finished run's folder (no result.json)")
    if not (run_dir / "model.pt").is_file():
        raise UserError(f"{run_dir} has no model.pt (the run's weights)")
    result = RunResult.model_validate(read_json(run_dir / "result.json"))
    plan = recorded_entry(
        result.task.id, result.task.id, result.task.params, (result.model.name, result.model.config),
        result.train, result.intervention,
    )  # fmt: skip
    if plan.task.objective != "last-token":
        raise UserError(
            f"answers reads one answer per example (last-token tasks); {result.task.id} is {plan.task.objective}"
        )
    dataset = plan.task.family_obj.generate(plan.params, result.seed)
    if split not in dataset.splits:
        raise UserError(f"{result.task.id} has no split '{split}' (splits: {', '.join(dataset.splits)})")
    if "key" not in dataset.splits[split].meta:
        raise UserError(f"split '{split}' of {result.task.id} has no key per example; answers are offsets from the key")
    model = plan.build_model(result.seed)
    model.load_state_dict(torch.load(run_dir / "model.pt", map_location="cpu"))
    one_split = dataclasses.replace(dataset, splits={split: dataset.splits[split]})  # the others are not read
    evaluated = Evaluator(one_split, plan.train, torch.device("cpu"))(model, 0)[split]
    s = evaluated.split
    key = s.meta["key"].astype(np.int64)
    offset_of = evaluated.preds.astype(np.int64) - key
    counts = Counter(offset_of.tolist())
    right = Counter(offset_of[evaluated.preds == s.labels].tolist())
    label = set(_exact_offsets(s.labels, key))
    symmetric = set(_exact_offsets(s.meta["symmetric"], key)) if "symmetric" in s.meta else set()
    trained = _trained_offsets(dataset.splits["train"], dataset.group_names) if split != "train" else {}
    offsets = []
    for offset, count in counts.most_common():
        marks = [m for m, hit in (("a label", offset in label), ("symmetric", offset in symmetric)) if hit]
        if offset in trained:
            marks.append("trained " + " ".join(sorted(set(trained[offset]))))
        offsets.append(Offset(offset, count / len(key), right[offset] / len(key), tuple(marks)))
    return Answers(str(run_dir), split, len(key), evaluated.accuracy(), offsets)


def answers_text(a: Answers, top: int) -> str:
    from anchorbench.render.tables import table

    rows = [[f"{o.offset:+d}", f"{o.share:.3f}", f"{o.correct:.3f}", ", ".join(o.marks)] for o in a.offsets[:top]]
    rest = a.offsets[top:]
    if rest:
        rows.append(
            [f"{len(rest)} more", f"{sum(o.share for o in rest):.3f}", f"{sum(o.correct for o in rest):.3f}", ""]
        )
    acc = "" if a.accuracy is None else f"; accuracy {a.accuracy:.3f}"
    head = f"{a.run}: split '{a.split}', {a.n} examples{acc}; prediction - key:"
    return head + "\n" + table(rows, ["offset", "share", "correct", "the answer of"])
