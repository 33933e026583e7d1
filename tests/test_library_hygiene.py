"""anchorbench inside other people's processes: no leaked torch RNG state or thread count,
result files as readable as the user's umask allows, a torch floor that is true."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import torch

from anchorbench.pytest_plugin import run_task

ROOT = Path(__file__).resolve().parent.parent
TINY = {"task.n_train": 100, "task.n_test": 20, "model.d_model": 16, "train.steps": 5, "train.warmup_steps": 1,
        "train.eval_every": 5, "train.threads": 1}  # fmt: skip


def test_a_run_leaves_the_callers_rng_and_threads_as_they_were(tmp_path: Path) -> None:
    torch.manual_seed(1234)
    torch.rand(3)  # somewhere in the middle of the caller's stream
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    expected_next = torch.rand(4)
    torch.set_rng_state(state)
    first = run_task("anchor-identity-v1", tmp_path / "a", budget="default", sets=TINY)
    assert torch.get_num_threads() == threads, "train.threads=1 must not stay set in the caller's process"
    assert torch.equal(torch.get_rng_state(), state), "the caller's RNG must not be reseeded or advanced"
    assert torch.equal(torch.rand(4), expected_next)
    # ... and the run itself is still seeded: the same scores from another caller state
    torch.manual_seed(99)
    again = run_task("anchor-identity-v1", tmp_path / "b", budget="default", sets=TINY)
    assert again.scores == first.scores


def test_result_files_are_readable_per_the_umask(tmp_path: Path) -> None:
    from anchorbench import files as results

    old = os.umask(0o022)
    results.current_umask.cache_clear()
    try:
        result = run_task("anchor-identity-v1", tmp_path, budget="default", sets=TINY)
        folder = tmp_path / "anchor-identity-v1" / f"seed-{result.seed}"
        for name in ("result.json", "history.jsonl"):
            mode = stat.S_IMODE((folder / name).stat().st_mode)
            assert mode == 0o644, f"{name} is {oct(mode)}, expected 0o644 under umask 022"
    finally:
        os.umask(old)
        results.current_umask.cache_clear()


def test_the_torch_floor_is_true() -> None:
    """nn.RMSNorm (models/init.py) arrived in torch 2.4; the declared range must not admit older."""
    # (tomllib is 3.11+; the project supports 3.10, and the dependency line is simple enough)
    (found,) = re.findall(r'^\s*"torch>=([\d.]+)"', (ROOT / "pyproject.toml").read_text(), flags=re.M)
    floor = tuple(int(x) for x in found.split(".")[:2])
    assert floor >= (2, 4), f"torch>={found}: nn.RMSNorm needs torch >= 2.4"
    assert hasattr(torch.nn, "RMSNorm") and hasattr(torch.backends.cpu, "get_cpu_capability")


def test_no_module_imports_another_modules_private_names() -> None:
    """A leading underscore means "this module's own": another module that needs it gets a
    public name (the ensemble once called a Trainer's private _step and _record)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "anchorbench"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anchorbench"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                offenders += [f"{path.relative_to(root)}: from {node.module} import {n}" for n in private]
    assert not offenders, offenders


def test_the_layout_in_developers_md_matches_the_tree() -> None:
    """Every module the Layout section names exists, and every module of the package is named."""
    text = (ROOT / "DEVELOPERS.md").read_text()
    section = text[text.index("## Layout") : text.index("## Adding a task")]
    tree = "\n".join(line for line in section.splitlines() if line.startswith("    "))  # the drawn tree only
    named = set(re.findall(r"\b([a-z_]+\.py)\b", tree))
    package = ROOT / "anchorbench"
    modules = {p.name for p in package.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert named - modules == set(), f"named in DEVELOPERS.md but not in anchorbench/: {sorted(named - modules)}"
    assert modules - named == set(), f"in anchorbench/ but not in DEVELOPERS.md's layout: {sorted(modules - named)}"
    for folder in re.findall(r"^ {4,6}([a-z_]+)/", tree, re.M):  # a room, not a continuation line
        assert (package / folder).is_dir() or (ROOT / folder).is_dir(), folder
