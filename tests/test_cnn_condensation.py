"""[COND-CNN] the images family, the CNN, the kernels probe and its scores, the small-vs-large sign."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from anchorbench.data import images
from anchorbench.errors import UserError
from anchorbench.models.cnn import CNN
from anchorbench.registry import DYNAMICS_PROBES
from anchorbench.scoring import kernels as kp


def _probe(model: CNN, dataset=None) -> dict:
    fn = DYNAMICS_PROBES.get("kernels").start(model, "images", None, dataset)
    assert fn is not None
    return fn(model)["kernels"]


def test_hand_made_kernels_in_two_clusters_are_two_directions() -> None:
    model = CNN(64, 10, kernels=20)
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(10), rng.standard_normal(10)  # 9 weights + the bias
    rows = [u * (1 + 0.001 * rng.standard_normal(10)) for _ in range(12)]
    rows += [v * (1 + 0.001 * rng.standard_normal(10)) for _ in range(8)]
    with torch.no_grad():
        conv = model.kernel_layers()[0]
        conv.weight.copy_(torch.tensor(np.array(rows)[:, :9]).reshape(20, 1, 3, 3))
        conv.bias.copy_(torch.tensor(np.array(rows)[:, 9]))
    record = _probe(model)
    assert record["layers"][0]["directions"] == 2 and record["layers"][0]["direction_share"] == 1.0
    assert np.allclose(record["first"], rows, rtol=1e-4)  # the stored kernels, bias last
    with torch.no_grad():  # scattered kernels: no cluster holds a tenth
        conv.weight.copy_(torch.tensor(rng.standard_normal((20, 1, 3, 3))))
    assert _probe(model)["layers"][0]["directions"] == 0


def test_a_kernel_dotted_with_a_patch_is_the_convolution_at_that_position() -> None:
    """The theory's patches are flattened in the kernels' order, bias last: <W, P_p(x)> = conv(x)[p]."""
    model = CNN(2 * 36, 3, kernels=4, kernel_size=3, stride=2, padding=1, channels=2).double()
    x = torch.randn(5, 2, 6, 6, dtype=torch.float64)
    conv = model.kernel_layers()[0]
    maps = conv(x).flatten(2)  # [N, M, positions]
    p = kp.patches(x.numpy(), conv)  # [N, positions, 2*9 + 1]
    w = model.kernels()[0].detach().numpy()  # [M, 19]
    assert np.allclose(np.einsum("npd,md->nmp", p, w), maps.detach().numpy())


def test_the_theory_direction_is_the_top_singular_vector_of_the_label_weighted_patches() -> None:
    model = CNN(16, 2, kernels=4)
    rng = np.random.default_rng(1)
    x, y = rng.random((7, 16)), np.eye(2)[rng.integers(0, 2, 7)]
    u1, s = kp.theory_direction(model, x, y)
    cols = []  # brute force: Z[:, (p, k)] = (1/n) sum_i y_ik P_p(x_i), p over the 4x4 positions
    padded = np.pad(x.reshape(7, 4, 4), ((0, 0), (1, 1), (1, 1)))
    for r in range(4):
        for c in range(4):
            patch = np.concatenate([padded[:, r : r + 3, c : c + 3].reshape(7, 9), np.ones((7, 1))], axis=1)
            cols += [(y[:, k : k + 1] * patch).mean(axis=0) for k in range(2)]
    z = np.array(cols).T
    assert s[0] == pytest.approx(np.linalg.svd(z, compute_uv=False)[0])
    assert abs(u1 @ np.linalg.svd(z)[0][:, 0]) == pytest.approx(1.0)
    assert s[0] > s[1]  # a unique top direction on this data


def test_gamma_sets_every_weight_and_bias_std() -> None:
    torch.manual_seed(0)
    model = CNN(64, 10, kernels=32, gamma=2.0)
    every = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert every.std().item() == pytest.approx(32.0**-2, rel=0.05)
    with pytest.raises(ValueError, match="square image"):
        CNN(60, 10)
    with pytest.raises(ValueError, match="smaller than"):
        CNN(4, 1)  # a 2x2 image under a 3x3 kernel: not an image task


def test_synthetic_images_are_pure_verified_and_pinned_by_seed() -> None:
    p = images.ImagesParams(source="synthetic", n_train=200, n_test=100)
    a, b, c = images.generate(p, 0), images.generate(p, 0), images.generate(p, 1)
    assert np.array_equal(a.splits["train"].tokens, b.splits["train"].tokens)
    assert not np.array_equal(a.splits["train"].tokens, c.splits["train"].tokens)
    assert images.verify(a, p) == []
    proto = images.prototypes().reshape(10, -1)  # the classes: fixed strokes, distinct, the same for every seed
    assert set(np.unique(proto)) == {0.0, 1.0} and len({row.tobytes() for row in proto}) == 10
    s = a.splits["train"]
    tampered = images.Split(s.tokens.copy(), s.labels, s.groups, s.meta)
    tampered.tokens[0] = 1.0 - tampered.tokens[0]  # a negative image: not its class's prototype plus noise
    assert any("prototype" in msg for msg in images.verify(images.Dataset(0, 0, 1, a.group_names,
               {"train": tampered, "test": a.splits["test"]}, objective="regression"), p))  # fmt: skip


def test_without_scikit_learn_the_synthetic_set_works_and_digits_say_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    images.digits_bundle.cache_clear()
    try:
        p = images.ImagesParams(source="synthetic", n_train=50, n_test=20)
        assert images.verify(images.generate(p, 0), p) == []
        with pytest.raises(ValueError, match=r"anchorbench\[images\]"):
            images.ImagesParams(source="digits")
    finally:
        images.digits_bundle.cache_clear()


def test_digits_are_checked_against_their_pinned_hash(monkeypatch) -> None:
    pytest.importorskip("sklearn")
    images.digits_bundle.cache_clear()
    pics, labels = images.digits_bundle()
    assert pics.shape == (1797, 8, 8) and pics.max() == 16 and np.bincount(labels).min() >= 170
    p = images.ImagesParams(source="digits", n_train=500, n_test=1000)
    ds = images.generate(p, 3)
    assert images.verify(ds, p) == []
    both = np.intersect1d(ds.splits["train"].meta["index"], ds.splits["test"].meta["index"])
    assert len(both) == 0

    import sklearn.datasets

    real = sklearn.datasets.load_digits

    def changed():
        bundle = real()
        bundle.images[0, 0, 0] += 1  # one grey level of one pixel
        return bundle

    monkeypatch.setattr(sklearn.datasets, "load_digits", changed)
    images.digits_bundle.cache_clear()
    try:
        with pytest.raises(UserError, match="not the pinned ones"):
            images.digits_bundle()
    finally:
        images.digits_bundle.cache_clear()


TINY = ["--set", "task.source=synthetic", "--set", "task.n_train=100", "--set", "task.n_test=100",
        "--set", "model.kernels=8", "--set", "train.batch_size=100", "--set", "train.steps=150"]  # fmt: skip


def _scores(cli, tmp_path: Path, name: str, *extra: str) -> tuple[dict, Path]:
    out = tmp_path / name
    r = cli("run", "cnn-condensation-v1", *TINY, *extra, "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    seed = out / "cnn-condensation-v1" / "seed-0"
    return json.loads((seed / "result.json").read_text())["scores"], seed


def test_small_init_condenses_early_and_large_init_does_not(cli, tmp_path: Path) -> None:
    small, seed = _scores(cli, tmp_path, "small")
    large, _ = _scores(cli, tmp_path, "large", "--set", "model.gamma=1.0")  # std 8^-1: 0.125
    assert small["initial_kernel_share"] > 0.9 and small["initial_kernel_directions"] <= 3
    assert small["initial_theory_cosine"] > 0.9  # onto the theory's line
    assert small["initial_layers_condensed"] == 1 and large["initial_layers_condensed"] == 0
    assert large["initial_kernel_share"] < small["initial_kernel_share"] - 0.5
    assert large["initial_theory_cosine"] < small["initial_theory_cosine"] - 0.3
    assert small["initial_stage_end"] > large["initial_stage_end"]  # a tiny init waits before it fits
    history = [json.loads(line) for line in (seed / "history.jsonl").read_text().splitlines()]
    assert history[0]["probes"]["kernels"]["layers"][0]["directions"] == 0  # at init: scattered
    r = cli("plot", str(seed))
    assert r.code == 0, r.err
    assert (seed / "kernel-course.png").stat().st_size > 0 and (seed / "kernel-cosine-map.png").stat().st_size > 0


def test_the_kernels_probe_is_refused_for_a_model_without_kernels(cli, tmp_path: Path) -> None:
    r = cli("run", "cnn-condensation-v1", *TINY, "--model", "two-layer", "--out", str(tmp_path / "x"))
    assert r.code == 2 and "kernels" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_diverging_run_ends_as_diverged_with_null_kernel_scores_and_still_plots(cli, tmp_path: Path) -> None:
    scores, seed = _scores(cli, tmp_path, "diverged", "--set", "train.lr=20")
    result = json.loads((seed / "result.json").read_text())
    assert result["status"] == "diverged"
    assert scores["initial_kernel_share"] is None and scores["train_loss"] is None
    r = cli("plot", str(seed))
    assert r.code == 0, r.err


def test_the_suite_report_gives_each_init_its_verdict(cli, tmp_path: Path) -> None:
    tiny = {key: value for key, value in (pair.split("=", 1) for pair in TINY[1::2])}
    suite = tmp_path / "tiny-cnn.yaml"
    suite.write_text(json.dumps({
        "id": "tiny-cnn", "version": 1, "title": "tiny", "report": "kernel-condensation",
        "runs": [{"task": "cnn-condensation-v1", "name": "small", "set": tiny},
                 {"task": "cnn-condensation-v1", "name": "middle", "set": {**tiny, "model.gamma": 2.0}},
                 {"task": "cnn-condensation-v1", "name": "large", "set": {**tiny, "model.gamma": 1.0}}],
    }))  # fmt: skip
    r = cli("run", str(suite), "--out", str(tmp_path / "out"), "--quiet")
    assert r.code == 0, r.err
    report = json.loads((tmp_path / "out" / "kernel-condensation.json").read_text())
    by_entry = {e["entry"]: e for e in report["entries"]}
    assert by_entry["small"]["expected_to_condense"] is True and by_entry["small"]["claim_met"] is True
    assert by_entry["large"]["expected_to_condense"] is False and by_entry["large"]["claim_met"] is True
    assert by_entry["middle"]["expected_to_condense"] is None and by_entry["middle"]["claim_met"] is None
    assert "met: condenses" in r.out and "met: not" in r.out
    assert by_entry["small"]["theory_stage_end"] > 0  # the linearized time scale, beside the measured one
