"""``anchorbench bench --only eval``: what evaluation costs, per built-in task at its defaults.

For each task, in this one process and one thread: the median time of a training step and of
one evaluation (every split, as the trainer evaluates), both on the task's default model and
recipe; the overhead is the evaluations the default schedule makes, times their cost, over
the run's training time. Measuring the two parts side by side, rather than a whole run with
and without evaluation, keeps the measurement to seconds per task and immune to the start-up
of a process. Target: under 10% on every task, at the timing resolution the schedule gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from anchorbench.bench_timing import Outcome
from anchorbench.training.timing import median_seconds

TARGET = 0.10


@dataclass
class EvalCost:
    task: str
    step_s: float  # one training step
    eval_s: float  # one evaluation of every split
    n_evals: int  # evaluations the default schedule makes
    steps: int
    examples: int  # examples evaluated per evaluation, all splits

    @property
    def overhead(self) -> float:
        return self.n_evals * self.eval_s / (self.steps * self.step_s)


def measure(task: str, *, steps: int, repeats: int) -> EvalCost:
    """Step and evaluation cost of ``task`` at its defaults (seed 0), after a short warm-up."""
    from anchorbench.execution.plan import Request, make_plan
    from anchorbench.registry import METRICS
    from anchorbench.training.loop import Trainer, eval_steps
    from anchorbench.training.torch_state import isolated

    plan = make_plan(Request(task)).entries[0]
    with isolated(0, threads=1):
        dataset = plan.task.family_obj.generate(plan.params, 0)
        metrics = [METRICS.get(m) for m in plan.task.scores]
        trainer = Trainer(plan.build_model(0), dataset, plan.train, seed=0, metrics=metrics, progress=False)
        counter = iter(range(10**9))
        trainer.step(next(counter))  # warm-up: first-call allocations

        def train_steps() -> None:
            for _ in range(steps):
                trainer.step(next(counter))

        def evaluate() -> None:  # what the trainer does at an evaluation: the pass and the scores
            ev = trainer.evaluate(trainer.model, 0)
            for m in metrics:
                m(ev)
            ev.summary()

        evaluate()
        step_s = median_seconds(train_steps, repeats) / steps
        eval_s = median_seconds(evaluate, repeats)
    examples = sum(len(s) for s in trainer.evaluate.splits.values())
    return EvalCost(task, step_s, eval_s, len(eval_steps(plan.train)), plan.train.steps, examples)


def builtin_tasks() -> list[str]:
    from anchorbench.registry import TASKS

    return [n for n in TASKS.names() if TASKS.entry(n).origin.startswith("built-in")]


def bench_eval(quick: bool) -> list:
    out = []
    for task in builtin_tasks():
        cost = measure(task, steps=5 if quick else 20, repeats=3 if quick else 5)
        out.append(
            Outcome(
                f"eval overhead {task}",
                f"{cost.overhead:.1%} ({cost.n_evals} evals x {cost.eval_s * 1e3:.0f} ms, {cost.examples} examples)",
                f"{cost.steps} steps x {cost.step_s * 1e3:.1f} ms",
                None,
                f"< {TARGET:.0%}",
                cost.overhead < TARGET,
            )
        )
    return out
