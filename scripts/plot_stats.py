"""Plot the STAFF statistics and the image statistics over time, for operators to follow them by eye.

Reads the CSV files of one or more series (a series is a name and a glob pattern of CSV files) with pandas and
writes, for each chosen column:

* ``<column>.html``: one self-contained interactive page (Bokeh, its JavaScript inline: no CDN, it works
  offline) with zoom, pan and the values on hover, as the original ``plot_stats.py`` wrote them;
* ``<kind>_<column>.png``: the same plot as a picture (matplotlib);

and an ``index.html`` linking the pages, showing the PNGs, the latest overlays (``--overlays``) and the run's
summary from the job ledger (``--ledger``: jobs done, skipped and failed, the latest failures).

One curve per region type and channel (STAFF statistics; per channel only with a ``Type`` filter) or per
wavelength (image statistics), in legend order (region types as in :data:`REGION_TYPES`, wavelengths
numerically). The axes say the units (DN/s, Mm², fraction of the disc); the image statistics use a log scale
when a column spans more than two decades. A time step without a value leaves a gap, never a line across it:
missing values (``nan``, ``-nan``) stay NaN; the time steps the ledger records as skipped or failed get a NaN
point; and a gap in time longer than 1.5 times the curve's usual step breaks the line too (one wavelength
missing while the job of the time step was done, or no ledger).

The two kinds of CSV files:

* STAFF statistics, written by ``get_STAFF_stats.x`` as ``<CHmap>_and_<ARmap>_on_<image>.csv`` (compat 8.2, 8.8):
  a header ``Channel,Type,ObservationDate,MinIntensity,...,FillingFactor`` and five rows, one per region type
  (AR_all, CH_central_meridian, CH_ondisc, AR_ondisc, QS_ondisc);
* image statistics, written by ``get_image_stats.py`` as ``<image name>.csv``: a header ``DATAMAX,...,DATE_OBS,
  ...,WAVELENGTH`` and one row.

A file of the other kind or that cannot be parsed is skipped (logged), so that both kinds can share a folder.

The original's command line is accepted as it was (``-s NAME GLOB [-s NAME GLOB] [-c COLUMN]... -t TIME_COLUMN
[--stats-type TYPE] [-v LEVEL]``, pages written in the current folder); ``--stats-type staff`` or ``image``
chooses the kind of files instead of a region type.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spoca4staff.atomic_file import atomic_write
from spoca4staff.time_window import parse_date
from scripts.plot_pages import RunSummary, read_run_summary, write_column_page, write_index

__all__ = [
    "FIGURE_PIXELS",
    "REGION_TYPES",
    "STAFF_COLUMNS",
    "STATS_TYPES",
    "ColumnInfo",
    "Curve",
    "PlotStatsError",
    "column_info",
    "curves",
    "load_series",
    "main",
    "plot_column",
    "read_csv_files",
    "write_plots",
]

LOGGER = logging.getLogger(__name__)

#: The region types of the STAFF CSV files, in the order of the curves.
REGION_TYPES = ("CH_ondisc", "AR_ondisc", "QS_ondisc", "CH_central_meridian", "AR_all")
#: The numeric columns of the STAFF CSV files (compat 8.8), plotted by default.
STAFF_COLUMNS = ("MinIntensity", "MaxIntensity", "Mean", "Median", "LowerQuartile", "UpperQuartile", "Variance",
                 "Skewness", "Kurtosis", "TotalIntensity", "Area_Raw", "Area_AtDiskCenter", "FillingFactor")
#: The two kinds of statistics files.
STATS_TYPES = ("staff", "image")
#: Size in pixels (width, height) of every PNG.
FIGURE_PIXELS = (1000, 500)

_DPI = 100
# Per kind: the default date column and the columns naming a curve.
_DATE_COLUMN = {"staff": "ObservationDate", "image": "DATE_OBS"}
_KEY_COLUMNS = {"staff": ("Type", "Channel"), "image": ("WAVELENGTH",)}
_TYPE_COLOURS = {"CH_ondisc": "#1f77b4", "AR_ondisc": "#d62728", "QS_ondisc": "#2ca02c",
                 "CH_central_meridian": "#9467bd", "AR_all": "#ff7f0e"}
#: Colours of the AIA wavelengths (close to sunpy's AIA colour maps, dark enough on white).
_WAVELENGTH_COLOURS = {94: "#2e8b57", 131: "#008b8b", 171: "#b8860b", 193: "#a0522d", 211: "#c71585",
                       304: "#b22222", 335: "#1e56a0", 1600: "#6b8e23", 1700: "#d2691e", 4500: "#808000"}
_OTHER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")
#: Gaps in time longer than this many typical steps break the lines (when no ledger says which steps are missing).
_GAP_FACTOR = 1.5
#: A column of image statistics whose positive values span more than this ratio is drawn on a log scale.
_LOG_RATIO = 100.0

_STAFF_WORDS = {
    "MinIntensity": ("Minimum intensity", "DN/s"), "MaxIntensity": ("Maximum intensity", "DN/s"),
    "Mean": ("Mean intensity", "DN/s"), "Median": ("Median intensity", "DN/s"),
    "LowerQuartile": ("Lower quartile of the intensity", "DN/s"),
    "UpperQuartile": ("Upper quartile of the intensity", "DN/s"),
    "Variance": ("Variance of the intensity", "(DN/s)²"), "Skewness": ("Skewness of the intensity", ""),
    "Kurtosis": ("Kurtosis of the intensity", ""), "TotalIntensity": ("Total intensity", "DN/s"),
    "Area_Raw": ("Area on the image (projected)", "Mm²"),
    "Area_AtDiskCenter": ("Area corrected to the disc centre", "Mm²"),
    "FillingFactor": ("Filling factor", "fraction of the disc"),
}
_IMAGE_WORDS = {"MAX": "Maximum intensity", "MEAN": "Mean intensity", "MEDN": "Median intensity",
                "MIN": "Minimum intensity", "RMS": "Standard deviation of the intensity", "TOTL": "Total intensity"}


class PlotStatsError(Exception):
    """The statistics cannot be plotted (no file to read, unknown column); the message says why."""


@dataclass(frozen=True)
class ColumnInfo:
    """What a column means: a title in words and the unit of its values ("" when dimensionless)."""

    title: str
    unit: str

    @property
    def axis_label(self) -> str:
        """The y-axis label: the title with its unit in brackets."""
        return f"{self.title} [{self.unit}]" if self.unit else self.title


@dataclass(frozen=True)
class Curve:
    """One curve: its legend label, colour, dash and marker index, and its points: values by date (NaN = gap)."""

    label: str
    colour: str
    dash: int
    marker: int
    points: pd.Series


def column_info(column: str, stats_type: str) -> ColumnInfo:
    """The title in words and unit of a STAFF or image-statistics column (the name itself when unknown)."""
    if stats_type == "staff" and column in _STAFF_WORDS:
        return ColumnInfo(*_STAFF_WORDS[column])
    match = re.fullmatch(r"(DATA|DISK)(MAX|MEAN|MEDN|MIN|RMS|TOTL|P(\d\d))", column)
    if stats_type == "image" and match:
        where = "whole image" if match.group(1) == "DATA" else "solar disc"
        percentile = match.group(3)
        words = f"{int(percentile)}th percentile of the intensity" if percentile else _IMAGE_WORDS[match.group(2)]
        return ColumnInfo(f"{words}, {where}", "DN/s")
    return ColumnInfo(column, "")


def _parse_dates(values: pd.Series) -> pd.Series:
    """ISO 8601 dates (naive ones are UTC, a trailing Z is accepted) as naive UTC timestamps; NaT if unparsable."""
    dates = pd.to_datetime(values.astype("string").str.strip(), format="ISO8601", utc=True, errors="coerce")
    return dates.dt.tz_convert(None)


def _read_one(path: Path, stats_type: str, time_column: str) -> pd.DataFrame | None:
    """Read one CSV file of kind ``stats_type``; ``None`` (with a warning) when it is not such a file."""
    try:
        frame = pd.read_csv(path, dtype={column: "string" for column in _KEY_COLUMNS["staff"]})
    except (OSError, ValueError, pd.errors.ParserError) as error:
        LOGGER.warning("%s: skipped, cannot be read as CSV: %s", path, error)
        return None
    needed = {time_column, *_KEY_COLUMNS[stats_type]}
    if not needed <= set(frame.columns):
        LOGGER.info("%s: skipped, not a %s statistics file (missing %s)", path, stats_type,
                    ", ".join(sorted(needed - set(frame.columns))))
        return None
    frame["date"] = _parse_dates(frame[time_column])
    unusable = frame[["date", *_KEY_COLUMNS[stats_type]]].isna().any(axis=1)
    if unusable.any():
        LOGGER.warning("%s: %d row(s) skipped, without a readable %s", path, int(unusable.sum()),
                       " or ".join([time_column, *_KEY_COLUMNS[stats_type]]))
        frame = frame[~unusable]
    return frame


def read_csv_files(paths: Iterable[Path], stats_type: str, *, time_column: str | None = None) -> pd.DataFrame:
    """Read and concatenate CSV files of kind ``stats_type`` (``"staff"`` or ``"image"``).

    Every other column is read as numbers, ``nan`` and ``-nan`` as NaN. A ``date`` column (naive UTC
    timestamps) is added from ``time_column`` (default: ObservationDate for STAFF, DATE_OBS for image
    statistics). Files of the other kind are skipped (logged at INFO level), files that cannot be parsed are
    skipped with a warning. The result has no row when no file could be read.
    """
    if stats_type not in STATS_TYPES:
        raise ValueError(f"stats_type must be one of {', '.join(STATS_TYPES)}, not {stats_type!r}")
    time_column = time_column or _DATE_COLUMN[stats_type]
    frames = [frame for path in paths if (frame := _read_one(Path(path), stats_type, time_column)) is not None]
    if not frames:
        return pd.DataFrame(columns=[*_KEY_COLUMNS[stats_type], time_column, "date"])
    return pd.concat(frames, ignore_index=True)


def load_series(series: Mapping[str, str], stats_type: str, *, start: datetime | None = None,
                end: datetime | None = None, time_column: str | None = None,
                region_type: str | None = None) -> pd.DataFrame:
    """Read the CSV files of every series and keep the rows dated in ``[start, end)``.

    Parameters
    ----------
    series : mapping of str to str
        Series name to glob pattern of its CSV files (``**`` is recursive).
    stats_type : {"staff", "image"}
        Kind of statistics files.
    start, end : datetime, optional
        Date range; naive datetimes are UTC. ``None`` leaves that side open.
    time_column : str, optional
        The column holding the dates (default: ObservationDate for STAFF, DATE_OBS for image statistics).
    region_type : str, optional
        STAFF statistics only: keep the rows whose ``Type`` is this (e.g. ``CH_ondisc``), as the original's
        ``--stats-type``.

    Returns
    -------
    pandas.DataFrame
        The rows of all files, with a ``series`` column and a ``date`` column, sorted by date.

    Raises
    ------
    PlotStatsError
        When no pattern matches any file, or no row has the region type.
    """
    matches = {name: sorted(Path(path) for path in glob.glob(pattern, recursive=True))
               for name, pattern in series.items()}
    if not any(matches.values()):
        raise PlotStatsError("no CSV file matches " + ", ".join(repr(pattern) for pattern in series.values()))
    frames = []
    for name, paths in matches.items():
        if not paths:
            LOGGER.warning("series %s: no file matches %s", name, series[name])
        frame = read_csv_files(paths, stats_type, time_column=time_column)
        if paths and frame.empty:
            LOGGER.warning("series %s: none of the %d files matching %s holds %s statistics", name, len(paths),
                           series[name], stats_type)
        frames.append(frame.assign(series=name))
    frame = pd.concat(frames, ignore_index=True)
    if region_type is not None:
        frame = frame[frame["Type"] == region_type]
        if frame.empty:
            raise PlotStatsError(f"no row of Type {region_type!r} in the STAFF statistics files (types: "
                                 f"{', '.join(REGION_TYPES)})")
    if start is not None:
        frame = frame[frame["date"] >= _naive_utc(start)]
    if end is not None:
        frame = frame[frame["date"] < _naive_utc(end)]
    return frame.sort_values("date", kind="stable", ignore_index=True)


def _naive_utc(date: datetime) -> pd.Timestamp:
    """A datetime as a naive UTC timestamp (naive input is taken as UTC)."""
    stamp = pd.Timestamp(date)
    return stamp.tz_convert(timezone.utc).tz_localize(None) if stamp.tzinfo is not None else stamp


def _wavelength(text: object) -> float:
    value = pd.to_numeric(pd.Series([text]), errors="coerce").iloc[0]
    return float(value) if pd.notna(value) else float("inf")


def _curve_label(key: tuple, stats_type: str, several_series: bool, single_type: bool) -> str:
    """Legend label of the curve ``(series, *key columns)``."""
    series, *parts = key
    if stats_type == "staff":
        text = parts[1] if single_type else f"{parts[0]} {parts[1]}"
    else:
        wavelength = _wavelength(parts[0])
        text = f"AIA_{int(wavelength)}" if np.isfinite(wavelength) else str(parts[0])
    return f"{series}: {text}" if several_series else text


def _curve_order(key: tuple, stats_type: str, series_order: Sequence[str]) -> tuple:
    """Sort key of curves: by series, then region type in REGION_TYPES order, then channel numerically."""
    series, *parts = key
    rank = series_order.index(series) if series in series_order else len(series_order)
    if stats_type == "staff":
        type_rank = REGION_TYPES.index(parts[0]) if parts[0] in REGION_TYPES else len(REGION_TYPES)
        channel = str(parts[1])
        return (rank, type_rank, str(parts[0]), _wavelength(channel.rsplit("_", 1)[-1]), channel)
    return (rank, _wavelength(parts[0]), str(parts[0]))


def _typical_step(dates: pd.DatetimeIndex) -> pd.Timedelta | None:
    steps = pd.Series(dates.sort_values()).diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    return steps.median() if len(steps) else None


def _with_gaps(values: pd.Series, gap_dates: Sequence[pd.Timestamp], step: pd.Timedelta | None) -> pd.Series:
    """``values`` with NaN points at ``gap_dates`` and, when ``step`` is given, inside longer gaps in time."""
    extra = [date for date in gap_dates if date not in values.index]
    if step is not None and len(values) > 1:
        dates = values.index
        for before, after in zip(dates[:-1], dates[1:], strict=True):
            if after - before > _GAP_FACTOR * step and not any(before < date < after for date in extra):
                extra.append(before + (after - before) / 2)
    if not extra:
        return values
    gaps = pd.Series(np.nan, index=pd.DatetimeIndex(extra), name=values.name)
    return pd.concat([values, gaps]).sort_index(kind="stable")


def _colour(key: tuple, index: int, stats_type: str, single_type: bool) -> str:
    """Colour by region type (STAFF), by channel (STAFF of one region type) or by wavelength (image statistics)."""
    if stats_type == "staff" and not single_type:
        return _TYPE_COLOURS.get(key[1], "#000000")
    fallback = _OTHER_COLOURS[index % len(_OTHER_COLOURS)]
    wavelength = _wavelength(key[1] if stats_type == "image" else str(key[2]).rsplit("_", 1)[-1])
    return _WAVELENGTH_COLOURS.get(int(wavelength), fallback) if np.isfinite(wavelength) else fallback


def curves(frame: pd.DataFrame, column: str, stats_type: str, *,
           gap_dates: Sequence[datetime] | None = None) -> list[Curve]:
    """Split one column of :func:`load_series`' result into curves, in legend order.

    Parameters
    ----------
    frame : pandas.DataFrame
        Result of :func:`load_series`.
    column : str
        The column to plot.
    stats_type : {"staff", "image"}
        Kind of statistics.
    gap_dates : sequence of datetime, optional
        Time steps known to have no value (skipped or failed in the ledger): a NaN point is added there. A gap
        in time longer than 1.5 typical steps of the curve also gets a NaN point (a file missing for one
        wavelength only, or no ledger).

    Returns
    -------
    list of Curve
        One curve per series, region type and channel (STAFF) or per series and wavelength (image), values
        indexed by date in date order, NaN kept (gaps).
    """
    if column not in frame.columns:
        raise PlotStatsError(f"no column {column!r} in the {stats_type} statistics files")
    keys = ["series", *_KEY_COLUMNS[stats_type]]
    values = pd.to_numeric(frame[column], errors="coerce")
    series_order = list(dict.fromkeys(frame["series"]))
    several_series = len(series_order) > 1
    single_type = stats_type == "staff" and len(set(frame["Type"])) == 1
    channels = sorted(frame["Channel"].unique(), key=lambda c: _wavelength(str(c).rsplit("_", 1)[-1])) \
        if stats_type == "staff" else []
    groups = sorted(values.groupby([frame[key] for key in keys], sort=False),
                    key=lambda item: _curve_order(item[0], stats_type, series_order))
    gaps = [_naive_utc(date) for date in gap_dates or ()]
    result = []
    for index, (key, group) in enumerate(groups):
        series = pd.Series(group.to_numpy(), index=pd.DatetimeIndex(frame.loc[group.index, "date"]), name=column)
        step = _typical_step(series.index)
        result.append(Curve(
            label=_curve_label(key, stats_type, several_series, single_type),
            colour=_colour(key, index, stats_type, single_type),
            dash=channels.index(key[2]) % len(_LINESTYLES) if stats_type == "staff" and not single_type else 0,
            marker=series_order.index(key[0]) % len(_MARKERS),
            points=_with_gaps(series, gaps, step)))
    return result


def use_log_scale(curve_list: Sequence[Curve], stats_type: str) -> bool:
    """Whether the image-statistics column spans more than two decades (all values positive)."""
    if stats_type != "image" or not curve_list:
        return False
    values = np.concatenate([curve.points.to_numpy(dtype=float) for curve in curve_list])
    values = values[np.isfinite(values)]
    return bool(values.size) and values.min() > 0 and values.max() / values.min() > _LOG_RATIO


def plot_column(frame: pd.DataFrame, column: str, stats_type: str, *, start: datetime | None = None,
                end: datetime | None = None, gap_dates: Sequence[datetime] | None = None) -> Figure:
    """Return a figure of ``column`` over time, one line (a ``Line2D`` labelled as in :func:`curves`) per curve.

    The figure is :data:`FIGURE_PIXELS` in size; NaN values break the lines; the x axis spans
    ``[start, end)`` when given; the title says what the column is, the y axis its unit.
    """
    figure = Figure(figsize=(FIGURE_PIXELS[0] / _DPI, FIGURE_PIXELS[1] / _DPI), dpi=_DPI)
    figure.subplots_adjust(left=0.09, right=0.76, top=0.9, bottom=0.14)
    axes = figure.add_subplot()
    curve_list = curves(frame, column, stats_type, gap_dates=gap_dates)
    for curve in curve_list:
        axes.plot(curve.points.index.to_numpy(), curve.points.to_numpy(), label=curve.label, color=curve.colour,
                  linestyle=_LINESTYLES[curve.dash], marker=_MARKERS[curve.marker], markersize=3, linewidth=1.2)
    info = column_info(column, stats_type)
    kind = "STAFF statistics" if stats_type == "staff" else "AIA image statistics"
    axes.set_title(f"{info.title} ({kind}, {column})")
    axes.set_ylabel(info.axis_label)
    axes.set_xlabel("observation time (UTC)")
    if use_log_scale(curve_list, stats_type):
        axes.set_yscale("log")
    axes.grid(True, alpha=0.3, which="both")
    if start is not None and end is not None:
        axes.set_xlim(_naive_utc(start), _naive_utc(end))
    if axes.lines:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    else:
        axes.text(0.5, 0.5, "no data in the date range", transform=axes.transAxes, ha="center", va="center")
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return figure


def _safe_name(column: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", column)


def _gap_dates(summary: RunSummary | None, stats_type: str) -> list[datetime] | None:
    if summary is None:
        return None
    return summary.missing_time_steps("staff_stats" if stats_type == "staff" else "image_stats")


def write_plots(series: Mapping[str, str], output_directory: str | os.PathLike[str], *, stats_type: str = "staff",
                columns: Sequence[str] | None = None, start: datetime | None = None, end: datetime | None = None,
                time_column: str | None = None, region_type: str | None = None,
                ledger: str | os.PathLike[str] | None = None,
                overlays: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write one interactive page and one PNG per column, and ``index.html``, into ``output_directory``.

    Parameters
    ----------
    series : mapping of str to str
        Series name to glob pattern of its CSV files.
    output_directory : path
        Where ``<column>.html``, ``<stats type>_<column>.png`` and ``index.html`` go (created when missing);
        every file is written atomically.
    stats_type : {"staff", "image"}
        Kind of statistics files.
    columns : sequence of str, optional
        Columns to plot; by default every numeric column (:data:`STAFF_COLUMNS` for STAFF statistics, all but
        DATE_OBS and WAVELENGTH for image statistics).
    start, end : datetime, optional
        Date range ``[start, end)``; naive datetimes are UTC.
    time_column, region_type
        See :func:`load_series`.
    ledger : path, optional
        The pipeline's job ledger: its summary goes in the index, and its skipped and failed time steps are
        gaps in the curves.
    overlays : path, optional
        Folder of the overlay PNGs: the latest ones are shown in the index.

    Returns
    -------
    list of Path
        The pages and PNGs written, in column order (page then PNG), followed by ``index.html``.
    """
    frame = load_series(series, stats_type, start=start, end=end, time_column=time_column, region_type=region_type)
    if columns is None:
        excluded = {"date", "series", time_column or _DATE_COLUMN[stats_type], *_KEY_COLUMNS[stats_type]}
        columns = list(STAFF_COLUMNS) if stats_type == "staff" else [c for c in frame.columns if c not in excluded]
    summary = read_run_summary(ledger) if ledger is not None else None
    gaps = _gap_dates(summary, stats_type)
    output = Path(output_directory)
    output.mkdir(parents=True, exist_ok=True)
    written, entries = [], []
    for column in columns:
        info = column_info(column, stats_type)
        curve_list = curves(frame, column, stats_type, gap_dates=gaps)
        page = write_column_page(output / f"{_safe_name(column)}.html", column, info, curve_list,
                                 log_scale=use_log_scale(curve_list, stats_type), stats_type=stats_type)
        figure = plot_column(frame, column, stats_type, start=start, end=end, gap_dates=gaps)
        png = output / f"{stats_type}_{_safe_name(column)}.png"
        with atomic_write(png) as stream:
            figure.savefig(stream, format="png", dpi=_DPI)
        written += [page, png]
        entries.append((column, info, page, png))
    span = f"from {start.isoformat() if start else 'the first date'} to {end.isoformat() if end else 'the last date'}"
    description = (f"{len(frame)} rows from the series " + ", ".join(f"{name} ({pattern})" for name, pattern in
                                                                     series.items()) + f", {span}.")
    title = f"spoca4staff {'STAFF' if stats_type == 'staff' else 'image'} statistics"
    index = write_index(output, entries, title, description, summary=summary,
                        overlays=Path(overlays) if overlays is not None else None)
    return [*written, index]


def _date(text: str) -> datetime:
    """argparse type: an ISO 8601 date or date and time (:func:`time_window.parse_date`), as an aware UTC date."""
    return parse_date(text).replace(tzinfo=timezone.utc)


_EPILOG = """examples:
  the original's command line (pages <column>.html in the current folder):
    .venv/bin/python scripts/plot_stats.py -s quicklook 'output/staff_stats/*.csv' -c Mean -c FillingFactor \
-t ObservationDate --stats-type CH_ondisc
    .venv/bin/python scripts/plot_stats.py -s quicklook 'output/image_stats/*.csv' -t DATE_OBS -c DISKMEDN
  with the additions:
    .venv/bin/python scripts/plot_stats.py -s STAFF 'output/staff_stats/*.csv' --start-date 2026-03-20 \
--output-directory output/plots --ledger output/spoca4staff.ledger.sqlite --overlays output/overlays
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Plot STAFF statistics or image statistics over time: one self-contained interactive page "
        "(<column>.html: zoom, pan, values on hover; it works offline) and one PNG per column, with one curve "
        "per region type and channel (STAFF) or per wavelength (image), and an index.html linking them with the "
        "latest overlays and the run's summary from the ledger. Missing values and skipped time steps leave "
        "gaps in the curves.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                        help="folder of CSV files, a series named after the folder (same as --series NAME "
                        "'FOLDER/*.csv')")
    parser.add_argument("-s", "--series", nargs=2, action="append", default=[], metavar=("NAME", "GLOB"),
                        help="a series: its name in the legends and a glob pattern of its CSV files (quote it; "
                        "** is recursive); repeat for several series")
    parser.add_argument("-c", "--column", action="append", dest="columns", metavar="COLUMN",
                        help="a column to plot, repeat for several (default: every numeric column)")
    parser.add_argument("-t", "--time-column", metavar="NAME",
                        help="the CSV column holding the observation time, e.g. ObservationDate (STAFF) or "
                        "DATE_OBS (image statistics); DATE_OBS selects image statistics (default: the kind's)")
    parser.add_argument("--stats-type", metavar="TYPE",
                        help="STAFF statistics: plot only the rows of this region Type (e.g. CH_ondisc), as the "
                        "original; 'staff' or 'image' instead choose the kind of CSV files")
    parser.add_argument("--kind", choices=STATS_TYPES,
                        help="kind of CSV files: STAFF statistics of get_STAFF_stats.x or image statistics of "
                        "get_image_stats.py (default: from --stats-type or --time-column, else staff)")
    parser.add_argument("--start-date", type=_date, metavar="DATE",
                        help="first date plotted, ISO 8601, UTC (default: all)")
    parser.add_argument("--end-date", type=_date, metavar="DATE",
                        help="end of the dates plotted (excluded), ISO 8601, UTC (default: all)")
    parser.add_argument("--output-directory", type=Path, default=Path("."), metavar="FOLDER",
                        help="where the pages, PNGs and index.html are written (default: the current folder)")
    parser.add_argument("--ledger", type=Path, metavar="SQLITE",
                        help="the pipeline's job ledger: its summary in index.html, its skipped and failed time "
                        "steps as gaps in the curves")
    parser.add_argument("--overlays", type=Path, metavar="FOLDER",
                        help="folder of the overlay PNGs, the latest of which index.html shows")
    parser.add_argument("-v", "--verbose", nargs="?", const="DEBUG", default="WARNING",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"), metavar="LEVEL",
                        help="logging level on stderr: DEBUG, INFO or ERROR (-v alone: DEBUG; default WARNING)")
    return parser


def _kind_and_type(arguments: argparse.Namespace) -> tuple[str, str | None]:
    """The kind of files and the region-type filter from --kind, --stats-type and --time-column."""
    stats_type = arguments.stats_type
    if stats_type in STATS_TYPES:
        return arguments.kind or stats_type, None
    if stats_type is not None:
        return arguments.kind or "staff", stats_type
    if arguments.kind:
        return arguments.kind, None
    return ("image" if arguments.time_column == "DATE_OBS" else "staff"), None


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: prints the path of index.html; exit status 1 with one message on failure."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, arguments.verbose), format="%(levelname)s: %(message)s")
    series = {folder.name or str(folder): str(folder / "*.csv") for folder in arguments.folders}
    series.update(dict(arguments.series))
    if not series:
        parser.error("give a FOLDER or at least one --series NAME GLOB")
    stats_type, region_type = _kind_and_type(arguments)
    if region_type is not None and stats_type != "staff":
        parser.error(f"--stats-type {region_type} filters STAFF statistics, not {stats_type} statistics")
    try:
        written = write_plots(series, arguments.output_directory, stats_type=stats_type, columns=arguments.columns,
                              start=arguments.start_date, end=arguments.end_date, time_column=arguments.time_column,
                              region_type=region_type, ledger=arguments.ledger, overlays=arguments.overlays)
    except (PlotStatsError, OSError) as error:
        sys.stderr.write(f"plot_stats.py: error: {error}\n")
        return 1
    sys.stdout.write(f"{written[-1]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
