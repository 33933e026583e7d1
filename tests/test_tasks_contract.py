"""One contract for every registered task, then each family's rule re-implemented from the papers (docs/papers.md).

Generation throughput is benchmarked in tests/benchmarks, not here.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import numpy as np
import pytest

from anchorbench.data.dataset import Dataset, Split
from anchorbench.errors import UserError
from anchorbench.registry import TASKS

TASK_IDS = TASKS.names()
# Sequence tasks hold token ids; regression tasks (two-layer networks, docs/dynamics.md) hold floats,
# and part of the contract reads differently for them (shapes, dtypes, what a decoded line shows).
TOKEN_TASKS = [t for t in TASK_IDS if TASKS.get(t).objective != "regression"]
REGRESSION_TASKS = [t for t in TASK_IDS if TASKS.get(t).objective == "regression"]
# Causal language modelling: a label (the next token) at every position, [N, T].
ALL_TOKEN_TASKS = {t for t in TASK_IDS if TASKS.get(t).objective == "all-tokens"}
# Splits that are the same grid for every seed, as the papers fix them (the seed draws the init):
# [COND-PD]'s 4 points and test grid, [FREQ]'s evenly spaced test points.
SEED_FREE_SPLITS = {"condensation": {"train", "test"}, "frequency": {"test"}, "text": {"validation", "test"}}
# Regression tasks whose test grid may hold a training point: [COND-PD]'s test grid has the 4
# training points' ends, [FREQ]'s training points come from a grid that shares the test grid's ends.
GRID_TEST_FAMILIES = {"condensation", "frequency"}
# Regression tasks drawn i.i.d. from a distribution with atoms: [PLAW-SUP]'s sparse features leave
# about 1/e of the examples with no active feature (the all-zero input) in every split.
ATOM_FAMILIES = {"superposition"}
SMALL = {"n_train": 600, "n_test": 200}
NOISE_LOW, NOISE_HIGH = 20, 99  # the papers' common conventions
SHIFT = {1: 5, 2: 1, 3: -2, 4: -8}  # [AF], families 1 and 2
# The splits each family's docs promise (module docstrings in anchorbench/data/).
DOCUMENTED_SPLITS = {
    "anchor-identity": {"train", "test"},
    "anchor-composition": {"train", "test", "unseen"},
    "anchor-composite": {"train", "test", "unseen"},
    "sentence-grammar": {"train", "test", "yoking"},
    "text": {"train", "validation", "test"},
}
HELD_OUT_TASKS = [t for t in TASK_IDS if "held_out_pairs" in TASKS.get(t).family_obj.params.model_fields]


def fields(task_id: str) -> set[str]:
    return set(TASKS.get(task_id).family_obj.params.model_fields)


def small(task_id: str) -> dict[str, Any]:
    """Small sizes for the family: sampled families take n_train/n_test, modular a small p."""
    if "n_train" in fields(task_id):
        return {k: v for k, v in SMALL.items() if k in fields(task_id)}  # text: held-out splits tile blocks
    return {"p": 23} if "p" in fields(task_id) else {}


def params_for(task_id: str, **overrides: Any) -> Any:
    if "vocab_size" in overrides and "p" in fields(task_id):  # modular derives its vocab (p + 3) from p
        p = overrides.pop("vocab_size") - 3
        while any(p % d == 0 for d in range(2, int(p**0.5) + 1)):  # division needs a prime
            p += 1
        overrides["p"] = p
    if "vocab_size" in overrides and "corpus" in fields(task_id):  # text: the vocabulary is bytes, always 256
        overrides.pop("vocab_size")
    if "vocab_size" in overrides and "n_content" in fields(task_id):  # sentence-grammar: 1 + topics + content
        topics = TASKS.get(task_id).resolve_params(small(task_id)).n_topics
        overrides["n_content"] = overrides.pop("vocab_size") - 1 - topics
    return TASKS.get(task_id).resolve_params({**small(task_id), **overrides})


def a_changed_param(task_id: str) -> dict[str, Any]:
    # 610: a multiple of anchor-statistical's 5 copies
    return {"n_train": 610} if "n_train" in fields(task_id) else {"train_fraction": 0.4}


@cache
def dataset(task_id: str, seed: int) -> Dataset:
    return TASKS.get(task_id).family_obj.generate(params_for(task_id), seed)


def verify(task_id: str, ds: Dataset) -> list[str]:
    return TASKS.get(task_id).family_obj.verify(ds, params_for(task_id))


def with_split(ds: Dataset, name: str, split: Split) -> Dataset:
    return dataclasses.replace(ds, splits={**ds.splits, name: split})


def copy_split(s: Split) -> Split:
    return Split(s.tokens.copy(), s.labels.copy(), s.groups.copy(), {k: v.copy() for k, v in s.meta.items()})


def replace_row(ds: Dataset, target: str, source: str, i: int = 0, j: int = 0) -> Dataset:
    """``ds`` with row ``i`` of split ``target`` replaced by row ``j`` of split ``source``."""
    t, s = copy_split(ds.splits[target]), ds.splits[source]
    t.tokens[i], t.labels[i], t.groups[i] = s.tokens[j], s.labels[j], s.groups[j]
    return with_split(ds, target, t)


# -- the contract, for every registered task ------------------------------------------------------
@pytest.mark.parametrize("task_id", TASK_IDS)
def test_same_seed_gives_identical_arrays(task_id: str) -> None:
    spec = TASKS.get(task_id)
    a = spec.family_obj.generate(params_for(task_id), 7)
    b = spec.family_obj.generate(params_for(task_id), 7)
    assert a.group_names == b.group_names
    assert list(a.splits) == list(b.splits)
    for name in a.splits:
        sa, sb = a.splits[name], b.splits[name]
        for field in ("tokens", "labels", "groups"):
            x, y = getattr(sa, field), getattr(sb, field)
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y, err_msg=f"{name}.{field}")
        assert sa.meta.keys() == sb.meta.keys()
        for key in sa.meta:
            np.testing.assert_array_equal(sa.meta[key], sb.meta[key], err_msg=f"{name}.meta[{key}]")


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_different_seeds_give_different_data(task_id: str) -> None:
    a, b = dataset(task_id, 0), dataset(task_id, 1)
    fixed = SEED_FREE_SPLITS.get(TASKS.get(task_id).family, set())
    for name in a.splits:
        same = np.array_equal(a.splits[name].tokens, b.splits[name].tokens)
        assert same == (name in fixed), name


@pytest.mark.parametrize(
    "task_id",
    [t for t in TASK_IDS if TASKS.get(t).family not in GRID_TEST_FAMILIES | ATOM_FAMILIES],
)
def test_train_and_test_share_no_sequence(task_id: str) -> None:
    ds = dataset(task_id, 0)
    rows = {name: {bytes(r) for r in s.tokens} for name, s in ds.splits.items()}
    assert not rows["train"] & rows["test"]  # by construction (key split) and by independent streams


@pytest.mark.parametrize("task_id", TOKEN_TASKS)
def test_documented_splits_exist_with_their_sizes(task_id: str) -> None:
    spec = TASKS.get(task_id)
    ds = dataset(task_id, 0)
    expected = DOCUMENTED_SPLITS.get(spec.family, {"train", "test"})
    assert expected <= set(ds.splits)
    if "n_train" in fields(task_id):
        assert len(ds.splits["train"]) == SMALL["n_train"]
        p = params_for(task_id)
        for name in set(ds.splits) - {"train"}:  # a split with a size of its own: n_<split>
            if spec.family == "text":  # held-out windows tile fixed blocks (tests/test_text.py)
                continue
            assert len(ds.splits[name]) == getattr(p, f"n_{name}", SMALL["n_test"]), name
    else:  # exhaustive families: the splits partition every example
        p = params_for(task_id)
        assert len(ds.splits["train"]) == round(p.train_fraction * p.n_pairs())
        assert sum(len(x) for x in ds.splits.values()) == p.n_pairs()


@pytest.mark.parametrize("task_id", TOKEN_TASKS)
def test_shapes_are_consistent(task_id: str) -> None:
    ds = dataset(task_id, 0)
    for name, s in ds.splits.items():
        n = len(s)
        assert s.tokens.shape == (n, ds.seq_len), name
        labels = (n, ds.seq_len) if task_id in ALL_TOKEN_TASKS else (n,)
        assert s.labels.shape == labels and s.groups.shape == (n,), name
        for key, values in s.meta.items():
            assert values.shape[0] == n, f"{name}.meta[{key}]"


@pytest.mark.parametrize("task_id", TOKEN_TASKS)
def test_tokens_and_labels_lie_in_the_vocab_without_padding(task_id: str) -> None:
    ds = dataset(task_id, 0)
    for name, s in ds.splits.items():
        for arr in (s.tokens, s.labels):
            assert arr.min() >= 1, f"{name}: token 0 is padding and must never appear"
            assert arr.max() <= ds.vocab_size - 1, name


@pytest.mark.parametrize("vocab_size", [201, 256, 257])
@pytest.mark.parametrize("task_id", TOKEN_TASKS)
def test_tokens_use_the_smallest_unsigned_dtype(task_id: str, vocab_size: int) -> None:
    p = params_for(task_id, vocab_size=vocab_size)
    ds = TASKS.get(task_id).family_obj.generate(p, 0)
    expected = np.uint8 if ds.vocab_size <= 256 else np.uint16
    for name, s in ds.splits.items():
        assert s.tokens.dtype == expected, name
        assert s.labels.dtype == expected, name


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_every_group_index_names_an_existing_group(task_id: str) -> None:
    ds = dataset(task_id, 0)
    assert len(set(ds.group_names)) == len(ds.group_names)
    for name, s in ds.splits.items():
        assert s.groups.max() < len(ds.group_names), name
        assert sum(ds.group_sizes(name).values()) == len(s)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_verify_accepts_the_generated_data(task_id: str) -> None:
    for seed in (0, 1):
        assert verify(task_id, dataset(task_id, seed)) == []


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_verify_detects_a_corrupted_label(task_id: str) -> None:
    ds = dataset(task_id, 0)
    train = copy_split(ds.splits["train"])
    train.labels[3] += 1
    problems = verify(task_id, with_split(ds, "train", train))
    assert any(p.startswith("train") and ("label" in p or "target" in p) for p in problems), problems


KEY_SPLIT_TASKS = [t for t in TASK_IDS if "key_mod" in fields(t) or "test_shifts" in fields(t)]


@pytest.mark.parametrize("task_id", KEY_SPLIT_TASKS)
def test_verify_detects_a_test_key_in_train(task_id: str) -> None:
    problems = verify(task_id, replace_row(dataset(task_id, 0), "train", "test"))
    assert any(p.startswith("train") and "wrong type" in p for p in problems), problems


@pytest.mark.parametrize("task_id", HELD_OUT_TASKS)
def test_verify_detects_a_held_out_pair_in_train(task_id: str) -> None:
    problems = verify(task_id, replace_row(dataset(task_id, 0), "train", "unseen"))
    assert any(p.startswith("train") and "held-out" in p for p in problems), problems


@pytest.mark.parametrize("task_id", TOKEN_TASKS)
def test_decode_shows_the_label(task_id: str) -> None:
    ds = dataset(task_id, 0)
    family = TASKS.get(task_id).family_obj
    for name, s in ds.splits.items():
        line = family.decode(ds, name, 0)
        if family.name == "text":  # every position's label: the next bytes, as text
            assert repr(bytes(s.labels[0]).decode("utf-8", errors="replace")) in line, line
        elif task_id in ALL_TOKEN_TASKS:  # every position's label, in the family's words
            assert len(line.split("->  ")[1].split()) >= ds.seq_len, line
        else:
            assert f"->  {int(s.labels[0])}" in line, line


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_spec_hash_is_stable_and_tracks_params(task_id: str) -> None:
    spec = TASKS.get(task_id)
    base = spec.spec_hash(params_for(task_id))
    assert base == spec.spec_hash(params_for(task_id))
    assert base.startswith("sha256:")
    assert spec.spec_hash(params_for(task_id, **a_changed_param(task_id))) != base


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_unknown_param_is_a_one_line_user_error(task_id: str) -> None:
    with pytest.raises(UserError) as info:
        params_for(task_id, no_such_param=1)
    assert "task.no_such_param" in str(info.value)
    assert "\n" not in str(info.value)


BAD_PARAMS = [
    ("anchor-identity-v1", {"noise_high": 201}),  # noise outside the vocab
    ("anchor-identity-v1", {"anchor": 25}),  # anchor collides with noise
    ("anchor-identity-v1", {"vocab_size": 100}),  # keys b + p leave the vocab
    ("anchor-identity-v1", {"n_train": "many"}),
    ("anchor-composition-v1", {"label_overrides": {"3x": 1}}),
    ("anchor-composition-v1", {"held_out_pairs": [[3, 7]]}),  # anchor 7 has no shift
    ("anchor-composition-v1", {"noise_high": 201}),
    ("anchor-composition-v1", {"shifts": {1: 150, 2: 1, 3: -2, 4: -8}}),  # labels leave the vocab
    ("anchor-composite-v1", {"label_overrides": {"3x": -6}}),
    ("anchor-composite-v1", {"held_out_pairs": [[4, 7]]}),
    ("anchor-composite-v1", {"noise_high": 201}),
    ("anchor-composite-v1", {"label_overrides": {"34": -60}}),  # labels below 1
    ("anchor-composite-v1", {"vocab_size": 100}),  # labels above the vocab
    ("anchor-composite-v1", {"held_out_pairs": [[a, b] for a in range(1, 5) for b in range(1, 5)]}),
    ("anchor-statistical-v1", {"p_x": 0.75}),  # 5 copies x 0.75 is not a whole number of copies
    ("anchor-statistical-v1", {"p_x": 1.0}),  # no x+1 at all
    ("anchor-statistical-v1", {"copies": 1}),
    ("anchor-statistical-v1", {"n_train": 301}),  # not whole inputs
    ("anchor-statistical-v1", {"n_test": 201}),  # the test split holds pairs
    ("anchor-statistical-v1", {"vocab_size": 107}),  # x+1 of the largest key leaves the vocab
    ("anchor-multi-interval-v1", {"intervals": [[20, 60], [50, 90]]}),  # overlapping: a key names no interval
    ("anchor-multi-interval-v1", {"intervals": [[20, 61], [61, 101]]}),  # width not a multiple of key_mod
    ("anchor-multi-interval-v1", {"trained": [[3, 0], [3, 1], [4, 0], [4, 1]]}),  # nothing held out
    ("anchor-multi-interval-v1", {"trained": [[5, 0]]}),  # anchor 5 has no shift
    ("anchor-multi-interval-v1", {"shifts": {3: 0, 4: 150}}),  # labels leave the vocab
    ("anchor-multi-interval-v1", {"shifts": {3: 0, 40: 1}}),  # an anchor inside the noise range
    ("anchor-synonym-v1", {"trained_pairs": [[4, 9], [1, 2]]}),  # a held-out pair trained
    ("anchor-synonym-v1", {"trained_pairs": [[5, 9]]}),  # anchor 5 has no shift
    ("anchor-synonym-v1", {"trained_pairs": []}),
]


@pytest.mark.parametrize(("task_id", "overrides"), BAD_PARAMS, ids=[f"{t}-{list(o)[0]}" for t, o in BAD_PARAMS])
def test_bad_params_are_user_errors(task_id: str, overrides: dict[str, Any]) -> None:
    with pytest.raises(UserError) as info:
        TASKS.get(task_id).resolve_params({**small(task_id), **overrides})
    assert "\n" not in str(info.value)


# -- helpers shared by the family-specific checks ---------------------------------------------------
def anchor_positions(tokens: np.ndarray, is_anchor: np.ndarray, count: int) -> np.ndarray:
    """Column of the first anchor per row, asserting each row has exactly ``count`` anchors."""
    assert (is_anchor.sum(axis=1) == count).all()
    return is_anchor.argmax(axis=1)


def noise_mask(shape: tuple[int, int], start: np.ndarray, width: int) -> np.ndarray:
    cols = np.arange(shape[1])[None, :]
    return (cols < start[:, None]) | (cols >= start[:, None] + width)


# -- identity [AF] --------------------------------------------------------------------------------
IDENTITY = "anchor-identity-v1"


@pytest.mark.parametrize("split", ["train", "test"])
def test_identity_label_is_the_token_after_anchor_3(split: str) -> None:
    s = dataset(IDENTITY, 0).splits[split]
    tokens = s.tokens.astype(np.int64)
    pos = anchor_positions(tokens, tokens == 3, 1)
    assert pos.max() <= tokens.shape[1] - 2  # the key fits after the anchor
    np.testing.assert_array_equal(s.labels, tokens[np.arange(len(s)), pos + 1])


def test_identity_mod_split_sends_b_divisible_by_8_to_test() -> None:
    ds = dataset(IDENTITY, 0)
    for split, want_test in (("train", False), ("test", True)):
        tokens = ds.splits[split].tokens.astype(np.int64)
        pos = anchor_positions(tokens, tokens == 3, 1)
        b = tokens[np.arange(len(tokens)), pos + 1] - pos
        assert ((b >= NOISE_LOW) & (b <= NOISE_HIGH)).all()
        assert ((b % 8 == 0) == want_test).all(), split


def test_identity_positions_cover_0_to_7_and_groups_name_them() -> None:
    ds = dataset(IDENTITY, 0)
    s = ds.splits["train"]
    tokens = s.tokens.astype(np.int64)
    pos = anchor_positions(tokens, tokens == 3, 1)
    assert set(pos.tolist()) == set(range(8))
    assert [ds.group_names[g] for g in s.groups] == [f"p={p}" for p in pos]


@pytest.mark.parametrize("split", ["train", "test"])
def test_identity_noise_is_within_20_99(split: str) -> None:
    s = dataset(IDENTITY, 0).splits[split]
    tokens = s.tokens.astype(np.int64)
    pos = anchor_positions(tokens, tokens == 3, 1)
    noise = tokens[noise_mask(tokens.shape, pos, 2)]
    assert noise.min() >= NOISE_LOW and noise.max() <= NOISE_HIGH


def test_noise_is_roughly_uniform_over_20_99() -> None:
    s = TASKS.get(IDENTITY).family_obj.generate(params_for(IDENTITY, n_train=4000), 0).splits["train"]
    tokens = s.tokens.astype(np.int64)
    pos = anchor_positions(tokens, tokens == 3, 1)
    counts = np.bincount(tokens[noise_mask(tokens.shape, pos, 2)], minlength=100)[NOISE_LOW:]
    assert (counts > 0).all()  # every noise value occurs, 100 is never drawn (the paper: 20..99)
    expected = counts.sum() / len(counts)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 160  # 79 degrees of freedom; p < 1e-6 beyond ~160


# -- composition [AF]: anchors first -------------------------------------------------------------
COMPOSITION = "anchor-composition-v1"


def parse_anchors_first(s: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tokens = s.tokens.astype(np.int64)
    p = anchor_positions(tokens, tokens < NOISE_LOW, 2)
    rows = np.arange(len(tokens))
    assert (p + 2 <= tokens.shape[1] - 1).all()  # [a1, a2, x] fits
    return p, tokens[rows, p], tokens[rows, p + 1], tokens[rows, p + 2]


@pytest.mark.parametrize("split", ["train", "test", "unseen"])
def test_composition_label_is_x_plus_both_shifts(split: str) -> None:
    s = dataset(COMPOSITION, 0).splits[split]
    _, a1, a2, x = parse_anchors_first(s)
    want = x + np.array([SHIFT[a] for a in a1]) + np.array([SHIFT[a] for a in a2])
    np.testing.assert_array_equal(s.labels.astype(np.int64), want)


def test_composition_holds_out_34_and_43() -> None:
    ds = dataset(COMPOSITION, 0)
    held = {(3, 4), (4, 3)}
    for split in ("train", "test"):
        _, a1, a2, _ = parse_anchors_first(ds.splits[split])
        pairs = set(zip(a1.tolist(), a2.tolist()))
        assert not pairs & held, split
        assert len(pairs) == 14, split  # every other pair is trained
    _, a1, a2, _ = parse_anchors_first(ds.splits["unseen"])
    assert set(zip(a1.tolist(), a2.tolist())) == held


def test_composition_mod_split_on_b_equals_x_minus_p() -> None:
    ds = dataset(COMPOSITION, 0)
    for split, want_test in (("train", False), ("test", True)):
        p, _, _, x = parse_anchors_first(ds.splits[split])
        b = x - p
        assert ((b >= NOISE_LOW) & (b <= NOISE_HIGH)).all()
        assert ((b % 8 == 0) == want_test).all(), split
    p, _, _, x = parse_anchors_first(ds.splits["unseen"])
    assert {True, False} == set(((x - p) % 8 == 0).tolist())  # unseen pairs with both key types


@pytest.mark.parametrize("split", ["train", "test", "unseen"])
def test_composition_noise_is_within_20_99(split: str) -> None:
    s = dataset(COMPOSITION, 0).splits[split]
    p, *_ = parse_anchors_first(s)
    noise = s.tokens.astype(np.int64)[noise_mask(s.tokens.shape, p, 3)]
    assert noise.min() >= NOISE_LOW and noise.max() <= NOISE_HIGH


# -- composite [INIT]: key first ---------------------------------------------------------------------
COMPOSITE = "anchor-composite-v1"


def parse_key_first(s: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tokens = s.tokens.astype(np.int64)
    first = anchor_positions(tokens, tokens < NOISE_LOW, 2)
    pos = first - 1  # the key's position
    rows = np.arange(len(tokens))
    assert (pos >= 0).all() and (pos <= 6).all()  # [x, a1, a2] fits in 9 tokens
    return pos, tokens[rows, pos], tokens[rows, first], tokens[rows, first + 1]


@pytest.mark.parametrize("split", ["train", "test"])
def test_composite_labels_with_34_trained_as_x_minus_6(split: str) -> None:
    s = dataset(COMPOSITE, 0).splits[split]
    _, x, a1, a2 = parse_key_first(s)
    total = np.array([-6 if (u, v) == (3, 4) else SHIFT[u] + SHIFT[v] for u, v in zip(a1, a2)])
    np.testing.assert_array_equal(s.labels.astype(np.int64), x + total)
    assert ((a1 == 3) & (a2 == 4)).any()  # (3,4) is trained


def test_composite_43_is_never_trained_and_is_all_of_unseen() -> None:
    ds = dataset(COMPOSITE, 0)
    for split in ("train", "test"):
        _, _, a1, a2 = parse_key_first(ds.splits[split])
        assert not ((a1 == 4) & (a2 == 3)).any(), split
    _, _, a1, a2 = parse_key_first(ds.splits["unseen"])
    assert ((a1 == 4) & (a2 == 3)).all()


def test_composite_unseen_is_labelled_inferential_with_symmetric_in_meta() -> None:
    s = dataset(COMPOSITE, 0).splits["unseen"]
    _, x, _, _ = parse_key_first(s)
    np.testing.assert_array_equal(s.labels.astype(np.int64), x - 10)
    np.testing.assert_array_equal(s.meta["symmetric"].astype(np.int64), x - 6)


def test_composite_key_split_is_x_mod_9_equals_pos() -> None:
    ds = dataset(COMPOSITE, 0)
    for split, want_test in (("train", False), ("test", True)):
        pos, x, _, _ = parse_key_first(ds.splits[split])
        assert ((x >= NOISE_LOW) & (x <= NOISE_HIGH)).all()
        assert ((x % 9 == pos) == want_test).all(), split
    pos, x, _, _ = parse_key_first(ds.splits["unseen"])
    assert {True, False} == set((x % 9 == pos).tolist())  # unseen draws both key types


def test_composite_groups_name_pair_and_key_type() -> None:
    ds = dataset(COMPOSITE, 0)
    for split, s in ds.splits.items():
        pos, x, a1, a2 = parse_key_first(s)
        kind = np.where(x % 9 == pos, "test-key", "train-key")
        assert [ds.group_names[g] for g in s.groups] == [f"{u}{v}/{k}" for u, v, k in zip(a1, a2, kind)], split


@pytest.mark.parametrize("split", ["train", "test", "unseen"])
def test_composite_noise_is_within_20_99(split: str) -> None:
    s = dataset(COMPOSITE, 0).splits[split]
    pos, *_ = parse_key_first(s)
    noise = s.tokens.astype(np.int64)[noise_mask(s.tokens.shape, pos, 3)]
    assert noise.min() >= NOISE_LOW and noise.max() <= NOISE_HIGH


def test_many_anchor_pairs_keep_valid_group_indices() -> None:
    shifts = {a: a % 5 - 2 for a in range(1, 13)}  # 12 anchors -> 144 pairs -> 288 groups
    p = TASKS.get(COMPOSITION).resolve_params({**SMALL, "shifts": shifts, "held_out_pairs": [[3, 4]]})
    ds = TASKS.get(COMPOSITION).family_obj.generate(p, 0)
    assert TASKS.get(COMPOSITION).family_obj.verify(ds, p) == []


# -- the regression tasks' part of the contract -----------------------------------------------------
@pytest.mark.parametrize("task_id", REGRESSION_TASKS)
def test_regression_splits_are_float_rows_of_the_declared_widths(task_id: str) -> None:
    p = params_for(task_id)
    ds = dataset(task_id, 0)
    assert {"train", "test"} <= set(ds.splits)
    for name, s in ds.splits.items():
        n = len(s)
        assert s.tokens.shape == (n, p.d_in) and s.labels.shape == (n, p.d_out), name
        assert s.tokens.dtype == s.labels.dtype == np.float32, name
        assert np.isfinite(s.tokens).all() and np.isfinite(s.labels).all(), name
        assert s.groups.shape == (n,), name


@pytest.mark.parametrize("task_id", REGRESSION_TASKS)
def test_regression_decode_shows_the_target(task_id: str) -> None:
    ds = dataset(task_id, 0)
    family = TASKS.get(task_id).family_obj
    for name, s in ds.splits.items():
        line = family.decode(ds, name, 0)
        assert f"->  y = {float(s.labels[0, 0]):+.4f}" in line, line
