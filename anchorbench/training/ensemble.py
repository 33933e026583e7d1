"""Batched multi-seed training: runs that differ only in seed trained as one stacked ensemble.

Every member keeps its own ``Trainer`` (its data, batch order, evaluator, history and run
folder), so what it records is what a separate run records. Only the update is shared:
the members' parameters are stacked along a new leading dimension, one ``vmap``-ed forward
computes every member's logits on its own batch, the summed loss gives each member exactly
its own gradient, and one AdamW steps the stack. AdamW and the learning-rate schedule act
elementwise, so this is each member's own optimizer; gradient clipping is done per member.
Each member's module holds *views* into the stacks, so evaluating or probing a member
needs no copy.

Results equal separate runs up to float rounding (a batched matmul sums in another order).
The gain is fewer, larger kernels: on a CPU, small models spend most of a step in per-op
overhead. Ensembles do not checkpoint; a killed ensemble is trained again on resume.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from anchorbench.training.loop import adamw


class NotBatchable(Exception):
    """The model cannot run under ``vmap`` (e.g. ``nn.LSTM``); train the seeds separately."""


def _forward(base: torch.nn.Module, last_only: bool):
    kwargs = {"last_only": True} if last_only else {}

    def one(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (params, buffers), (x,), kwargs)[:, -1]  # [B, V]

    return vmap(one)


class Ensemble:
    """The stacked parameters of ``trainers``' models, and the shared update."""

    def __init__(self, trainers: list[Any]):
        if trainers[0].objective.name != "last-token":  # the stacked update below is the last-token loss
            raise NotBatchable(f"the {trainers[0].objective.name} objective is trained one seed at a time")
        if trainers[0].cfg.stop_loss is not None:  # members would stop at different steps
            raise NotBatchable("a run with train.stop_loss is trained one seed at a time")
        if trainers[0].cfg.precision != "fp32":  # the stacked update has no autocast or scaler
            raise NotBatchable(f"a run with train.precision={trainers[0].cfg.precision} is trained one seed at a time")
        self.trainers = trainers
        self.cfg = trainers[0].cfg
        self.models = [t.model for t in trainers]
        base = self.models[0]
        states = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in self.models]
        stacked = {n: torch.stack([state[n].detach() for state in states]) for n in states[0]}
        trained = [n for n, p in base.named_parameters() if p.requires_grad]
        self.params = {n: stacked[n].requires_grad_(True) for n in trained}
        # Frozen parameters and buffers are stacked too (seeded per member), but not trained.
        self.fixed = {n: t for n, t in stacked.items() if n not in self.params}
        for i, m in enumerate(self.models):
            for n, p in m.named_parameters():
                p.data = (self.params[n] if n in self.params else self.fixed[n])[i]  # a view: no copy
            for n, _ in m.named_buffers():
                _set_buffer(m, n, self.fixed[n][i])
        self.forward = _forward(base, getattr(base, "supports_last_only", False))
        self.optimizer = adamw(list(self.params.values()), self.cfg, trainers[0].device)
        self._check(trainers)

    def _check(self, trainers: list[Any]) -> None:
        x = torch.stack([t.train_x[:2] for t in trainers])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "no batching rule" fallbacks are slow but correct
                with torch.no_grad():
                    self.forward(self.params, self.fixed, x)
        except Exception as exc:  # noqa: BLE001 - any failure means: not batchable
            raise NotBatchable(f"{type(self.models[0]).__name__}: {str(exc).splitlines()[0]}") from None

    def step(self, step: int, active: list[bool]) -> torch.Tensor:
        """One update of every member; returns the members' losses ``[S]``."""
        from anchorbench.training.loop import lr_at

        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step, self.cfg)
        idx = [torch.from_numpy(t.order.indices(step)).to(t.device) for t in self.trainers]
        x = torch.stack([t.train_x[i] for t, i in zip(self.trainers, idx)])  # [S, B, T]
        y = torch.stack([t.train_y[i] for t, i in zip(self.trainers, idx)])  # [S, B]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logits = self.forward(self.params, self.fixed, x).float()  # [S, B, V]
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)
        self.optimizer.zero_grad(set_to_none=True)
        # Members are independent: d(sum)/d(member i) is member i's own gradient. A member
        # that has diverged is masked out so that its NaN cannot reach the shared optimizer.
        mask = torch.tensor(active, device=losses.device)
        torch.where(mask, losses, torch.zeros_like(losses)).sum().backward()
        if self.cfg.grad_clip is not None:
            self._clip(self.cfg.grad_clip)
        self.optimizer.step()
        return losses.detach()

    def _clip(self, max_norm: float) -> None:
        """``clip_grad_norm_`` per member: each member's total norm over all its parameters."""
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        sq = sum(g.flatten(1).pow(2).sum(1) for g in grads)  # [S]
        coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))


def _set_buffer(module: torch.nn.Module, name: str, value: torch.Tensor) -> None:
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    setattr(owner, attr, value)  # nn.Module stores a tensor under an existing buffer's name as that buffer


def fit_ensemble(trainers: list[Any]) -> list[Any]:
    """Train every trainer's model to ``cfg.steps`` together; one TrainOutcome per member."""
    from anchorbench.training.loop import train_loop

    ens = Ensemble(trainers)
    return train_loop(trainers, ens.step)
