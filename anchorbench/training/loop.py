"""The training loop: AdamW, warmup + cosine, clipping, scheduled evaluation, checkpoints.

(``optimizer: gd-ntk`` swaps AdamW for gradient descent at a curvature-scaled step, and
``stop_loss`` ends a run early once it has fitted: the [COND-PD] protocol.)

Time is counted in optimizer steps. "Step s" means "after s updates": the evaluation at
step 0 is the initialization, the one at ``steps`` the final model. Everything the loop
does is a function of ``(config, seed, step)`` (the batch order included), so a run
resumed from a checkpoint ends exactly where an uninterrupted run does.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from anchorbench.config import TrainConfig
from anchorbench.data.dataset import Dataset
from anchorbench.data.seeding import rng_for
from anchorbench.errors import UserError
from anchorbench.files import append_jsonl, write_jsonl
from anchorbench.scoring import Evaluation, Metric, SplitEval
from anchorbench.training.curvature import ntk_top_eigenvalue
from anchorbench.training.objectives import objective_of

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.jsonl"


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup from ``lr * warmup_start_ratio`` to ``lr`` over ``warmup_steps``, then a
    cosine to ``lr * min_lr_ratio`` over ``decay_steps`` (default: the rest of the run).

    With ratio r = 1/20, warmup 3,700, min ratio 1/20 and 77,700 steps this is the [INIT] code's
    GradualWarmupScheduler (multiplier 20) followed by CosineAnnealingLR (T_max 74,000)."""
    if step < cfg.warmup_steps:
        r = cfg.warmup_start_ratio
        return cfg.lr * (r + (1 - r) * (step + 1) / cfg.warmup_steps)
    decay = cfg.decay_steps if cfg.decay_steps is not None else cfg.steps - cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, decay)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def eval_steps(cfg: TrainConfig) -> list[int]:
    """Steps at which to evaluate: 0, the schedule, and the last step."""
    if cfg.eval_schedule == "linear":
        steps = set(range(0, cfg.steps + 1, cfg.eval_every))
    elif cfg.eval_schedule == "log":
        steps = set(np.unique(np.round(np.logspace(0, math.log10(cfg.steps), cfg.eval_points))).astype(int).tolist())
    elif cfg.eval_schedule == "dense-log":  # fine timing early (t_fit), log-spaced later (t_gen)
        dense_end = min(cfg.eval_dense_until, cfg.steps)
        steps = set(range(0, dense_end + 1, cfg.eval_every))
        if cfg.steps > dense_end:
            log = np.logspace(math.log10(dense_end), math.log10(cfg.steps), cfg.eval_points)
            steps |= set(np.unique(np.round(log)).astype(int).tolist())
    else:  # pragma: no cover - TrainConfig's Literal rejects anything else
        raise ValueError(cfg.eval_schedule)
    return sorted(steps | {0, cfg.steps})


def pick_device(choice: str) -> torch.device:
    """``train.device`` as a torch device; a device this machine does not have is a user error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(choice)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"train.device={choice} but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"train.device={choice} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("train.device=mps but MPS (Apple's GPU backend) is not available here")
    return device


AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def adamw(params: Any, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW, fused where torch has a fused kernel for the device: the same update in one pass
    over the parameters. On the [AF] paper's model (5.7M parameters, CPU) the optimizer step
    fell from 34 ms to 9 ms of a ~160 ms training step; the result differs from the for-loop
    implementation in the last bits only (docs/benchmarks.md)."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused or None)


class BatchOrder:
    """Shuffled epochs without replacement; batch ``step`` depends only on (seed, step)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.seed = n, seed
        self.batch_size = min(batch_size, n)
        self.per_epoch = n // self.batch_size  # drop the ragged tail, as the papers do
        self._epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    def indices(self, step: int) -> np.ndarray:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, rng_for(self.seed, "batches", epoch).permutation(self.n)
        return self._perm[i * self.batch_size : (i + 1) * self.batch_size]


class Evaluator:
    """Per-example predictions and losses on the first ``eval_size`` examples of each split."""

    def __init__(self, dataset: Dataset, cfg: TrainConfig, device: torch.device):
        self.dataset, self.cfg, self.device = dataset, cfg, device
        self.objective = objective_of(dataset.objective)
        self.splits = {name: s.head(cfg.eval_size) for name, s in dataset.splits.items()}
        self.tensors = {name: self.objective.tensors(s, device) for name, s in self.splits.items()}
        # Splits whose predictions are restricted to each example's context tokens (a generator
        # marks them with the meta field context_only, e.g. [MATCH] ood_unseen: an untied head
        # cannot emit an id it never saw as a label, but it can point at one in its input).
        self.context_only = {
            name for name, s in self.splits.items() if np.asarray(s.meta.get("context_only", False)).any()
        }

    @torch.inference_mode()
    def __call__(self, model: nn.Module, step: int) -> Evaluation:
        was_training = model.training
        model.eval()
        out = {}
        for name, split in self.splits.items():
            x, y = self.tensors[name]
            size = self.cfg.eval_batch_size
            batches = [
                self.objective.predict(model, x[i : i + size], y[i : i + size], name in self.context_only)
                for i in range(0, len(split), size)
            ]
            preds = np.concatenate([b.preds for b in batches])
            out[name] = SplitEval(split, preds, np.concatenate([b.losses for b in batches]))
        model.train(was_training)
        return Evaluation(step, out, self.dataset.group_names)


@dataclass
class TrainOutcome:
    status: Literal["completed", "diverged"]
    steps_completed: int
    diverged_at: int | None
    final: Evaluation
    history: list[dict[str, Any]]
    resumed_from: int | None


def stale_checkpoint(run_dir: Path, key: str) -> bool:
    """Whether ``run_dir`` holds a checkpoint written under another key (config or code)."""
    path = run_dir / CHECKPOINT
    if not path.exists():
        return False
    return torch.load(path, map_location="cpu", weights_only=True).get("config_hash") != key


class Trainer:
    """Trains one model on one dataset; optionally checkpoints into ``run_dir``."""

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        cfg: TrainConfig,
        *,
        seed: int,
        metrics: Sequence[Metric] = (),
        run_dir: Path | None = None,
        config_hash: str = "",
        progress: bool = True,
        desc: str = "train",
        on_eval: Callable[[dict[str, Any]], None] | None = None,
        probes: Callable[..., dict[str, Any]] | None = None,  # (model, final=...) -> values
    ):
        self.cfg, self.seed, self.metrics = cfg, seed, list(metrics)
        self.run_dir, self.config_hash = run_dir, config_hash
        self.progress, self.desc, self.on_eval, self.probes = progress, desc, on_eval, probes
        self.device = pick_device(cfg.device)
        self.model = model.to(self.device)
        self.dataset = dataset
        self.evaluate = Evaluator(dataset, cfg, self.device)
        self.objective = self.evaluate.objective
        self.train_x, self.train_y = self.objective.tensors(dataset.splits["train"], self.device)
        self.order = BatchOrder(len(dataset.splits["train"]), cfg.batch_size, seed)
        # train.compile: training steps go through torch.compile's graph of the same module (same
        # parameters); evaluation stays eager, so inference mode does not cost a second compile.
        self.forward = torch.compile(self.model) if cfg.compile else self.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if (problem := cfg.optimizer_problem(self.objective.name)) is not None:
            raise UserError(problem)
        self.optimizer = (
            adamw(self.params, cfg, self.device)
            if cfg.optimizer == "adamw"
            else torch.optim.SGD(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)  # sgd, gd-ntk
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        self.history: list[dict[str, Any]] = []
        self.last_eval: Evaluation | None = None

    # -- checkpoints ------------------------------------------------------------------
    def _checkpoint_path(self) -> Path | None:
        return self.run_dir / CHECKPOINT if self.run_dir else None

    def save_checkpoint(self, step: int, running: tuple[torch.Tensor, int]) -> None:
        path = self._checkpoint_path()
        if path is None:
            return
        state = {
            "step": step,
            "running_loss": running,  # training loss summed since the last evaluation, and its count
            "config_hash": self.config_hash,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
        }
        import secrets

        # A unique temporary name beside the checkpoint: a fixed one would collide with another
        # process writing the same run (or a leftover of a killed one). Created exclusively ("x")
        # rather than by mkstemp, whose 0600 would make the checkpoint private.
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        f = open(tmp, "xb")  # before the try: a file that clashes is not ours to remove
        try:
            with f:
                torch.save(state, f)
            os.replace(tmp, path)  # atomic: a kill leaves the old or the new checkpoint, never half
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_checkpoint(self) -> tuple[int, tuple[torch.Tensor, int]]:
        fresh = (0, (torch.zeros((), device=self.device), 0))
        path = self._checkpoint_path()
        if path is None or not path.exists():
            return fresh
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state["config_hash"] != self.config_hash:
            raise UserError(f"{path} was written by a different configuration; start a new run instead")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = list(state["history"])
        # Drop history lines written after the checkpoint (the run was killed later).
        write_jsonl(self.run_dir / HISTORY, self.history)  # type: ignore[operator]
        total, count = state["running_loss"]
        return int(state["step"]), (total.to(self.device), int(count))

    # -- the loop ---------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainOutcome:
        start, (running, running_n) = self.load_checkpoint() if resume else (0, (torch.zeros(()), 0))
        bar = tqdm(total=self.cfg.steps, initial=start, desc=self.desc, disable=not self.progress,
                   leave=False, dynamic_ncols=True, unit="step")  # fmt: skip
        try:
            (outcome,) = train_loop(
                [self], lambda step, active: self.step(step).detach().view(1), start=start,
                running=(running.to(self.device).view(1), running_n), checkpoint=self.save_checkpoint, bar=bar,
            )  # fmt: skip
        finally:
            bar.close()
        if resume and start:
            outcome.resumed_from = start
        return outcome

    def step(self, step: int) -> torch.Tensor:
        """One optimizer update at ``step``; returns the batch's loss."""
        lr = lr_at(step, self.cfg)
        idx = torch.from_numpy(self.order.indices(step)).to(self.device)
        if self.cfg.optimizer == "gd-ntk":  # lr is the fraction of 1 / lambda_max taken as the step
            lr /= ntk_top_eigenvalue(self.forward, self.params, self.train_x[idx])
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        amp = AMP_DTYPES[self.cfg.precision]
        with torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
            loss = self.objective.loss(self.forward, self.train_x[idx], self.train_y[idx])
        self.optimizer.zero_grad(set_to_none=True)
        # fp16 scales the loss so that small gradients survive; disabled (fp32, bf16) each call is the plain one
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss

    def record(self, ev: Evaluation, step: int, train_loss: float | None, bar: Any = None, final: bool = False) -> None:
        """Append one evaluation to the history (and history.jsonl), with its scores and probes.
        ``final``: the run stops here (final-only probes, costly measurements of the trained model, run)."""
        final = final or step >= self.cfg.steps
        probes = finite_tree(self.probes(self.model, final=final)) if self.probes is not None else None
        # a metric may report a probe's value (rd_w in [COND-PD]) or read the course so far ([FREQ])
        ev = dataclasses.replace(ev, dynamics=probes or {}, history=tuple(self.history))
        scores = {m.name: finite_or_null(m(ev)) for m in self.metrics}
        record = {
            "step": step,
            "lr": lr_at(min(step, self.cfg.steps - 1), self.cfg),
            "train_loss_running": finite_or_null(train_loss),
            "splits": finite_tree(ev.summary()),
            "scores": scores,
        }
        if probes is not None:
            record["probes"] = probes
        self.history.append(record)
        self.last_eval = ev
        if self.run_dir:
            append_jsonl(self.run_dir / HISTORY, record)
        if bar is not None and not bar.disable:
            shown = {k: progress_figure(v) for k, v in record["splits"].items()}
            bar.set_postfix(shown, refresh=False)
        if self.on_eval:
            self.on_eval(record)


def train_loop(
    members: list[Trainer],
    update: Callable[[int, list[bool]], torch.Tensor],
    *,
    start: int = 0,
    running: tuple[torch.Tensor, int] | None = None,
    checkpoint: Callable[[int, tuple[torch.Tensor, int]], None] | None = None,
    bar: Any = None,
) -> list[TrainOutcome]:
    """The one training loop: a single run (one member) and a batched ensemble of seeds share it.

    ``update(step, active)`` performs one optimizer step of every member (a Trainer's own step,
    or an ensemble's stacked one) and returns their losses ``[S]``. The loop evaluates on the
    members' shared schedule, records each member's history, checkpoints a single run (the
    ``checkpoint`` callback, with the running loss of member 0), and retires a member whose
    running loss is no longer finite: it is evaluated at that step and updated no more.
    """
    cfg = members[0].cfg
    n = len(members)
    device = members[0].device
    total, count = running if running is not None else (torch.zeros(n, device=device), 0)
    evals = set(eval_steps(cfg))
    checkpoints = set(range(0, cfg.steps + 1, cfg.checkpoint_every)) if cfg.checkpoint_every else evals
    active = [True] * n
    diverged_at: list[int | None] = [None] * n
    stopped = [cfg.steps] * n
    for t in members:
        t.model.train()
        if start == 0 and t.run_dir:  # fresh start, or killed before the first checkpoint
            write_jsonl(t.run_dir / HISTORY, [])
    step = start
    while True:
        if step in evals:
            for i, t in enumerate(members):
                if active[i] and not (t.history and t.history[-1]["step"] == step):  # a resumed eval stands
                    mean = (total[i] / count).item() if count else None
                    t.record(t.evaluate(t.model, step), step, mean, bar)
            total, count = torch.zeros(n, device=device), 0
        if checkpoint is not None and step > start and step in checkpoints and all(active):
            checkpoint(step, (total[0], count))
        if step >= cfg.steps or not any(active):
            break
        losses = update(step, active)
        total += losses
        count += 1
        step += 1
        if cfg.stop_loss is not None:  # losses are before this step's update, as in the [COND-PD] code
            for i, t in enumerate(members):
                if active[i] and float(losses[i]) < cfg.stop_loss:
                    active[i], stopped[i] = False, step
                    t.record(t.evaluate(t.model, step), step, (total[i] / count).item(), bar, final=True)
        # Syncing with the device every step would stall a GPU; every 10 is enough to catch a
        # NaN before it spreads (NaN weights stay NaN anyway).
        if step % 10 == 0 or step == cfg.steps:
            if bar is not None:
                bar.update(step - bar.n)
            for i, t in enumerate(members):
                if active[i] and not torch.isfinite(total[i]):
                    active[i], diverged_at[i], stopped[i] = False, step, step
                    t.record(t.evaluate(t.model, step), step, None)
    outcomes = []
    for i, t in enumerate(members):
        ev = t.last_eval
        final = ev if ev is not None and ev.step == stopped[i] else t.evaluate(t.model, stopped[i])
        status: Literal["completed", "diverged"] = "diverged" if diverged_at[i] is not None else "completed"
        outcomes.append(TrainOutcome(status, stopped[i], diverged_at[i], final, t.history, None))
    return outcomes


def progress_figure(split: dict[str, Any]) -> str:
    """A split's accuracy for the progress bar; its loss where there is no accuracy (regression)."""
    if split["accuracy"] is not None:
        return f"{split['accuracy']:.3f}"
    return f"loss {split['loss']:.3g}" if split["loss"] is not None else "nan"


def finite_or_null(x: float | None) -> float | None:
    """JSON has no NaN: non-finite numbers are recorded as null."""
    return x if x is not None and math.isfinite(x) else None


def finite_tree(x: Any) -> Any:
    """``finite_or_null`` applied to every float in nested dicts and lists (evaluation summaries, probes)."""
    if isinstance(x, dict):
        return {k: finite_tree(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite_tree(v) for v in x]
    return finite_or_null(x) if isinstance(x, float) else x
