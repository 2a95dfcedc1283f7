"""The HTML pages of scripts/plot_stats.py: one interactive Bokeh page per column, and the index.

* :func:`write_column_page` writes ``<column>.html``: a Bokeh plot (zoom with the wheel or a box, pan, reset,
  save, the curve, time and value on hover, curves hidden by clicking their legend entry) whose JavaScript is
  inline, so that the page works offline and alone (about 1.3 MB per page).
* :func:`write_index` writes ``index.html``: links to the pages, the PNGs, the latest overlays and the run's
  summary from the job ledger. It is plain HTML with relative links (no script, nothing from elsewhere).
* :func:`read_run_summary` reads that summary from the ledger (``ledger.py``), read only.
"""

from __future__ import annotations

import html
import os
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spoca4staff.atomic_file import atomic_write

if TYPE_CHECKING:
    from scripts.plot_stats import ColumnInfo, Curve

__all__ = ["LATEST_OVERLAYS", "RunSummary", "read_run_summary", "write_column_page", "write_index"]

#: How many overlays of the latest time step the index shows at most.
LATEST_OVERLAYS = 6
#: Outcomes of a job's latest attempt that leave its time step without a value.
_MISSING_OUTCOMES = ("skipped", "failed", "interrupted")
_DASHES = ("solid", "dashed", "dotted", "dashdot")
_MARKERS = ("circle", "square", "triangle", "diamond", "inverted_triangle", "plus")
_PAGE_HEIGHT = 560


@dataclass
class RunSummary:
    """What the ledger says about the jobs: the latest outcome of every (time step, stage) job.

    Attributes
    ----------
    path : Path
        The ledger file.
    latest : dict
        ``(time_step, stage)`` to ``(outcome, reason)`` of the job's latest attempt.
    """

    path: Path
    latest: dict[tuple[datetime, str], tuple[str, str | None]] = field(default_factory=dict)

    def counts(self) -> dict[str, Counter]:
        """Per stage, the number of jobs per latest outcome."""
        result: dict[str, Counter] = {}
        for (_, stage), (outcome, _) in self.latest.items():
            result.setdefault(stage, Counter())[outcome] += 1
        return result

    def missing_time_steps(self, stage: str) -> list[datetime]:
        """The time steps whose job of ``stage`` was skipped, failed or interrupted (latest attempt)."""
        return sorted(step for (step, job_stage), (outcome, _) in self.latest.items()
                      if job_stage == stage and outcome in _MISSING_OUTCOMES)

    def problems(self, limit: int = 12) -> list[tuple[datetime, str, str, str]]:
        """The latest jobs not done, newest first: ``(time step, stage, outcome, reason)``."""
        rows = [(step, stage, outcome, reason or "") for (step, stage), (outcome, reason) in self.latest.items()
                if outcome in _MISSING_OUTCOMES]
        return sorted(rows, reverse=True)[:limit]


def read_run_summary(ledger: str | os.PathLike[str]) -> RunSummary:
    """Read the latest outcome of every job from the ledger, read only (the ledger is never created or changed).

    Raises
    ------
    FileNotFoundError
        When there is no ledger at ``ledger``.
    OSError
        When it is not a readable ledger (the message names it).
    """
    from spoca4staff.ledger import parse_time_step

    path = Path(ledger)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no job ledger there")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "SELECT time_step, stage, outcome, reason FROM attempts WHERE id IN"
                " (SELECT MAX(id) FROM attempts GROUP BY time_step, stage)").fetchall()
    except sqlite3.Error as error:
        raise OSError(f"{path}: cannot read the job ledger: {error}") from error
    summary = RunSummary(path=path)
    for time_step, stage, outcome, reason in rows:
        summary.latest[(parse_time_step(time_step), stage)] = (outcome, reason)
    return summary


def write_column_page(path: Path, column: str, info: ColumnInfo, curves: Sequence[Curve], *, log_scale: bool,
                      stats_type: str) -> Path:
    """Write the self-contained interactive page of one column (atomically) and return its path."""
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem, NumeralTickFormatter
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    kind = "STAFF statistics" if stats_type == "staff" else "AIA image statistics"
    plot = figure(title=f"{info.title} ({kind}, {column})", x_axis_type="datetime",
                  y_axis_type="log" if log_scale else "linear", sizing_mode="stretch_width", height=_PAGE_HEIGHT,
                  tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom", active_drag="box_zoom")
    plot.title.text_font_size = "15px"
    plot.xaxis.axis_label = "observation time (UTC)"
    plot.yaxis.axis_label = info.axis_label
    if not log_scale:  # 2,500,000 rather than 2.500e+6
        plot.yaxis.formatter = NumeralTickFormatter(format="0,0.[000]")
    items = []
    for curve in curves:
        values = curve.points.to_numpy(dtype=float)
        if log_scale:
            values = np.where(values > 0, values, np.nan)
        source = ColumnDataSource({"date": curve.points.index.to_numpy(), "value": values,
                                   "curve": [curve.label] * len(values)})
        line = plot.line("date", "value", source=source, color=curve.colour, line_width=1.8,
                         line_dash=_DASHES[curve.dash % len(_DASHES)])
        points = plot.scatter("date", "value", source=source, color=curve.colour, size=6,
                              marker=_MARKERS[curve.marker % len(_MARKERS)])
        items.append(LegendItem(label=curve.label, renderers=[line, points]))
    unit = f" {info.unit}" if info.unit else ""
    plot.add_tools(HoverTool(tooltips=[("curve", "@curve"), ("time", "@date{%Y-%m-%d %H:%M:%S} UTC"),
                                       ("value", f"@value{{0.[000]}}{unit}")],
                             formatters={"@date": "datetime"}, mode="mouse"))
    if items:
        legend = Legend(items=items, click_policy="hide", label_text_font_size="11px", spacing=1, glyph_width=34)
        plot.add_layout(legend, "right")
    page = file_html(plot, resources=INLINE,
                     title=f"{column}: {info.title}")
    with atomic_write(path, "w", encoding="utf-8") as stream:
        stream.write(page)
    return path


def _relative(target: Path, folder: Path) -> str:
    return Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()


def _latest_overlays(folder: Path) -> list[Path]:
    """The overlay PNGs of the latest time step (names ``YYYYmmdd_HHMMSS_WWWW.png``), by wavelength."""
    pngs = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not pngs:
        return []
    latest = max(png.name[:15] for png in pngs)
    chosen = [png for png in pngs if png.name.startswith(latest)]

    def wavelength(png: Path) -> float:
        tail = png.stem.rsplit("_", 1)[-1]
        return float(tail) if tail.isdigit() else float("inf")

    return sorted(chosen, key=wavelength)[:LATEST_OVERLAYS]


def _summary_html(summary: RunSummary) -> str:
    counts = summary.counts()
    outcomes = ["done", "skipped", "failed", "interrupted", "running"]
    head = "".join(f"<th>{name}</th>" for name in ["stage", *outcomes])
    rows = "".join(
        f"<tr><td>{html.escape(stage)}</td>" + "".join(f"<td>{counter.get(outcome, 0)}</td>" for outcome in outcomes)
        + "</tr>" for stage, counter in sorted(counts.items()))
    problems = "".join(
        f"<li>{step:%Y-%m-%d %H:%M} {html.escape(stage)}: <b>{outcome}</b> {html.escape(reason)}</li>"
        for step, stage, outcome, reason in summary.problems())
    return (f"<h2>Run summary</h2><p>Latest outcome of every job in the ledger <code>{html.escape(str(summary.path))}"
            f"</code>.</p><table><tr>{head}</tr>{rows}</table>"
            + (f"<h3>Time steps without a value (latest first)</h3><ul>{problems}</ul>" if problems else ""))


def write_index(output_directory: Path, entries: Sequence[tuple[str, ColumnInfo, Path, Path]], title: str,
                description: str, *, summary: RunSummary | None = None, overlays: Path | None = None) -> Path:
    """Write ``index.html``: the run summary, the latest overlays, and per column a link to its page and its PNG.

    ``entries`` are ``(column, info, page, png)``. Every link is relative to ``output_directory``.
    """
    output = Path(output_directory)
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(description)}</p>"]
    if summary is not None:
        parts.append(_summary_html(summary))
    if overlays is not None:
        latest = _latest_overlays(overlays)
        figures = "".join(
            f'<figure><a href="{html.escape(_relative(png, output))}"><img src="{html.escape(_relative(png, output))}" '
            f'alt="overlay {html.escape(png.stem)}" width="360"></a><figcaption>{html.escape(png.stem)}</figcaption>'
            f"</figure>" for png in latest)
        parts.append("<h2>Latest overlays</h2>" + (figures or f"<p>No overlay in {html.escape(str(overlays))}.</p>"))
    links = "".join(f'<li><a href="{html.escape(page.name)}">{html.escape(info.title)}</a> ({html.escape(column)})'
                    "</li>" for column, info, page, _ in entries)
    figures = "".join(
        f'<figure><a href="{html.escape(page.name)}"><img src="{html.escape(png.name)}" alt="{html.escape(column)}" '
        f'width="1000" height="500"></a><figcaption>{html.escape(info.title)} ({html.escape(column)}): '
        f'<a href="{html.escape(page.name)}">interactive page</a></figcaption></figure>'
        for column, info, page, png in entries)
    parts.append(f"<h2>Interactive plots</h2><ul>{links}</ul>{figures}")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif; margin: 1em 2em; }} img {{ max-width: 100%; height: auto; }}
figure {{ display: inline-block; margin: 0.5em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #999; padding: 0.2em 0.6em; text-align: right; }}</style>
</head>
<body>
{"".join(parts)}
</body>
</html>
"""
    index = output / "index.html"
    with atomic_write(index, "w", encoding="utf-8") as stream:
        stream.write(page)
    return index
