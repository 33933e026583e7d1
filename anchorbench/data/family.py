"""What a task family is: typed parameters, a pure seeded generator, a decoder, a verifier.

A task spec (YAML in ``tasks/``) names a family and fixes its parameters; the family
turns ``(params, seed)`` into a :class:`~anchorbench.data.dataset.Dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data.dataset import Dataset, Split, token_dtype

# Up-front limits, so that a value the generators cannot serve is a one-line error at planning
# time rather than a numpy failure (or an allocation of terabytes) after the results folder exists.
MAX_VOCAB = 65536  # token ids fit 16 bits; the tasks need a few hundred, and a typo must not build a huge embedding
MAX_EXAMPLES = 100_000_000  # per split: data is generated in memory (int64 work arrays: GBs at this size)
BYTE = 256  # positions, pattern starts and pairs are drawn as uint8 (faster); a wider draw would change the data


class TokenParams(BaseModel):
    """Parameters every token family shares: the vocabulary, the sequence length, the split sizes.

    ``HASH_REMOVED`` names fields a family once carried without using them, with the one value they
    always had: they are no longer parameters, yet enter the spec hash as before (so earlier runs
    and the committed submissions keep their hashes), and a record that still lists them at that
    value reads as it did.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    HASH_REMOVED: ClassVar[dict[str, Any]] = {}

    vocab_size: int = Field(201, ge=2, le=MAX_VOCAB, description="token ids 0..vocab_size-1; 0 is padding")
    seq_len: int = Field(9, ge=2, description="input tokens per sequence; the label is one more token")
    n_train: int = Field(ge=1, description="training sequences (a fixed set, drawn once)")
    n_test: int = Field(ge=1, description="sequences in each evaluation split")

    @model_validator(mode="before")
    @classmethod
    def _no_bools(cls, data: Any) -> Any:
        # pydantic reads true as 1 for an int field: `--set task.n_train=yes` would train on one example.
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key)
                if isinstance(value, bool) and field is not None and field.annotation is int:
                    raise ValueError(f"{key} takes an integer, got {value}")
        return data

    @model_validator(mode="before")
    @classmethod
    def _removed_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.HASH_REMOVED:
            for key, value in cls.HASH_REMOVED.items():
                if key in data and data[key] != value:
                    raise ValueError(f"{key} is not a parameter of this family (it never used one)")
            data = {k: v for k, v in data.items() if k not in cls.HASH_REMOVED}
        return data

    @model_validator(mode="after")
    def _sizes(self) -> TokenParams:
        for name in ("n_train", "n_test"):
            n = getattr(self, name)
            if n > MAX_EXAMPLES:
                raise ValueError(f"{name} {n:,} is over {MAX_EXAMPLES:,} (data is generated in memory)")
        return self


class FamilyParams(TokenParams):
    """Parameters of the anchor-style families ([AF]/[INIT] conventions): tokens plus a noise range."""

    noise_low: int = Field(20, ge=1, description="smallest noise/key token")
    noise_high: int = Field(99, ge=1, description="largest noise/key token (inclusive)")

    @model_validator(mode="after")
    def _noise_in_vocab(self) -> FamilyParams:
        if not self.noise_low <= self.noise_high < self.vocab_size:
            raise ValueError(
                f"need noise_low <= noise_high < vocab_size, got {self.noise_low}, {self.noise_high}, {self.vocab_size}"
            )
        return self


@dataclass(frozen=True)
class Family:
    name: str
    params: type[FamilyParams]
    generate: Callable[[Any, int], Dataset]  # (params, seed) -> Dataset; pure
    decode: Callable[[Dataset, str, int], str]  # (dataset, split, index) -> one readable line
    verify: Callable[[Dataset, Any], list[str]]  # violations of the rule; [] when all holds
    rule: str  # what the label is and how splits are formed, for `anchorbench show`
    objective: str = "last-token"  # a registered objective (anchorbench.training.objectives): what the data asks


def noise(rng: np.random.Generator, n: int, p: FamilyParams) -> np.ndarray:
    """``[n, seq_len]`` noise tokens uniform on ``noise_low..noise_high`` in the token dtype."""
    dtype = token_dtype(p.vocab_size)
    if dtype == np.uint8:
        return uniform_uint8(rng, p.noise_low, p.noise_high, n * p.seq_len).reshape(n, p.seq_len)
    return rng.integers(p.noise_low, p.noise_high + 1, size=(n, p.seq_len), dtype=dtype)


def uniform_uint8(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """Exactly uniform bytes on ``low..high``, about 3x faster than ``rng.integers``.

    Raw random bytes below the largest multiple of the span are kept (rejection keeps
    the result exactly uniform) and reduced modulo the span. Noise is most of the
    generation time, so this is what makes millions of sequences per second possible.
    """
    span = high - low + 1
    limit = (256 // span) * span
    out = np.empty(n, dtype=np.uint8)
    filled = 0
    while filled < n:
        need = n - filled
        raw = np.frombuffer(rng.bytes(need * 256 // limit + need // 64 + 64), dtype=np.uint8)
        kept = raw[raw < limit] if limit < 256 else raw
        take = min(len(kept), need)
        out[filled : filled + take] = kept[:take]
        filled += take
    np.remainder(out, span, out=out)
    out += np.uint8(low)
    return out


def noise_and_anchor_positions(rng: np.random.Generator, n: int, p: FamilyParams) -> tuple[np.ndarray, np.ndarray]:
    """The one-anchor families' first draws: ``[n, seq_len]`` noise, then an anchor position per row
    in ``0..seq_len-2`` (a key follows it). One helper, so that the draw order every such family's
    data depends on is written once."""
    tokens = noise(rng, n, p)
    pos = rng.integers(0, p.seq_len - 1, size=n, dtype=np.uint8).astype(np.int64)
    return tokens, pos


def find_one_anchor(name: str, is_anchor: np.ndarray, seq_len: int) -> np.ndarray | str:
    """For a verifier: each row's anchor position, read from the tokens (``is_anchor``: ``[n, seq_len]``),
    or the problem when a row has not exactly one anchor or has it last (no key after it)."""
    if not (is_anchor.sum(axis=1) == 1).all():
        return f"{name}: a row without exactly one anchor"
    pos = is_anchor.argmax(axis=1)
    if (pos > seq_len - 2).any():
        return f"{name}: anchor in the last position (no key after it)"
    return pos


def place(tokens: np.ndarray, pos: np.ndarray, columns: list[np.ndarray]) -> None:
    """Write ``columns[j][i]`` at ``tokens[i, pos[i] + j]`` (one flat index, reused)."""
    flat = tokens.reshape(-1)
    base = np.arange(tokens.shape[0], dtype=np.int64) * tokens.shape[1] + pos
    for offset, values in enumerate(columns):
        flat[base + offset] = values


def render(tokens: np.ndarray, marks: dict[int, str], label: int) -> str:
    """``57 83 x=41 a=3 a=4 22 -> 35``: tokens with the roles of marked positions."""
    cells = [f"{marks[i]}={int(t)}" if i in marks else str(int(t)) for i, t in enumerate(tokens)]
    return " ".join(cells) + f"  ->  {int(label)}"


def split_of(tokens: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_groups: int, **meta: np.ndarray) -> Split:
    """A Split with labels in the token dtype and groups in the smallest dtype for ``n_groups``."""
    group_dtype = token_dtype(n_groups)
    return Split(tokens, labels.astype(tokens.dtype, copy=False), groups.astype(group_dtype, copy=False), meta)
