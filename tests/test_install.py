"""A non-editable install (a built wheel in a fresh virtualenv) finds the task specs and
runs the quickstart, from a folder that is not the checkout."""

from __future__ import annotations

import site
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


def test_wheel_in_fresh_venv_runs_quickstart(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)])
    (wheel,) = wheels.glob("anchorbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "anchorbench/_tasks/anchor-composite-v1.yaml" in names
    assert "anchorbench/_tasks/suites/quickstart.yaml" in names
    assert "anchorbench/schema/result.schema.json" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)])
    # Borrow the dependencies (torch, numpy, ...) of this interpreter instead of downloading
    # them again: a path appended after the venv's own site-packages, so the wheel wins.
    venv_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    (venv_site / "borrowed_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    where = tmp_path / "elsewhere"
    where.mkdir()
    found = _run([str(py), "-c", "import anchorbench.specs as s; print(s.builtin_tasks_dir())"], cwd=where)
    assert found.stdout.strip().startswith(str(venv)), found.stdout
    _run([str(venv / "bin" / "anchorbench"), "run", "quickstart", "--quiet"], cwd=where)
    assert list(where.glob("results/quickstart-*/anchor-identity-v1/seed-0/result.json"))
