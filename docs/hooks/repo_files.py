"""MkDocs hooks: the README is the site's home page, and links to repository files work.

The docs are written to be read on a code host, where `[tasks](tasks.md)` and
`[the trainer](../anchorbench/training/loop.py)` both resolve against the repository. A site
built from docs/ alone would break the second kind, so every link is resolved against the file
it is written in: a target under docs/ keeps its place, README.md becomes the home page, and any
other repository file is copied into the site under `repo/` (Markdown rendered as a page, the
rest served as is). A link to a folder opens its README.md, or a generated page listing its
files. A link to a file that does not exist is a warning, which `mkdocs build --strict` turns
into a failure.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

log = logging.getLogger("mkdocs.plugins.anchorbench")

# Repository files on the site even when no page links them (the navigation does).
ALWAYS = ("CHANGELOG.md", "DEVELOPERS.md", "leaderboard/README.md", "leaderboard/RULES.md", "leaderboard/index.html")
INLINE_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
REFERENCE_LINK = re.compile(r"^(\s*\[[^\]]+\]:\s*)(\S+)", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~)")

# site path (src_uri) -> repository path, for every page whose links must be resolved
origin: dict[str, str] = {}
ROOT = Path(__file__).resolve().parents[2]  # docs/hooks/ -> the repository


def is_local(target: str) -> bool:
    return not (target.startswith(("#", "/", "mailto:")) or re.match(r"^[a-z][a-z0-9+.-]*:", target))


def outside_fences(markdown: str, rewrite) -> str:  # noqa: ANN001
    """Apply `rewrite` to the Markdown outside fenced code blocks (a link in code is text)."""
    parts, chunk, fenced = [], [], False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line):
            parts.append(chunk if fenced else [rewrite("".join(chunk))])
            chunk, fenced = [], not fenced
            parts.append([line])
            continue
        chunk.append(line)
    parts.append(chunk if fenced else [rewrite("".join(chunk))])
    return "".join("".join(p) for p in parts)


def folder_page(repo_path: str) -> str:
    """The page a link to a repository folder opens: its README.md, or a generated listing."""
    readme = posixpath.join(repo_path, "README.md")
    return readme if (ROOT / readme).is_file() else posixpath.join(repo_path, "index.md")


def listing(repo_path: str) -> str:
    """A generated page for a folder without a README: its files and folders, linked."""
    rows = []
    for child in sorted((ROOT / repo_path).iterdir()):
        if child.name.startswith((".", "__")) or child.name.endswith((".pyc", ".egg-info")):
            continue
        name = child.name + ("/" if child.is_dir() else "")
        rows.append(f"- [`{name}`]({name})")
    return f"# `{repo_path}/`\n\n" + "\n".join(rows) + "\n"


def site_path(repo_path: str) -> str:
    """Where a repository file lives on the site."""
    if (ROOT / repo_path).is_dir():
        return site_path(folder_page(repo_path))
    if repo_path == "README.md":
        return "index.md"
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/") :]
    if posixpath.basename(repo_path) == "README.md":
        # MkDocs would serve a README.md as its folder's index.html, where the board page is
        return "repo/" + posixpath.join(posixpath.dirname(repo_path), "readme.md")
    return "repo/" + repo_path


def resolve(page_repo_path: str, target: str) -> tuple[str, str]:
    """(repository path, '#anchor' or '') of a relative link written in `page_repo_path`."""
    path, hashmark, anchor = target.partition("#")
    if not path:
        return page_repo_path, hashmark + anchor
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(page_repo_path), path))
    return joined, hashmark + anchor


def local_links(markdown: str) -> list[str]:
    found: list[str] = []

    def collect(text: str) -> str:
        found.extend(m.group(2) for m in INLINE_LINK.finditer(text))
        found.extend(m.group(2) for m in REFERENCE_LINK.finditer(text))
        return text

    outside_fences(markdown, collect)
    return [t for t in found if is_local(t)]


def on_files(files: Files, config) -> Files:  # noqa: ANN001
    origin.clear()
    for f in files.documentation_pages():
        origin[f.src_uri] = "docs/" + f.src_uri
    files.append(File.generated(config, "index.md", abs_src_path=str(ROOT / "README.md")))
    origin["index.md"] = "README.md"

    wanted = list(ALWAYS)
    for repo_path in list(origin.values()):
        wanted += [resolve(repo_path, t)[0] for t in local_links((ROOT / repo_path).read_text())]
    while wanted:
        repo_path = wanted.pop()
        target = ROOT / repo_path
        uri = site_path(repo_path)
        if repo_path.startswith("../") or files.get_file_from_path(uri):
            continue  # outside the repository (reported at rendering), or on the site already
        if target.is_dir() and not (target / "README.md").is_file():
            origin[uri] = posixpath.join(repo_path, "index.md")
            text = listing(repo_path)
            files.append(File.generated(config, uri, content=text, inclusion=InclusionLevel.NOT_IN_NAV))
            wanted += [posixpath.normpath(posixpath.join(repo_path, t)) for t in local_links(text)]
            continue
        if target.is_dir():
            wanted.append(folder_page(repo_path))
            continue
        if not target.is_file():
            continue  # reported, with the page that links it, when that page is rendered
        files.append(File.generated(config, uri, abs_src_path=str(target), inclusion=InclusionLevel.NOT_IN_NAV))
        if target.suffix == ".md":
            origin[uri] = repo_path
            wanted += [resolve(repo_path, t)[0] for t in local_links(target.read_text())]
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:  # noqa: ANN001
    here = page.file.src_uri
    repo_here = origin.get(here, "docs/" + here)

    def rewrite(target: str) -> str:
        if not is_local(target):
            return target
        repo_path, anchor = resolve(repo_here, target)
        if repo_path.startswith("../") or not (ROOT / repo_path).exists():
            log.warning("%s links to %s, which is not in the repository", repo_here, target)
            return target
        return posixpath.relpath(site_path(repo_path), posixpath.dirname(here) or ".") + anchor

    def links(text: str) -> str:
        text = INLINE_LINK.sub(lambda m: m.group(1) + rewrite(m.group(2)) + m.group(3), text)
        return REFERENCE_LINK.sub(lambda m: m.group(1) + rewrite(m.group(2)), text)

    return outside_fences(markdown, links)
