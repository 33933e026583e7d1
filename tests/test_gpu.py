"""The CUDA paths, on a real GPU: skipped where torch sees none (every CPU machine, CI included).

Run them, with the [AF] timing, in one call on a GPU machine: ``bash tests/gpu_check.sh``
(about 5 minutes on one H100: the tests, then the paper configuration's steps per second on the
GPU and on the CPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from anchorbench.cli import main
from anchorbench.registry import MODELS

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]
QUICK = ["--set", "train.steps=60", "--set", "train.eval_every=30", "--quiet"]


def _scores(folder: Path) -> dict:
    result = next(folder.rglob("result.json"))
    return json.loads(result.read_text())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_quickstart_trains_on_cuda(tmp_path: Path, precision: str) -> None:
    out = tmp_path / precision
    args = ["run", "quickstart", "--set", "train.device=cuda", "--set", f"train.precision={precision}", *QUICK]
    assert main([*args, "--out", str(out)]) == 0
    record = _scores(out)
    assert record["env"]["device"].startswith("cuda") and record["env"]["gpu_name"]
    assert all(v is not None for v in record["scores"].values())


def test_a_compiled_training_step_runs_on_cuda(tmp_path: Path) -> None:
    args = ["run", "quickstart", "--set", "train.device=cuda", "--set", "train.compile=true", *QUICK]
    assert main([*args, "--out", str(tmp_path / "compiled")]) == 0


def test_a_batched_sweep_of_8_seeds_runs_on_cuda(tmp_path: Path) -> None:
    sweep = tmp_path / "seeds.yaml"
    sweep.write_text(
        "id: gpu-seeds\nversion: 1\ntitle: 8 seeds on a GPU\n"
        "base: {task: anchor-identity-v1, set: {train.device: cuda, train.steps: 60, train.eval_every: 30}}\n"
        "axes: {seed: [0, 1, 2, 3, 4, 5, 6, 7]}\n"
    )
    out = tmp_path / "sweep"
    assert main(["sweep", str(sweep), "--batch", "--out", str(out), "--quiet"]) == 0
    index = json.loads((out / "sweep.json").read_text())
    assert sum(c["status"] == "completed" for c in index["cells"].values()) == 8


@pytest.mark.parametrize("name", [n for n in MODELS.names()])
def test_every_model_runs_forward_and_backward_on_cuda(name: str) -> None:
    factory = MODELS.get(name)
    regression = name in ("two-layer", "toy-superposition", "feature-channels")
    model = (factory(8, 8) if regression else factory(16, 6)).cuda()
    x = torch.randn(4, 8, device="cuda") if regression else torch.randint(0, 16, (4, 6), device="cuda")
    out = model(x)
    out.float().square().mean().backward()
    assert torch.isfinite(out).all() and all(p.grad is not None for p in model.parameters() if p.requires_grad)
