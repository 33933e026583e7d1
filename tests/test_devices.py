"""Devices as users have them (issue 22, part 3). This machine has no GPU, so what needs one is
tested with stand-ins: the `meta` device for "the training device is not the CPU", and
CUDA_VISIBLE_DEVICES for the workers' GPUs; precision runs for real on the CPU (bf16, fp16)."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from anchorbench.config import TrainConfig, hashed
from anchorbench.execution import backends
from anchorbench.execution.plan import Request, make_plan
from anchorbench.registry import MODELS

FAST = ("train.steps=10", "train.eval_every=5", "task.n_train=100", "task.n_test=50", "model.d_model=16",
        "model.d_ff=32")  # fmt: skip


class OnlyOffCPU(nn.Module):
    """Stands for a mixer with a CUDA-only kernel (mamba_ssm): it refuses CPU tensors."""

    def __init__(self, vocab_size: int, seq_len: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, 8)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.device.type == "cpu":
            raise RuntimeError("this kernel runs on a GPU only")
        return self.embed(tokens) @ self.embed.weight.T  # [B, T, V]


@pytest.fixture
def only_off_cpu():
    MODELS.register("only-off-cpu", OnlyOffCPU, origin="test")
    yield "only-off-cpu"
    MODELS.unregister("only-off-cpu")


def test_the_preflight_runs_on_the_training_device(only_off_cpu: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from anchorbench.errors import UserError
    from anchorbench.training import loop

    with pytest.raises(UserError, match="runs on a GPU only"):  # on the CPU it fails, as it would train
        make_plan(Request("anchor-identity-v1", model=only_off_cpu))
    monkeypatch.setattr(loop, "pick_device", lambda choice: torch.device("meta"))  # the "GPU" it trains on
    plan = make_plan(Request("anchor-identity-v1", model=only_off_cpu))  # checked there: accepted
    assert plan.entries[0].model.name == only_off_cpu


@pytest.mark.parametrize(("device", "message"), [
    ("cuda:1", "no CUDA device is available"), ("cuda", "no CUDA device is available"),
    ("mps", "MPS"), ("gpu", "train.device"), ("cuda:x", "train.device"),
])  # fmt: skip
def test_devices_this_machine_lacks_are_refused_in_one_line(cli, device: str, message: str) -> None:
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    r = cli("run", "anchor-identity-v1", "--set", f"train.device={device}", "--dry-run")
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_trains_and_is_recorded(cli, tmp_path, precision: str) -> None:
    sets = [x for s in (*FAST, f"train.precision={precision}") for x in ("--set", s)]
    base = [x for s in FAST for x in ("--set", s)]
    assert cli("run", "anchor-identity-v1", "--out", str(tmp_path / "p"), "--quiet", *sets).code == 0
    assert cli("run", "anchor-identity-v1", "--out", str(tmp_path / "f"), "--quiet", *base).code == 0
    import json

    low, full = (json.loads(next((tmp_path / x).glob("*/seed-0/result.json")).read_text()) for x in ("p", "f"))
    assert low["train"]["precision"] == precision and low["config_hash"] != full["config_hash"]
    assert torch.isfinite(torch.tensor(low["scores"]["test_loss"]))
    assert low["scores"]["test_loss"] != full["scores"]["test_loss"]  # autocast did change the arithmetic


def test_fp32_keeps_the_hash_of_runs_recorded_before_precision_existed() -> None:
    assert "precision" not in hashed(TrainConfig())
    assert hashed(TrainConfig(precision="bf16"))["precision"] == "bf16"


def report_visible_gpu(_job: object) -> str | None:
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def test_each_local_worker_sees_one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert backends.visible_gpus() == ["3", "5"]
    seen = list(backends.ProcessPool(2).map(report_visible_gpu, [0, 1]))
    assert sorted(seen) == ["3", "5"]  # one GPU per worker slot, round robin
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert backends.visible_gpus() == []


def test_workers_default_to_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from anchorbench.execution.sweep import resources

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)  # a container's 1-core share
    assert backends.usable_cores() == 1 and resources(None, None) == (1, 1)
