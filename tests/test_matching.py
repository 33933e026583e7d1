"""[MATCH] matching tasks: the papers' rules re-implemented row by row, and their scores."""

from __future__ import annotations

import numpy as np
import pytest

from anchorbench.errors import UserError
from anchorbench.registry import METRICS, TASKS
from anchorbench.scoring import Evaluation, SplitEval

CHAIN, ORDER = "matching-chain-v2", "matching-order-v2"
# v1's OOD rule (every OOD id unseen), as matching-chain-v1 built its ood split; v2 keeps it as ood_unseen.
V1_RULE = {"ood_rule": "unseen", "ood_low": 101, "ood_high": 200, "ood_shifts": None, "diagnostic_splits": False}


def generate(task: str, seed: int = 0, **params):
    spec = TASKS.get(task)
    p = spec.resolve_params({"n_train": 400, "n_test": 200, **params})
    return p, spec.family_obj.generate(p, seed)


def walk(row: list[int], chain_len: int, hops: int) -> int:
    """The k-th successor of the query, from the edge tokens of one row (a dict per row)."""
    edges = {row[2 * j]: row[2 * j + 1] for j in range(chain_len - 1)}
    node = row[-1]
    for _ in range(hops):
        node = edges[node]
    return node


@pytest.mark.parametrize("task", [CHAIN, ORDER])
@pytest.mark.parametrize("hops", [1, 2, 3])
def test_every_label_is_the_true_kth_successor_in_its_own_chain(task, hops):
    p, ds = generate(task, hops=hops)
    for name, s in ds.splits.items():
        for i in range(len(s)):
            row = s.tokens[i].tolist()
            k = row[-2] if task == ORDER else hops
            assert walk(row, p.chain_len, k) == int(s.labels[i]), (name, i)


@pytest.mark.parametrize("task", [CHAIN, ORDER])
@pytest.mark.parametrize("split", ["ood_unseen", "v1 rule"])
def test_ood_node_ids_never_occur_in_training_data(task, split):
    p, ds = generate(task, n_train=5000, **(V1_RULE if split == "v1 rule" else {}))
    train = ds.splits["train"].tokens.astype(int)
    assert not ((train >= p.ood_low) & (train <= p.ood_high)).any()
    ood = ds.splits["ood" if split == "v1 rule" else split].tokens.astype(int)
    nodes = ood[:, :-2] if task == ORDER else ood
    assert nodes.min() >= p.ood_low and nodes.max() <= p.ood_high


@pytest.mark.parametrize(
    "split, shifts", [("train", {0, 1, 4}), ("test", {2, 3}), ("ood", {0, 1, 2, 3, 4}), ("ood_unseen", {0, 1, 4})]
)
def test_edge_types_follow_the_successor_rule(split, shifts):
    p, ds = generate(CHAIN)
    tok = ds.splits[split].tokens.astype(int)
    parents, children = tok[:, 0:12:2], tok[:, 1:12:2]
    assert set(np.unique((children - parents) % 5).tolist()) == shifts
    # Successors land in whole blocks of 5 inside the split's id range (ood: shifted ids too).
    lo = p.ood_low if split == "ood_unseen" else p.node_low
    assert ((children - lo) // 5 >= 0).all()


def test_chains_have_distinct_nodes_and_shuffled_edges():
    p, ds = generate(CHAIN, n_train=2000)
    tok = ds.splits["train"].tokens.astype(int)
    nodes = np.concatenate([tok[:, 0:1], tok[:, 1:12:2]], axis=1)
    for row in tok:
        parents, children = row[0:12:2], row[1:12:2]
        assert len(set(parents) | set(children)) == p.chain_len
    # The first edge is not always the chain's first edge: edges are shuffled.
    first_is_root = [row[0] not in set(row[1:12:2]) for row in tok]
    assert 0.05 < np.mean(first_is_root) < 0.4
    assert nodes.shape[1] == p.chain_len


def test_sequence_layout_and_lengths():
    p, ds = generate(CHAIN)
    assert p.seq_len == 13 and ds.splits["train"].tokens.shape[1] == 13
    q, dq = generate(ORDER)
    assert q.seq_len == 14 and dq.splits["train"].tokens.shape[1] == 14
    assert set(np.unique(dq.splits["test"].tokens[:, -2]).tolist()) == {1, 2, 3}
    assert dq.group_names == ("k=1", "k=2", "k=3")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"hops": 0}, "task.hops"),
        ({"hops": 6}, "task.hops"),
        ({"chain_len": 3, "hops": 3}, "shorter than hops+1"),
        ({"ood_low": 90}, "overlap"),
        ({"test_shifts": [1, 2]}, "share an edge type"),
        ({"seq_len": 9}, "derived"),
    ],
)
def test_bad_params_are_one_line_user_errors(params, message):
    with pytest.raises(UserError) as info:
        TASKS.get(CHAIN).resolve_params(params)
    assert message in str(info.value) and "\n" not in str(info.value)


def _evaluation(ds, correct_by_k: dict[int, float]) -> Evaluation:
    s = ds.splits["test"]
    hops = s.meta["hops"]
    preds = s.labels.copy()
    rng = np.random.default_rng(0)
    for k, frac in correct_by_k.items():
        idx = np.flatnonzero(hops == k)
        wrong = rng.choice(idx, size=int(round(len(idx) * (1 - frac))), replace=False)
        preds[wrong] = 0
    return Evaluation(0, {"test": SplitEval(s, preds, np.zeros(len(s)))}, ds.group_names)


def test_max_hops_solved_counts_consecutive_solved_hop_counts():
    metric = METRICS.get("max_hops_solved")
    _, ds = generate(ORDER, hops=3, n_test=600)
    assert metric(_evaluation(ds, {1: 1.0, 2: 0.95, 3: 0.5})) == 2
    assert metric(_evaluation(ds, {1: 1.0, 2: 0.5, 3: 1.0})) == 1  # a gap stops the count
    assert metric(_evaluation(ds, {1: 0.2, 2: 1.0, 3: 1.0})) == 0
    _, chain = generate(CHAIN, hops=2)
    assert metric(_evaluation(chain, {2: 1.0})) == 2
    assert metric(_evaluation(chain, {2: 0.5})) == 0  # a failed 2-hop task solves nothing


# -- v2: the OOD split as the paper's code builds it ---------------------------------------------
CHAIN2, ORDER2 = "matching-chain-v2", "matching-order-v2"


@pytest.mark.parametrize("task", [CHAIN2, ORDER2])
@pytest.mark.parametrize("hops", [1, 2, 3])
def test_v2_ood_is_the_codes_rule_row_by_row(task, hops):
    """Undo the code's shift on every row: move the two trained-range ids back by +100 and the
    row must be a chain on unseen ids 120..199 (any edge type) whose k-hop walk ends at the
    label + 100; the two in-range ids are exactly the label and its predecessor."""
    p, ds = generate(task, hops=hops)
    s = ds.splits["ood"]
    guess = []  # the chance of "one of the in-range ids that is not the query", row by row
    for i in range(len(s)):
        row, label = s.tokens[i].tolist(), int(s.labels[i])
        k = row[-2] if task == ORDER2 else hops
        nodes = row[:-2] if task == ORDER2 else row[:-1]
        in_range = {t for t in nodes + [row[-1]] if 20 <= t <= 99}
        edges = {nodes[2 * j]: nodes[2 * j + 1] for j in range(p.chain_len - 1)}
        predecessor = next(a for a, b in edges.items() if b == label)
        assert in_range == {label, predecessor}, i
        assert all(120 <= t <= 199 for t in nodes + [row[-1]] if t not in in_range), i
        unshift = [t + 100 if t in in_range else t for t in row]
        assert walk(unshift if task == CHAIN2 else unshift[:-2] + [k, unshift[-1]], p.chain_len, k) == label + 100
        assert (row[-1] in in_range) == (k == 1), "the query is unseen unless it is the predecessor (k = 1)"
        guess.append(1 / len(in_range - {row[-1]}))
    assert s.meta["shortcut_chance"].tolist() == pytest.approx(guess)
    assert set(guess) == ({1.0} if hops == 1 else {0.5} if task == CHAIN2 else {1.0, 0.5})


def test_v2_diagnostic_splits():
    p, ds = generate(CHAIN2, hops=2)
    query = ds.splits["ood_query"]
    for i in range(len(query)):
        row = query.tokens[i].tolist()
        assert 120 <= row[-1] <= 199 and all(20 <= t <= 99 for t in row if t != row[-1]), i
        assert walk(row, p.chain_len, 2) == int(query.labels[i])
    unseen = ds.splits["ood_unseen"]
    assert (unseen.tokens >= 120).all() and (unseen.labels >= 120).all() and unseen.meta["context_only"].all()
    assert "shortcut_chance" not in ds.splits["ood_unseen"].meta


def test_context_only_predictions_point_into_the_input():
    """ood_unseen: an untied head never emits an id it never saw as a label; restricted to the
    input's tokens, the prediction is always one of them (and scoring can be above zero)."""
    from anchorbench.execution.plan import Request, make_plan
    from anchorbench.training.loop import Trainer

    plan = make_plan(Request(CHAIN2, sets=("task.n_train=500", "task.n_test=100", "model.d_model=32",
                                           "train.steps=2", "train.warmup_steps=1"))).entries[0]  # fmt: skip
    ds = plan.task.family_obj.generate(plan.params, 0)
    trainer = Trainer(plan.build_model(0), ds, plan.train, seed=0, progress=False)
    ev = trainer.evaluate(trainer.model, 0)
    s = ev["ood_unseen"]
    assert all(int(p) in set(row.tolist()) for p, row in zip(s.preds, s.split.tokens))
    assert not all(int(p) in set(row.tolist()) for p, row in zip(ev["ood"].preds, ev["ood"].split.tokens))
    assert METRICS.get("ood_shortcut_accuracy")(ev) == pytest.approx(0.5)


def test_v2_scores_are_registered_and_v1s_rule_still_builds_its_split():
    spec = TASKS.get(CHAIN2)
    assert {"ood_accuracy", "ood_shortcut_accuracy", "ood_query_accuracy", "ood_unseen_accuracy"} <= set(spec.scores)
    _, v1 = generate(CHAIN, hops=2, **V1_RULE)
    assert set(v1.splits) == {"train", "test", "ood"} and (v1.splits["ood"].tokens >= 101).all()


@pytest.mark.parametrize("retired, current", [("matching-chain-v1", CHAIN2), ("matching-order-v1", ORDER2)])
def test_v1_is_refused_with_v2_named(retired, current, capsys):
    from anchorbench.cli import main

    assert main(["run", retired, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert current in err and len(err.splitlines()) == 1


def test_v2_fields_are_hashed_only_when_set_away_from_v1():
    """v1 records (the standard suite v1's submissions) keep their spec hashes: the fields v2
    added enter a hash only when they differ from the value that builds v1's data."""
    from anchorbench.config import hashed

    family = TASKS.get(CHAIN).family_obj
    v1 = family.params.model_validate({"hops": 1, **V1_RULE})
    added = {"ood_rule", "ood_shifts", "ood_shift", "diagnostic_splits"}
    removed = {"noise_low", "noise_high"}  # no longer parameters, hashed at the values they always had
    assert set(hashed(v1)) == (set(v1.model_dump()) - added) | removed
    assert removed.isdisjoint(v1.model_dump())
    for key, value in (("ood_shifts", [0, 1, 2, 3, 4]), ("ood_shift", 50)):
        assert key in hashed(v1.model_copy(update={key: value}))
    assert {"ood_rule", "diagnostic_splits"} <= set(hashed(TASKS.get(CHAIN).resolve_params({})))


def test_matching_has_no_noise_parameters_and_old_records_naming_them_still_read():
    """The noise range never applied to matching; it is gone from its parameters. A record that
    lists it at the value it always had reads as before; any other value is refused."""
    spec = TASKS.get(CHAIN)
    assert "noise_low" not in spec.family_obj.params.model_fields
    assert spec.resolve_params({"noise_low": 20, "noise_high": 99}) == spec.resolve_params({})
    with pytest.raises(UserError, match="noise_low is not a parameter"):
        spec.resolve_params({"noise_low": 30})


def test_double_chain_has_two_disjoint_chains_and_the_label_is_on_the_querys_own():
    p, ds = generate("matching-double-chain-v1")
    n_edges = 2 * (p.chain_len - 1)
    for name in ("train", "test"):
        s = ds.splits[name]
        for i in range(len(s)):
            row = s.tokens[i].tolist()
            edges = {row[2 * j]: row[2 * j + 1] for j in range(n_edges)}
            assert len(edges) == n_edges and len(set(row[: 2 * n_edges])) == 2 * p.chain_len, (name, i)
            # two chains: exactly two nodes start one (a parent that is nobody's child)
            starts = set(edges) - set(edges.values())
            assert len(starts) == 2
            node, k = row[-1], row[-2]
            for _ in range(k):
                node = edges[node]
            assert node == int(s.labels[i])
        assert set(s.meta["query_chain"].tolist()) == {0, 1}  # the query is on either chain
    assert set(ds.group_names) == {"k=1", "k=2", "k=3"}
