"""Tests of scripts/plot_stats.py on CSV files written in the exact formats of the pipeline (plot_series.py).

STAFF CSVs as written by get_STAFF_stats.x (compat 8.2 and 8.8: ``<CHmap>_and_<ARmap>_on_<image>.csv``, header and
five rows, fixed6 numbers, ``nan`` and ``-nan``) and image-statistics CSVs as written by get_image_stats.py
(``<image name>.csv``, sorted keyword columns, one row). The values are chosen here; the plotted points are read
back from the matplotlib lines and compared with them, NaN gaps included.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from datetime import timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plot_series import (CHANNELS, ROW_TYPES, STAFF_HEADER, STAFF_NUMBERS, STEPS, observation, staff_value,
                         write_staff_csvs)
from scripts.plot_stats import ColumnInfo, PlotStatsError, column_info, load_series, plot_column, write_plots

REPO_ROOT = Path(__file__).resolve().parents[1]
_STATS = ("MAX", "MEAN", "MEDN", "MIN", "P01", "P10", "P25", "P75", "P90", "P95", "P98", "P99", "RMS", "TOTL")
IMAGE_COLUMNS = sorted([*(f"DATA{name}" for name in _STATS), *(f"DISK{name}" for name in _STATS), "DATE_OBS",
                        "WAVELENGTH"])
PNG_SIZE = (1000, 500)


def image_value(step: int, wavelength: int, column: str) -> str:
    if step == 3 and column == "DATAMEAN":
        return "nan"
    return f"{wavelength + 1000 * step + IMAGE_COLUMNS.index(column) / 8:.3f}"


def write_image_csvs(folder: Path) -> None:
    """One ``<image name>.csv`` per time step and wavelength, sorted columns, one row."""
    folder.mkdir(parents=True, exist_ok=True)
    for step, date in enumerate(STEPS):
        for wavelength in (171, 193):
            when = date + timedelta(seconds=CHANNELS[f"AIA_{wavelength}"])
            row = []
            for column in IMAGE_COLUMNS:
                if column == "DATE_OBS":
                    row.append(f"{when:%Y-%m-%dT%H:%M:%S}.34")
                elif column == "WAVELENGTH":
                    row.append(str(wavelength))
                else:
                    row.append(image_value(step, wavelength, column))
            text = ",".join(IMAGE_COLUMNS) + "\n" + ",".join(row) + "\n"
            (folder / f"AIA{when:%Y%m%d_%H%M%S}_{wavelength:04d}.csv").write_text(text)


def lines_by_label(figure) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    (axes,) = figure.axes
    return {line.get_label(): (np.asarray(line.get_xdata(), dtype="datetime64[s]"), np.asarray(line.get_ydata()))
            for line in axes.get_lines()}


@pytest.fixture
def staff_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "staff_stats"
    write_staff_csvs(folder)
    return folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "image_stats"
    write_image_csvs(folder)
    return folder


@pytest.mark.parametrize("column", ["Mean", "FillingFactor", "Area_AtDiskCenter"])
def test_staff_points_equal_the_csv_values(staff_folder: Path, column: str) -> None:
    frame = load_series({"S": str(staff_folder / "*.csv")}, "staff")
    lines = lines_by_label(plot_column(frame, column, "staff"))
    expected_labels = {f"{row_type} {channel}" for row_type in ROW_TYPES for channel in CHANNELS}
    assert set(lines) == expected_labels
    for row_type in ROW_TYPES:
        for channel in CHANNELS:
            x, y = lines[f"{row_type} {channel}"]
            dates = np.array([observation(step, channel) for step in range(len(STEPS))], dtype="datetime64[s]")
            values = np.array([float(staff_value(step, channel, row_type, column)) for step in range(len(STEPS))])
            np.testing.assert_array_equal(x, dates)
            np.testing.assert_array_equal(y, values)  # NaN at the same places: the gaps
    assert np.isnan(lines["AR_all AIA_193"][1][2])


def test_date_range_keeps_start_and_drops_end(staff_folder: Path) -> None:
    start = STEPS[1].replace(tzinfo=timezone.utc)
    end = STEPS[4] + timedelta(seconds=5)  # naive: UTC; keeps the 171 image of step 4 (1 s), not the 193 (8 s)
    frame = load_series({"S": str(staff_folder / "*.csv")}, "staff", start=start, end=end)
    lines = lines_by_label(plot_column(frame, "Median", "staff", start=start, end=end))
    assert list(lines["QS_ondisc AIA_171"][0]) == [np.datetime64(observation(s, "AIA_171"), "s") for s in (1, 2, 3, 4)]
    assert list(lines["QS_ondisc AIA_193"][0]) == [np.datetime64(observation(s, "AIA_193"), "s") for s in (1, 2, 3)]


def test_image_points_equal_the_csv_values(image_folder: Path) -> None:
    frame = load_series({"I": str(image_folder / "*.csv")}, "image")
    lines = lines_by_label(plot_column(frame, "DATAMEAN", "image"))
    assert set(lines) == {"AIA_171", "AIA_193"}
    for wavelength in (171, 193):
        x, y = lines[f"AIA_{wavelength}"]
        np.testing.assert_array_equal(
            x, np.array([observation(step, f"AIA_{wavelength}") for step in range(len(STEPS))], dtype="datetime64[s]"))
        np.testing.assert_array_equal(
            y, np.array([float(image_value(step, wavelength, "DATAMEAN")) for step in range(len(STEPS))]))
    assert np.isnan(lines["AIA_171"][1][3])


def test_several_series_and_foreign_files(staff_folder: Path, image_folder: Path, tmp_path: Path) -> None:
    """Each series gets its own curves; files of the other kind or unreadable are skipped."""
    (staff_folder / "garbage.csv").write_bytes(b"\x00\x01 not a csv\n\"unterminated")
    numbers = ",".join(["1.000000"] * len(STAFF_NUMBERS))
    (staff_folder / "bad_rows.csv").write_text(f"{STAFF_HEADER}\nAIA_171,CH_ondisc,not a date,{numbers}\n"
                                               f",CH_ondisc,2026-03-20T03:00:00,{numbers}\n")
    other = tmp_path / "other"
    write_staff_csvs(other)
    frame = load_series({"quicklook": str(staff_folder / "*.csv"), "science": str(other / "*.csv"),
                         "images": str(image_folder / "*.csv")}, "staff")
    lines = lines_by_label(plot_column(frame, "Mean", "staff"))
    assert len(lines) == 20
    assert len(lines["quicklook: CH_ondisc AIA_171"][0]) == len(STEPS)
    np.testing.assert_array_equal(lines["quicklook: CH_ondisc AIA_171"][1], lines["science: CH_ondisc AIA_171"][1])


def test_write_plots_pages_pngs_and_index(staff_folder: Path, tmp_path: Path, umask: int) -> None:
    output = tmp_path / "plots" / "new"
    written = write_plots({"S": str(staff_folder / "*.csv")}, output, columns=["Mean", "FillingFactor"],
                          start=STEPS[0], end=STEPS[-1])
    assert [path.name for path in written] == ["Mean.html", "staff_Mean.png", "FillingFactor.html",
                                               "staff_FillingFactor.png", "index.html"]
    for png in written[1:4:2]:
        with Image.open(png) as picture:
            assert picture.format == "PNG"
            assert picture.size == PNG_SIZE
            picture.verify()
    for page in written[0:4:2]:
        text = page.read_text(encoding="utf-8")
        assert "Bokeh" in text and "QS_ondisc AIA_171" in text  # the library inline, the curves' data
        _, external = page_references(text, allow_inline_scripts=True)
        assert not external
    sources, external = page_references(written[-1].read_text(encoding="utf-8"))
    assert sources == {"staff_Mean.png", "staff_FillingFactor.png"}
    assert not external
    assert sorted(path.name for path in output.iterdir()) == sorted(path.name for path in written)
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o666 & ~umask}  # not mkstemp's 0o600


def test_default_columns_are_all_numeric_columns(image_folder: Path, tmp_path: Path) -> None:
    written = write_plots({"I": str(image_folder / "*.csv")}, tmp_path / "plots", stats_type="image")
    names = {path.name for path in written}
    numeric = [column for column in IMAGE_COLUMNS if column not in ("DATE_OBS", "WAVELENGTH")]
    assert names == {f"image_{column}.png" for column in numeric} | {f"{column}.html" for column in numeric} | \
        {"index.html"}


@pytest.mark.parametrize(("column", "words", "unit"), [
    ("Mean", "Mean intensity", "[DN/s]"), ("Area_AtDiskCenter", "Area corrected to the disc centre", "[Mm²]"),
    ("FillingFactor", "Filling factor", "[fraction of the disc]"), ("Variance", "Variance", "[(DN/s)²]")])
def test_staff_axes_have_units_and_titles_in_words(staff_folder: Path, column: str, words: str, unit: str) -> None:
    frame = load_series({"S": str(staff_folder / "*.csv")}, "staff")
    (axes,) = plot_column(frame, column, "staff").axes
    assert axes.get_title().startswith(words) and column in axes.get_title()
    assert axes.get_ylabel().endswith(unit) and axes.get_yscale() == "linear"


def test_image_statistics_in_words_log_scale_and_numeric_legend(image_folder: Path) -> None:
    for wavelength, scale in ((94, 0.01), (1600, 100.0)):  # values two decades below and above the others
        for step, date in enumerate(STEPS):
            when = date + timedelta(seconds=3)
            values = [f"{(1000 + step) * scale:.3f}" if c not in ("DATE_OBS", "WAVELENGTH") else "" for c in
                      IMAGE_COLUMNS]
            values[IMAGE_COLUMNS.index("DATE_OBS")] = f"{when:%Y-%m-%dT%H:%M:%S}.34"
            values[IMAGE_COLUMNS.index("WAVELENGTH")] = str(wavelength)
            (image_folder / f"AIA{when:%Y%m%d_%H%M%S}_{wavelength:04d}.csv").write_text(
                ",".join(IMAGE_COLUMNS) + "\n" + ",".join(values) + "\n")
    frame = load_series({"I": str(image_folder / "*.csv")}, "image")
    (axes,) = plot_column(frame, "DISKP99", "image").axes
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["AIA_94", "AIA_171", "AIA_193",
                                                                         "AIA_1600"]
    assert axes.get_yscale() == "log"
    assert axes.get_title().startswith("99th percentile of the intensity, solar disc")
    assert axes.get_ylabel() == "99th percentile of the intensity, solar disc [DN/s]"
    assert column_info("DATATOTL", "image") == ColumnInfo("Total intensity, whole image", "DN/s")


def test_missing_time_step_is_a_gap_not_a_line_across(staff_folder: Path) -> None:
    """Without a ledger, a time step with no file at all breaks every line (a NaN point between)."""
    for csv in staff_folder.glob(f"{STEPS[3]:%Y%m%d_%H%M%S}*"):
        csv.unlink()
    frame = load_series({"S": str(staff_folder / "*.csv")}, "staff")
    lines = lines_by_label(plot_column(frame, "Median", "staff"))
    x, y = lines["QS_ondisc AIA_171"]
    assert len(x) == len(STEPS)  # five values and the gap
    gap = int(np.flatnonzero(np.isnan(y))[0])
    assert x[gap - 1] == np.datetime64(observation(2, "AIA_171"), "s")
    assert x[gap + 1] == np.datetime64(observation(4, "AIA_171"), "s")


def test_ledger_gaps_and_summary(staff_folder: Path, tmp_path: Path) -> None:
    """A time step the ledger records as skipped gets a NaN point at that step; the index shows the ledger."""
    from spoca4staff.ledger import Ledger, Outcome

    ledger_path = tmp_path / "spoca4staff.ledger.sqlite"
    with Ledger(ledger_path) as ledger:
        for step, date in enumerate(STEPS):
            if step == 3:
                ledger.record_skip(date, "staff_stats", "no good-quality file for 193 (test)")
            else:
                ledger.finish(ledger.start(date, "staff_stats"), Outcome.DONE, exit_status=0)
        ledger.finish(ledger.start(STEPS[1], "ch_segmentation"), Outcome.FAILED, reason="boom", exit_status=1)
    for csv in staff_folder.glob(f"{STEPS[3]:%Y%m%d_%H%M%S}*"):
        csv.unlink()
    written = write_plots({"S": str(staff_folder / "*.csv")}, tmp_path / "plots", columns=["Mean"],
                          ledger=ledger_path)
    frame = load_series({"S": str(staff_folder / "*.csv")}, "staff")
    x, y = lines_by_label(plot_column(frame, "Mean", "staff", gap_dates=[STEPS[3]]))["QS_ondisc AIA_171"]
    assert len(x) == len(STEPS) and np.isnan(y[list(x).index(np.datetime64(STEPS[3], "s"))])
    index = written[-1].read_text(encoding="utf-8")
    assert "Run summary" in index and "staff_stats" in index and "ch_segmentation" in index
    assert "no good-quality file for 193 (test)" in index and "boom" in index
    assert "<td>staff_stats</td><td>5</td><td>1</td><td>0</td>" in index  # done, skipped, failed


def test_index_shows_the_latest_overlays(staff_folder: Path, tmp_path: Path) -> None:
    overlays = tmp_path / "overlays"
    overlays.mkdir()
    for name in ("20260320_000000_0171", "20260320_060000_0193", "20260320_060000_0171", "20260320_060000_1600"):
        Image.new("RGB", (8, 8)).save(overlays / f"{name}.png")
    written = write_plots({"S": str(staff_folder / "*.csv")}, tmp_path / "plots", columns=["Mean"],
                          overlays=overlays)
    sources, external = page_references(written[-1].read_text(encoding="utf-8"))
    assert sources == {"staff_Mean.png", "../overlays/20260320_060000_0171.png", "../overlays/20260320_060000_0193.png",
                       "../overlays/20260320_060000_1600.png"}


def page_references(page: str, *, allow_inline_scripts: bool = False) -> tuple[set[str], list[str]]:
    """The img sources of an HTML page, and every reference to something outside the machine.

    A script without ``src`` (inline) is allowed when ``allow_inline_scripts``; relative links (``../x``) are
    allowed, absolute paths and URLs are not.
    """

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.sources: set[str] = set()
            self.external: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("link", "iframe", "object", "embed") or (tag == "script" and not (
                    allow_inline_scripts and "src" not in dict(attrs))):
                self.external.append(tag)
            for name, value in attrs:
                if name in ("src", "href") and value is not None:
                    if tag == "img":
                        self.sources.add(value)
                    if ":" in value or value.startswith("/"):
                        self.external.append(value)

    collector = Collector()
    collector.feed(page)
    remote_css = re.search(r"url[(]\s*['\"]?(https?:|//)", page)
    return collector.sources, collector.external + (["url(http"] if remote_css else [])


def run_cli(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "plot_stats.py"), *arguments],
                          capture_output=True, text=True, check=False, cwd=cwd)


def test_command_line(image_folder: Path, staff_folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    completed = run_cli("--series", "I", str(image_folder / "*.csv"), "--stats-type", "image", "--column", "DISKMEDN",
                        "--column", "DATAP99", "--start-date", "2026-03-20T06:00", "--end-date", "2026-03-21",
                        "--output-directory", str(output))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(output / "index.html")
    assert sorted(path.name for path in output.iterdir()) == ["DATAP99.html", "DISKMEDN.html", "image_DATAP99.png",
                                                              "image_DISKMEDN.png", "index.html"]
    folder_form = run_cli(str(staff_folder), "--column", "Kurtosis", "--output-directory", str(tmp_path / "f"))
    assert folder_form.returncode == 0, folder_form.stderr
    assert (tmp_path / "f" / "staff_Kurtosis.png").is_file() and (tmp_path / "f" / "Kurtosis.html").is_file()


def test_original_command_line(image_folder: Path, staff_folder: Path, tmp_path: Path) -> None:
    """The original's options: -s NAME GLOB, -c, -t, --stats-type TYPE, -v LEVEL; pages in the current folder."""
    work = tmp_path / "work"
    work.mkdir()
    completed = run_cli("-s", "quicklook", str(staff_folder / "**" / "*.csv"), "-s", "copy",
                        str(staff_folder / "*.csv"), "-c", "Mean", "-c", "FillingFactor", "-t", "ObservationDate",
                        "--stats-type", "CH_ondisc", "-v", "INFO", cwd=work)
    assert completed.returncode == 0, completed.stderr
    assert {"Mean.html", "FillingFactor.html"} <= {path.name for path in work.iterdir()}
    page = (work / "Mean.html").read_text(encoding="utf-8")
    assert "quicklook: AIA_171" in page and "copy: AIA_193" in page and "QS_ondisc" not in page
    images = run_cli("-s", "I", str(image_folder / "*.csv"), "-t", "DATE_OBS", "-c", "DISKMEDN", "-v", "ERROR",
                     cwd=work)
    assert images.returncode == 0, images.stderr
    assert "AIA_193" in (work / "DISKMEDN.html").read_text(encoding="utf-8")
    assert run_cli("-s", "I", str(image_folder / "*.csv"), "-v", "LOUD", cwd=work).returncode == 2


@pytest.mark.parametrize("problem", ["no_file", "bad_column"])
def test_command_line_errors(problem: str, staff_folder: Path, tmp_path: Path) -> None:
    pattern = str(tmp_path / "nothing" / "*.csv") if problem == "no_file" else str(staff_folder / "*.csv")
    completed = run_cli("--series", "S", pattern, "--column", "NoSuchColumn", "--output-directory",
                        str(tmp_path / "out"))
    assert completed.returncode == 1
    message = completed.stderr.strip().splitlines()
    assert len(message) == 1
    assert ("nothing" if problem == "no_file" else "NoSuchColumn") in message[0]


def test_unknown_column_raises(staff_folder: Path) -> None:
    frame = load_series({"S": str(staff_folder / "*.csv")}, "staff")
    with pytest.raises(PlotStatsError, match="DATAMEAN"):
        plot_column(frame, "DATAMEAN", "staff")


def test_one_wavelength_missing_is_a_gap_even_with_a_ledger(image_folder: Path) -> None:
    """The image-statistics job of a step is done when one wavelength is missing: its curve still has a gap."""
    (image_folder / f"AIA{STEPS[2] + timedelta(seconds=8):%Y%m%d_%H%M%S}_0193.csv").unlink()
    frame = load_series({"I": str(image_folder / "*.csv")}, "image")
    lines = lines_by_label(plot_column(frame, "DISKMEDN", "image", gap_dates=[]))
    x, y = lines["AIA_193"]
    assert len(x) == len(STEPS) and np.isnan(y).sum() == 1
    assert not np.isnan(lines["AIA_171"][1]).any()
