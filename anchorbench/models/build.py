"""Build a model by name: registry entry, entry point, or ``module:attr`` plug-in."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from torch import nn

from anchorbench.config import hashed, validate
from anchorbench.errors import UserError
from anchorbench.registry import MODELS


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: dict[str, Any]  # fully resolved when the model declares a Config, else as given

    def build(self, *shape: int) -> nn.Module:
        """``Model(*shape, **config)``; the objective gives the shape: (vocab_size, seq_len) for token
        tasks, (d_in, d_out) for regression (anchorbench.training.objectives)."""
        factory = MODELS.get(self.name)
        try:
            model = factory(*shape, **self.config)
        except (TypeError, ValueError) as exc:  # a config or a task shape the model cannot take
            raise UserError(f"model '{self.name}' rejected its config {self.config} for this task: {exc}") from None
        if not isinstance(model, nn.Module):
            raise UserError(f"model '{self.name}' built a {type(model).__name__}, not a torch.nn.Module")
        return model


def resolve_model(name: str, kwargs: dict[str, Any]) -> ModelSpec:
    """Validate ``kwargs`` against the model's ``Config`` (when it has one)."""
    factory = MODELS.get(name)
    config_cls = getattr(factory, "Config", None)
    if config_cls is not None:
        config = hashed(validate(config_cls, kwargs, "model"))  # fields added later appear only when set
        return ModelSpec(name, config)
    if not callable(factory):
        raise UserError(f"model '{name}' is a {type(factory).__name__}, not a class or factory")
    _check_signature(name, factory, kwargs)
    return ModelSpec(name, dict(kwargs))


def _check_signature(name: str, factory: Any, kwargs: dict[str, Any]) -> None:
    """Plug-ins without a Config: at least reject keys the constructor cannot take."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [p for p in params if p not in ("self", "vocab_size", "seq_len", "d_in", "d_out")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise UserError(
            f"unknown config key 'model.{unknown[0]}' for model '{name}' (known: {', '.join(accepted) or 'none'})"
        )


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
