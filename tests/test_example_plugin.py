"""End to end, as a model project's CI would: the example package (examples/gated-attention)
installed with anchorbench into a fresh virtual environment registers its model and task by
entry point, passes `anchorbench ci` on the smoke suite's tasks its floors gate, and a deliberately broken
variant (attention that cannot see earlier tokens) fails it, naming the tasks."""

from __future__ import annotations

import re
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anchorbench.specs import builtin_tasks_dir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gated-attention"


def _start(cmd: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _finish(proc: subprocess.Popen, ok: tuple[int, ...] = (0,)) -> None:
    out, err = proc.communicate(timeout=1200)
    assert proc.returncode in ok, f"{proc.args} -> {proc.returncode}:\n{out[-3000:]}\n{err[-3000:]}"


def _run(cmd: list[str], ok: tuple[int, ...] = (0,), **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode in ok, f"{cmd} -> {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """anchorbench's wheel and the example's wheel in a fresh venv; torch and the other
    dependencies borrowed from this interpreter (a .pth after the venv's own site-packages)."""
    tmp = tmp_path_factory.mktemp("example-plugin")
    wheels = tmp / "wheels"
    for project in (ROOT, EXAMPLE):
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(project)])
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "-q",
            *map(str, wheels.glob("*.whl")),
        ]
    )
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    (Path(purelib) / "borrowed_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def test_entry_points_register_the_model_and_the_task(venv: Path, tmp_path: Path) -> None:
    out = _run([str(venv / "bin" / "anchorbench"), "list"], cwd=tmp_path).stdout
    assert "gated-attention" in out and "entry point of anchorbench-gated" in out
    assert "gated-identity-long-v1" in out
    _run([str(venv / "bin" / "anchorbench"), "run", "gated-identity-long-v1", "--dry-run"], cwd=tmp_path)


def gated_smoke(folder: Path) -> Path:
    """The smoke suite cut to the tasks the example's floors gate (the rest would run ungated)."""
    suite = yaml.safe_load((builtin_tasks_dir() / "suites" / "smoke.yaml").read_text())
    gated = yaml.safe_load((EXAMPLE / "anchorbench-floors.yaml").read_text())
    runs = [run for run in suite["runs"] if run["task"] in gated]
    assert len(runs) == len(gated)
    path = folder / "smoke-gated.yaml"
    path.write_text(yaml.safe_dump({**suite, "id": "smoke-gated", "runs": runs}))
    return path


def test_ci_passes_the_model_and_fails_the_broken_variant(venv: Path, tmp_path: Path) -> None:
    ci = [str(venv / "bin" / "anchorbench"), "ci", "--model", "gated-attention", "--suite", str(gated_smoke(tmp_path)),
          "--thresholds", str(EXAMPLE / "anchorbench-floors.yaml"), "--quiet", "--set", "train.threads=1",
          "--workers", "1"]  # fmt: skip
    # the model and its broken variant side by side (one process and one thread each)
    good = _start([*ci, "--out", "good", "--junit", "good.xml", "--summary", "good.md"], cwd=tmp_path)
    variant = ["--set", "model.see_past=false", "--out", "broken", "--junit", "broken.xml", "--summary", "broken.md"]
    broken = _start([*ci, *variant], cwd=tmp_path)

    _finish(good)
    summary = (tmp_path / "good.md").read_text()
    passed = re.search(r"\*\*passed\*\*: (\d+) checks", summary)
    assert passed, summary
    rows = [line for line in summary.splitlines() if line.startswith("| ") and line.endswith("| ok |")]
    assert int(passed.group(1)) == len(rows) > 0  # one table row per check, all of them ok

    _finish(broken, ok=(1,))
    summary = (tmp_path / "broken.md").read_text()
    assert "**FAILED**" in summary
    for task in ("anchor-identity-v1", "matching-chain-v2", "modular-addition-v1"):
        assert f"`{task}`" in summary.splitlines()[2], summary  # named in the verdict line
    assert (tmp_path / "broken.xml").read_text().count("<failure ") >= 6
