"""[MATCH] multi-step matching: follow a chain of edges k hops from a query node.

A chain of ``chain_len`` distinct nodes ``n0 -> n1 -> ... -> n(C-1)``; its C-1 edges
``[ni, n(i+1)]`` are shuffled and flattened, then (``matching-order`` only) a token that
states k, then the query node ``ni``; the label is ``n(i+k)``.

The successor rule defines the splits. Node ids come in blocks of ``block`` (5); a
successor is ``next = low + block * j + ((prev - low) + s) mod block`` for a random block
j, so every edge has a *type* ``s = (next - prev) mod block``:

* ``train``: ids in ``node_low..node_high``, edge types ``train_shifts`` ({0, 1, 4});
* ``test``: the same ids, edge types ``test_shifts`` ({2, 3}), never trained;
* ``ood`` (``ood_rule: unseen``, v1): ids in ``ood_low..ood_high`` (101..200), never seen in
  training, with the training edge types, so that only the ids are new. Every node is unseen,
  the label included: an untied head can never emit it (v1 measured OOD 0.000).
* ``ood`` (``ood_rule: code``, v2): as the paper's code builds it (xuzhiqin1990/understanding_dl,
  code/multi-step_reasoning_code/data.py): a chain on ``ood_low..ood_high`` with the edge types
  ``ood_shifts`` (all five), then every occurrence of the label and of its predecessor shifted
  by ``-ood_shift`` back into the trained range. The input holds exactly two trained-range ids
  and the label is one of them. With ``diagnostic_splits``, two more: ``ood_unseen`` (the v1
  rule: every id unseen; predictions restricted to the example's context tokens) and
  ``ood_query`` (an in-range training chain whose query node alone is replaced by an unseen id,
  ``+ood_shift``: first-hop matching on an untrained token).

Every split's chains use one id range and one set of edge types throughout (before the shift).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from anchorbench.data.dataset import Dataset, token_dtype
from anchorbench.data.family import BYTE, Family, TokenParams, split_of
from anchorbench.data.seeding import rng_for

# Each split's chains: (what the ids are, id range fields, edge-type field), as generate draws them.
SPLIT_CHAINS = (("node", "node_low", "node_high", "train_shifts"), ("node", "node_low", "node_high", "test_shifts"),
                ("ood", "ood_low", "ood_high", "ood_edge_types"))  # fmt: skip
SHARE_SAMPLE = 4000  # chains drawn to estimate how many avoid a repeated node
MIN_DISTINCT_SHARE = 0.01  # generation costs about n / share chain draws


class MatchingParams(TokenParams):
    ORDER_TOKEN: ClassVar[bool] = False  # matching-order states k in the sequence
    N_CHAINS: ClassVar[int] = 1  # matching-double-chain: a second, disjoint chain as a distractor
    # Added with v2: v1 tasks keep their spec hash (and the committed submissions their records).
    HASH_ONLY_IF_SET: ClassVar[dict] = {"ood_rule": "unseen", "ood_shifts": None, "ood_shift": 100,
                                        "diagnostic_splits": False}  # fmt: skip
    # Carried (unused) until the family parameters were cleaned up; hashed at their constant values.
    HASH_REMOVED: ClassVar[dict] = {"noise_low": 20, "noise_high": 99}

    seq_len: int = Field(0, description="derived: 2 * (chain_len - 1) + 1 (+1 with an order token); leave 0")
    n_train: int = Field(100_000, ge=1)
    n_test: int = Field(1000, ge=1)
    hops: int = Field(2, ge=1, le=5, description="k: the label is the node k hops after the query")
    # strict: seq_len is derived from chain_len before validation, which needs a real int (7.0 would give 0)
    chain_len: int = Field(7, ge=2, le=BYTE, strict=True, description="nodes in the chain (query index: a byte)")
    block: int = Field(5, ge=2, description="ids come in blocks; edge type = (next - prev) mod block")
    node_low: int = Field(20, ge=1)
    node_high: int = Field(99, ge=1)
    ood_low: int = Field(101, ge=1)
    ood_high: int = Field(200, ge=1)
    train_shifts: list[int] = Field(default_factory=lambda: [0, 1, 4])
    test_shifts: list[int] = Field(default_factory=lambda: [2, 3])
    ood_rule: Literal["unseen", "code"] = Field(
        "unseen", description="unseen: every OOD id unseen (v1); code: the paper's code (label and predecessor shifted)"
    )
    ood_shifts: list[int] | None = Field(None, description="edge types of OOD chains; default: train_shifts")
    ood_shift: int = Field(100, ge=1, description="code rule: the label and its predecessor move by -ood_shift")
    diagnostic_splits: bool = Field(False, description="add the ood_unseen and ood_query splits (code rule)")

    @model_validator(mode="before")
    @classmethod
    def _derive_seq_len(cls, data: dict) -> dict:
        if isinstance(data, dict):
            chain = data.get("chain_len", cls.model_fields["chain_len"].default)
            derived = 2 * cls.N_CHAINS * (int(chain) - 1) + 1 + int(cls.ORDER_TOKEN) if isinstance(chain, int) else 0
            if data.get("seq_len") not in (None, 0, derived):
                raise ValueError(f"seq_len is derived from chain_len ({derived}); leave it unset")
            data = {**data, "seq_len": derived}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> MatchingParams:
        if self.chain_len < self.max_hops() + 1:
            raise ValueError(
                f"chain_len {self.chain_len} is shorter than hops+1 = {self.max_hops() + 1}: "
                "no query has a node that many hops ahead"
            )
        for name, lo, hi in (("node", self.node_low, self.node_high), ("ood", self.ood_low, self.ood_high)):
            if hi >= self.vocab_size:
                raise ValueError(f"{name}_high {hi} is outside the vocabulary (vocab_size {self.vocab_size})")
            if (hi - lo + 1) // self.block * self.block < self.chain_len:
                raise ValueError(f"{name} ids {lo}..{hi} hold fewer than chain_len whole blocks of ids")
        if not (self.ood_low > self.node_high or self.ood_high < self.node_low):
            raise ValueError("ood ids must not overlap the training ids")
        if self.max_hops() >= min(self.node_low, self.ood_low):
            raise ValueError("order tokens 1..hops must lie below node_low and ood_low")
        for name, shifts in (("train_shifts", self.train_shifts), ("test_shifts", self.test_shifts),
                             ("ood_shifts", self.ood_edge_types)):  # fmt: skip
            if not shifts or any(not 0 <= s < self.block for s in shifts):
                raise ValueError(f"{name} must be a non-empty list of values in 0..block-1")
        if set(self.train_shifts) & set(self.test_shifts):
            raise ValueError("train_shifts and test_shifts must not share an edge type")
        if self.ood_rule == "code" or self.diagnostic_splits:
            # The shifted ids (code rule) and the shifted query (ood_query) must land on trained ids
            # of the same edge type: a shift that is a whole number of blocks keeps (next - prev) mod block.
            if self.ood_shift % self.block:
                raise ValueError(f"ood_shift {self.ood_shift} must be a multiple of block {self.block}")
            if not (
                self.node_low <= self.ood_low - self.ood_shift and self.ood_high - self.ood_shift <= self.node_high
            ):
                raise ValueError(
                    f"ood ids {self.ood_low}..{self.ood_high} shifted by -{self.ood_shift} must lie in the trained "
                    f"ids {self.node_low}..{self.node_high}"
                )
        if self.diagnostic_splits and self.ood_rule != "code":
            raise ValueError("diagnostic_splits go with ood_rule: code")
        if self.diagnostic_splits and self.node_high + self.ood_shift > self.ood_high:
            raise ValueError("ood_query moves a query by +ood_shift: node_high + ood_shift must lie in the ood ids")
        for ids, lo, hi, shifts in SPLIT_CHAINS:
            share = _distinct_share(self, getattr(self, lo), getattr(self, hi), getattr(self, shifts))
            if share < MIN_DISTINCT_SHARE:
                # Generation redraws chains that revisit a node; at this rate it would take hours or never end.
                raise ValueError(
                    f"only {share:.1%} of random chains of {self.chain_len} {ids} ids with {shifts} "
                    f"{getattr(self, shifts)} avoid revisiting a node; widen {lo}..{hi}, shorten chain_len "
                    "or add edge types"
                )
        return self

    @property
    def n_edges(self) -> int:
        return self.N_CHAINS * (self.chain_len - 1)

    @property
    def ood_edge_types(self) -> list[int]:
        return self.ood_shifts if self.ood_shifts is not None else self.train_shifts

    def max_hops(self) -> int:
        return self.hops

    def hop_choices(self) -> list[int]:
        return [self.hops]


class OrderParams(MatchingParams):
    """Mixed hop counts 1..hops; the token before the query states k."""

    ORDER_TOKEN = True

    def hop_choices(self) -> list[int]:
        return list(range(1, self.hops + 1))


class DoubleChainParams(OrderParams):
    """[MATCH]'s "noised double chain": two disjoint chains' edges shuffled together, the query on
    either one, k from 1..hops stated by a token."""

    N_CHAINS = 2


def _draw(rng: np.random.Generator, m: int, p: MatchingParams, lo: int, hi: int, shifts: list[int]) -> np.ndarray:
    """``[m, chain_len]`` chains in lo..hi whose edges have types ``shifts`` (nodes may repeat)."""
    n_blocks = (hi - lo + 1) // p.block
    shift_arr = np.asarray(shifts, dtype=np.int64)
    nodes = np.empty((m, p.chain_len), dtype=np.int64)
    nodes[:, 0] = lo + rng.integers(0, n_blocks * p.block, size=m)
    for j in range(1, p.chain_len):
        s = shift_arr[rng.integers(0, len(shift_arr), size=m)]
        base = lo + p.block * rng.integers(0, n_blocks, size=m)
        nodes[:, j] = base + (nodes[:, j - 1] - lo + s) % p.block
    return nodes


def _distinct(nodes: np.ndarray) -> np.ndarray:
    srt = np.sort(nodes, axis=1)
    return (srt[:, 1:] != srt[:, :-1]).all(axis=1)


def _distinct_share(p: MatchingParams, lo: int, hi: int, shifts: list[int]) -> float:
    """The share of random chains without a repeated node, from a fixed sample (deterministic)."""
    return float(_distinct(_draw(np.random.default_rng(0), SHARE_SAMPLE, p, lo, hi, shifts)).mean())


def _chains(rng: np.random.Generator, n: int, p: MatchingParams, lo: int, hi: int, shifts: list[int]) -> np.ndarray:
    """``[n, chain_len]`` chains of distinct ids in lo..hi whose edges have types ``shifts``."""
    out = np.empty((n, p.chain_len), dtype=np.int64)
    todo = np.arange(n)
    while len(todo):  # redraw the (few) chains that revisit a node
        nodes = _draw(rng, len(todo), p, lo, hi, shifts)
        ok = _distinct(nodes)
        out[todo[ok]] = nodes[ok]
        todo = todo[~ok]
    return out


def generate(p: MatchingParams, seed: int) -> Dataset:
    choices = p.hop_choices()
    groups = tuple(f"k={k}" for k in choices)
    plan = [
        ("train", p.n_train, p.node_low, p.node_high, p.train_shifts),
        ("test", p.n_test, p.node_low, p.node_high, p.test_shifts),
        ("ood", p.n_test, p.ood_low, p.ood_high, p.ood_edge_types),
    ]
    if p.diagnostic_splits:
        plan += [("ood_unseen", p.n_test, p.ood_low, p.ood_high, p.train_shifts),
                 ("ood_query", p.n_test, p.node_low, p.node_high, p.train_shifts)]  # fmt: skip
    splits = {}
    for name, n, lo, hi, shifts in plan:
        rng = rng_for(seed, name)
        if p.N_CHAINS > 1:
            splits[name] = _multi_chain_split(rng, n, p, lo, hi, shifts, choices, len(groups))
            continue
        chain = _chains(rng, n, p, lo, hi, shifts)
        k_idx, k, query_at, edge_order = _layout(rng, n, p, choices)
        rows = np.arange(n)
        if name == "ood" and p.ood_rule == "code":  # the label and its predecessor, back in range
            moved = (chain == chain[rows, query_at + k][:, None]) | (chain == chain[rows, query_at + k - 1][:, None])
            chain = np.where(moved, chain - p.ood_shift, chain)
        elif name == "ood_query":  # the query node alone, out of range
            chain = np.where(chain == chain[rows, query_at][:, None], chain + p.ood_shift, chain)
        meta = {"context_only": np.ones(n, dtype=bool)} if name == "ood_unseen" else {}
        if name == "ood" and p.ood_rule == "code":
            meta["shortcut_chance"] = _shortcut_chance(p, chain, chain[rows, query_at], chain[rows, query_at + k])
        splits[name] = _split(p, chain, k_idx, k, query_at, edge_order, len(groups), meta)
    return Dataset(seed, p.vocab_size, p.seq_len, groups, splits)


def _shortcut_chance(p: MatchingParams, chain: np.ndarray, query: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per example, the chance that guessing uniformly among the input's trained-range ids other
    than the query hits the label (the input holds every chain node; the answer is never the
    query). Under the code rule the two in-range ids are the label and its predecessor: 1/2 for
    k >= 2 (the query is unseen), 1 for k = 1 (the query is the predecessor: no matching needed)."""
    trained = (chain >= p.node_low) & (chain <= p.node_high) & (chain != query[:, None])
    hit = (trained & (chain == label[:, None])).any(axis=1)
    return np.where(hit, 1.0 / np.maximum(trained.sum(axis=1), 1), 0.0).astype(np.float32)


def _layout(rng: np.random.Generator, n: int, p: MatchingParams, choices: list[int]):
    """Per row: the edges' shuffled order, the hop count (its index k_idx) and the query index."""
    order = np.argsort(rng.random((n, p.chain_len - 1)), axis=1)  # a random shuffle of the edges per row
    k_idx = rng.integers(0, len(choices), size=n)
    k = np.asarray(choices, dtype=np.int64)[k_idx]
    query_at = (rng.random(n) * (p.chain_len - k)).astype(np.int64)  # query index i in 0..C-1-k
    return k_idx, k, query_at, order


def _split(p: MatchingParams, chain, k_idx, k, query_at, order, n_groups: int, meta: dict):
    n, rows = len(chain), np.arange(len(chain))
    r = rows[:, None]
    edges = np.stack([chain[r, order], chain[r, order + 1]], axis=2).reshape(n, 2 * (p.chain_len - 1))
    return _assemble(p, edges, chain[rows, query_at], chain[rows, query_at + k], k_idx, k, query_at, n_groups, meta)


def _assemble(p: MatchingParams, edges, query, label, k_idx, k, query_at, n_groups: int, meta: dict):
    """The sequence (edge tokens, the k token when the family states k, the query) and its split."""
    parts = [edges] + ([k[:, None]] if p.ORDER_TOKEN else []) + [query[:, None]]
    tokens = np.concatenate(parts, axis=1).astype(token_dtype(p.vocab_size))
    return split_of(tokens, label, k_idx, n_groups, hops=k.astype(np.uint8), query_index=query_at.astype(np.uint8),
                    **meta)  # fmt: skip


def _multi_chain_split(rng, n: int, p: MatchingParams, lo: int, hi: int, shifts: list[int], choices, n_groups: int):
    """``N_CHAINS`` chains per row with no id in common; all their edges shuffled together; the
    query on one of them (drawn uniformly); the label its k-th successor there."""
    C, N = p.chain_len, p.N_CHAINS
    chains = np.empty((n, N, C), dtype=np.int64)
    todo = np.arange(n)
    while len(todo):  # redraw the rows whose chains share an id
        drawn = np.stack([_chains(rng, len(todo), p, lo, hi, shifts) for _ in range(N)], axis=1)
        ok = _distinct(drawn.reshape(len(todo), N * C))
        chains[todo[ok]] = drawn[ok]
        todo = todo[~ok]
    rows = np.arange(n)
    edges = np.stack([chains[:, :, :-1], chains[:, :, 1:]], axis=3).reshape(n, N * (C - 1), 2)  # [n, E, 2]
    edges = edges[rows[:, None], np.argsort(rng.random((n, N * (C - 1))), axis=1)].reshape(n, 2 * N * (C - 1))
    k_idx = rng.integers(0, len(choices), size=n)
    k = np.asarray(choices, dtype=np.int64)[k_idx]
    which = rng.integers(0, N, size=n)  # the chain the query is on
    query_at = (rng.random(n) * (C - k)).astype(np.int64)
    query, label = chains[rows, which, query_at], chains[rows, which, query_at + k]
    return _assemble(p, edges, query, label, k_idx, k, query_at, n_groups, {"query_chain": which.astype(np.uint8)})


def decode(ds: Dataset, split: str, i: int) -> str:
    s = ds.splits[split]
    t = [int(x) for x in s.tokens[i]]
    n_edge_tokens = 2 * ((len(t) - 1) // 2)
    edges = " ".join(f"{t[j]}>{t[j + 1]}" for j in range(0, n_edge_tokens, 2))
    order = f" k={t[n_edge_tokens]}" if len(t) - n_edge_tokens == 2 else ""
    return f"{edges} |{order} query={t[-1]}  ->  {int(s.labels[i])}  ({int(s.meta['hops'][i])} hops)"


def verify(ds: Dataset, p: MatchingParams) -> list[str]:
    """Follow the edges from the tokens alone and check labels, id ranges and edge types."""
    problems = []
    n_edges = p.n_edges
    for name, s in ds.splits.items():
        tok = s.tokens.astype(np.int64)
        parents, children = tok[:, 0 : 2 * n_edges : 2], tok[:, 1 : 2 * n_edges : 2]
        query = tok[:, -1]
        hops = tok[:, -2] if p.ORDER_TOKEN else np.full(len(s), p.hops)
        if p.ORDER_TOKEN and not np.isin(hops, p.hop_choices()).all():
            problems.append(f"{name}: order token outside 1..{p.hops}")
            continue
        if (np.sort(parents, axis=1)[:, 1:] == np.sort(parents, axis=1)[:, :-1]).any():
            problems.append(f"{name}: a node is the parent of two edges")
            continue
        cur = query.copy()
        rows = np.arange(len(s))
        for h in range(int(hops.max())):
            active = hops > h
            match = parents == cur[:, None]
            if (match.sum(axis=1)[active] != 1).any():
                problems.append(f"{name}: the chain breaks before k hops")
                break
            cur = np.where(active, children[rows, match.argmax(axis=1)], cur)
        else:
            if (cur != s.labels).any():
                problems.append(f"{name}: {int((cur != s.labels).sum())} labels are not the k-th successor")
        nodes = np.concatenate([parents, children, query[:, None]], axis=1)
        problems += [f"{name}: {x}" for x in _check_ids(name, p, nodes, query, s.labels.astype(np.int64))]
        shifts = {"test": p.test_shifts, "ood": p.ood_edge_types}.get(name, p.train_shifts)
        if not np.isin((children - parents) % p.block, shifts).all():
            problems.append(f"{name}: edges of the wrong type (types outside {shifts})")
        if (s.meta["hops"] != hops).any():
            problems.append(f"{name}: meta hops disagree with the sequence")
    train = ds.splits["train"].tokens
    if ((train >= p.ood_low) & (train <= p.ood_high)).any():
        problems.append("train: contains OOD node ids")
    return problems


def _check_ids(name: str, p: MatchingParams, nodes: np.ndarray, query: np.ndarray, labels: np.ndarray) -> list[str]:
    """Which ids each split may hold (see the module docstring)."""
    trained = (nodes >= p.node_low) & (nodes <= p.node_high)
    unseen = (nodes >= p.ood_low) & (nodes <= p.ood_high)
    if name in ("train", "test"):
        return [] if trained.all() else [f"node ids outside {p.node_low}..{p.node_high}"]
    if name == "ood_unseen" or (name == "ood" and p.ood_rule == "unseen"):
        return [] if unseen.all() else [f"node ids outside {p.ood_low}..{p.ood_high}"]
    if name == "ood_query":
        ok = unseen[:, -1].all() and trained[:, :-1][nodes[:, :-1] != query[:, None]].all()
        return [] if ok else ["the query must be the only unseen id"]
    # ood, code rule: exactly two distinct trained-range ids, the label among them; the rest unseen
    if not (trained | unseen).all():
        return ["node ids outside both ranges"]
    in_range = np.where(trained, nodes, -1)
    n_distinct = np.array([len(set(row[row >= 0])) for row in in_range])
    if (n_distinct != 2).any():
        return [f"{int((n_distinct != 2).sum())} inputs do not hold exactly two trained-range ids"]
    if not (in_range == labels[:, None]).any(axis=1).all():
        return ["a label is not one of the input's trained-range ids"]
    return []


CHAIN = Family(
    "matching-chain",
    MatchingParams,
    generate,
    decode,
    verify,
    "A chain of chain_len distinct nodes; its edges [parent, child] shuffled and flattened, then the "
    "query node n_i; the label is n_(i+hops). Edge type = (child - parent) mod block: train uses "
    "train_shifts {0,1,4}, test the unseen types test_shifts {2,3} on the same ids, ood unseen ids "
    "ood_low..ood_high with the training types. Groups: k (the hop count).",
)
ORDER = Family(
    "matching-order",
    OrderParams,
    generate,
    decode,
    verify,
    "As matching-chain, but every sequence draws k from 1..hops and states it in a token (1..hops) "
    "just before the query; the label is n_(i+k). Accuracy is reported per k (groups k=1..k=hops).",
)

DOUBLE_CHAIN = Family(
    "matching-double-chain",
    DoubleChainParams,
    generate,
    decode,
    verify,
    "[MATCH]'s noised double chain: two chains of chain_len nodes with no id in common, all their edges "
    "shuffled together, then a token stating k (1..hops) and the query, a node of either chain; the "
    "label is its k-th successor. The other chain is a distractor. Groups: k.",
)
