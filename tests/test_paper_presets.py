"""The paper-scale presets state their schedules in the code's units (epochs of floor(N / batch)
steps); these tests hold the step counts to the epochs their comments claim."""

from __future__ import annotations

import pytest

from anchorbench.execution.plan import plan_entry
from anchorbench.specs import load_suite

# [AF] code: warmup 400 epochs, a cosine 4,000 epochs long, accuracy every 100 epochs, 4,000 epochs
# (the composition run's log covers 2,000).
AF_EPOCHS = {"identity": 4000, "composition": 2000, "synonym": 4000, "multi-interval": 4000,
             "recitation": 4000, "statistical": 4000}  # fmt: skip


def af_plans():
    suite = load_suite("af-paper")
    return {e.label: plan_entry(e, None, ()) for e in suite.runs}


@pytest.mark.parametrize("name", sorted(AF_EPOCHS))
def test_af_presets_count_steps_in_the_codes_epochs(name: str):
    plan = af_plans()[name]
    epoch = plan.params.n_train // plan.train.batch_size
    assert plan.train.steps == AF_EPOCHS[name] * epoch
    assert plan.train.warmup_steps == 400 * epoch and plan.train.decay_steps == 4000 * epoch
    assert plan.train.eval_every == 100 * epoch
    assert plan.train.lr == 2e-4 and plan.train.warmup_start_ratio == plan.train.min_lr_ratio == 0.1
    m = plan.model.config
    assert (m["n_layers"], m["n_heads"], m["d_model"], m["d_head"], m["d_ff"], m["norm"]) == (
        4,
        4,
        400,
        64,
        1200,
        "post",
    )


def test_every_anchor_function_task_has_a_paper_preset():
    from anchorbench.registry import TASKS

    anchor_tasks = {t for t in TASKS.names() if t.startswith("anchor-")}
    assert {p.task.id for p in af_plans().values()} == anchor_tasks
