"""``anchorbench plot PATH``: draw every plot a results folder supports.

PATH may be one seed's run folder (``.../seed-0``), an entry folder (with
``aggregate.json``), or a whole invocation (with ``run.json``). Per seed: ``curves.png``
(accuracy and loss on a log step axis, t_fit/t_gen marked) and, when the run recorded
probes, ``probes.png`` (and a task's own probes: ``spectrum.png``, ``noise-geometry.png``,
``windows.png``; ``kernel-course.png``, a CNN's kernel cosine maps over training). Per entry:
``survival.png``, the Kaplan-Meier curve of t_gen; with the integration-windows probe,
``windows-depth.png`` and ``windows-depth.txt`` (c and the yoking index per layer over the seeds).
"""

from __future__ import annotations

from pathlib import Path

from anchorbench.errors import UserError
from anchorbench.execution.results import AggregateResult, RunResult
from anchorbench.files import read_json, read_jsonl


def plot_seed(folder: Path) -> list[Path]:
    from anchorbench.render import figures as plots
    from anchorbench.render import kernel_plots, windows_plots

    result = RunResult.model_validate(read_json(folder / "result.json"))
    history = read_jsonl(folder / result.history)
    title = f"{result.task.id} · {result.model.name} · seed {result.seed}"
    written = [folder / "curves.png"]
    timing = {q: t.model_dump() for q, t in result.timing.items()}
    plots.curves_plot(history, timing, path=written[0], title=title)
    if plots.probes_plot(history, path=folder / "probes.png", title=title):
        written.append(folder / "probes.png")
    if plots.spectrum_plot(history, path=folder / "spectrum.png", title=title):
        written.append(folder / "spectrum.png")
    if plots.noise_geometry_plot(history, path=folder / "noise-geometry.png", title=title):
        written.append(folder / "noise-geometry.png")
    if windows_plots.windows_plot(history, path=folder / "windows.png", title=title):
        written.append(folder / "windows.png")
    if kernel_plots.kernel_course_plot(history, path=folder / "kernel-course.png", title=title):
        written.append(folder / "kernel-course.png")
    return written


def plot_entry(folder: Path) -> list[Path]:
    from anchorbench.render import figures as plots

    written = []
    for seed_dir in sorted(folder.glob("seed-*")):
        if (seed_dir / "result.json").exists():
            written += plot_seed(seed_dir)
    agg = AggregateResult.model_validate(read_json(folder / "aggregate.json"))
    if agg.timing and len(agg.seeds) > 1:  # a survival curve of one seed is a single step: nothing to read
        budget = int(agg.train["steps"])
        title = f"{agg.task.id} · {agg.model.name} · seeds {', '.join(map(str, agg.seeds))}: t_gen survival"
        plots.survival_plot(agg.timing, budget, path=folder / "survival.png", title=title)
        written.append(folder / "survival.png")
    return written + windows_depth(folder, agg)


def windows_depth(folder: Path, agg: AggregateResult) -> list[Path]:
    """[WINDOWS] c and the yoking index against depth over the entry's seeds (figure and table)."""
    from anchorbench.render import windows_plots

    records = []
    for seed in agg.seeds:
        run = folder / f"seed-{seed}"
        if not (run / "result.json").exists():
            continue
        history = run / RunResult.model_validate(read_json(run / "result.json")).history
        found = windows_plots.windows_record(read_jsonl(history)) if history.exists() else None
        if found is not None:
            records.append(found[1])
    if not records:
        return []
    summary = windows_plots.depth_summary(records)
    title = f"{agg.task.id} · {agg.model.name}"
    windows_plots.depth_plot(summary, n_seeds=len(records), path=folder / "windows-depth.png", title=title)
    text = f"{title}: {len(records)} seeds, likely swaps, mean [95% interval]\n{windows_plots.depth_table(summary)}\n"
    (folder / "windows-depth.txt").write_text(text)
    return [folder / "windows-depth.png", folder / "windows-depth.txt"]


def plot_path(path: Path) -> list[Path]:
    if (path / "result.json").exists():
        return plot_seed(path)
    if (path / "aggregate.json").exists():
        return plot_entry(path)
    entries = sorted(p.parent for p in path.glob("*/aggregate.json"))
    if (path / "run.json").exists() and entries:
        return [f for e in entries for f in plot_entry(e)]
    raise UserError(f"{path} is not a results folder (no result.json, aggregate.json or run.json)")
