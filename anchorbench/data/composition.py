"""Two-anchor composition tasks.

* ``anchor-composition`` ([AF]): ``[a1, a2, x]`` at ``p, p+1, p+2``; label
  ``x + d(a1) + d(a2)``; the pairs (3,4) and (4,3) are held out of training. Keys are
  ``b + p`` with the [AF] mod split ``b % 8 == 0`` -> test.
* ``anchor-composite`` ([INIT]): the key comes *before* the anchors, ``[x, a1, a2]``;
  pair (3,4) is deliberately trained as ``x - 6`` (its inferential value is ``x - 10``)
  and (4,3) is never trained. A key ``x`` at position ``pos`` is test-type iff
  ``x % 9 == pos`` (the public code's rule). On (4,3) the prediction ``x - 10`` is the
  *inferential* solution and ``x - 6`` (copying (3,4)) the *symmetric* one.

Single-anchor shifts d: 1 -> +5, 2 -> +1, 3 -> -2, 4 -> -8.

Splits: ``train`` (trained pairs, train-type keys), ``test`` (trained pairs, test-type
keys: generalization on data) and ``unseen`` (held-out pairs, both key types half and
half: generalization on task; its label is the inferential value). Groups are
``"<a1><a2>/train-key"`` and ``"<a1><a2>/test-key"`` for every ordered pair.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from anchorbench.data.dataset import Dataset
from anchorbench.data.family import BYTE, Family, FamilyParams, noise, place, render, split_of
from anchorbench.data.keys import KeyPools, is_test_key
from anchorbench.data.seeding import rng_for

KEY_TYPES = ("train-key", "test-key")


class TwoAnchorParams(FamilyParams):
    # The layout is what distinguishes the two families, so it is fixed per class.
    KEY_FIRST: ClassVar[bool]  # [x, a1, a2] ([INIT]) rather than [a1, a2, x] ([AF])
    KEY_OFFSET_BY_POSITION: ClassVar[bool]  # key = b + p ([AF]) rather than drawn directly

    shifts: dict[int, int] = Field(
        default_factory=lambda: {1: 5, 2: 1, 3: -2, 4: -8}, description="anchor -> shift of the key"
    )
    held_out_pairs: list[tuple[int, int]] = Field(description="pairs never trained; scored as unseen")
    label_overrides: dict[str, int] = Field(
        default_factory=dict, description="'a1a2' -> total shift replacing d(a1) + d(a2)"
    )
    trained_pairs: list[tuple[int, int]] | None = Field(
        None, description="the pairs in training (default: every pair not held out); the rest are never seen"
    )

    # Added after runs were recorded: unset, it leaves the tasks' spec hashes as they were (config.hashed).
    HASH_ONLY_IF_SET: ClassVar[dict[str, object]] = {"trained_pairs": None}

    @field_validator("label_overrides")
    @classmethod
    def _pair_keys(cls, v: dict[str, int]) -> dict[str, int]:
        for k in v:
            if len(k) != 2 or not k.isdigit():
                raise ValueError(f"override key '{k}' is not a pair of single-digit anchors like '34'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TwoAnchorParams:
        if self.seq_len < 3:
            raise ValueError(f"seq_len must be at least 3 to hold the key and two anchors, got {self.seq_len}")
        if self.seq_len - 2 > BYTE:
            raise ValueError(f"seq_len {self.seq_len} is over {BYTE + 2}, the most this family supports")
        anchors = set(self.shifts)
        if any(not 1 <= a < self.noise_low for a in anchors):
            raise ValueError("anchors must lie in 1..noise_low-1 so that noise never equals an anchor")
        if any(a1 not in anchors or a2 not in anchors for a1, a2 in self.held_out_pairs):
            raise ValueError("held_out_pairs must use anchors from shifts")
        held = {tuple(h) for h in self.held_out_pairs}
        if not held:
            raise ValueError("held_out_pairs is empty; the unseen split needs at least one pair")
        if len(held) != len(self.held_out_pairs):
            raise ValueError("held_out_pairs repeats a pair")
        if len(held) == len(self.pairs()):
            raise ValueError("every pair is held out; nothing is left to train")
        if max(len(held), len(self.pairs()) - len(held)) > BYTE:  # a split's pair index is drawn as a byte
            raise ValueError(f"at most {BYTE} trained and {BYTE} held-out pairs; use fewer anchors in shifts")
        for k in self.label_overrides:
            if (int(k[0]), int(k[1])) not in self.pairs():
                raise ValueError(f"override '{k}' names anchors not in shifts")
        if self.trained_pairs is not None:
            listed = {tuple(t) for t in self.trained_pairs}
            if not listed or len(listed) != len(self.trained_pairs) or not listed <= set(self.pairs()):
                raise ValueError("trained_pairs must list distinct pairs of anchors from shifts")
            if listed & held:
                raise ValueError(f"trained_pairs and held_out_pairs share {sorted(listed & held)}")
        _check_label_range(self, _pools(self))
        return self

    def pairs(self) -> list[tuple[int, int]]:
        return list(itertools.product(sorted(self.shifts), repeat=2))

    def trained(self) -> list[tuple[int, int]]:
        """The pairs in the train and test splits, in pairs() order."""
        held = {tuple(h) for h in self.held_out_pairs}
        listed = None if self.trained_pairs is None else {tuple(t) for t in self.trained_pairs}
        return [q for q in self.pairs() if q not in held and (listed is None or q in listed)]

    def total_shift(self, a1: int, a2: int) -> int:
        return self.label_overrides.get(f"{a1}{a2}", self.shifts[a1] + self.shifts[a2])


class CompositionParams(TwoAnchorParams):
    """[AF] anchors-first composition."""

    KEY_FIRST = False
    KEY_OFFSET_BY_POSITION = True

    n_train: int = Field(20000, ge=1)
    n_test: int = Field(1000, ge=1)
    key_mod: int = Field(8, ge=2, description="key b + p with b % key_mod == 0 -> test")
    held_out_pairs: list[tuple[int, int]] = Field(default_factory=lambda: [(3, 4), (4, 3)])


class CompositeParams(TwoAnchorParams):
    """[INIT] key-before-anchors composite function."""

    KEY_FIRST = True
    KEY_OFFSET_BY_POSITION = False

    n_train: int = Field(60000, ge=1)
    n_test: int = Field(1000, ge=1)
    key_mod: int = Field(9, ge=2, description="key x at position pos with x % key_mod == pos -> test")
    held_out_pairs: list[tuple[int, int]] = Field(default_factory=lambda: [(4, 3)])
    label_overrides: dict[str, int] = Field(default_factory=lambda: {"34": -6})


def _pools(p: TwoAnchorParams) -> KeyPools:
    # Pools are per pattern start: the key split rule is (key - start) % key_mod == 0.
    return KeyPools(p.noise_low, p.noise_high, p.seq_len - 2, p.key_mod, p.KEY_OFFSET_BY_POSITION)


def _check_label_range(p: TwoAnchorParams, pools: KeyPools) -> None:
    shifts = [p.total_shift(a1, a2) for a1, a2 in p.pairs()]
    lo, hi = pools.min_key() + min(shifts), pools.max_key() + max(shifts)
    if lo < 1 or hi >= p.vocab_size:
        raise ValueError(f"labels span {lo}..{hi}, outside 1..{p.vocab_size - 1}")


def generate(p: TwoAnchorParams, seed: int) -> Dataset:
    pools = _pools(p)
    key_first = p.KEY_FIRST
    pairs = p.pairs()
    pair_arr = np.array(pairs, dtype=np.int64)
    held = [pairs.index(tuple(h)) for h in p.held_out_pairs]
    trained = [pairs.index(q) for q in p.trained()]
    shift = np.array([p.total_shift(a1, a2) for a1, a2 in pairs], dtype=np.int64)
    inferential = np.array([p.shifts[a1] + p.shifts[a2] for a1, a2 in pairs], dtype=np.int64)
    mirrored = np.array([p.total_shift(a2, a1) for a1, a2 in pairs], dtype=np.int64)
    names = tuple(f"{a1}{a2}/{kt}" for a1, a2 in pairs for kt in KEY_TYPES)

    splits = {}
    for name, n, pair_pool, test in (
        ("train", p.n_train, trained, False),
        ("test", p.n_test, trained, True),
        ("unseen", p.n_test, held, None),
    ):
        rng = rng_for(seed, name)
        tokens = noise(rng, n, p)
        # Small dtypes: numpy draws bounded uint8 several times faster than int64.
        start = rng.integers(0, p.seq_len - 2, size=n, dtype=np.uint8).astype(np.int64)  # pattern start
        pair = np.asarray(pair_pool, dtype=np.int64)[rng.integers(0, len(pair_pool), size=n, dtype=np.uint8)]
        key_test = rng.random(n) < 0.5 if test is None else np.full(n, test)
        key = pools.sample(rng, start, key_test)
        a1, a2 = pair_arr[pair, 0], pair_arr[pair, 1]
        place(tokens, start, [key, a1, a2] if key_first else [a1, a2, key])
        # Held-out pairs are scored against the inferential value (the true composition).
        labels = key + (inferential[pair] if test is None else shift[pair])
        groups = pair * 2 + key_test
        dtype = tokens.dtype
        meta = {"key": key.astype(dtype), "start": start.astype(np.uint8), "pair": pair.astype(np.uint16)}
        if test is None:
            meta["symmetric"] = (key + mirrored[pair]).astype(dtype)
        splits[name] = split_of(tokens, labels, groups, len(names), **meta)
    return Dataset(seed, p.vocab_size, p.seq_len, names, splits)


def _decoder(key_first: bool):
    roles = ("x", "a1", "a2") if key_first else ("a1", "a2", "x")

    def decode(ds: Dataset, split: str, i: int) -> str:
        s = ds.splits[split]
        start = int(s.meta["start"][i])
        line = render(s.tokens[i], {start + j: r for j, r in enumerate(roles)}, s.labels[i])
        if "symmetric" in s.meta:
            line += f"  (symmetric solution: {int(s.meta['symmetric'][i])})"
        return line

    return decode


def verify(ds: Dataset, p: TwoAnchorParams) -> list[str]:
    """Re-derive labels from the tokens alone: find the anchors, then the key next to them."""
    problems = []
    key_first = p.KEY_FIRST
    held = {tuple(h) for h in p.held_out_pairs}
    for name, s in ds.splits.items():
        rows = np.arange(len(s))
        is_anchor = s.tokens < p.noise_low
        if not (is_anchor.sum(axis=1) == 2).all():
            problems.append(f"{name}: a row without exactly two anchors")
            continue
        first = is_anchor.argmax(axis=1)
        if not is_anchor[rows, first + 1].all():
            problems.append(f"{name}: the two anchors are not adjacent")
            continue
        key_pos = first - 1 if key_first else first + 2
        if (key_pos < 0).any() or (key_pos >= p.seq_len).any():
            problems.append(f"{name}: no room for the key next to the anchors")
            continue
        a1 = s.tokens[rows, first].astype(np.int64)
        a2 = s.tokens[rows, first + 1].astype(np.int64)
        key = s.tokens[rows, key_pos].astype(np.int64)
        pairs_here = set(zip(a1.tolist(), a2.tolist()))
        if name == "unseen":
            expected = key + np.array([p.shifts[x] + p.shifts[y] for x, y in zip(a1, a2)])
            if not pairs_here <= held:
                problems.append(f"unseen: contains trained pairs {sorted(pairs_here - held)}")
        else:
            expected = key + np.array([p.total_shift(x, y) for x, y in zip(a1, a2)])
            if pairs_here & held:
                problems.append(f"{name}: contains held-out pairs {sorted(pairs_here & held)}")
            if not pairs_here <= set(p.trained()):
                problems.append(f"{name}: contains pairs outside trained_pairs {sorted(pairs_here - set(p.trained()))}")
        if (s.labels.astype(np.int64) != expected).any():
            problems.append(f"{name}: {int((s.labels != expected).sum())} labels break the rule")
        start = first if not key_first else key_pos
        test_key = is_test_key(key, start, p.key_mod)
        if name in ("train", "test") and (test_key != (name == "test")).any():
            problems.append(f"{name}: keys of the wrong type for the key split")
        names = ds.group_names
        want = [f"{x}{y}/{KEY_TYPES[int(t)]}" for x, y, t in zip(a1, a2, test_key)]
        if [names[g] for g in s.groups] != want:
            problems.append(f"{name}: group names do not match pair and key type")
    return problems


COMPOSITION = Family(
    "anchor-composition",
    CompositionParams,
    generate,
    _decoder(key_first=False),
    verify,
    "Tokens [a1, a2, x] at p, p+1, p+2 (p in 0..seq_len-3), the rest noise. Label x + d(a1) + d(a2) "
    "with d = shifts. held_out_pairs are never trained and scored in split 'unseen'. Keys x = b + p; "
    "train uses b % key_mod != 0, test b % key_mod == 0.",
)
COMPOSITE = Family(
    "anchor-composite",
    CompositeParams,
    generate,
    _decoder(key_first=True),
    verify,
    "Tokens [x, a1, a2] at pos, pos+1, pos+2 (pos in 0..seq_len-3), the rest noise. Label x + d(a1) + "
    "d(a2) with d = shifts, except label_overrides (pair 34 -> x-6, whose inferential value is x-10). "
    "held_out_pairs (43) are never trained; in split 'unseen' they are labelled with the inferential "
    "value x-10, and x-6 (copying 34) is the symmetric solution. A key x at position pos is test-type "
    "iff x % key_mod == pos; training uses only train-type keys.",
)
