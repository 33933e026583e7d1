"""``anchorbench leaderboard build``: leaderboard/README.md and leaderboard/index.html.

Both are made from the valid submissions only. The page is static and self-contained (no
network access: inline CSS and script, no fonts or libraries) and its rows are rendered
here, with every string from a submission escaped; the script only reorders and hides
existing rows and columns, so the page also reads without JavaScript.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchorbench.leaderboard.record import Submission, finite
from anchorbench.leaderboard.suite import (
    PARAM_BUDGET,
    SuiteRequirement,
    base_label,
    grid_cell,
    requirement,
    tuned_requirement,
)
from anchorbench.leaderboard.validate import Checked
from anchorbench.render.tables import arrow, num

Unranked = list[tuple[Submission, list[str]]]  # free-for-all rows and why each is there
History = list[tuple[SuiteRequirement, list[Submission]]]  # earlier suite versions and their rows

PAGE_TEMPLATE = Path(__file__).with_name("page.html")


@dataclass(frozen=True)
class Column:
    task: str  # suite entry label; "" for columns about the submission itself
    key: str
    title: str
    direction: str  # "higher" | "lower"
    value: Callable[[Submission], float | None]
    ci: Callable[[Submission], tuple[float | None, float | None]] | None = None
    digits: int = 3


def _score(label: str, name: str, title: str | None = None) -> Column:
    def summary(sub: Submission) -> Any:
        return sub.tasks[label].scores.get(name)

    from anchorbench.registry import METRICS

    return Column(
        task=label, key=f"{label}.{name}", title=title or f"{label} {name}", direction=METRICS.get(name).direction,
        value=lambda s: getattr(summary(s), "mean", None),
        ci=lambda s: (getattr(summary(s), "ci_low", None), getattr(summary(s), "ci_high", None)),
    )  # fmt: skip


def _t_gen(label: str) -> Column:
    """The Kaplan-Meier median time to generalize, shown only where validate recomputed it from the
    per-seed timings (a file without them shows '-')."""
    from anchorbench.leaderboard.validate import timing_recomputable

    def km(sub: Submission) -> dict[str, Any]:
        result = sub.tasks[label]
        return result.timing.get("0.95", {}) if timing_recomputable(result, "0.95") else {}

    def ci(sub: Submission) -> tuple[float | None, float | None]:
        low, high = (km(sub).get("km_ci") or [None, None])[:2]
        return low, high

    return Column(label, f"{label}.t_gen", "t_gen(0.95)", "lower",
                  lambda s: km(s).get("km_median_t_gen"), ci, digits=0)  # fmt: skip


def primary_values(sub: Submission, req: SuiteRequirement | None = None) -> list[list[float]] | None:
    """Each entry's per-seed primary scores (of the current suite, or of ``req``: an earlier
    version); None when a value is missing or an entry is not the suite's."""
    entries = (req or requirement()).entries
    out = []
    for label, result in sub.tasks.items():
        if label not in entries:  # an older suite version's entry: no current primary score
            return None
        values = [s.scores.get(entries[label].primary_score) for s in result.seeds]
        if not all(finite(v) for v in values):
            return None
        out.append(values)
    return out or None


def primary_mean(sub: Submission, req: SuiteRequirement | None = None) -> float | None:
    """The mean over entries of each entry's primary score (all are accuracies in [0, 1]): the
    suite entry's ``primary_score`` where it names one, else its task's."""
    per_entry = primary_values(sub, req)
    if per_entry is None:
        return None
    return sum(sum(v) / len(v) for v in per_entry) / len(per_entry)


def primary_interval(sub: Submission, req: SuiteRequirement | None = None) -> tuple[float | None, float | None]:
    """A 95% interval of the mean primary score: the entries' seeds are independent samples, so its
    variance is the sum of each entry's s^2 / n over T^2, with Welch-Satterthwaite degrees of
    freedom (the per-entry cells show t-intervals too: the same kind, on one scale); clipped to [0, 1]."""
    from anchorbench.scoring.stats import t975

    per_entry = primary_values(sub, req)
    if per_entry is None or any(len(v) < 2 for v in per_entry):
        return None, None
    parts = []
    for values in per_entry:
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        parts.append((var / len(values), len(values) - 1))
    t = len(per_entry)
    var_mean = sum(p for p, _ in parts) / t**2
    mean = primary_mean(sub, req)
    if var_mean == 0:
        return mean, mean
    dof = sum(p for p, _ in parts) ** 2 / sum(p * p / d for p, d in parts if p > 0)
    half = t975(max(1, int(dof))) * var_mean**0.5  # whole degrees of freedom: conservative
    return max(0.0, mean - half), min(1.0, mean + half)  # type: ignore[operator]


def main_columns(req: SuiteRequirement | None = None) -> list[Column]:
    """The ranked table: the mean primary score and each entry's primary score, with intervals."""
    req = req or requirement()
    cols = [Column("", "primary", "mean primary score", "higher", lambda s: primary_mean(s, req),
                   lambda s: primary_interval(s, req))]  # fmt: skip
    for label, entry in req.entries.items():
        cols.append(_score(label, entry.primary_score, f"{label} {entry.primary_score}"))
    return cols


def task_columns(label: str) -> list[Column]:
    """One entry's other model scores (its primary is in the main table; a property of the data is
    stated once in the entry's header), and the grokking time where the task has one."""
    from anchorbench.registry import METRICS

    entry = requirement().entries[label]
    cols = [_score(label, name, name) for name in entry.scores
            if name != entry.primary_score and not METRICS.get(name).of_data]  # fmt: skip
    if entry.family == "modular":  # grokking tasks: the Kaplan-Meier median time to generalize
        cols.append(_t_gen(label))
    return cols


def columns() -> list[Column]:
    """Every column the board shows: the main table's, then each entry's own."""
    return main_columns() + [c for label in requirement().entries for c in task_columns(label)]


def data_properties(label: str, subs: list[Submission]) -> list[str]:
    """'name value' for each score of an entry that measures the data, not the model, stated once."""
    from anchorbench.registry import METRICS

    out = []
    for name in requirement().entries[label].scores:
        if not METRICS.get(name).of_data:
            continue
        means = [getattr(s.tasks[label].scores.get(name), "mean", None) for s in subs]
        values = sorted({round(v, 3) for v in means if finite(v)})
        shown = ", ".join(f"{v:.3f}" for v in values) or "-"
        out.append(f"{name} {shown} ({METRICS.get(name).description.split(':')[0]})")
    return out


def _fmt(value: float | None, digits: int) -> str:
    return num(value, digits)


def cell_text(col: Column, sub: Submission) -> str:
    text = _fmt(col.value(sub), col.digits)
    ci = interval(col, sub)
    return text + (f" [{_fmt(ci[0], col.digits)}, {_fmt(ci[1], col.digits)}]" if ci else "")


def interval(col: Column, sub: Submission) -> tuple[float, float] | None:
    """The cell's 95% interval, when it has one."""
    if col.ci is None or not finite(col.value(sub)):
        return None
    low, high = col.ci(sub)
    return (low, high) if finite(low) and finite(high) else None  # type: ignore[return-value]


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def not_separated(col: Column, subs: list[Submission]) -> set[int]:
    """Rows (indices into ``subs``) that this column cannot tell from its best row: those whose 95%
    interval overlaps the best's, and the best itself when any does. Empty when the best stands alone."""
    scored = [(i, col.value(s), interval(col, s)) for i, s in enumerate(subs)]
    scored = [(i, v, ci) for i, v, ci in scored if ci is not None]
    if len(scored) < 2:
        return set()
    sign = 1 if col.direction == "higher" else -1
    best, _, best_ci = max(scored, key=lambda x: sign * x[1])  # type: ignore[operator]
    tied = {i for i, _, ci in scored if i != best and overlap(ci, best_ci)}  # type: ignore[arg-type]
    return tied | {best} if tied else set()


NOT_SEPARATED = "≈"
NOT_SEPARATED_TITLE = "not separated: this 95% interval overlaps that of the best entry on this score"


def rank_key(sub: Submission) -> tuple[float, str]:
    """Best mean primary score first (missing last), then by name."""
    return -(primary_mean(sub) or -1.0), sub.name


# -- the tuned track ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TunedCell:
    cell: str  # "lr=0.001,weight_decay=0.1"
    mean: float | None
    ci: tuple[float | None, float | None]


def tuned_cells(sub: Submission, label: str) -> list[TunedCell]:
    """Every grid cell of one standard entry in a tuned-track submission, with its primary score."""
    primary = requirement().entries[label].primary_score
    cells = []
    for task_label, result in sub.tasks.items():
        if base_label(task_label) == label:
            summary = result.scores.get(primary)
            ci = (getattr(summary, "ci_low", None), getattr(summary, "ci_high", None))
            cells.append(TunedCell(grid_cell(task_label), getattr(summary, "mean", None), ci))
    return cells


def best_cell(sub: Submission, label: str) -> TunedCell | None:
    """The cell with the best mean primary score over seeds (all primary scores are accuracies: higher);
    the first in grid order on a tie."""
    scored = [c for c in tuned_cells(sub, label) if finite(c.mean)]
    return max(scored, key=lambda c: c.mean) if scored else None  # type: ignore[arg-type,return-value]


def tuned_mean(sub: Submission) -> float | None:
    bests = [best_cell(sub, label) for label in requirement().entries]
    return sum(b.mean for b in bests) / len(bests) if bests and all(bests) else None  # type: ignore[misc,union-attr]


def tuned_text(cell: TunedCell | None) -> str:
    if cell is None:
        return "-"
    low, high = cell.ci
    interval = f" [{_fmt(low, 3)}, {_fmt(high, 3)}]" if finite(low) and finite(high) else ""
    return f"{_fmt(cell.mean, 3)}{interval} at {cell.cell}"


def tuned_markdown(tuned: Unranked) -> list[str]:
    req = requirement()
    labels = list(req.entries)
    out = [
        "## Tuned track (best cell of a declared lr x weight decay grid per entry; optimistic)",
        "",
        f"Suite `{tuned_requirement().id}`: the standard entries at every cell of its grid; per entry, the cell with",
        "the best mean primary score over seeds, with its 95% interval (MAD's protocol). The cell is chosen on the",
        "scored split, so these are upper estimates; the fixed-recipe ranking above is the main table.",
        "",
    ]
    if not tuned:
        return [*out, "None."]
    head = ["#", "submission", "model", "mean of best primary"] + [f"{label} best `{req.entries[label].primary_score}`"
                                                                   for label in labels]  # fmt: skip
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, (s, _) in enumerate(tuned, 1):
        cells = [str(i), md_escape(s.name), md_code(s.model_name), _fmt(tuned_mean(s), 3)]
        out.append("| " + " | ".join(cells + [tuned_text(best_cell(s, label)) for label in labels]) + " |")
    for s, notes in tuned:
        out += ["", f"Grid of {md_escape(s.name)} (primary score, mean over seeds):", ""]
        means = {label: {c.cell: c.mean for c in tuned_cells(s, label)} for label in labels}  # label -> cell -> mean
        grid = list(dict.fromkeys(cell for by_cell in means.values() for cell in by_cell))
        out += ["| cell | " + " | ".join(labels) + " |", "|" + "---|" * (len(labels) + 1)]
        for cell in grid:
            row = [_fmt(means[label][cell], 3) if cell in means[label] else "-" for label in labels]
            out.append(f"| {cell} | " + " | ".join(row) + " |")
        if notes:
            out += ["", f"Outside the comparable rules: {md_escape('; '.join(notes))}"]
    return out


# -- Markdown -------------------------------------------------------------------------------
# Characters with a meaning anywhere in a line of GitHub Markdown: escapes, code, emphasis, links and
# images, headings, table cells, strikethrough, math. '&', '<' and '>' (entities, HTML) become entities.
MD_SPECIAL = re.compile(r"[\\`*_\[\]#|~$]")
MD_AUTOLINK = re.compile(r"(?i):(?=//)|(?<=www)\.")  # GitHub links bare http://... and www.... text
MD_LINE_START = re.compile(r"\d+[.)]|[-+=]")  # a list item or setext underline (in the "why" list)


def md_escape(text: str) -> str:
    """``text`` as literal Markdown on one line: nothing in it formats, links or splits a cell."""
    text = " ".join(text.split())  # newlines end a table row; leading spaces make code blocks
    text = html.escape(MD_SPECIAL.sub(r"\\\g<0>", text), quote=False)
    text = MD_AUTOLINK.sub(r"\\\g<0>", text)
    start = MD_LINE_START.match(text)
    if start:  # escape the marker's last character: "\-", "1\."
        text = text[: start.end() - 1] + "\\" + text[start.end() - 1 :]
    return text


def md_code(text: str) -> str:
    """``text`` as a code span: a fence longer than any run of backticks in it, so none closes it early."""
    text = " ".join(text.split()).replace("|", "\\|")  # GitHub splits cells at '|' even in code
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("", "`", " ") or text[-1:] in ("`", " ") else ""  # one space each side is stripped
    return f"{fence}{pad}{text}{pad}{fence}"


def md_table(subs: list[Submission], cols: list[Column], *, with_model: bool = True) -> list[str]:
    head = ["#", "submission"] + (["model", "params"] if with_model else [])
    head += [f"{c.title} {arrow(c.direction)}" for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tied = [not_separated(c, subs) for c in cols]
    for i, s in enumerate(subs):
        cells = [str(i + 1), md_escape(s.name)] + ([md_code(s.model_name), f"{s.n_params:,}"] if with_model else [])
        scores = [cell_text(c, s) + (f" {NOT_SEPARATED}" if i in t else "") for c, t in zip(cols, tied)]
        lines.append("| " + " | ".join(cells + scores) + " |")
    return lines


def task_header(label: str, subs: list[Submission]) -> str:
    entry = requirement().entries[label]
    text = f"`{entry.task_id}` v{entry.task_version}; ranked by `{entry.primary_score}` (in the main table)."
    props = data_properties(label, subs)
    if props:
        text += " Of the data, not the models: " + "; ".join(md_escape(p) for p in props) + "."
    return text


def history_markdown(history: History) -> list[str]:
    out = []
    for req, subs in history:
        primaries = ", ".join(f"{md_escape(label)} `{e.primary_score}`" for label, e in req.entries.items())
        out += ["", f"## Earlier version: suite `{req.id}` v{req.version} (historical)", "",
                f"Its rows as recorded on `{req.id}` v{req.version} (`{req.spec_hash[:19]}`), by their mean primary",
                f"score: {primaries}. Scores of different suite versions are not comparable.", ""]  # fmt: skip
        out += md_table(subs, main_columns(req))
    return out


def markdown(ranked: list[Submission], free: Unranked, tuned: Unranked, history: History = ()) -> str:
    req = requirement()
    main = main_columns()
    everyone = ranked + [sub for sub, _ in free]
    out = [
        "# anchorbench leaderboard",
        "",
        f"Suite `{req.id}` v{req.version} (`{req.spec_hash[:19]}`). Each cell: mean over seeds [95% confidence",
        "interval]; ↑ higher is better, ↓ lower is better. The mean primary score is the mean of "
        + ", ".join(f"{md_escape(label)} `{e.primary_score}`" for label, e in req.entries.items())
        + "; its interval is a t-interval over the entries' seeds (Welch).",
        f"{NOT_SEPARATED} marks the entries a score does not separate: their 95% intervals overlap that of the",
        "entry with the best mean on that score (within a table), so their order there is noise, not a ranking.",
        "Every other score is in the per-task tables below. Generated by `anchorbench leaderboard build` from",
        "`leaderboard/submissions/` (each file validated: every aggregate recomputed from its seeds); do not edit",
        "by hand. Rules: [RULES.md](RULES.md). Interactive (sortable, filterable, expandable) version:",
        "[index.html](index.html).",
        "",
        f"## Ranked (fixed budgets, at most {PARAM_BUDGET:,} parameters per task model)",
        "",
        *(md_table(ranked, main) if ranked else ["No submissions yet."]),
        "",
        "## Free-for-all (valid, but outside the comparable rules)",
        "",
    ]
    if free:
        out += md_table([sub for sub, _ in free], main)
        out += ["", "Why each is here:", ""]
        out += [f"- {md_escape(sub.name)}: {md_escape('; '.join(notes))}" for sub, notes in free]
    else:
        out.append("None.")
    out += ["", "## Scores per task", "", "Ranked submissions first, in their order above, then the free-for-all."]
    for label in req.entries:
        cols = task_columns(label)
        out += ["", f"### {md_escape(label)}", "", task_header(label, everyone), ""]
        out += md_table(everyone, cols, with_model=False) if everyone and cols else ["No other scores."]
        if any(c.key.endswith(".t_gen") for c in cols) and any(_t_gen(label).value(s) is None for s in everyone):
            out += ["", "t_gen is shown where every seed of the file carries its timing (submission version 3),",
                    "so that it was recomputed from them; '-' otherwise."]  # fmt: skip
    out += ["", *tuned_markdown(tuned), *history_markdown(history)]
    return "\n".join(out) + "\n"


# -- HTML -----------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def html_table(table_id: str, rows_of: Unranked, cols: list[Column], *, with_model: bool = True) -> str:
    heads = ['<th data-col="0" data-direction="lower" data-task="" class="num">#</th>',
             '<th data-col="1" data-direction="text" data-task="">submission</th>']  # fmt: skip
    if with_model:
        heads += ['<th data-col="2" data-direction="text" data-task="">model</th>',
                  '<th data-col="3" data-direction="lower" data-task="" class="num">params</th>']  # fmt: skip
    # A first header row groups the score columns by task; the second names the scores.
    groups = [f'<th colspan="{len(heads)}" data-task=""></th>']
    for task, same in itertools.groupby(cols, key=lambda c: c.task):
        groups.append(f'<th colspan="{len(list(same))}" data-task="{_e(task)}" class="group">{_e(task)}</th>')
    for i, c in enumerate(cols, len(heads)):
        short = c.title.removeprefix(f"{c.task} ") if c.task else c.title
        heads.append(
            f'<th data-col="{i}" data-key="{_e(c.key)}" data-direction="{c.direction}" data-task="{_e(c.task)}" '
            f'class="num" title="{_e(c.title)}: {_e(c.direction)} is better">{_e(short)} {arrow(c.direction)}</th>'
        )
    rows = []
    tied = [not_separated(c, [s for s, _ in rows_of]) for c in cols]
    for rank, (s, notes) in enumerate(rows_of, 1):
        name = _e(s.name)
        if notes:
            name += f'<div class="note">{_e("; ".join(notes))}</div>'
        cells = [f'<td data-value="{rank}" class="num">{rank}</td>',
                 f'<td data-value="{_e(s.name)}" title="{_e(s.description)}">{name}</td>']  # fmt: skip
        if with_model:
            cells += [f'<td data-value="{_e(s.model_name)}"><code>{_e(s.model_name)}</code></td>',
                      f'<td data-value="{s.n_params}" class="num">{s.n_params:,}</td>']  # fmt: skip
        for c, t in zip(cols, tied):
            v, ci = c.value(s), interval(c, s)
            bounds = f' data-low="{ci[0]}" data-high="{ci[1]}"' if ci else ""
            mark = (
                (f' title="{NOT_SEPARATED_TITLE}"', " not-separated", f"{NOT_SEPARATED} ")
                if rank - 1 in t
                else ("",) * 3
            )
            cells.append(
                f'<td data-value="{v if finite(v) else ""}"{bounds} data-task="{_e(c.task)}" class="num{mark[1]}"'
                f"{mark[0]}>{mark[2]}{_e(cell_text(c, s))}</td>"
            )
        rows.append(f'<tr data-name="{_e(s.name)}">' + "".join(cells) + "</tr>")
    body = "\n".join(rows) if rows else f'<tr><td colspan="{len(heads)}">No submissions.</td></tr>'
    head = f'<tr class="groups">{"".join(groups)}</tr><tr>{"".join(heads)}</tr>'
    return f'<table id="{table_id}">\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def tuned_html(tuned: Unranked) -> str:
    req = requirement()
    heads = ['<th data-col="0" data-direction="lower" class="num">#</th>',
             '<th data-col="1" data-direction="text">submission</th>',
             '<th data-col="2" data-direction="text">model</th>',
             '<th data-col="3" data-direction="higher" class="num">mean of best primary ↑</th>']  # fmt: skip
    for i, (label, entry) in enumerate(req.entries.items(), 4):
        heads.append(f'<th data-col="{i}" data-direction="higher" class="num">{_e(label)} best '
                     f"{_e(entry.primary_score)} ↑</th>")  # fmt: skip
    rows = []
    for rank, (s, notes) in enumerate(tuned, 1):
        name = _e(s.name) + (f'<div class="note">{_e("; ".join(notes))}</div>' if notes else "")
        mean = tuned_mean(s)
        cells = [f'<td data-value="{rank}" class="num">{rank}</td>', f'<td data-value="{_e(s.name)}">{name}</td>',
                 f'<td data-value="{_e(s.model_name)}"><code>{_e(s.model_name)}</code></td>',
                 f'<td data-value="{mean if finite(mean) else ""}" class="num">{_e(_fmt(mean, 3))}</td>']  # fmt: skip
        for label in req.entries:
            best = best_cell(s, label)
            grid = "; ".join(f"{c.cell}: {_fmt(c.mean, 3)}" for c in tuned_cells(s, label))
            value = best.mean if best else ""
            cells.append(f'<td data-value="{value}" class="num" title="grid: {_e(grid)}">{_e(tuned_text(best))}</td>')
        rows.append(f'<tr data-name="{_e(s.name)}">' + "".join(cells) + "</tr>")
    body = "\n".join(rows) if rows else f'<tr><td colspan="{len(heads)}">No tuned-track submissions.</td></tr>'
    return f'<table id="tuned">\n<thead><tr>{"".join(heads)}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def fill(template: str, values: dict[str, str]) -> str:
    """Every ``{{name}}`` of the template replaced in one pass: inserted text is never scanned again,
    so a submission named ``{{free}}`` stays that text. A placeholder without a value is a bug."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def task_details(label: str, subs: list[Submission]) -> str:
    """One entry's other scores as an expandable section of the page."""
    cols = task_columns(label)
    props = data_properties(label, subs)
    entry = requirement().entries[label]
    header = f"<code>{_e(entry.task_id)}</code> v{entry.task_version}; ranked by "
    header += f"<code>{_e(entry.primary_score)}</code>."
    if props:
        header += " Of the data, not the models: " + "; ".join(_e(p) for p in props) + "."
    rows = [(s, []) for s in subs]
    table = html_table(f"task-{label}", rows, cols, with_model=False) if cols else "<p>No other scores.</p>"
    return (f'<details class="task" data-task="{_e(label)}"><summary>{_e(label)}: '
            f"{len(cols)} more score(s)</summary>\n<p>{header}</p>\n{table}\n</details>")  # fmt: skip


def history_html(history: History) -> str:
    parts = []
    for req, subs in history:
        table = html_table(f"history-v{req.version}", [(s, []) for s in subs], main_columns(req))
        parts.append(f"<h2>Earlier version: suite {_e(req.id)} v{req.version} (historical)</h2>\n<p>Its rows as "
                     "recorded on that version, by their mean primary score; not comparable with the current "
                     f"suite's.</p>\n{table}")  # fmt: skip
    return "\n".join(parts)


def page(ranked: list[Submission], free: Unranked, tuned: Unranked, history: History = ()) -> str:
    req = requirement()
    main = main_columns()
    everyone = ranked + [sub for sub, _ in free]
    options = "".join(f'<option value="{_e(label)}">{_e(label)}</option>' for label in req.entries)
    return fill(PAGE_TEMPLATE.read_text(), {
        "suite": _e(f"{req.id} v{req.version}"),
        "budget": f"{PARAM_BUDGET:,}",
        "primaries": ", ".join(f"{_e(label)} <code>{_e(e.primary_score)}</code>" for label, e in req.entries.items()),
        "task_options": options,
        "ranked": html_table("ranked", [(s, []) for s in ranked], main),
        "free": html_table("free", free, main),
        "per_task": "\n".join(task_details(label, everyone) for label in req.entries),
        "tuned_suite": _e(tuned_requirement().id),
        "tuned": tuned_html(tuned),
        "history": history_html(history),
    })  # fmt: skip


def build(checked: list[Checked], folder: Path, history: History = ()) -> tuple[Path, Path]:
    valid = [c for c in checked if c.ok and c.submission is not None]
    standard = sorted((c for c in valid if c.submission.suite.id == requirement().id),
                      key=lambda c: rank_key(c.submission))  # fmt: skip
    ranked = [c.submission for c in standard if c.comparable]
    free = [(c.submission, c.notes) for c in standard if not c.comparable]
    tuned = sorted((c for c in valid if c.submission.suite.id != requirement().id),
                   key=lambda c: (-(tuned_mean(c.submission) or -1.0), c.submission.name))  # fmt: skip
    tuned_rows = [(c.submission, c.notes) for c in tuned]
    md, page_path = folder / "README.md", folder / "index.html"
    md.write_text(markdown(ranked, free, tuned_rows, history))
    page_path.write_text(page(ranked, free, tuned_rows, history))
    return md, page_path
