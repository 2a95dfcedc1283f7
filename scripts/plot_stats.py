"""Plot the STAFF statistics and the image statistics over time, for operators to follow them by eye.

Reads the CSV files of one or more series (a series is a name and a glob pattern of CSV files) with pandas and
writes, for each chosen column, one PNG with one curve per region type and channel (STAFF statistics) or per
wavelength (image statistics), over a chosen date range, plus an ``index.html`` page that shows all the PNGs
(plain HTML with relative links: no script, no style sheet or image from elsewhere, it works offline).

The two kinds of CSV files:

* STAFF statistics, written by ``get_STAFF_stats.x`` as ``<CHmap>_and_<ARmap>_on_<image>.csv`` (spec 8.2, 8.8):
  a header ``Channel,Type,ObservationDate,MinIntensity,...,FillingFactor`` and five rows, one per region type
  (AR_all, CH_central_meridian, CH_ondisc, AR_ondisc, QS_ondisc);
* image statistics, written by ``get_image_stats.py`` as ``<image name>.csv``: a header ``DATAMAX,...,DATE_OBS,
  ...,WAVELENGTH`` and one row.

Missing values (``nan``, ``-nan``) leave gaps in the curves: they are kept as NaN, where matplotlib breaks the
line, and never replaced by zeros. A file of the other kind or that cannot be parsed is skipped (logged), so
that both kinds can share a folder.

Example::

    python scripts/plot_stats.py --series quicklook 'output/staff_stats/*.csv' --column Mean --column FillingFactor \\
        --start-date 2026-03-20 --end-date 2026-03-27 --output-directory output/plots
"""

from __future__ import annotations

import argparse
import glob
import html
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:  # run as ``python scripts/plot_stats.py``: import the top-level modules
    sys.path.insert(0, str(_REPO_ROOT))

from atomic_file import atomic_write  # noqa: E402

__all__ = [
    "FIGURE_PIXELS",
    "REGION_TYPES",
    "STAFF_COLUMNS",
    "STATS_TYPES",
    "PlotStatsError",
    "curves",
    "load_series",
    "main",
    "plot_column",
    "read_csv_files",
    "write_index",
    "write_plots",
]

LOGGER = logging.getLogger(__name__)

#: The region types of the STAFF CSV files, in the order of the curves.
REGION_TYPES = ("CH_ondisc", "AR_ondisc", "QS_ondisc", "CH_central_meridian", "AR_all")
#: The numeric columns of the STAFF CSV files (spec 8.8), plotted by default.
STAFF_COLUMNS = ("MinIntensity", "MaxIntensity", "Mean", "Median", "LowerQuartile", "UpperQuartile", "Variance",
                 "Skewness", "Kurtosis", "TotalIntensity", "Area_Raw", "Area_AtDiskCenter", "FillingFactor")
#: The two kinds of statistics files.
STATS_TYPES = ("staff", "image")
#: Size in pixels (width, height) of every PNG.
FIGURE_PIXELS = (1000, 500)

_DPI = 100
# Per kind: the date column, the columns naming a curve, and the non-numeric columns.
_DATE_COLUMN = {"staff": "ObservationDate", "image": "DATE_OBS"}
_KEY_COLUMNS = {"staff": ("Type", "Channel"), "image": ("WAVELENGTH",)}
_TYPE_COLOURS = {"CH_ondisc": "tab:blue", "AR_ondisc": "tab:red", "QS_ondisc": "tab:green",
                 "CH_central_meridian": "tab:purple", "AR_all": "tab:orange"}
_OTHER_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                  "tab:gray", "tab:olive", "tab:cyan")
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = (".", "x", "+", "1", "^", "s")


class PlotStatsError(Exception):
    """The statistics cannot be plotted (no file to read, unknown column); the message says why."""


def _parse_dates(values: pd.Series) -> pd.Series:
    """ISO 8601 dates (naive ones are UTC, a trailing Z is accepted) as naive UTC timestamps; NaT if unparsable."""
    dates = pd.to_datetime(values.astype("string").str.strip(), format="ISO8601", utc=True, errors="coerce")
    return dates.dt.tz_convert(None)


def _read_one(path: Path, stats_type: str) -> pd.DataFrame | None:
    """Read one CSV file of kind ``stats_type``; ``None`` (with a warning) when it is not such a file."""
    try:
        frame = pd.read_csv(path, dtype={column: "string" for column in _KEY_COLUMNS["staff"]})
    except (OSError, ValueError, pd.errors.ParserError) as error:
        LOGGER.warning("%s: skipped, cannot be read as CSV: %s", path, error)
        return None
    needed = {_DATE_COLUMN[stats_type], *_KEY_COLUMNS[stats_type]}
    if not needed <= set(frame.columns):
        LOGGER.info("%s: skipped, not a %s statistics file (missing %s)", path, stats_type,
                    ", ".join(sorted(needed - set(frame.columns))))
        return None
    frame["date"] = _parse_dates(frame[_DATE_COLUMN[stats_type]])
    unusable = frame[["date", *_KEY_COLUMNS[stats_type]]].isna().any(axis=1)
    if unusable.any():
        LOGGER.warning("%s: %d row(s) skipped, without a readable %s", path, int(unusable.sum()),
                       " or ".join([_DATE_COLUMN[stats_type], *_KEY_COLUMNS[stats_type]]))
        frame = frame[~unusable]
    return frame


def read_csv_files(paths: Iterable[Path], stats_type: str) -> pd.DataFrame:
    """Read and concatenate CSV files of kind ``stats_type`` (``"staff"`` or ``"image"``).

    Every other column is read as numbers, ``nan`` and ``-nan`` as NaN. A ``date`` column (naive UTC
    timestamps) is added from ObservationDate (STAFF) or DATE_OBS (image). Files of the other kind are skipped
    (logged at INFO level), files that cannot be parsed are skipped with a warning. The result has no row when
    no file could be read.
    """
    if stats_type not in STATS_TYPES:
        raise ValueError(f"stats_type must be one of {', '.join(STATS_TYPES)}, not {stats_type!r}")
    frames = [frame for path in paths if (frame := _read_one(Path(path), stats_type)) is not None]
    if not frames:
        return pd.DataFrame(columns=[*_KEY_COLUMNS[stats_type], _DATE_COLUMN[stats_type], "date"])
    return pd.concat(frames, ignore_index=True)


def load_series(series: Mapping[str, str], stats_type: str, *, start: datetime | None = None,
                end: datetime | None = None) -> pd.DataFrame:
    """Read the CSV files of every series and keep the rows dated in ``[start, end)``.

    Parameters
    ----------
    series : mapping of str to str
        Series name to glob pattern of its CSV files (``**`` is recursive).
    stats_type : {"staff", "image"}
        Kind of statistics files.
    start, end : datetime, optional
        Date range; naive datetimes are UTC. ``None`` leaves that side open.

    Returns
    -------
    pandas.DataFrame
        The rows of all files, with a ``series`` column and a ``date`` column, sorted by date.

    Raises
    ------
    PlotStatsError
        When no pattern matches any file.
    """
    matches = {name: sorted(Path(path) for path in glob.glob(pattern, recursive=True))
               for name, pattern in series.items()}
    if not any(matches.values()):
        raise PlotStatsError("no CSV file matches " + ", ".join(repr(pattern) for pattern in series.values()))
    frames = []
    for name, paths in matches.items():
        if not paths:
            LOGGER.warning("series %s: no file matches %s", name, series[name])
        frame = read_csv_files(paths, stats_type)
        if paths and frame.empty:
            LOGGER.warning("series %s: none of the %d files matching %s holds %s statistics", name, len(paths),
                           series[name], stats_type)
        frames.append(frame.assign(series=name))
    frame = pd.concat(frames, ignore_index=True)
    if start is not None:
        frame = frame[frame["date"] >= _naive_utc(start)]
    if end is not None:
        frame = frame[frame["date"] < _naive_utc(end)]
    return frame.sort_values("date", kind="stable", ignore_index=True)


def _naive_utc(date: datetime) -> pd.Timestamp:
    """A datetime as a naive UTC timestamp (naive input is taken as UTC)."""
    stamp = pd.Timestamp(date)
    return stamp.tz_convert(timezone.utc).tz_localize(None) if stamp.tzinfo is not None else stamp


def _curve_label(key: tuple, stats_type: str, several_series: bool) -> str:
    """Legend label of the curve ``(series, *key columns)``."""
    series, *parts = key
    if stats_type == "staff":
        text = f"{parts[0]} {parts[1]}"
    else:
        wavelength = pd.to_numeric(parts[0], errors="coerce")
        text = f"AIA_{int(wavelength)}" if np.isfinite(wavelength) else str(parts[0])
    return f"{series}: {text}" if several_series else text


def _curve_order(key: tuple, stats_type: str) -> tuple:
    """Sort key of curves: by series, then region type in REGION_TYPES order, then channel."""
    series, *parts = key
    if stats_type == "staff":
        rank = REGION_TYPES.index(parts[0]) if parts[0] in REGION_TYPES else len(REGION_TYPES)
        return (series, rank, str(parts[0]), str(parts[1]))
    return (series, str(parts[0]))


def _grouped(frame: pd.DataFrame, column: str, stats_type: str) -> list[tuple[tuple, str, pd.Series]]:
    """The curves of ``column`` as ``(key, label, values)``, key = (series, *key columns), in legend order."""
    if column not in frame.columns:
        raise PlotStatsError(f"no column {column!r} in the {stats_type} statistics files")
    keys = ["series", *_KEY_COLUMNS[stats_type]]
    values = pd.to_numeric(frame[column], errors="coerce")
    several_series = len(frame["series"].unique()) > 1
    groups = sorted(values.groupby([frame[key] for key in keys], sort=False),
                    key=lambda item: _curve_order(item[0], stats_type))
    return [
        (key, _curve_label(key, stats_type, several_series),
         pd.Series(group.to_numpy(), index=frame.loc[group.index, "date"], name=column))
        for key, group in groups
    ]


def curves(frame: pd.DataFrame, column: str, stats_type: str) -> dict[str, pd.Series]:
    """Split one column of :func:`load_series`' result into curves.

    Returns
    -------
    dict of str to pandas.Series
        Legend label to the values of ``column`` indexed by date, in date order, NaN kept. One curve per
        series, region type and channel (STAFF) or per series and wavelength (image).
    """
    return {label: values for _, label, values in _grouped(frame, column, stats_type)}


def _style(key: tuple, index: int, stats_type: str, channels: Sequence[str], series: Sequence[str]) -> dict:
    """Colour by region type (STAFF) or by curve (image), line style by channel, marker by series."""
    style: dict[str, object] = {"markersize": 3, "linewidth": 1.0,
                                "marker": _MARKERS[series.index(key[0]) % len(_MARKERS)]}
    if stats_type == "staff":
        style["color"] = _TYPE_COLOURS.get(key[1], "black")
        style["linestyle"] = _LINESTYLES[channels.index(key[2]) % len(_LINESTYLES)]
    else:
        style["color"] = _OTHER_COLOURS[index % len(_OTHER_COLOURS)]
    return style


def plot_column(frame: pd.DataFrame, column: str, stats_type: str, *, start: datetime | None = None,
                end: datetime | None = None) -> Figure:
    """Return a figure of ``column`` over time, one line (a ``Line2D`` labelled as in :func:`curves`) per curve.

    The figure is :data:`FIGURE_PIXELS` in size. NaN values break the lines; the x axis spans
    ``[start, end)`` when given.
    """
    figure = Figure(figsize=(FIGURE_PIXELS[0] / _DPI, FIGURE_PIXELS[1] / _DPI), dpi=_DPI)
    figure.subplots_adjust(left=0.08, right=0.74, top=0.92, bottom=0.14)
    axes = figure.add_subplot()
    series_names = list(dict.fromkeys(frame["series"]))
    channels = sorted(frame["Channel"].unique()) if stats_type == "staff" else []
    for index, (key, label, values) in enumerate(_grouped(frame, column, stats_type)):
        axes.plot(values.index.to_numpy(), values.to_numpy(), label=label,
                  **_style(key, index, stats_type, channels, series_names))
    title = f"{'STAFF' if stats_type == 'staff' else 'Image'} statistics: {column}"
    axes.set_title(title)
    axes.set_ylabel(column)
    axes.set_xlabel("observation date (UTC)")
    axes.grid(True, alpha=0.3)
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


def _png_name(stats_type: str, column: str) -> str:
    """File name of the PNG of ``column``: ``<stats type>_<column>.png``, unsafe characters replaced."""
    return f"{stats_type}_{re.sub(r'[^A-Za-z0-9_.-]', '_', column)}.png"


def write_index(output_directory: Path, pngs: Sequence[Path], title: str, description: str) -> Path:
    """Write ``index.html`` in ``output_directory`` showing every PNG (relative links, nothing external)."""
    figures = "\n".join(
        f'<figure><img src="{html.escape(png.name)}" alt="{html.escape(png.stem)}" width="{FIGURE_PIXELS[0]}" '
        f'height="{FIGURE_PIXELS[1]}"><figcaption>{html.escape(png.stem)}</figcaption></figure>'
        for png in pngs
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif; }} img {{ max-width: 100%; height: auto; }}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(description)}</p>
{figures}
</body>
</html>
"""
    index = Path(output_directory) / "index.html"
    with atomic_write(index, "w", encoding="utf-8") as stream:
        stream.write(page)
    return index


def write_plots(series: Mapping[str, str], output_directory: str | os.PathLike[str], *, stats_type: str = "staff",
                columns: Sequence[str] | None = None, start: datetime | None = None,
                end: datetime | None = None) -> list[Path]:
    """Write one PNG per column and ``index.html`` into ``output_directory`` (created when missing).

    Parameters
    ----------
    series : mapping of str to str
        Series name to glob pattern of its CSV files.
    output_directory : path
        Where the PNGs (``<stats type>_<column>.png``) and ``index.html`` go; every file is written atomically.
    stats_type : {"staff", "image"}
        Kind of statistics files.
    columns : sequence of str, optional
        Columns to plot; by default every numeric column (:data:`STAFF_COLUMNS` for STAFF statistics, all but
        DATE_OBS and WAVELENGTH for image statistics).
    start, end : datetime, optional
        Date range ``[start, end)``; naive datetimes are UTC.

    Returns
    -------
    list of Path
        The PNGs written, in column order, followed by ``index.html``.
    """
    frame = load_series(series, stats_type, start=start, end=end)
    if columns is None:
        excluded = {"date", "series", _DATE_COLUMN[stats_type], *_KEY_COLUMNS[stats_type]}
        columns = list(STAFF_COLUMNS) if stats_type == "staff" else [c for c in frame.columns if c not in excluded]
    output = Path(output_directory)
    output.mkdir(parents=True, exist_ok=True)
    pngs = []
    for column in columns:
        figure = plot_column(frame, column, stats_type, start=start, end=end)
        png = output / _png_name(stats_type, column)
        with atomic_write(png) as stream:
            figure.savefig(stream, format="png", dpi=_DPI)
        pngs.append(png)
    span = f"from {start.isoformat() if start else 'the first date'} to {end.isoformat() if end else 'the last date'}"
    description = (f"{len(frame)} rows from the series " + ", ".join(f"{name} ({pattern})" for name, pattern in
                                                                     series.items()) + f", {span}.")
    title = f"spoca4staff {'STAFF' if stats_type == 'staff' else 'image'} statistics"
    return [*pngs, write_index(output, pngs, title, description)]


def _date(text: str) -> datetime:
    """argparse type: an ISO 8601 date or date and time, UTC when no offset is given."""
    try:
        date = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date: {text!r}") from error
    return date if date.tzinfo is not None else date.replace(tzinfo=timezone.utc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Plot STAFF statistics or image statistics over time: one PNG per column, with one curve per "
        "region type and channel (STAFF) or per wavelength (image), and an index.html page showing them all. "
        "Missing values leave gaps in the curves.",
        epilog="example: python scripts/plot_stats.py --series quicklook 'output/staff_stats/*.csv' --column Mean "
        "--column FillingFactor --start-date 2026-03-20 --end-date 2026-03-27 --output-directory output/plots",
    )
    parser.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                        help="folder of CSV files, a series named after the folder (same as --series NAME "
                        "'FOLDER/*.csv')")
    parser.add_argument("--series", nargs=2, action="append", default=[], metavar=("NAME", "GLOB"),
                        help="a series: its name in the legends and a glob pattern of its CSV files (quote it); "
                        "repeat for several series")
    parser.add_argument("--stats-type", choices=STATS_TYPES, default="staff",
                        help="kind of CSV files: STAFF statistics of get_STAFF_stats.x or image statistics of "
                        "get_image_stats.py (default: %(default)s)")
    parser.add_argument("--column", action="append", dest="columns", metavar="COLUMN",
                        help="a column to plot, repeat for several (default: every numeric column)")
    parser.add_argument("--start-date", type=_date, metavar="DATE",
                        help="first date plotted, ISO 8601, UTC (default: all)")
    parser.add_argument("--end-date", type=_date, metavar="DATE",
                        help="end of the dates plotted (excluded), ISO 8601, UTC (default: all)")
    parser.add_argument("--output-directory", type=Path, default=Path("."), metavar="FOLDER",
                        help="where the PNGs and index.html are written (default: the current folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: prints the path of index.html; exit status 1 with one message on failure."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    series = {folder.name or str(folder): str(folder / "*.csv") for folder in arguments.folders}
    series.update(dict(arguments.series))
    if not series:
        parser.error("give a FOLDER or at least one --series NAME GLOB")
    try:
        written = write_plots(series, arguments.output_directory, stats_type=arguments.stats_type,
                              columns=arguments.columns, start=arguments.start_date, end=arguments.end_date)
    except (PlotStatsError, OSError) as error:
        print(f"plot_stats.py: error: {error}", file=sys.stderr)
        return 1
    print(written[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
