"""[WINDOWS] sentences without punctuation: a topic-dependent Markov grammar for causal language modelling.

Text is a stream of sentences with no boundary token. A sentence opens with a topic token (its
first word) and continues with content tokens drawn from a Markov chain that depends on the
topic: after the topic, and after each content token, the next content token is one of
``branching`` successors, uniformly, and which successors depends on (topic, previous token).
Every topic draws its successors from the same content vocabulary, so the topics overlap: a
content token alone does not say which topic is speaking, and predicting the next token means
carrying the topic (and what the sentence has said so far) to the end of the sentence. Sentence
lengths vary uniformly on ``min_sentence..max_sentence`` (a boundary is never at a fixed
position); with ``topic_persistence`` > 0 the next sentence keeps the topic with that probability
(a slow paragraph-level drift, a component that reaches across sentences), otherwise topics are
independent draws.

The grammar (the successor table) is drawn from the seed, so every seed is another language of
the same kind. Splits: ``train`` and ``test`` are windows of running text (they start anywhere
in a sentence); ``yoking`` are the integration-window probe's stimuli, as in the paper's code:
``yoking_sentences`` sentences of exactly ``yoking_sentence_len`` words from the same grammar,
starting at a sentence boundary, so that every boundary is at the same positions in every row.

Tokens: 0 is padding (never used), topics are 1..n_topics, content tokens follow. The objective
is all-tokens: ``labels[:, t]`` is the token after position t. Meta per position (``[N, T]``):
``sentence_start`` (1 where a sentence begins) and ``topic``.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchorbench.data.dataset import Dataset, Split, token_dtype
from anchorbench.data.family import MAX_EXAMPLES, Family
from anchorbench.data.seeding import rng_for


class SentenceGrammarParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_topics: int = Field(8, ge=2, le=256, description="topic tokens (a sentence's first word)")
    n_content: int = Field(48, ge=2, le=4096, description="content tokens, shared by every topic")
    branching: int = Field(4, ge=1, description="successors of each (topic, previous token), uniformly")
    min_sentence: int = Field(4, ge=2, description="shortest sentence, the topic token included")
    max_sentence: int = Field(20, ge=2, description="longest sentence")
    topic_persistence: float = Field(0.0, ge=0, lt=1, description="chance the next sentence keeps the topic")
    yoking_sentences: int = Field(5, ge=2, description="sentences per probe stimulus (the paper: 5)")
    yoking_sentence_len: int = Field(12, ge=2, description="words per probe sentence (the paper: 12)")
    n_train: int = Field(ge=1, le=MAX_EXAMPLES, description="training windows (a fixed set, drawn once)")
    n_test: int = Field(ge=1, le=MAX_EXAMPLES, description="test windows")
    n_yoking: int = Field(128, ge=1, le=MAX_EXAMPLES, description="probe stimuli (the yoking split)")
    vocab_size: int = Field(0, description="derived: 1 + n_topics + n_content; leave 0")
    seq_len: int = Field(0, description="derived: yoking_sentences * yoking_sentence_len; leave 0")

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        get = lambda k: data.get(k, fields[k].default)  # noqa: E731
        try:
            vocab = 1 + int(get("n_topics")) + int(get("n_content"))
            seq_len = int(get("yoking_sentences")) * int(get("yoking_sentence_len"))
        except (TypeError, ValueError):
            return data  # the field validators say what is wrong
        for key, derived in (("vocab_size", vocab), ("seq_len", seq_len)):
            if data.get(key) not in (None, 0, derived):
                raise ValueError(f"{key} is derived ({derived}); leave it unset")
        return {**data, "vocab_size": vocab, "seq_len": seq_len}

    @model_validator(mode="after")
    def _consistent(self) -> SentenceGrammarParams:
        if self.branching > self.n_content:
            raise ValueError(f"branching {self.branching} is more than the {self.n_content} content tokens")
        if self.min_sentence > self.max_sentence:
            raise ValueError(f"min_sentence {self.min_sentence} is above max_sentence {self.max_sentence}")
        if not self.min_sentence <= self.yoking_sentence_len <= self.max_sentence:
            raise ValueError(
                f"yoking_sentence_len {self.yoking_sentence_len} is outside the trained sentence lengths "
                f"{self.min_sentence}..{self.max_sentence}"
            )
        return self


def grammar(p: SentenceGrammarParams, seed: int) -> np.ndarray:
    """The successor table ``[n_topics, n_content + 1, branching]`` of content indices 0..n_content-1;
    state n_content is "just after the topic token"."""
    rng = rng_for(seed, "grammar")
    keys = rng.random((p.n_topics, p.n_content + 1, p.n_content))
    return np.argsort(keys, axis=-1, kind="stable")[..., : p.branching]


def sentences(
    rng: np.random.Generator, succ: np.ndarray, p: SentenceGrammarParams, n: int, length: int, fixed: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` streams of ``length`` tokens from a sentence boundary: tokens, sentence starts, topics
    (all ``[n, length]``). ``fixed``: every sentence has that length (the probe's stimuli)."""
    tokens = np.zeros((n, length), dtype=np.int64)
    start = np.zeros((n, length), dtype=np.uint8)
    topics = np.zeros((n, length), dtype=np.int64)
    topic = np.zeros(n, dtype=np.int64)
    state = np.zeros(n, dtype=np.int64)
    left = np.zeros(n, dtype=np.int64)  # words left in the current sentence
    rows = np.arange(n)
    for t in range(length):  # one draw of each kind per step for every row: a fixed draw order
        new_length = rng.integers(p.min_sentence, p.max_sentence + 1, size=n) if fixed is None else np.full(n, fixed)
        keep = rng.random(n) < p.topic_persistence
        new_topic = rng.integers(0, p.n_topics, size=n)
        pick = rng.integers(0, p.branching, size=n)
        opens = left == 0
        topic = np.where(opens & ~(keep & (t > 0)), new_topic, topic)
        content = succ[topic, state, pick]  # [n]
        tokens[:, t] = np.where(opens, 1 + topic, 1 + p.n_topics + content)
        state = np.where(opens, p.n_content, content)
        left = np.where(opens, new_length, left) - 1
        start[rows, t] = opens
        topics[:, t] = topic
    return tokens, start, topics


def text_split(rng: np.random.Generator, succ: np.ndarray, p: SentenceGrammarParams, n: int) -> Split:
    """Windows of running text: ``seq_len + 1`` tokens cut at a random offset into the first sentences."""
    tokens, start, topics = sentences(rng, succ, p, n, p.seq_len + 1 + p.max_sentence, None)
    offset = rng.integers(0, p.max_sentence, size=n)
    cols = offset[:, None] + np.arange(p.seq_len + 1)  # [n, T + 1]
    rows = np.arange(n)[:, None]
    return _split(p, tokens[rows, cols], start[rows, cols], topics[rows, cols])


def yoking_split(rng: np.random.Generator, succ: np.ndarray, p: SentenceGrammarParams, n: int) -> Split:
    """The probe's stimuli: ``yoking_sentences`` sentences of ``yoking_sentence_len`` words from a boundary
    (one more sentence begins at the label after the last position)."""
    tokens, start, topics = sentences(rng, succ, p, n, p.seq_len + 1, p.yoking_sentence_len)
    return _split(p, tokens, start, topics)


def _split(p: SentenceGrammarParams, tokens: np.ndarray, start: np.ndarray, topics: np.ndarray) -> Split:
    dtype = token_dtype(p.vocab_size)
    meta = {
        "sentence_start": start[:, :-1],
        "topic": topics[:, :-1].astype(np.uint8),  # n_topics <= 256
        "n_topics": np.full(len(tokens), p.n_topics, dtype=np.int64),  # constant: what decode needs to name tokens
    }
    groups = np.zeros(len(tokens), dtype=np.uint8)
    return Split(tokens[:, :-1].astype(dtype), tokens[:, 1:].astype(dtype), groups, meta)


def generate(p: SentenceGrammarParams, seed: int) -> Dataset:
    succ = grammar(p, seed)
    splits = {
        "train": text_split(rng_for(seed, "train"), succ, p, p.n_train),
        "test": text_split(rng_for(seed, "test"), succ, p, p.n_test),
        "yoking": yoking_split(rng_for(seed, "yoking"), succ, p, p.n_yoking),
    }
    return Dataset(seed, p.vocab_size, p.seq_len, ("all",), splits, objective="all-tokens")


def decode(ds: Dataset, split: str, i: int) -> str:
    """``| T3 c12 c40 | T5 c7 ...  ->  next: c40 ...``: topics as T<k>, content as c<k>, boundaries as |."""
    s = ds.splits[split]
    n_topics = int(s.meta["n_topics"][i])

    def word(tok: int) -> str:
        return f"T{tok - 1}" if tok <= n_topics else f"c{tok - 1 - n_topics}"

    cells = [("| " if s.meta["sentence_start"][i, t] else "") + word(int(tok)) for t, tok in enumerate(s.tokens[i])]
    return " ".join(cells) + "  ->  next: " + " ".join(word(int(t)) for t in s.labels[i])


def verify(ds: Dataset, p: SentenceGrammarParams) -> list[str]:
    succ = grammar(p, ds.seed)
    problems = []
    for name, s in ds.splits.items():
        tok, lab = s.tokens.astype(np.int64), s.labels.astype(np.int64)
        if not np.array_equal(lab[:, :-1], tok[:, 1:]):
            problems.append(f"{name}: a label is not the next input token")
        opens = s.meta["sentence_start"].astype(bool)
        topics = s.meta["topic"].astype(np.int64)
        if (opens != (tok <= p.n_topics)).any() or (tok[opens] != topics[opens] + 1).any():
            problems.append(f"{name}: a sentence does not open with its topic token")
        prev, cur = tok[:, :-1], tok[:, 1:]
        inside = ~opens[:, 1:] & (prev > 0)
        state = np.where(prev <= p.n_topics, p.n_content, prev - 1 - p.n_topics)[inside]
        allowed = succ[topics[:, 1:][inside], state]  # [m, branching]
        if not (allowed == (cur[inside] - 1 - p.n_topics)[:, None]).any(axis=1).all():
            problems.append(f"{name}: a content token is not a successor of its topic and previous token")
        at = np.flatnonzero(opens.reshape(-1))  # sentence starts, row-major
        same_row = at[1:] // p.seq_len == at[:-1] // p.seq_len
        lengths = np.diff(at)[same_row]  # whole sentences (a row's first and last may be cut)
        low, high = (p.yoking_sentence_len,) * 2 if name == "yoking" else (p.min_sentence, p.max_sentence)
        if len(lengths) and (lengths.min() < low or lengths.max() > high):
            problems.append(
                f"{name}: a sentence of {int(lengths.min())}..{int(lengths.max())} words, not {low}..{high}"
            )
        if name == "yoking" and not opens[:, 0].all():
            problems.append("yoking: a stimulus that does not start at a sentence boundary")
    return problems


FAMILY = Family(
    "sentence-grammar",
    SentenceGrammarParams,  # type: ignore[arg-type]
    generate,
    decode,
    verify,
    "Running text of sentences without punctuation: a topic token, then content tokens from a topic-dependent "
    "Markov chain (branching successors per topic and previous token); lengths min..max_sentence; the next token "
    "at every position. Split yoking: the probe's stimuli, fixed-length sentences from a boundary.",
    objective="all-tokens",
)
