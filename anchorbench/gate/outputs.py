"""What `anchorbench ci` writes: a JUnit XML file (one testcase per task and score) and a
Markdown summary (for a CI job summary)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from anchorbench.gate.checks import Check
from anchorbench.render.tables import arrow, num


def _num(v: float | None) -> str:
    return num(v, 4, significant=True)


def junit_xml(checks: list[Check], *, suite: str, model: str) -> str:
    """Ant/Jenkins JUnit format: testsuites > testsuite > testcase (failure on a problem).

    A testcase's time is its run's training time divided among the run's scores, so that
    the suite's time adds up to the wall time of the runs."""
    failures = sum(not c.ok for c in checks)
    per_run: dict[str, int] = {}
    for c in checks:
        per_run[c.entry] = per_run.get(c.entry, 0) + 1
    total = sum({c.entry: c.seconds for c in checks}.values())
    root = ET.Element("testsuites", name=f"anchorbench ci: {suite}", tests=str(len(checks)),
                      failures=str(failures), errors="0", time=f"{total:.3f}")  # fmt: skip
    ts = ET.SubElement(
        root, "testsuite", name=f"anchorbench.{suite}", tests=str(len(checks)), failures=str(failures), errors="0",
        skipped="0", time=f"{total:.3f}", timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    )  # fmt: skip
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="model", value=model)
    ET.SubElement(props, "property", name="suite", value=suite)
    for c in checks:
        case = ET.SubElement(ts, "testcase", classname=f"anchorbench.{suite}.{c.entry}", name=c.score,
                             time=f"{c.seconds / per_run[c.entry]:.3f}")  # fmt: skip
        if not c.ok:
            failure = ET.SubElement(case, "failure", message="; ".join(c.problems), type="regression")
            failure.text = _detail(c)
        out = ET.SubElement(case, "system-out")
        out.text = _detail(c)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _detail(c: Check) -> str:
    parts = [f"{c.entry} {c.score} = {_num(c.value)} ({c.direction} is better)"]
    if c.floor is not None:
        parts.append(f"floor {_num(c.floor)}")
    if c.baseline is not None:
        parts.append(f"baseline {_num(c.baseline)} +/- {c.tolerance:.3g} ({c.why})")
    return ", ".join(parts)


def markdown_summary(checks: list[Check], *, suite: str, model: str, seconds: float, gated: bool = True) -> str:
    failed = [c for c in checks if not c.ok]
    tasks = sorted({c.entry for c in failed})
    if failed:
        verdict = f"**FAILED**: {len(failed)} of {len(checks)} checks, in {', '.join(f'`{t}`' for t in tasks)}"
    elif gated:
        verdict = f"**passed**: {len(checks)} checks"
    else:
        verdict = f"**recorded** (no floors or baseline to gate on): {len(checks)} scores"
    lines = [
        f"## anchorbench ci: `{model}` on `{suite}`",
        "",
        f"{verdict} ({seconds / 60:.1f} min).",
        "",
        "| task | score | value | floor | baseline | result |",
        "|---|---|---|---|---|---|",
    ]
    for c in checks:
        result = "ok" if c.ok else "**FAIL**: " + "; ".join(c.problems)
        base = "" if c.baseline is None else f"{_num(c.baseline)} ± {c.tolerance:.3g}"
        floor = "" if c.floor is None else _num(c.floor)
        lines.append(f"| {c.entry} | {c.score} {arrow(c.direction)} | {_num(c.value)} | {floor} | {base} | {result} |")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
