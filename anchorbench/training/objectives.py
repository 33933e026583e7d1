"""What a task asks the model to predict, and how that is trained and scored.

A task family's data declares its objective (``Dataset.objective``, the family's
``objective``); the trainer, the evaluator and the pre-flight check ask the objective, so one
training loop serves every kind of task:

* ``last-token``: tokens in, the token after the last one out, cross-entropy ([AF], [MATCH],
  [INIT], [GROK]: every task before objectives existed; its numbers are unchanged).
* ``all-tokens``: causal language modelling; the next token at every position is trained and
  scored, and the evaluation reports accuracy and loss per position.
* ``regression``: float inputs and targets, mean squared error (the frequency view of
  grokking, condensation, teacher-student regressions).

A model says which inputs it takes with a class attribute ``accepts`` (default ``("tokens",)``);
a mismatch is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from anchorbench.data.dataset import Split
from anchorbench.errors import UserError
from anchorbench.registry import OBJECTIVES

INPUT_KINDS = ("tokens", "floats")


def accepted_inputs(model: nn.Module | type) -> tuple[str, ...]:
    """The input kinds a model takes; models written before objectives take tokens."""
    return tuple(getattr(model, "accepts", ("tokens",)))


@dataclass(frozen=True)
class Prediction:
    """One split's predictions: ``preds`` and ``losses`` per example, with a position axis
    ``[N, T]`` for all-tokens; ``preds`` are floats ``[N, d_out]`` for regression."""

    preds: np.ndarray
    losses: np.ndarray


class Objective:
    """The contract; subclasses below are the registered objectives."""

    name: str
    inputs: str  # "tokens" or "floats": what the model is fed
    description: str

    def model_args(self, params: Any) -> tuple[int, int]:
        """The positional arguments a model is built with: ``Model(*model_args, **config)``."""
        return int(params.vocab_size), int(params.seq_len)

    def tensors(self, split: Split, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        # Embedding lookups need int64; the stored data keep their compact dtype until here.
        x = torch.from_numpy(split.tokens.astype(np.int64)).to(device)
        y = torch.from_numpy(split.labels.astype(np.int64)).to(device)
        return x, y

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, context_only: bool) -> Prediction:
        raise NotImplementedError

    def check_model(self, model: nn.Module, name: str, args: tuple[int, int], device: Any = "cpu") -> None:
        """One tiny forward pass on ``device`` (the training device), before any run starts: a model
        that cannot serve this objective (wrong inputs, wrong output shape, an exception) is
        refused with one line."""
        takes = accepted_inputs(model)
        if self.inputs not in takes:
            raise UserError(
                f"model '{name}' takes {' or '.join(takes)}; the task's objective '{self.name}' feeds {self.inputs}"
            )
        x = self.example_input(args).to(device)
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                out = model(x)
        except Exception as exc:  # a plug-in's bug, reported as the user's problem to fix
            shape = "x".join(str(d) for d in x.shape)
            raise UserError(f"model '{name}' failed on a [{shape}] batch: {type(exc).__name__}: {exc}") from None
        finally:
            model.train(was_training)
        problem = self.output_problem(out, args)
        if problem:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise UserError(f"model '{name}' returned {got}; {problem}")

    def example_input(self, args: tuple[int, int]) -> torch.Tensor:
        return torch.ones(2, args[1], dtype=torch.long)

    def output_problem(self, out: Any, args: tuple[int, int]) -> str | None:
        raise NotImplementedError


def _logits_ok(out: Any, vocab_size: int) -> bool:
    return isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[0] == 2 and out.shape[2] == vocab_size


def last_logits(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Logits ``[B, V]`` for the position after the last token (the only one trained and scored)."""
    if getattr(model, "supports_last_only", False):
        return model(tokens, last_only=True)[:, -1]
    return model(tokens)[:, -1]


@OBJECTIVES.register("last-token", description="the token after the last input token; cross-entropy")
class LastToken(Objective):
    name, inputs = "last-token", "tokens"

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(last_logits(model, x).float(), y)

    def predict(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, context_only: bool) -> Prediction:
        logits = last_logits(model, x).float()  # [B, V]
        losses = F.cross_entropy(logits, y, reduction="none")
        if context_only:  # the prediction is the best-scored token of the example's own input
            seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, x, True)
            logits = logits.masked_fill(~seen, float("-inf"))
        return Prediction(logits.argmax(-1).cpu().numpy(), losses.cpu().numpy())

    def output_problem(self, out: Any, args: tuple[int, int]) -> str | None:
        vocab_size, seq_len = args
        if _logits_ok(out, vocab_size) and out.shape[1] in (1, seq_len):
            return None
        return f"expected logits [B, T, V] = [2, {seq_len}, {vocab_size}] (or [2, 1, V])"


@OBJECTIVES.register("all-tokens", description="the next token at every position (causal LM); cross-entropy")
class AllTokens(Objective):
    """Labels ``[N, T]``: ``labels[:, t]`` is the token that follows input position t."""

    name, inputs = "all-tokens", "tokens"

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(x).float()  # [B, T, V]
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    def predict(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, context_only: bool) -> Prediction:
        logits = model(x).float()  # [B, T, V]
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)  # [B, T]
        return Prediction(logits.argmax(-1).cpu().numpy(), losses.cpu().numpy())

    def output_problem(self, out: Any, args: tuple[int, int]) -> str | None:
        vocab_size, seq_len = args
        if _logits_ok(out, vocab_size) and out.shape[1] == seq_len:
            return None
        return f"every position is scored: expected logits [B, T, V] = [2, {seq_len}, {vocab_size}]"


@OBJECTIVES.register("regression", description="float inputs and targets; mean squared error")
class Regression(Objective):
    """Inputs ``[N, d_in]`` and targets ``[N, d_out]``, float32; a model maps ``[B, d_in] -> [B, d_out]``."""

    name, inputs = "regression", "floats"

    def model_args(self, params: Any) -> tuple[int, int]:
        return int(params.d_in), int(params.d_out)

    def tensors(self, split: Split, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.asarray(split.tokens, dtype=np.float32)).to(device)
        y = torch.from_numpy(np.asarray(split.labels, dtype=np.float32)).to(device)
        return x, y

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(model(x).float(), y)

    def predict(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, context_only: bool) -> Prediction:
        out = model(x).float()  # [B, d_out]
        losses = (out - y).pow(2).mean(-1)  # [B]: squared error, averaged over the outputs
        return Prediction(out.cpu().numpy(), losses.cpu().numpy())

    def example_input(self, args: tuple[int, int]) -> torch.Tensor:
        return torch.ones(2, args[0])

    def output_problem(self, out: Any, args: tuple[int, int]) -> str | None:
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (2, args[1]) and out.is_floating_point():
            return None
        return f"expected [B, d_out] = [2, {args[1]}] floats"


def objective_of(name: str) -> Objective:
    """The registered objective ``name`` (a class or an instance), as an instance."""
    obj = OBJECTIVES.get(name)
    return obj() if isinstance(obj, type) else obj
