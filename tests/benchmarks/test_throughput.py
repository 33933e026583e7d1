"""pytest-benchmark groups for the comparisons `anchorbench bench` reports as ratios.

Run: pytest -m bench tests/benchmarks --benchmark-enable
Within a group, pytest-benchmark prints both contenders side by side; compare their
means (or use `anchorbench bench`, which alternates them and prints the ratio).
"""

from __future__ import annotations

import pytest

from anchorbench import bench
from anchorbench.training import paper_loops

pytestmark = pytest.mark.bench  # deselected by default (pyproject addopts)


@pytest.mark.benchmark(group="generation: anchor-composite-v1, 200k sequences")
def test_generation(benchmark):
    benchmark(bench.generation_workload(200_000))


@pytest.mark.benchmark(group="train 60 steps: trainer vs minimal loop (d=128, B=256)")
def test_trainer_fit(benchmark):
    # fit() always evaluates at step 0 and at the end (~7 ms each here); 60 steps amortize them.
    benchmark.pedantic(bench.trainer_workload(60), rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="train 60 steps: trainer vs minimal loop (d=128, B=256)")
def test_minimal_loop(benchmark):
    benchmark.pedantic(bench.minimal_loop_workload(60), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("which", ["ours", "reference"])
@pytest.mark.parametrize("size", bench.MODEL_SIZES, ids=lambda s: f"d{s[0]}-h{s[1]}-L{s[2]}-B{s[3]}")
def test_model_train_steps(benchmark, which, size):
    benchmark.group = f"model: 5 training steps, d={size[0]} h={size[1]} L={size[2]} B={size[3]}"
    benchmark.pedantic(bench.model_step_workload(which, *size, steps=5), rounds=5)


# One epoch per call: anchorbench's includes its step-0 and final evaluations, per-call costs that
# `anchorbench bench --only paper` removes by differencing a long and a short call (use it for the ratio).
@pytest.mark.benchmark(group="paper [AF] identity, 1 epoch: anchorbench vs hand-written loop (d=400, B=50)")
def test_paper_anchorbench(benchmark):
    benchmark.pedantic(paper_loops.anchorbench_identity_workload(1), rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="paper [AF] identity, 1 epoch: anchorbench vs hand-written loop (d=400, B=50)")
def test_paper_hand_written(benchmark):
    benchmark.pedantic(paper_loops.paper_identity_workload(1), rounds=3, warmup_rounds=1)
