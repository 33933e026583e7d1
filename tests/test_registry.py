"""The Registry: decorator and lazy registration, entry points, helpful misses; the real registries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from anchorbench import registry as registry_module
from anchorbench.errors import UnknownNameError, UserError
from anchorbench.registry import METRICS, MODELS, TASKS, DuplicateNameError, Registry
from anchorbench.specs import suite_paths, sweep_paths


def write_module(folder: Path, name: str, body: str = "VALUE = object()\n") -> str:
    (folder / f"{name}.py").write_text(body)
    return name


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh module name in tmp_path on sys.path, removed from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def make(name: str, body: str = "VALUE = object()\n") -> str:
        created.append(write_module(tmp_path, name, body))
        return name

    yield make
    for name in created:
        sys.modules.pop(name, None)


# -- registration -----------------------------------------------------------------------------
def test_decorator_registers_and_returns_the_object() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("thing", origin="here", colour="red")
    def thing() -> str:
        return "ok"

    assert thing() == "ok"  # the decorator hands the function back unchanged
    assert reg.get("thing") is thing
    assert reg.entry("thing").origin == "here"
    assert reg.entry("thing").meta == {"colour": "red"}
    assert reg.names() == ["thing"]
    assert "thing" in reg and "other" not in reg


def test_direct_registration_of_an_object() -> None:
    reg: Registry[object] = Registry("widget")
    obj = object()
    reg.register("a", obj)
    assert reg.get("a") is obj


def test_lazy_registration_imports_only_on_first_get(importable) -> None:
    name = importable("ab_lazy_target_mod")
    reg: Registry[object] = Registry("widget")
    reg.register("lazy", lazy=f"{name}:VALUE")
    assert name not in sys.modules
    assert reg.names() == ["lazy"]  # listing does not import either
    assert "lazy" in reg
    assert name not in sys.modules
    value = reg.get("lazy")
    assert name in sys.modules
    assert value is sys.modules[name].VALUE
    assert reg.get("lazy") is value  # loaded once, then cached


def test_lazy_registration_of_a_dotted_attribute(importable) -> None:
    name = importable("ab_lazy_dotted_mod", "class Outer:\n    class Inner:\n        pass\n")
    reg: Registry[object] = Registry("widget")
    reg.register("inner", lazy=f"{name}:Outer.Inner")
    assert reg.get("inner") is sys.modules[name].Outer.Inner


def test_discover_runs_once_and_only_on_first_lookup() -> None:
    calls = []

    def discover(reg: Registry[object]) -> None:
        calls.append(1)
        reg.register("built-in", object(), origin="built-in")

    reg: Registry[object] = Registry("widget", discover=discover)
    assert calls == []
    assert reg.names() == ["built-in"]
    reg.get("built-in")
    assert "built-in" in reg
    assert calls == [1]


def test_duplicate_name_raises_naming_both_origins() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("same", object(), origin="first-origin")
    with pytest.raises(DuplicateNameError) as info:
        reg.register("same", lazy="x:y", origin="second-origin")
    message = str(info.value)
    assert "same" in message
    assert "first-origin" in message and "second-origin" in message
    assert isinstance(info.value, UserError)


def test_duplicate_through_decorator_raises() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("same", object(), origin="one")
    with pytest.raises(DuplicateNameError):
        reg.register("same", origin="two")(lambda: None)


# -- misses ---------------------------------------------------------------------------------------
def test_unknown_name_is_a_user_error_and_a_key_error_with_did_you_mean() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("alpha", object())
    reg.register("beta", object())
    with pytest.raises(UnknownNameError) as info:
        reg.get("alpah")
    err = info.value
    assert isinstance(err, UserError) and isinstance(err, KeyError)
    message = str(err)
    assert "Did you mean 'alpha'" in message
    assert "alpha" in message and "beta" in message
    assert "\n" not in message
    assert not message.startswith(("'", '"'))  # not quoted the way KeyError quotes


def test_unknown_name_via_entry_and_no_suggestion_when_nothing_is_close() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("alpha", object())
    with pytest.raises(KeyError) as info:
        reg.entry("zzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "alpha" in str(info.value)


def test_import_paths_resolve_unregistered_module_attr() -> None:
    reg: Registry[object] = Registry("model", allow_import_paths=True)
    assert reg.get("json:dumps") is json.dumps


def test_import_paths_are_refused_when_not_allowed() -> None:
    reg: Registry[object] = Registry("task")
    with pytest.raises(UnknownNameError):
        reg.get("json:dumps")


@pytest.mark.parametrize("path", ["ab_no_such_module_xyz:Thing", "json:no_such_attribute", "json:"])
def test_import_path_failures_are_user_errors(path: str) -> None:
    reg: Registry[object] = Registry("model", allow_import_paths=True)
    with pytest.raises(UserError) as info:
        reg.get(path)
    assert "\n" not in str(info.value)


def test_broken_lazy_registration_is_a_user_error_on_get() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("broken", lazy="ab_no_such_module_xyz:Thing")
    with pytest.raises(UserError, match="cannot import"):
        reg.get("broken")


# -- entry points -----------------------------------------------------------------------------
def fake_entry_points(group_name: str, eps: list[SimpleNamespace]):
    def entry_points(*, group: str) -> list[SimpleNamespace]:
        return eps if group == group_name else []

    return entry_points


def test_entry_points_are_registered_lazily(importable, monkeypatch: pytest.MonkeyPatch) -> None:
    name = importable("ab_entry_point_mod")
    ep = SimpleNamespace(name="plugged", value=f"{name}:VALUE", dist=SimpleNamespace(name="my-dist"))
    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points("test.widgets", [ep]))
    reg: Registry[object] = Registry("widget", entry_point_group="test.widgets")
    assert reg.names() == ["plugged"]
    assert "my-dist" in reg.entry("plugged").origin
    assert name not in sys.modules  # registered, not imported
    assert reg.get("plugged") is sys.modules[name].VALUE


def test_entry_point_clashing_with_a_built_in_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = SimpleNamespace(name="dup", value="json:dumps", dist=SimpleNamespace(name="other-dist"))
    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points("test.widgets", [ep]))
    reg: Registry[object] = Registry(
        "widget",
        entry_point_group="test.widgets",
        discover=lambda r: r.register("dup", object(), origin="built-in"),
    )
    with pytest.raises(DuplicateNameError) as info:
        reg.names()
    assert "built-in" in str(info.value) and "other-dist" in str(info.value)


# -- the real registries --------------------------------------------------------------------------
@pytest.mark.parametrize("outdated", ["anchor-composite-v0", "anchor-composite-v2"])
def test_outdated_task_version_names_the_current_one(outdated: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        TASKS.get(outdated)
    assert "the current version is anchor-composite-v1" in str(info.value)


def test_builtin_tasks_models_and_metrics_are_registered() -> None:
    assert {"anchor-identity-v1", "anchor-composition-v1", "anchor-composite-v1"} <= set(TASKS.names())
    assert {"transformer", "lstm", "mlp"} <= set(MODELS.names())
    directions = {name: METRICS.get(name).direction for name in METRICS.names()}
    assert set(directions.values()) <= {"higher", "lower"}
    assert directions["test_accuracy"] == "higher"
    assert directions["test_loss"] == "lower"
    assert directions["symmetric_accuracy"] == "lower"  # memorizing is the worse outcome
    assert directions["inferential_accuracy"] == "higher"


@pytest.mark.parametrize("task_id", TASKS.names())
def test_every_task_scores_registered_metrics(task_id: str) -> None:
    spec = TASKS.get(task_id)
    assert spec.id == task_id
    assert spec.primary_score in spec.scores
    for name in spec.scores:
        assert name in METRICS


def test_listing_the_registries_does_not_import_torch() -> None:
    code = (
        "import sys, anchorbench, anchorbench.registry as r\n"
        "names = r.TASKS.names(); r.MODELS.names(); r.METRICS.names()\n"
        "assert 'anchor-identity-v1' in names\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(suite_paths()))
def test_every_builtin_suite_plans(name: str):
    """A shipped suite resolves to a full plan (tasks, models, configs) without training."""
    from anchorbench.execution.plan import Request, make_plan

    plan = make_plan(Request(target=name, seeds=(0,)))
    assert plan.entries and all(e.config_hash(0).startswith("sha256:") for e in plan.entries)


@pytest.mark.parametrize("name", sorted(sweep_paths()))
def test_every_builtin_sweep_plans(name: str):
    from anchorbench.execution.sweep import make_sweep_plan

    plan = make_sweep_plan(name, model=None, sets=(), seeds=None)
    assert len(plan.cells) == len(plan.entries) * len(plan.seeds)
