"""[WINDOWS] sentence-grammar-v1 and the integration-windows probe: the grammar's data, the window fit,
the yoking index on difference tensors of known shape, the swaps, hidden states of the built-in models
and of a plug-in, final-only probing, runs with their plots, and the refusal of a model without hidden
states."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anchorbench.registry import TASKS
from anchorbench.scoring import windows as W

TASK = "sentence-grammar-v1"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "gated-attention"
# A model of 2 blocks, 40 steps, 8 stimuli: the wiring, not the science (docs/windows.md has that).
TINY = ("--set", "model.n_layers=2", "--set", "model.d_model=16", "--set", "model.n_heads=2",
        "--set", "train.steps=40", "--set", "train.eval_every=20", "--set", "train.warmup_steps=5",
        "--set", "task.n_train=128", "--set", "task.n_test=32", "--set", "task.n_yoking=8")  # fmt: skip


def test_the_grammar_opens_each_sentence_with_its_topic_and_the_probe_stimuli_are_aligned() -> None:
    spec = TASKS.get(TASK)
    params = spec.resolve_params({"n_train": 256, "n_test": 64})
    ds = spec.family_obj.generate(params, 2)
    assert ds.objective == "all-tokens" and params.vocab_size == 57 and params.seq_len == 60
    assert spec.family_obj.verify(ds, params) == []
    longer = spec.resolve_params({"n_train": 256, "n_test": 64, "min_sentence": 10})
    assert "train: a sentence of 4..20 words, not 10..20" in spec.family_obj.verify(ds, longer)
    text, yoking = ds.splits["train"], ds.splits["yoking"]
    assert not text.meta["sentence_start"][:, 0].all()  # windows of running text start anywhere
    starts = yoking.meta["sentence_start"].astype(bool)
    assert starts.all(axis=0).sum() == 5 and np.array_equal(np.flatnonzero(starts[0]), [0, 12, 24, 36, 48])
    # the topics overlap: a content token follows more than one topic
    content = text.tokens[~text.meta["sentence_start"].astype(bool)]
    topic = text.meta["topic"][~text.meta["sentence_start"].astype(bool)]
    assert min(len(set(topic[content == c])) for c in np.unique(content)) > 1
    assert spec.family_obj.decode(ds, "yoking", 0).startswith("| T")
    from anchorbench.data.sentence_grammar import grammar

    allowed = grammar(params, 2)[yoking.meta["topic"][0, 2], yoking.tokens[0, 1] - 9]  # successors after word 1
    yoking.tokens[0, 2] = next(9 + c for c in range(48) if c not in allowed)  # (labels follow the tokens)
    yoking.labels[0, 1] = yoking.tokens[0, 2]
    assert spec.family_obj.verify(ds, params) == [
        "yoking: a content token is not a successor of its topic and previous token"
    ]
    other = spec.family_obj.generate(params, 3)
    assert not np.array_equal(other.splits["train"].tokens, text.tokens)  # another seed, another language
    drift = spec.resolve_params({"n_train": 256, "n_test": 64, "topic_persistence": 0.9})
    kept = spec.family_obj.generate(drift, 2).splits["yoking"].meta["topic"][:, ::12]
    assert (
        (kept[:, 1:] == kept[:, :-1]).mean()
        > 0.85
        > (yoking.meta["topic"][:, 12::12] == yoking.meta["topic"][:, :-12:12]).mean()
    )


@pytest.mark.parametrize(
    ("sets", "message"),
    [({"branching": 60}, "branching 60 is more than"), ({"yoking_sentence_len": 30}, "outside the trained"),
     ({"vocab_size": 99}, "vocab_size is derived")],
)  # fmt: skip
def test_bad_grammar_parameters_are_refused_with_a_line(cli, tmp_path: Path, sets: dict, message: str) -> None:
    ((key, value),) = sets.items()
    r = cli("run", TASK, "--out", str(tmp_path / "x"), "--set", f"task.{key}={value}")
    assert r.code == 2 and len(r.err_lines) == 1 and message in r.err and not (tmp_path / "x").exists(), r.err


def test_the_mixture_fit_recovers_its_parameters_and_the_half_width_interpolates() -> None:
    d = np.arange(21.0)
    for a, b, c in ((1.0, 0.5, 0.3), (0.5, 2.0, 0.8), (2.0, 0.2, 0.0)):
        fa, fb, fc, sse = W.fit_mixture(W.mixture(d, a, b, c))
        assert sse < 1e-5 and fc == pytest.approx(c, abs=0.01), (a, b, c, fa, fb, fc)
        if c > 0:
            assert fa == pytest.approx(a, rel=0.05)
        if c < 1:
            assert fb == pytest.approx(b, rel=0.05)
    assert np.isnan(W.fit_mixture(np.array([1.0, np.nan]))[0])
    assert W.fit_window(W.mixture(d, 1.0, 0.5, 0.3))[4]  # a gradual window: c is identified
    spike = np.r_[1.0, np.full(20, 0.03)]  # a spike on a flat tail: c near 0 or near 1 fit equally well
    assert not W.fit_window(spike)[4]
    assert W.fit_mixture(spike, 0.0, 0.5)[3] < 1e-6 and W.fit_mixture(spike, 0.5, 1.0)[3] < 1e-6
    assert W.half_width(np.array([1.0, 0.8, 0.4, 0.1])) == pytest.approx(1.75)
    assert W.half_width(np.array([1.0, 0.9, 0.8])) == 2.0 and W.half_width(np.array([1.0, 0.2])) == pytest.approx(0.625)


def _tensor(T: int, sentence: int, confined: bool) -> np.ndarray:
    """``[K, T, 1]``: influence exp(-(t-k)/4) at t >= k, cut at the swap's sentence end when ``confined``."""
    k, t = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    D = np.where(t >= k, np.exp(-(t - k) / 4.0), 0.0)
    if confined:
        D = np.where(t // sentence == k // sentence, D, 0.0)
    return D[..., None]


def test_the_yoking_index_is_zero_for_a_window_tied_to_position_and_positive_for_one_tied_to_sentences() -> None:
    boundaries = [12, 24, 36, 48]
    free, confined = _tensor(60, 12, False), _tensor(60, 12, True)
    assert np.nanmean(W.yoking_profile(free, 12)[boundaries]) == pytest.approx(0.0, abs=1e-12)
    assert np.nanmean(W.yoking_profile(confined, 12)[boundaries]) > 0.1
    assert np.nanmean(W.yoking_profile(free, 12, first_lag=1)[boundaries]) == pytest.approx(0.0, abs=1e-12)
    assert np.nanmean(W.yoking_profile(confined, 12, first_lag=1)[boundaries]) > 0.1
    window = W.unit_windows(free)[0]
    assert window == pytest.approx(np.exp(-np.arange(21) / 4.0))  # the window read back along the lags
    summary = W.layer_summary(free, boundaries, 12)
    assert summary["c"] == pytest.approx(0.0, abs=0.01) and summary["b"] == pytest.approx(0.25, rel=0.02)
    assert summary["half_width"] == pytest.approx(4 * np.log(2), abs=0.1) and summary["units"] == 1


def test_swaps_keep_the_class_and_a_likely_swap_is_among_the_models_top_alternatives() -> None:
    tokens = np.array([[1, 5, 6, 2, 7, 5], [2, 6, 6, 1, 5, 7]])
    starts = np.array([[1, 0, 0, 1, 0, 0]] * 2, dtype=bool)
    classes = W.token_classes(tokens, starts, 9)
    assert classes.tolist() == [-1, 1, 1, -1, -1, 0, 0, 0, -1]
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = W.uniform_swaps(tokens, classes, rng)
        assert (s != tokens).all() and (classes[s] == classes[tokens]).all()

    class Ranked(torch.nn.Module):  # prefers higher token ids, everywhere
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.arange(9.0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.w.expand(*x.shape, 9)

    s = W.likely_swaps(Ranked(), tokens, classes, rng)
    assert (s != tokens).all() and (classes[s] == classes[tokens]).all()
    # content tokens are 5, 6, 7: the alternatives to 7 are 6 and 5, to 5 they are 7 and 6 (all in the top 4)
    assert s[0, 1] in (6, 7) and s[1, 3] == 2  # topic 1's only alternative is 2


def test_the_built_in_models_expose_hidden_states_that_end_in_their_logits_and_are_causal() -> None:
    from anchorbench.models.lstm import LSTM
    from anchorbench.models.transformer import Transformer

    torch.manual_seed(0)
    x = torch.randint(1, 20, (3, 10))
    lstm = LSTM(20, 10, d_model=8, hidden=12, n_layers=3)
    states = lstm.hidden_states(x)
    assert len(states) == 3 and torch.allclose(lstm.head(states[-1]), lstm(x), atol=1e-6)
    tf = Transformer(20, 10, d_model=16, n_layers=2, n_heads=2, norm="pre")
    states = tf.hidden_states(x)
    assert len(states) == 2 and torch.allclose(tf.head(tf.ln_f(states[-1])), tf(x), atol=1e-6)
    tokens = x.numpy()
    D = W.difference_tensor(tf, tokens, (tokens % 19) + 1)
    assert [d.shape for d in D] == [(10, 10, 16)] * 2
    below = np.tril(np.ones((10, 10), dtype=bool), -1)  # t < k: a causal model's past does not move
    assert all((d[below] == 0).all() and (d[~below] > 0).any() for d in D)


def test_a_run_measures_the_windows_once_at_the_end_and_plots_them(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = cli("run", TASK, "--out", str(out), "--quiet", "--seeds", "2", *TINY)
    assert r.code == 0, r.err
    seed = out / TASK / "seed-0"
    history = [json.loads(line) for line in (seed / "history.jsonl").read_text().splitlines()]
    assert [bool((h.get("probes") or {}).get(W.NAME)) for h in history] == [False, False, True]
    g = history[-1]["probes"][W.NAME]
    assert set(g) >= {"trained", "untrained"} and g["boundaries"] == [12, 24, 36, 48] and g["stimuli"] == 8
    layers = g["trained"]["likely"]
    assert len(layers) == 2 and len(layers[0]["window"]) == 21 and layers[0]["window"][0] == pytest.approx(1.0)
    scores = json.loads((seed / "result.json").read_text())["scores"]
    assert scores["windows_yoking_gain"] == pytest.approx(layers[1]["yoking"] - layers[0]["yoking"])
    assert scores["windows_yoking_last_untrained"] == pytest.approx(g["untrained"]["likely"][1]["yoking"])
    assert all(v is not None for k, v in scores.items() if k.startswith("windows_")), scores
    # the same seed gives the same record (the swaps are drawn from the run's seed)
    again = tmp_path / "again"
    assert cli("run", TASK, "--out", str(again), "--quiet", "--seeds", "1", *TINY).code == 0
    history2 = [json.loads(line) for line in (again / TASK / "seed-0" / "history.jsonl").read_text().splitlines()]
    assert history2[-1]["probes"][W.NAME] == g
    r = cli("plot", str(out / TASK))
    assert r.code == 0, r.err
    assert (seed / "windows.png").stat().st_size > 0 and (out / TASK / "windows-depth.png").stat().st_size > 0
    table = (out / TASK / "windows-depth.txt").read_text()
    assert (
        "2 seeds" in table and "layer 2" in table and "yoking trained" in table and "yoking_context untrained" in table
    )


def test_the_probe_runs_on_the_lstm_and_on_a_plug_in_that_opts_in(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for model, sets in (("lstm", ("--set", "model.d_model=8", "--set", "model.hidden=12")),
                        ("anchorbench_gated.model:GatedAttentionNet", ("--set", "model.d_model=16"))):  # fmt: skip
        out = tmp_path / model.split(".")[0]
        r = cli("run", TASK, "--out", str(out), "--quiet", "--model", model, *TINY[6:], *sets)
        assert r.code == 0, (model, r.err)
        result = next(out.glob("*/seed-0/result.json"))
        scores = json.loads(result.read_text())["scores"]
        assert all(np.isfinite(scores[k]) for k in ("windows_yoking_last", "windows_c_last")), (model, scores)


def test_a_model_without_hidden_states_is_refused_with_one_line(cli, tmp_path: Path, plugin_module) -> None:
    name = plugin_module("""
        import torch
        from torch import nn

        class Bigram(nn.Module):  # causal and all-token, but no hidden_states
            def __init__(self, vocab_size, seq_len):
                super().__init__()
                self.table = nn.Embedding(vocab_size, vocab_size)

            def forward(self, tokens):
                return self.table(tokens)
    """)
    out = tmp_path / "x"
    r = cli("run", TASK, "--out", str(out), "--model", f"{name}:Bigram", *TINY[6:])
    assert r.code == 2 and len(r.err_lines) == 1 and "exposes no hidden states" in r.err, r.err
    assert not out.exists()


def test_final_only_probes_skip_the_evaluations_before_the_last() -> None:
    from anchorbench.scoring.dynamics import start_probes

    spec = TASKS.get(TASK)
    params = spec.resolve_params({"n_train": 8, "n_test": 8, "n_yoking": 2})
    ds = spec.family_obj.generate(params, 0)
    from anchorbench.models.transformer import Transformer

    model = Transformer(params.vocab_size, params.seq_len, n_layers=1, d_model=8)
    probes = start_probes(["integration-windows", "weight_norm"], model, spec.family, params, ds)
    assert probes is not None and set(probes(model, final=False)) == {"weight_norm"}
    assert set(probes(model, final=True)) == {"weight_norm", W.NAME}
