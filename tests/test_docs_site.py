"""The documentation site builds strictly and renders: its home page and an API reference page
in a real browser (tests/browser.py). `mkdocs build --strict` fails on a broken link, a page
missing from the navigation, a bad anchor or a docstring mkdocstrings cannot read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_COPIED = (".git", "results", "site", ".venv", "__pycache__", "*.egg-info", ".benchmarks", ".*_cache")


def build(repo: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    built = build(ROOT, out)
    assert built.returncode == 0, built.stderr[-3000:]
    return out


def test_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ("index.html", "cli.html", "papers.html", "reference/api.html", "repo/leaderboard/index.html"):
        assert (site / page).is_file(), page
    home = (site / "index.html").read_text()
    assert 'href="tasks.html"' in home, "the README's links into docs/ point at the site's pages"


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(*NOT_COPIED))
    page = repo / "docs" / "tasks.md"
    page.write_text(page.read_text() + "\nSee [the old page](retired.md) and [a file](../tasks/retired-v1.yaml).\n")
    built = build(repo, tmp_path / "site")
    warnings = [line for line in built.stderr.splitlines() if line.startswith("WARNING")]
    assert built.returncode != 0 and warnings
    assert any("retired.md" in w for w in warnings) and any("retired-v1.yaml" in w for w in warnings)
    assert all("retired" in w for w in warnings), warnings  # nothing else is broken


def screenshot(browser, url: str, shot: Path) -> None:
    from PIL import Image

    browser.set_window_size(1400, 1000)
    browser.get(url)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000, "a blank page"
    with Image.open(shot) as image:  # drawn: many distinct colours, not one blank field
        assert len(image.convert("RGB").getcolors(1 << 20) or []) > 50


def test_home_and_reference_pages_render(browser, site: Path, tmp_path: Path) -> None:
    screenshot(browser, (site / "index.html").as_uri(), tmp_path / "home.png")
    assert browser.title.startswith("anchorbench")
    headings = [h.text for h in browser.find_elements("css selector", "article h2")]
    assert any("Evaluate your architecture" in h for h in headings), headings
    nav = browser.find_element("css selector", "nav.md-nav--primary").get_attribute("textContent")
    assert "API reference" in nav and "The papers" in nav

    screenshot(browser, (site / "reference" / "api.html").as_uri(), tmp_path / "reference.png")
    documented = [h.get_attribute("id") for h in browser.find_elements("css selector", ".doc-heading")]
    assert "anchorbench.api.run" in documented and "anchorbench.api.load" in documented, documented
    signature = browser.find_element("css selector", "[id='anchorbench.api.run'] ~ div").get_attribute("textContent")
    assert "seeds" in signature, "the signature and docstring are rendered"
