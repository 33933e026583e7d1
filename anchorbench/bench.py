"""``anchorbench bench``: throughput and memory, measured as ratios side by side.

Each comparison alternates its two contenders for several rounds and reports the median
of the per-round ratios, so load from other processes on a shared machine hits both
alike. Absolute rates are printed for context only.

* generation  anchor-composite-v1 sequences per second on one core (target >= 5e6)
* trainer     anchorbench's Trainer.fit vs a minimal hand-written loop, same model,
              batch and recipe (AdamW, clipping, lr schedule)   (target >= 0.95x)
* model       the standard transformer vs torch.nn.TransformerEncoder of the same size,
              training steps per second                          (target >= 1.0x)
* sweep       8 seed-cells of a small transformer (2 layers; d=32 batch 32 1000 steps, and
              d=64 batch 128 300 steps): the local
              backend (2 single-thread workers, seeds batched into ensembles; and without
              batching) vs the 8 cells one after another in one process using every core
                                                                 (target >= 1.5x)
* paper       the [AF] paper's identity configuration (4 layers, 4 heads, d_model 400, d_head
              64, d_ff 1200, batch 50, N = 1000): anchorbench's Trainer with its default
              evaluation vs a hand-written loop of the paper's recipe with its per-epoch test
              loss (anchorbench/training/paper_loops.py), seconds per epoch of 20 steps, 1 thread
                                                                 (target >= 1.3x)
* eval        evaluation overhead per built-in task at its defaults: the default schedule's
              evaluations times their cost over the run's training time (anchorbench/bench_eval.py)
                                                                 (target < 10% each)
* fitted      a training step of a *fitted* large-init transformer (init-composite-cpu's large-init
              entry trained past its fit, step 1,500 of 8,000) vs the same model fresh, both as
              anchorbench trains them (subnormal floats flushed): a saturated softmax fills the
              gradients with subnormals, each a microcode assist on Intel x86 CPUs; the rate
              keeping them is printed beside                    (target within 1.5x)
* memory      peak resident memory of `anchorbench run quickstart` (target < 1 GiB),
              and the token dtype of the stored data (smallest that holds the vocab)

The workloads are built by the ``*_workload`` functions: setup happens when they are
built, the returned callable does only the timed work. tests/benchmarks/ times the same
callables with pytest-benchmark.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from anchorbench.bench_eval import bench_eval
from anchorbench.bench_timing import Outcome, Workload, alternate, seconds


# -- workloads ------------------------------------------------------------------------------
def generation_workload(n: int) -> Workload:
    """Generate ``n`` training sequences of anchor-composite-v1 (plus tiny eval splits)."""
    from anchorbench.registry import TASKS

    spec = TASKS.get("anchor-composite-v1")
    params = spec.resolve_params({"n_train": n, "n_test": 1})
    return lambda: spec.family_obj.generate(params, 0)


def _composite_training(steps: int, batch_size: int = 256):
    from anchorbench.config import TrainConfig
    from anchorbench.registry import TASKS

    spec = TASKS.get("anchor-composite-v1")
    dataset = spec.family_obj.generate(spec.resolve_params({"n_train": 20_000, "n_test": 64}), 0)
    cfg = TrainConfig(
        steps=steps, batch_size=batch_size, lr=1e-3, warmup_steps=10, eval_every=steps, eval_size=64, device="cpu"
    )
    return dataset, cfg


def _transformer(d_model: int = 128, n_heads: int = 1, n_layers: int = 2, seed: int = 0):
    import torch

    from anchorbench.models.transformer import Transformer

    torch.manual_seed(seed)
    return Transformer(201, 9, n_layers=n_layers, n_heads=n_heads, d_model=d_model, norm="post")


def trainer_workload(steps: int) -> Workload:
    """anchorbench's Trainer.fit for ``steps`` steps (evaluations only at 0 and the end, 64 examples)."""
    from anchorbench.training.loop import Trainer

    dataset, cfg = _composite_training(steps)
    trainer = Trainer(_transformer(), dataset, cfg, seed=0, progress=False)
    return trainer.fit


def minimal_loop_workload(steps: int) -> Workload:
    """What one writes by hand for the same recipe: AdamW, clipping, lr schedule, random batches."""
    import torch
    import torch.nn.functional as F

    from anchorbench.training.loop import lr_at

    dataset, cfg = _composite_training(steps)
    model = _transformer()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x_all = torch.from_numpy(dataset.splits["train"].tokens.astype(np.int64))
    y_all = torch.from_numpy(dataset.splits["train"].labels.astype(np.int64))
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        for step in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            idx = torch.randint(0, len(x_all), (cfg.batch_size,), generator=gen)
            # The same last-position forward the trainer uses, so the ratio is the harness overhead.
            loss = F.cross_entropy(model(x_all[idx], last_only=True)[:, -1], y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

    return run


def reference_encoder(vocab: int, seq_len: int, d_model: int, n_heads: int, d_ff: int, n_layers: int):
    """torch.nn.TransformerEncoder (post-LN, causal, no dropout, no biases) with our embeddings and head."""
    import torch
    from torch import nn

    class Reference(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(vocab, d_model)
            self.pos = nn.Embedding(seq_len, d_model)
            layer = nn.TransformerEncoderLayer(
                d_model, n_heads, d_ff, dropout=0.0, batch_first=True, norm_first=False, bias=False
            )
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.head = nn.Linear(d_model, vocab)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
            return self.head(self.encoder(x, mask=self.mask, is_causal=True))

    return Reference()


def model_step_workload(which: str, d_model: int, n_heads: int, n_layers: int, batch: int, steps: int) -> Workload:
    """``steps`` AdamW training steps of our transformer (``which="ours"``) or the reference."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    if which == "ours":
        model = _transformer(d_model, n_heads, n_layers)
    elif which == "reference":
        model = reference_encoder(201, 9, d_model, n_heads, 3 * d_model, n_layers)
    else:
        raise ValueError(which)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(1, 201, (batch, 9))
    y = torch.randint(1, 201, (batch,))

    def run() -> None:
        for _ in range(steps):
            loss = F.cross_entropy(model(x)[:, -1], y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    run()  # warm up (allocator, first-call dispatch)
    return run


# -- the benchmarks ----------------------------------------------------------------------------
def bench_generation(quick: bool) -> list[Outcome]:
    n = 500_000 if quick else 2_000_000
    work = generation_workload(n)
    work()  # warm up allocator and caches
    best = min(seconds(work) for _ in range(3 if quick else 5))  # best of k: least disturbed by neighbours
    rate = n / best
    return [Outcome("generation", f"{rate / 1e6:.2f} M seq/s", "-", None, ">= 5 M seq/s", rate >= 5e6)]


def bench_trainer(quick: bool) -> list[Outcome]:
    steps = 30 if quick else 60
    a, b, ratio = alternate(trainer_workload(steps), minimal_loop_workload(steps), 3 if quick else 7)
    return [
        Outcome(
            "trainer (d=128, B=256)",
            f"{steps / a:.1f} step/s",
            f"{steps / b:.1f} step/s (minimal loop)",
            ratio,
            ">= 0.95x",
            ratio >= 0.95,
        )
    ]


MODEL_SIZES = [(64, 2, 2, 100), (128, 1, 2, 512), (400, 1, 2, 256)]  # quickstart, [INIT] CPU, paper width


def bench_model(quick: bool) -> list[Outcome]:
    out = []
    steps = 10 if quick else 20
    for d, h, n, batch in MODEL_SIZES[:2] if quick else MODEL_SIZES:
        ours = model_step_workload("ours", d, h, n, batch, steps)
        ref = model_step_workload("reference", d, h, n, batch, steps)
        a, b, ratio = alternate(ours, ref, 3 if quick else 7)
        out.append(
            Outcome(
                f"model d={d} h={h} L={n} B={batch}",
                f"{steps / a:.1f} step/s",
                f"{steps / b:.1f} step/s (nn.TransformerEncoder)",
                ratio,
                ">= 1.0x",
                ratio >= 1.0,
            )
        )
    return out


SWEEP_BASE = {
    "task": "anchor-composite-v1",
    "set": {"task.n_train": 5000, "task.n_test": 200, "train.steps": 300, "train.warmup_steps": 20,
            "train.eval_every": 100},
}  # fmt: skip
# Two model sizes: batching pays where a step is per-op overhead (tiny model, small batch)
# and not where it is arithmetic (a batched matmul is no faster per flop than a plain one).
# The fixed cost of starting worker processes (~2 s each, importing torch) is paid once per
# sweep; 1000 steps keeps the tiny sweep long enough (~25 s) that it does not dominate.
SWEEP_SIZES = {
    "d=32 B=32": {"model.d_model": 32, "train.batch_size": 32, "train.steps": 1000},
    "d=64 B=128": {"model.d_model": 64, "train.batch_size": 128, "train.steps": 300},
}


def sweep_workload(
    n_seeds: int, *, workers: int, threads: int, batch: bool | str, steps: int | None = None, size: str = "d=64 B=128"
) -> Workload:
    """Run a sweep of ``n_seeds`` cells (one config) into a fresh folder each call."""
    import yaml

    from anchorbench.execution.sweep import make_sweep_plan, run_sweep

    folder = tempfile.mkdtemp(prefix="anchorbench-bench-sweep-")
    base = {"task": SWEEP_BASE["task"], "set": {**SWEEP_BASE["set"], **SWEEP_SIZES[size]}}
    if steps is not None:
        base["set"]["train.steps"] = steps
    spec = {"id": "bench", "version": 1, "title": "bench", "base": base, "axes": {"seed": list(range(n_seeds))}}
    path = f"{folder}/bench.yaml"
    with open(path, "w") as f:
        yaml.safe_dump(spec, f)
    plan = make_sweep_plan(path)
    calls = itertools.count()

    def work() -> None:
        run_sweep(plan, Path(folder) / f"run-{next(calls)}", workers=workers, threads=threads, batch=batch,
                  progress=False)  # fmt: skip

    return work


def bench_sweep(quick: bool) -> list[Outcome]:
    """Per model size, each round runs the baseline and every contender once; ratios are
    per-round medians."""
    out = []
    for size in SWEEP_SIZES:
        out += _bench_sweep_size(size, quick)
    return out


def _bench_sweep_size(size: str, quick: bool) -> list[Outcome]:
    from anchorbench.execution.backends import usable_cores

    cores = usable_cores()
    n, steps, rounds = 8, (100 if quick else None), (1 if quick else 2)
    baseline = sweep_workload(n, workers=1, threads=cores, batch=False, steps=steps, size=size)
    contenders = {
        f"sweep 8 cells {size}: {cores} workers x 1 thread, batched": (cores, True),
        f"sweep 8 cells {size}: {cores} workers x 1 thread": (cores, False),
        f"sweep 8 cells {size}: {cores} workers x 1 thread, --batch auto": (cores, "auto"),  # probe included
        f"sweep 8 cells {size}: 1 worker x 1 thread, batched": (1, True),
    }
    works = {
        k: sweep_workload(n, workers=w, threads=1, batch=b, steps=steps, size=size) for k, (w, b) in contenders.items()
    }
    times: dict[str, list[float]] = {k: [] for k in works}
    ratios: dict[str, list[float]] = {k: [] for k in works}
    base_times = []
    for _ in range(rounds):
        base = seconds(baseline)
        base_times.append(base)
        for k, work in works.items():
            t = seconds(work)
            times[k].append(t)
            ratios[k].append(base / t)
    out = []
    for k, (w, b) in contenders.items():
        ratio = statistics.median(ratios[k])
        target = ">= 1.5x" if b is True and w > 1 else "-"
        out.append(Outcome(k, f"{statistics.median(times[k]):.1f} s",
                           f"{statistics.median(base_times):.1f} s (1 process, {cores} threads, cell after cell)",
                           ratio, target, ratio >= 1.5 if target != "-" else True))  # fmt: skip
    return out


def bench_paper(quick: bool) -> list[Outcome]:
    """Seconds per epoch of the [AF] identity recipe: anchorbench vs the hand-written paper loop.

    Start-up is removed as the issue measured it: each round times a long and a short call of
    each side (alternating) and divides the difference by the extra epochs. That drops the
    per-call costs (anchorbench's evaluations at step 0 and at the end) and keeps the
    per-epoch ones. The lengths differ by whole periods of anchorbench's default evaluation
    schedule (every 100 steps = 5 epochs), so the difference holds exactly the evaluations a
    long run makes per epoch. Both run with 1 thread (restored afterwards).
    """
    from anchorbench.training.paper_loops import (
        anchorbench_identity_workload,
        eval_period_epochs,
        paper_identity_workload,
    )
    from anchorbench.training.torch_state import isolated

    short = 1
    long = short + eval_period_epochs()  # 6 epochs with the defaults
    rounds = 1 if quick else 5
    with isolated(seed=0, threads=1):
        ours = {e: anchorbench_identity_workload(e) for e in (short, long)}
        paper = {e: paper_identity_workload(e) for e in (short, long)}
        # Warm up the process (allocator, kernel caches; the long calls share the shapes).
        alternate(ours[short], paper[short], 1)
        ta, tb, ratios = [], [], []
        for _ in range(rounds):
            a_long, b_long, _ = alternate(ours[long], paper[long], 1)
            a_short, b_short, _ = alternate(ours[short], paper[short], 1)
            a, b = (a_long - a_short) / (long - short), (b_long - b_short) / (long - short)
            if min(a, b) <= 0:  # a neighbour's load swamped the difference: no ratio to report
                raise RuntimeError(f"paper: a long call was not slower than a short one ({a:.3f}, {b:.3f} s/epoch)")
            ta.append(a)
            tb.append(b)
            ratios.append(b / a)
    a, b, ratio = statistics.median(ta), statistics.median(tb), statistics.median(ratios)
    return [
        Outcome(
            "paper [AF] identity (L=4 H=4 d=400 B=50 N=1000, 1 thread)",
            f"{a:.2f} s/epoch",
            f"{b:.2f} s/epoch (hand-written [AF] loop)",
            ratio,
            ">= 1.3x",
            ratio >= 1.3,
        )
    ]


def bench_memory(quick: bool) -> list[Outcome]:
    from anchorbench.data.dataset import token_dtype
    from anchorbench.registry import TASKS

    spec = TASKS.get("anchor-composite-v1")
    ds = spec.family_obj.generate(spec.resolve_params({"n_train": 10, "n_test": 10}), 0)
    dtype = ds.splits["train"].tokens.dtype
    dtype_ok = dtype == token_dtype(ds.vocab_size) == np.uint8
    outcomes = [
        Outcome("token dtype", f"{dtype} ({dtype.itemsize} B/token)", "vocab 201", None, "uint8", bool(dtype_ok))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        # The child reports its own peak: ru_maxrss of a child on Linux inherits the
        # parent's high-water mark across fork/exec, which would measure this process.
        proc = subprocess.run([sys.executable, "-c", _PEAK_RSS_CHILD, tmp], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"quickstart failed: {proc.stderr[-500:]}")
    mib = int(proc.stdout.strip().splitlines()[-1]) / 1024
    outcomes.append(Outcome("quickstart peak RSS", f"{mib:.0f} MiB", "-", None, "< 1024 MiB", mib < 1024))
    return outcomes


_PEAK_RSS_CHILD = """
import resource, sys
from anchorbench.cli import main
code = main(["run", "quickstart", "--quiet", "--results-dir", sys.argv[1]])
try:  # VmHWM: peak resident set of this process image only (Linux)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    print(int(line.split()[1]))
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""

FIT_STEPS = 1500  # init-composite-cpu's large-init entry fits (train accuracy ~1) by step ~1,200


def fitted_step_workloads(steps: int) -> tuple[Workload, Workload, Workload]:
    """(fitted, fresh, fitted and kept): ``steps`` training steps of the large-init [INIT]
    transformer after it has fitted its training set and of the same model freshly initialized,
    both as anchorbench trains them (subnormal floats flushed), and of the fitted one keeping
    subnormals. The fit itself (``FIT_STEPS`` steps, about a minute on one core) happens here."""
    from anchorbench.execution.plan import plan_entry
    from anchorbench.specs import load_suite
    from anchorbench.training.loop import Trainer
    from anchorbench.training.torch_state import isolated

    entry = next(e for e in load_suite("init-composite-cpu").expanded() if e.label == "large-init")
    plan = plan_entry(entry, None, ())
    dataset = plan.task.family_obj.generate(plan.params, 0)
    with isolated(0, 1, "flush"):
        fitted = Trainer(plan.build_model(0), dataset, plan.train, seed=0, progress=False)
        fresh = Trainer(plan.build_model(1), dataset, plan.train, seed=1, progress=False)
        for i in range(FIT_STEPS):
            fitted.step(i)

    def run(trainer: Trainer, start: int, mode: str) -> Workload:
        at = [start]

        def work() -> None:
            with isolated(None, 1, mode):
                for _ in range(steps):
                    trainer.step(at[0])
                    at[0] += 1

        return work

    return run(fitted, FIT_STEPS, "flush"), run(fresh, 0, "flush"), run(fitted, 2 * FIT_STEPS, "keep")


def bench_fitted(quick: bool) -> list[Outcome]:
    """A fitted model must step about as fast as a fresh one. On an x86 CPU with a large penalty
    for subnormal floats (the Intel Xeons measured: 4-5x) only flushing them keeps it so; on AMD
    Zen 4 keeping them costs little. The kept rate is printed for context."""
    steps = 5 if quick else 10
    fitted, fresh, kept = fitted_step_workloads(steps)
    a, b, ratio = alternate(fitted, fresh, 3 if quick else 5)
    c = seconds(kept)
    return [Outcome("fitted large-init step vs fresh (subnormals flushed)", f"{steps / a:.1f} step/s",
                    f"{steps / b:.1f} step/s fresh; kept: {steps / c:.1f} step/s", ratio, ">= 0.67x (1.5x)",
                    ratio >= 1 / 1.5)]  # fmt: skip


BENCHMARKS: dict[str, Callable[[bool], list[Outcome]]] = {
    "generation": bench_generation,
    "trainer": bench_trainer,
    "model": bench_model,
    "memory": bench_memory,
    "fitted": bench_fitted,
    "sweep": bench_sweep,
    "paper": bench_paper,
    "eval": bench_eval,
}


def main(args: argparse.Namespace) -> int:
    from anchorbench.errors import UserError
    from anchorbench.render import tables

    chosen = args.only or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        raise UserError(f"unknown benchmark '{unknown[0]}' (known: {', '.join(BENCHMARKS)})")
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ratios are medians of alternating rounds")
    rows = []
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        for o in BENCHMARKS[name](args.quick):
            ratio = "" if o.ratio is None else f"{o.ratio:.3f}x"
            rows.append([o.name, o.measured, o.baseline, ratio, o.target, "ok" if o.ok else "MISSED"])
    print(tables.table(rows, ["benchmark", "measured", "baseline", "ratio", "target", ""]))
    return 0
