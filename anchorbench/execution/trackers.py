"""Experiment trackers (``anchorbench run --log csv,tensorboard,wandb,mlflow``), one per seed.

A tracker starts with the run's configuration and provenance, receives every evaluation through
the trainer's ``on_eval`` callback (the record history.jsonl gets), and ends with the final
scores. Each writes into the seed's folder, so a results folder stays self-contained:

* ``csv``: ``metrics.csv``, one row per (step, metric, value) (no dependency);
* ``tensorboard``: event files in ``tensorboard/`` (``pip install 'anchorbench[tensorboard]'``);
* ``wandb``: a W&B run in ``wandb/``, **offline** unless ``WANDB_MODE`` says otherwise, so it
  works without a network (``wandb sync`` uploads it later) (``anchorbench[wandb]``);
* ``mlflow``: an MLflow run in ``<results folder>/mlflow.db`` (SQLite: MLflow 3 keeps its file
  store read-only) unless ``MLFLOW_TRACKING_URI`` is set (``anchorbench[mlflow]``).

Metric names: ``<split>/<measure>`` (``test/accuracy``), ``<split>/<group>/<measure>``,
``score/<name>``, ``train_loss_running`` and ``lr``. Trackers are extras, never dependencies: a
missing package is refused at planning, with the install line, before anything trains.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from anchorbench.errors import UserError
from anchorbench.registry import TRACKERS


def parse_logs(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``--log csv,wandb --log tensorboard`` -> the tracker names, checked now (known, installed).
    A tracker class says what it needs in ``needs`` (a module, installed by the extra of that name)."""
    names = tuple(dict.fromkeys(n.strip() for v in values or () for n in v.split(",") if n.strip()))
    for name in names:
        needs = getattr(TRACKERS.get(name), "needs", None)
        if needs is not None and importlib.util.find_spec(needs) is None:
            raise UserError(f"--log {name} needs the {needs} package: pip install 'anchorbench[{needs}]'")
    return names


def flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys (lists kept as JSON text)."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: json.dumps(data) if isinstance(data, (list, tuple)) else data}


def metrics_of(record: dict[str, Any]) -> dict[str, float]:
    """One evaluation record (history.jsonl) as flat numeric metrics."""
    out: dict[str, float] = {}
    for key in ("train_loss_running", "lr"):
        if isinstance(record.get(key), (int, float)):
            out[key] = float(record[key])
    for split, summary in (record.get("splits") or {}).items():
        for measure, value in summary.items():
            if measure == "groups":
                for group, values in (value or {}).items():
                    out.update({f"{split}/{group}/{m}": float(v) for m, v in values.items() if _number(v)})
            elif _number(value):
                out[f"{split}/{measure}"] = float(value)
    out.update({f"score/{k}": float(v) for k, v in (record.get("scores") or {}).items() if _number(v)})
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class CSVTracker:
    needs = None

    def __init__(self, run_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        self.path = run_dir / "metrics.csv"
        self.file = self.path.open("w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["step", "metric", "value"])

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.writer.writerows([step, k, v] for k, v in metrics.items())
        self.file.flush()

    def finish(self, scores: dict[str, Any], step: int) -> None:
        self.writer.writerows([step, f"final/{k}", v] for k, v in scores.items() if _number(v))
        self.file.close()


class TensorBoardTracker:
    needs = "tensorboard"

    def __init__(self, run_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        self.writer.add_text("config", "\n".join(f"{k}: {v}" for k, v in config.items()))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def finish(self, scores: dict[str, Any], step: int) -> None:
        for key, value in scores.items():
            if _number(value):
                self.writer.add_scalar(f"final/{key}", value, step)
        self.writer.close()


class WandbTracker:
    needs = "wandb"

    def __init__(self, run_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        import wandb

        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "anchorbench"), name=run_name, dir=str(run_dir), config=config,
            mode=os.environ.get("WANDB_MODE", "offline"), reinit="finish_previous",
        )  # fmt: skip

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log(metrics, step=step)

    def finish(self, scores: dict[str, Any], step: int) -> None:
        self.run.summary.update({f"final/{k}": v for k, v in scores.items()})
        self.run.finish()


class MLflowTracker:
    needs = "mlflow"

    def __init__(self, run_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        import mlflow

        self.mlflow = mlflow
        results = run_dir.parent.parent.resolve()
        # MLflow 3 keeps its file store read-only: a SQLite file beside the results is the local default
        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{results / 'mlflow.db'}")
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "anchorbench")
        found = mlflow.get_experiment_by_name(name)
        experiment = found.experiment_id if found else mlflow.create_experiment(
            name, artifact_location=(results / "mlartifacts").as_uri()
        )  # fmt: skip
        self.run = mlflow.start_run(experiment_id=experiment, run_name=run_name)
        mlflow.log_params({k: str(v)[:500] for k, v in config.items()})

    def log(self, step: int, metrics: dict[str, float]) -> None:
        # MLflow metric names may not hold every character a group name can: keep it to a safe set
        self.mlflow.log_metrics({_mlflow_key(k): v for k, v in metrics.items()}, step=step)

    def finish(self, scores: dict[str, Any], step: int) -> None:
        self.mlflow.log_metrics({_mlflow_key(f"final/{k}"): v for k, v in scores.items() if _number(v)}, step=step)
        self.mlflow.end_run()


def _mlflow_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key)


TRACKERS.register("csv", CSVTracker, origin="built-in")
TRACKERS.register("tensorboard", TensorBoardTracker, origin="built-in")
TRACKERS.register("wandb", WandbTracker, origin="built-in")
TRACKERS.register("mlflow", MLflowTracker, origin="built-in")


class Trackers:
    """The trackers of one seed: ``on_eval`` for the trainer, ``finish`` with the result."""

    def __init__(self, names: tuple[str, ...], run_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        self.active = [TRACKERS.get(name)(run_dir, run_name, config) for name in names]

    def on_eval(self, record: dict[str, Any]) -> None:
        metrics = metrics_of(record)
        for tracker in self.active:
            tracker.log(int(record["step"]), metrics)

    def finish(self, scores: dict[str, Any], step: int) -> None:
        for tracker in self.active:
            tracker.finish(scores, step)
