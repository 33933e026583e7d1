"""The package's own tests, with anchorbench's pytest plugin (installed with anchorbench)."""

import pytest
from anchorbench_gated.model import GatedAttentionNet


def test_gated_attention_learns_identity(anchorbench_run):
    result = anchorbench_run("anchor-identity-v1", model=GatedAttentionNet, budget="tiny")
    assert result.scores["train_accuracy"] > 0.9


def test_blind_attention_cannot_learn_identity(anchorbench_run):
    result = anchorbench_run("anchor-identity-v1", model=GatedAttentionNet, sets={"model.see_past": False})
    assert result.scores["train_accuracy"] < 0.2


@pytest.mark.anchorbench_slow
def test_gated_attention_generalizes_at_the_standard_budget(anchorbench_run):
    result = anchorbench_run("anchor-identity-v1", model="gated-attention", budget="standard")
    assert result.scores["test_accuracy"] > 0.9
