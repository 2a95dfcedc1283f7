"""Tests of get_image_stats.py against statistics computed independently (astropy scaled data + plain numpy)."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import get_image_stats
from get_image_stats import (ImageStatsError, ImageTooLargeError, image_statistics, image_stats_path, read_image_stats,
                             write_image_stats)
from spoca4staff import _kernels
from spoca4staff.ledger import Ledger
from scripts.make_synthetic_aia import ARCHIVE_PATTERN, archive_path, make_archive, observation_time, write_aia_file

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The columns of the original, in file order, written out independently of the module.
EXPECTED_COLUMNS = [
    "DATAMAX", "DATAMEAN", "DATAMEDN", "DATAMIN", "DATAP01", "DATAP10", "DATAP25", "DATAP75", "DATAP90",
    "DATAP95", "DATAP98", "DATAP99", "DATARMS", "DATATOTL", "DATE_OBS", "DISKMAX", "DISKMEAN", "DISKMEDN",
    "DISKMIN", "DISKP01", "DISKP10", "DISKP25", "DISKP75", "DISKP90", "DISKP95", "DISKP98", "DISKP99", "DISKRMS",
    "DISKTOTL", "WAVELENGTH",
]
PERCENTILES = {"P01": 1, "P10": 10, "P25": 25, "P75": 75, "P90": 90, "P95": 95, "P98": 98, "P99": 99}


def reference_statistics(path: Path) -> dict[str, object]:
    """The expected values, computed from astropy's scaled data (BSCALE and BZERO applied by astropy) and plain
    numpy, with a mask of the disk built from distances."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled = fits.getdata(path)
        stored, header = fits.getdata(path, header=True, do_not_scale_image_data=True)
    data = np.array(scaled, dtype=np.float64)
    if np.issubdtype(stored.dtype, np.integer) and "BLANK" in header:  # astropy does not always apply BLANK
        data[stored == header["BLANK"]] = np.nan
    data = data / header["EXPTIME"]
    x0, y0 = header["CRPIX1"] - 1, header["CRPIX2"] - 1
    radius = header["RSUN_OBS"] / header["CDELT1"]
    # The original's DATE_OBS: the raw T_OBS string; hand-made headers without it fall back to DATE-OBS.
    date_obs = header["T_OBS"] if "T_OBS" in header else header["DATE-OBS"]
    wavelength = int(header["WAVELNTH"])
    rows, columns = np.indices(data.shape)
    on_disk = np.hypot(columns - x0, rows - y0) <= radius
    expected: dict[str, object] = {"DATE_OBS": date_obs, "WAVELENGTH": wavelength}
    for prefix, selection in (("DATA", np.isfinite(data)), ("DISK", np.isfinite(data) & on_disk)):
        values = data[selection]
        expected |= {f"{prefix}MIN": np.min(values), f"{prefix}MAX": np.max(values),
                     f"{prefix}MEAN": np.mean(values), f"{prefix}MEDN": np.median(values),
                     f"{prefix}RMS": np.std(values), f"{prefix}TOTL": np.sum(values)}
        expected |= {f"{prefix}{name}": np.percentile(values, p) for name, p in PERCENTILES.items()}
    return expected


def read_csv(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="") as stream:
        rows = list(csv.reader(stream))
    assert len(rows) == 2, rows
    return rows[0], rows[1]


def assert_matches_reference(csv_path: Path, image: Path) -> None:
    header, row = read_csv(csv_path)
    assert header == EXPECTED_COLUMNS
    expected = reference_statistics(image)
    for name, text in zip(header, row, strict=True):
        if name == "DATE_OBS":
            assert text == expected[name]
        elif name == "WAVELENGTH":
            assert int(text) == expected[name]
        else:
            assert len(text.split(".")[1]) == 3, f"{name} = {text} is not written with %.3f"
            reference = float(expected[name])
            assert abs(float(text) - reference) <= 5.001e-4 + 1e-12 * abs(reference), \
                f"{name}: {text} in the CSV, {reference!r} expected"


@pytest.mark.parametrize("data_format", ["rice_int16", "int32_bscale", "float32", "float64", "int16"])
def test_statistics_match_an_independent_computation(aia_factory, tmp_path, data_format):
    # Undefined blocks on the disk, across the limb and in a corner; the sun centre well off the image centre,
    # so that swapping x and y (or using the off-disk pixels) changes the DISK columns.
    image = aia_factory(171, data_format=data_format, size=256, seed=4, centre_offset=(23.4, -15.2),
                        invalid_blocks=[(100, 130, 90, 170), (0, 20, 0, 256), (200, 256, 230, 256)])
    output = write_image_stats(image, tmp_path / "stats.csv", hdu=0)
    assert_matches_reference(output, image)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_other_integer_types_match_an_independent_computation(aia_factory, tmp_path, dtype):
    # Counted by numpy after the disk-first permutation, not by the int16/int32 kernel.
    source = aia_factory(193, data_format="int16", size=128, seed=5, centre_offset=(10.5, -7.25))
    header = fits.getheader(source)
    data = fits.getdata(source).clip(0, 255).astype(dtype)
    del header["BLANK"]
    image = tmp_path / f"{np.dtype(dtype).name}.fits"
    fits.PrimaryHDU(data, header=header).writeto(image)
    assert_matches_reference(write_image_stats(image, tmp_path / "stats.csv"), image)


def test_disk_statistics_use_the_disk_with_x_along_columns(tmp_path):
    """A hand-made image: 1 off the disk, and on the disk 2 + the column index, so that every DISK value
    depends on the centre being taken with x along the columns."""
    size, cx, cy, radius = 64, 40.0, 20.0, 12.5
    rows, columns = np.indices((size, size))
    on_disk = (columns - cx) ** 2 + (rows - cy) ** 2 <= radius**2
    data = np.where(on_disk, 2.0 + columns, 1.0).astype(np.float32)
    header = fits.Header({"EXPTIME": 2.0, "CRPIX1": cx + 1, "CRPIX2": cy + 1, "CDELT1": 0.5, "CDELT2": 0.5,
                          "RSUN_OBS": radius * 0.5, "WAVELNTH": 193, "DATE-OBS": "2026-03-20T00:00:00.00"})
    path = tmp_path / "disk.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    stats = image_statistics(path)
    disk = (2.0 + columns[on_disk]) / 2.0
    assert stats["DISKMIN"] == disk.min() and stats["DISKMAX"] == disk.max()
    assert stats["DISKTOTL"] == pytest.approx(disk.sum(), rel=1e-12)
    assert stats["DISKMEDN"] == pytest.approx(np.median(disk), rel=1e-12)
    assert stats["DATAMIN"] == 0.5
    assert stats["DATATOTL"] == pytest.approx(disk.sum() + 0.5 * (size * size - disk.size), rel=1e-12)


@pytest.mark.parametrize(("dtype", "low", "high", "blank", "bscale", "bzero"), [
    (np.int32, -2**30, 2**30, -2147483648, 1.0, 0.0),  # too wide for a histogram: the float64 path
    (np.int16, -2000, 3000, -32768, -0.5, 7.0),  # BSCALE < 0: decreasing scaling
    (np.int16, -2000, 3000, 0, 0.25, 100.0),  # BLANK in the middle of the values
    (np.float32, -50, 5000, None, -2.0, 1.0),  # floats with BSCALE < 0 and infinite values
])
def test_other_integer_scalings_and_blanks(tmp_path, dtype, low, high, blank, bscale, bzero):
    rng = np.random.default_rng(3)
    data = rng.integers(low, high, size=(96, 80)).astype(dtype)
    if blank is not None:
        data[10:20, 5:50] = blank
    if np.issubdtype(dtype, np.floating):  # infinite pixels are undefined too
        data[45:50, 25:35] = np.inf
        data[0, :5] = -np.inf
    header = fits.Header({"EXPTIME": 3.0, "CRPIX1": 30.5, "CRPIX2": 50.0, "CDELT1": 2.0, "CDELT2": 2.0,
                          "RSUN_OBS": 70.0, "WAVELNTH": 304, "DATE-OBS": "2026-03-20T06:00:00.00"})
    hdu = fits.PrimaryHDU(data, header, do_not_scale_image_data=True)
    hdu.header["BSCALE"], hdu.header["BZERO"] = bscale, bzero
    if blank is not None:
        hdu.header["BLANK"] = blank
    path = tmp_path / "AIA_scaled.fits"
    hdu.writeto(path)
    assert_matches_reference(write_image_stats(path, tmp_path / "scaled.csv"), path)


def test_real_aia_sample(shared_data, tmp_path):
    """The shared real AIA 171 image: int32 with BSCALE, 1024x1024, a header with an unparsable card."""
    image = shared_data / "AIA20110319_105400_0171.fits"
    assert_matches_reference(write_image_stats(image, tmp_path / "real.csv", hdu=0), image)


def test_date_obs_is_the_raw_t_obs_of_the_real_sample(shared_data, tmp_path):
    """The original's DATE_OBS: T_OBS as written in the header (middle of the exposure, with its Z), not DATE-OBS."""
    image = shared_data / "AIA20110319_105400_0171.fits"
    header, row = read_csv(write_image_stats(image, tmp_path / "real.csv", hdu=0))
    assert row[header.index("DATE_OBS")] == "2011-03-19T10:54:01.34Z"


def test_date_obs_is_the_raw_t_obs_of_synthetic_files(aia_factory, tmp_path):
    for wavelength, date in ((171, datetime(2012, 7, 1, 0, 0, 0, 340000)), (4500, datetime(2026, 3, 20, 6, 0, 9))):
        image = aia_factory(wavelength, date, size=64, data_format="int16")
        t_obs = fits.getval(image, "T_OBS")
        assert t_obs != fits.getval(image, "DATE-OBS") and t_obs.endswith("Z")
        header, row = read_csv(write_image_stats(image, tmp_path / f"{wavelength}.csv"))
        assert row[header.index("DATE_OBS")] == t_obs
    original_example = aia_factory(171, datetime(2012, 7, 1, 0, 0, 0, 340000), size=64,
                                   header_overrides={"T_OBS": "2012-07-01T00:00:01.34Z"})
    assert image_statistics(original_example)["DATE_OBS"] == "2012-07-01T00:00:01.34Z"


def test_date_obs_falls_back_to_date_obs_keywords(aia_factory):
    """Without T_OBS: the raw DATE-OBS, then DATE_OBS; without any of the three, one clear error."""
    no_t_obs = aia_factory(193, size=64, drop_keywords=("T_OBS",), header_overrides={"DATE_OBS": "2001-01-01T00:00"})
    assert image_statistics(no_t_obs)["DATE_OBS"] == fits.getval(no_t_obs, "DATE-OBS", 1) == "2026-03-20T00:00:09.00"
    only_underscore = aia_factory(193, size=64, name="underscore.fits", drop_keywords=("T_OBS", "DATE-OBS"),
                                  header_overrides={"DATE_OBS": "2026-03-20T00:00:10.34Z"})
    assert image_statistics(only_underscore)["DATE_OBS"] == "2026-03-20T00:00:10.34Z"
    empty_t_obs = aia_factory(193, size=64, name="empty.fits", header_overrides={"T_OBS": ""})
    assert image_statistics(empty_t_obs)["DATE_OBS"] == "2026-03-20T00:00:09.00"
    none = aia_factory(193, size=64, name="none.fits", drop_keywords=("T_OBS", "DATE-OBS"))
    with pytest.raises(ImageStatsError, match=f"^{none}: no T_OBS, DATE-OBS or DATE_OBS keyword$"):
        image_statistics(none)


def test_sunpy_aia_test_file(sunpy_aia_171, tmp_path):
    assert_matches_reference(write_image_stats(sunpy_aia_171, tmp_path / "sunpy.csv", hdu=0), sunpy_aia_171)


def test_configured_hdu_without_image_falls_back_to_the_first_image(aia_factory):
    image = aia_factory(193, size=128)
    assert image_statistics(image, hdu=0) == image_statistics(image, hdu=1) == image_statistics(image, hdu=7)


@pytest.mark.parametrize(("size", "centre", "radius"), [
    ((50, 70), (30.3, 20.7), 15.2),   # inside
    ((50, 70), (-5.0, 60.0), 30.0),   # centre outside the image
    ((40, 40), (19.5, 19.5), 100.0),  # disk larger than the image
    ((40, 40), (19.5, 19.5), 0.0),    # a single pixel at most
    ((33, 17), (8.0, 16.0), 8.0),     # exactly on pixel centres: boundary pixels included
])
def test_disk_first_is_a_permutation_that_puts_the_disk_first(size, centre, radius):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 1000, size=size).astype(np.int16)
    original = image.copy()
    count = get_image_stats._disk_first(image, *get_image_stats._disk_intervals(*size, *centre, radius))
    rows, columns = np.indices(size)
    on_disk = (columns - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2
    assert count == np.count_nonzero(on_disk)
    flat = image.reshape(-1)
    assert np.array_equal(np.sort(flat[:count]), np.sort(original[on_disk]))
    assert np.array_equal(np.sort(flat), np.sort(original.reshape(-1)))


@pytest.mark.parametrize(("size", "centre", "radius"), [
    ((50, 70), (30.3, 20.7), 15.2),
    ((50, 70), (-5.0, 60.0), 30.0),
    ((40, 40), (19.5, 19.5), 100.0),
    ((33, 17), (8.0, 16.0), 8.0),
])
@pytest.mark.parametrize("dtype", [np.int16, np.int32])
def test_disk_histograms_count_each_pixel_on_its_side(size, centre, radius, dtype):
    rng = np.random.default_rng(2)
    blank = int(np.iinfo(dtype).min)
    image = rng.integers(-40, 1000, size=size).astype(dtype)
    image[::7, ::3] = blank
    low, high = get_image_stats._disk_intervals(*size, *centre, radius)
    disk, rest = np.zeros(1040, dtype=np.int64), np.zeros(1040, dtype=np.int64)
    _kernels.disk_histograms(image, low, high, -40, blank, disk, rest)
    rows, columns = np.indices(size)
    on_disk = (columns - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2
    valid = image != blank
    assert np.array_equal(disk, np.bincount(image[on_disk & valid].astype(np.int64) + 40, minlength=1040))
    assert np.array_equal(rest, np.bincount(image[~on_disk & valid].astype(np.int64) + 40, minlength=1040))
    with pytest.raises(ValueError, match="holds a value outside the 1000 bins from -40"):
        _kernels.disk_histograms(image, low, high, -40, blank, disk[:1000], rest[:1000])


def test_csv_is_written_atomically_and_replaced(aia_factory, tmp_path, umask):
    first, second = aia_factory(171, size=128, seed=1), aia_factory(193, size=128, seed=2)
    output = tmp_path / "out" / "x.csv"
    output.parent.mkdir()
    write_image_stats(first, output)
    write_image_stats(second, output)
    assert read_image_stats(output)["WAVELENGTH"] == "193"
    assert [path.name for path in output.parent.iterdir()] == ["x.csv"]
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(("options", "problem"), [
    ({"drop_keywords": ("EXPTIME",)}, "keyword EXPTIME missing"),
    ({"header_overrides": {"EXPTIME": 0.0}}, "EXPTIME is 0.0"),
    ({"drop_keywords": ("RSUN_OBS", "R_SUN")}, r"keyword RSUN_OBS missing \(and no R_SUN\)"),
])
def test_bad_headers_name_the_file(aia_factory, options, problem):
    image = aia_factory(171, size=64, **options)
    with pytest.raises(ImageStatsError, match=f"^{image}: .*{problem}"):
        image_statistics(image)


def test_radius_without_rsun_obs_is_r_sun_as_in_the_spoca_programs(aia_factory):
    """One rule for the solar radius: RSUN_OBS / CDELT1, else R_SUN (pixels). The synthetic files carry both,
    equal, so the disk statistics must not change when RSUN_OBS is dropped."""
    with_both = image_statistics(aia_factory(171, size=64, seed=4))
    r_sun_only = image_statistics(aia_factory(171, size=64, seed=4, drop_keywords=("RSUN_OBS",)))
    assert r_sun_only == with_both


def test_corrupt_file(aia_factory, tmp_path):
    image = aia_factory(171, size=128)
    corrupt = tmp_path / "corrupt.fits"
    corrupt.write_bytes(image.read_bytes()[:5000])
    with pytest.raises(ImageStatsError, match=f"^{corrupt}: "):
        image_statistics(corrupt)
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(b"not a FITS file at all" * 200)
    with pytest.raises(ImageStatsError, match=f"^{garbage}: cannot read the image"):
        image_statistics(garbage)


def test_a_vanished_file_is_a_transient_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        image_statistics(tmp_path / "vanished.fits")


# -- the script ------------------------------------------------------------------------------------------------

START = datetime(2026, 3, 20)


def run_script(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO_ROOT / "get_image_stats.py"), *arguments],
                          capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture
def archive_run(tmp_path, write_ini):
    """An archive of three 6-hour steps (171 and 193) with a file without EXPTIME (06:00, 171), a corrupt file
    (12:00, 193), a bad-QUALITY file (18:00, 193) and a missing one (18:00, 171); an ini writing beside it."""
    root = tmp_path / "archive"
    make_archive(root, START, START + timedelta(hours=24), timedelta(hours=6), (171, 193), size=128, seed=5,
                 bad_quality=[(START + timedelta(hours=18), 193)], missing=[(START + timedelta(hours=18), 171)])
    no_exptime = archive_path(root, observation_time(START + timedelta(hours=6), 171), 171)
    write_aia_file(no_exptime, observation_time(START + timedelta(hours=6), 171), 171, size=128, seed=5,
                   drop_keywords=("EXPTIME",))
    corrupt = archive_path(root, observation_time(START + timedelta(hours=12), 193), 193)
    corrupt.write_bytes(corrupt.read_bytes()[:8000])
    # Paths relative to the ini's folder, no QUALITY bit ignored.
    ini = write_ini(tmp_path / "configs" / "test.ini", {
        "SDO_DATA": {"aia_file_pattern": f"../archive/{ARCHIVE_PATTERN}", "ignore_quality_bits": ""},
        "IMAGE_STATS": {"output_directory": "../output/image_stats", "hdu": 0},
        "OPERATIONS": {"retry_initial_delay": 0},
    }, script="get_image_stats")
    return ini, tmp_path / "output", no_exptime, corrupt


def test_run_writes_csvs_skips_bad_data_and_goes_on_after_a_failure(archive_run):
    ini, output, no_exptime, corrupt = archive_run
    dates = ("--start-date", START.isoformat(), "--end-date", (START + timedelta(hours=24)).isoformat())
    completed = run_script(str(ini), *dates)
    assert completed.returncode == 1, completed.stderr
    images = [archive_path(ini.parent.parent / "archive", observation_time(START + timedelta(hours=hours), wave),
                           wave) for hours, wave in ((0, 171), (0, 193), (6, 193), (12, 171))]
    written = sorted((output / "image_stats").iterdir())
    assert written == sorted(output / "image_stats" / image.name.replace(".fits", ".csv") for image in images)
    for image in images:
        assert_matches_reference(output / "image_stats" / image.name.replace(".fits", ".csv"), image)
    assert f"{no_exptime}: keyword EXPTIME missing" in completed.stderr
    assert f"skipping {corrupt}" in completed.stderr
    with Ledger(output / "spoca4staff.ledger.sqlite") as ledger:
        outcomes = {(record.time_step.hour, record.outcome.value) for record in ledger.attempts()}
    assert outcomes == {(0, "done"), (6, "failed"), (12, "done"), (18, "skipped")}

    status = run_script(str(ini), "--status")
    assert status.returncode == 0
    assert "EXPTIME missing" in status.stdout

    # The operator repairs the file and reruns what failed: only 06:00 runs, the 193 CSV is left alone.
    kept = output / "image_stats" / "AIA20260320_060004_0193.csv"
    before = kept.stat().st_mtime_ns
    write_aia_file(no_exptime, observation_time(START + timedelta(hours=6), 171), 171, size=128, seed=5)
    rerun = run_script("--config-file", str(ini), "--rerun-failed")
    assert rerun.returncode == 0, rerun.stderr
    repaired = output / "image_stats" / no_exptime.name.replace(".fits", ".csv")
    assert_matches_reference(repaired, no_exptime)
    assert kept.stat().st_mtime_ns == before
    assert not list(output.rglob("*.tmp")) and not list(output.rglob(".partial-*"))

    again = run_script(str(ini), *dates)  # everything is done or skipped for lack of good data
    assert again.returncode == 0, again.stderr


def test_images_of_a_step_on_every_core_give_the_one_core_results(archive_run):
    """On two cores the images of a step are summarised on as many threads: the CSVs, the failure of the image
    without EXPTIME (a worker's error, reported as on one core) and the ledger's outcomes are those of the same
    run pinned to one core."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    ini, output, no_exptime, _ = archive_run
    dates = ("--start-date", START.isoformat(), "--end-date", (START + timedelta(hours=24)).isoformat())
    runs = {}
    for cores in ("all", "one"):
        pin = None if cores == "all" else (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
        completed = subprocess.run([sys.executable, str(REPO_ROOT / "get_image_stats.py"), str(ini), *dates],
                                   preexec_fn=pin, capture_output=True, text=True, check=False, timeout=300)
        assert completed.returncode == 1, completed.stderr
        assert f"{no_exptime}: keyword EXPTIME missing" in completed.stderr
        with Ledger(output / "spoca4staff.ledger.sqlite") as ledger:
            outcomes = sorted((record.time_step, record.outcome.value) for record in ledger.attempts())
        runs[cores] = ({path.name: path.read_bytes() for path in (output / "image_stats").iterdir()}, outcomes)
        shutil.rmtree(output)
    assert runs["all"] == runs["one"]
    assert len(runs["all"][0]) == 4


def test_configuration_error_is_exit_status_2(tmp_path, write_ini):
    ini = write_ini(tmp_path / "bad.ini", {
        "SDO_DATA": {"aia_file_pattern": "x", "hdu": "zero", "ignore_quality_bits": ""},
        "IMAGE_STATS": {"wavelengths": 171, "output_directory": "out"},
    }, script="get_image_stats")
    completed = run_script(str(ini), "--start-date", "2026-03-20", "--end-date", "2026-03-21")
    assert completed.returncode == 2
    assert f"{ini}: [SDO_DATA] hdu: 'zero' is not an integer" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_help_documents_the_options_and_exit_statuses():
    completed = run_script("--help")
    assert completed.returncode == 0
    for text in ("--start-date", "--end-date", "--interval", "--config-file", "--verbose", "--status",
                 "--rerun-failed", "exit status"):
        assert text in completed.stdout


def test_output_name_is_the_image_name(tmp_path):
    expected = tmp_path / "AIA20260320_000009_0171.csv"
    assert image_stats_path(tmp_path, "/a/b/AIA20260320_000009_0171.fits") == expected


def test_no_defined_pixel_gives_nan(tmp_path):
    """An image without any defined pixel, and a disk outside the image: the statistics are NaN, not an error."""
    header = fits.Header({"EXPTIME": 1.0, "CRPIX1": 500.0, "CRPIX2": 500.0, "CDELT1": 1.0, "RSUN_OBS": 10.0,
                          "WAVELNTH": 171, "DATE-OBS": "2026-03-20T00:00:00.00"})
    path = tmp_path / "empty.fits"
    fits.PrimaryHDU(np.full((16, 16), np.nan, dtype=np.float32), header).writeto(path)
    stats = image_statistics(path)
    assert all(np.isnan(stats[name]) for name in EXPECTED_COLUMNS if name.startswith(("DATA", "DISK")))
    ones = tmp_path / "ones.fits"
    fits.PrimaryHDU(np.ones((16, 16), dtype=np.int16), header).writeto(ones)
    stats = image_statistics(ones)
    assert stats["DATATOTL"] == 256 and stats["DATAMEDN"] == 1
    assert np.isnan(stats["DISKTOTL"]) and np.isnan(stats["DISKMEDN"])
    output = write_image_stats(ones, tmp_path / "ones.csv")
    assert read_image_stats(output)["DISKMEAN"] == "nan"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_order_statistics_across_bins_signs_and_zeros(tmp_path, dtype):
    """Floating-point order statistics come from bins of the bit patterns: values of both signs over many
    magnitudes, subnormals, both zeros, duplicates and non-finite pixels must give numpy's exact results."""
    rng = np.random.default_rng(11)
    magnitudes = 10.0 ** rng.uniform(-30, 30, size=(64, 64))
    data = (magnitudes * rng.choice([-1.0, 1.0], size=magnitudes.shape)).astype(dtype)
    data[:8, :] = rng.integers(-3, 4, size=(8, 64))  # many duplicates, among them zeros
    data[8, :20] = -0.0
    data[9, :10] = np.finfo(dtype).smallest_subnormal * rng.choice([-1, 1], size=10)
    data[10, :5], data[10, 5:10], data[10, 10:15] = np.nan, np.inf, -np.inf
    header = fits.Header({"EXPTIME": 1.0, "CRPIX1": 20.0, "CRPIX2": 40.0, "CDELT1": 1.0, "RSUN_OBS": 25.0,
                          "WAVELNTH": 171, "DATE-OBS": "2026-03-20T00:00:00.00"})
    path = tmp_path / "signs.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    stats = image_statistics(path)
    values = data[np.isfinite(data)].astype(np.float64)
    assert stats["DATAMIN"] == values.min() and stats["DATAMAX"] == values.max()
    assert stats["DATAMEDN"] == pytest.approx(np.median(values), rel=1e-12, abs=1e-300)
    for name, p in PERCENTILES.items():
        assert stats[f"DATA{name}"] == pytest.approx(np.percentile(values, p), rel=1e-12, abs=1e-300), name
    zeros = np.zeros((8, 8), dtype=dtype)
    zeros[:4] = -0.0
    fits.PrimaryHDU(zeros, header).writeto(tmp_path / "zeros.fits")
    text = get_image_stats.format_csv(image_statistics(tmp_path / "zeros.fits"))
    assert "-0.000" not in text  # -0.0 and 0.0 are the same value: a zero statistic is written 0.000


# -- faults of issue 12: damaged inputs and outputs, full and read-only disks, ledger, lock, command line -----


def test_corrupt_tile_is_an_image_stats_error_naming_the_file(aia_factory, corrupt_tiles):
    damaged = corrupt_tiles(aia_factory(193))
    with pytest.raises(ImageStatsError, match=rf"^{damaged}: cannot read the image: decompression error"):
        image_statistics(damaged)


def test_image_beyond_the_memory_bound_is_refused_before_reading_it(aia_factory, tmp_path):
    image = aia_factory(193)
    with pytest.raises(ImageTooLargeError, match=rf"^{image}: a 256x256 image of BITPIX 16 would need 0.6 MiB, "
                                                 r"more than the memory limit of 0.5 MiB \(\[IMAGE_STATS\]"):
        image_statistics(image, memory_limit=512 * 1024)
    # A header announcing 100000x100000 pixels (the file holds none of them): refused from the header alone,
    # with the default bound, before any allocation or read of the data.
    huge = tmp_path / "huge.fits"
    header = fits.Header([("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 2), ("NAXIS1", 100000), ("NAXIS2", 100000)])
    huge.write_bytes(header.tostring().encode() + b"\0" * 2880)
    with pytest.raises(ImageTooLargeError, match=rf"^{huge}: a 100000x100000 image .* more than the memory limit"):
        image_statistics(huge)
    assert image_statistics(image)["WAVELENGTH"] == 193  # the default bound is far above 4096x4096


def _image_ini(tmp_path: Path, write_ini, output: Path, **operations: object) -> Path:
    """An ini over a small generated archive (two steps, 171 and 193) writing into ``output``, its ledger and
    lock in tmp_path unless ``operations`` moves them."""
    make_archive(tmp_path / "archive", START, START + timedelta(hours=12), timedelta(hours=6), (171, 193), size=64,
                 seed=2)
    return _faults_ini(tmp_path, write_ini, output, **operations)


def _faults_ini(tmp_path: Path, write_ini, output: Path, **operations: object) -> Path:
    return write_ini(tmp_path / "faults.ini", {
        "SDO_DATA": {"ignore_quality_bits": ""},
        "IMAGE_STATS": {"output_directory": output},
        "OPERATIONS": {"retry_attempts": 3, "retry_initial_delay": 0, "ledger": tmp_path / "ledger.sqlite",
                       "lock_file": tmp_path / "run.lock", **operations},
    }, script="get_image_stats")


def _window(hours: int = 12) -> list[str]:
    return ["-s", START.isoformat(), "-e", (START + timedelta(hours=hours)).isoformat()]


def test_full_then_read_only_disk_fails_the_job_in_one_line_and_loses_nothing(tmp_path, write_ini, small_disk,
                                                                             capsys):
    output = small_disk.path / "image_stats"
    ini = _image_ini(tmp_path, write_ini, output)
    assert get_image_stats.main([str(ini), *_window(6)]) == 0
    first = {path: path.read_bytes() for path in output.iterdir()}
    assert len(first) == 2
    capsys.readouterr()
    small_disk.fill()
    assert get_image_stats.main([str(ini), *_window()]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failure = next(line for line in err.splitlines() if "image_stats: failed" in line)
    assert "No space left on device" in failure and str(output) in failure
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        failed = ledger.attempts(time_step=START + timedelta(hours=6))
    assert [record.outcome.value for record in failed] == ["failed"]  # ENOSPC is not retried
    assert {path: path.read_bytes() for path in output.iterdir()} == first  # nothing lost, nothing half-written
    small_disk.free()
    small_disk.read_only()
    assert get_image_stats.main([str(ini), "--rerun-failed"]) == 1
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "Traceback" not in err
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert [record.outcome.value for record in ledger.attempts(time_step=START + timedelta(hours=6))] == [
            "failed", "failed"]  # EROFS is not transient: one attempt, no retries
    small_disk.read_only(False)
    assert get_image_stats.main([str(ini), "--rerun-failed"]) == 0
    assert len(list(output.iterdir())) == 4


def test_lock_and_ledger_on_a_full_disk_are_one_line_and_exit_1(tmp_path, write_ini, small_disk, capsys):
    output = tmp_path / "image_stats"
    ini = _image_ini(tmp_path, write_ini, output, lock_file=small_disk.path / "run.lock")
    small_disk.fill()
    assert get_image_stats.main([str(ini), *_window()]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"cannot take the lock {small_disk.path}/run.lock: No space left on device; nothing done")
    assert len(err.splitlines()) == 1
    assert not output.exists() or not any(output.iterdir())
    # The ledger on the full disk (it exists, the next rows do not fit): SQLite's error, not a ROLLBACK's.
    small_disk.free()
    _faults_ini(tmp_path, write_ini, output, ledger=small_disk.path / "ledger.sqlite")
    assert get_image_stats.main([str(ini), *_window(6)]) == 0
    small_disk.fill()
    capsys.readouterr()
    assert get_image_stats.main([str(ini), *_window(), "--force"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "rollback" not in err.lower()
    line, = [line for line in err.splitlines() if "ledger" in line]
    assert line.endswith(f"ledger {small_disk.path}/ledger.sqlite: database or disk is full")


def test_damaged_existing_csv_is_recomputed_and_recorded(tmp_path, write_ini, capsys):
    output = tmp_path / "image_stats"
    ini = _image_ini(tmp_path, write_ini, output)
    assert get_image_stats.main([str(ini), *_window(6)]) == 0
    damaged, kept = sorted(output.iterdir())
    good = damaged.read_bytes()
    damaged.write_bytes(good[: len(good) // 2])  # truncated in the middle of the row
    stamp = kept.stat().st_mtime_ns
    assert get_image_stats.main([str(ini), *_window(6)]) == 0
    assert f"existing image statistics {damaged} are damaged: computing them again" in capsys.readouterr().err
    assert damaged.read_bytes() == good and kept.stat().st_mtime_ns == stamp
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert [record.outcome.value for record in ledger.attempts()] == ["done", "done"]


def test_start_date_not_before_end_date_is_a_usage_error(tmp_path, write_ini, capsys):
    ini = _image_ini(tmp_path, write_ini, tmp_path / "image_stats")
    assert get_image_stats.main([str(ini), "-s", "2026-03-21", "-e", "2026-03-20"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--start-date 2026-03-21T00:00:00 is not before --end-date 2026-03-20T00:00:00" in err


def test_with_a_log_file_stderr_carries_only_problems_and_one_summary_line(tmp_path, write_ini, capfd):
    ini = _image_ini(tmp_path, write_ini, tmp_path / "image_stats")
    log = tmp_path / "run.log"
    (tmp_path / "archive" / "0171").rename(tmp_path / "archive" / "gone")  # 171 missing: skipped, not a problem
    assert get_image_stats.main([str(ini), *_window(), "--log-file", str(log)]) == 0
    assert capfd.readouterr().err == ""
    text = log.read_text(encoding="utf-8")
    summary = [line for line in text.splitlines() if "summary" in line]
    assert len(summary) == 1 and "get_image_stats: summary: 2 done, 0 skipped, 0 failed in " in summary[0]
    # No data at all in the window while the archive answers: a warning, on stderr too.
    assert get_image_stats.main([str(ini), "-s", "2027-01-01", "-e", "2027-01-02", "--log-file", str(log)]) == 0
    err = capfd.readouterr().err
    assert len(err.splitlines()) == 1 and "WARNING" in err and "no data at all in the whole window" in err


@pytest.mark.filterwarnings("ignore:Invalid 'BLANK' keyword")
def test_warnings_of_images_read_at_once_are_logged_with_their_image(tmp_path, write_ini):
    """The images of a step are read on threads; astropy's warning about each (here a BLANK keyword in a float
    image) is logged at debug level with that image's path, as on one thread, and never shown on stderr."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    root = tmp_path / "archive"
    images = []
    for wavelength in (94, 131, 171, 193):
        when = observation_time(START, wavelength)
        images.append(write_aia_file(archive_path(root, when, wavelength), when, wavelength, size=128, seed=6,
                                     data_format="float32", header_overrides={"BLANK": -32768}))
    ini = write_ini(tmp_path / "configs" / "test.ini", {
        "SDO_DATA": {"aia_file_pattern": f"../archive/{ARCHIVE_PATTERN}", "ignore_quality_bits": ""},
        "IMAGE_STATS": {"output_directory": "../output/image_stats", "hdu": 0, "wavelengths": "94, 131, 171, 193"},
    }, script="get_image_stats")
    log = tmp_path / "run.log"
    completed = run_script(str(ini), "--start-date", START.isoformat(), "--end-date",
                           (START + timedelta(hours=6)).isoformat(), "--verbose", "DEBUG", "--log-file", str(log))
    assert completed.returncode == 0, completed.stderr
    assert "BLANK" not in completed.stderr
    lines = log.read_text().splitlines()
    for image in images:
        assert any(f"{image}: Invalid 'BLANK' keyword" in line and " DEBUG " in line for line in lines), image
    assert len(list((tmp_path / "output" / "image_stats").glob("*.csv"))) == 4


def test_sigterm_while_the_images_of_a_step_are_summarised(tmp_path, write_ini):
    """SIGTERM while the threads summarise a step's images: the run stops promptly with exit status 130, every CSV
    left is complete (none half-written, no scratch file), and a rerun writes the rest, the same CSVs as a run that
    was never interrupted."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    wavelengths = (94, 131, 171, 193, 211, 304)
    make_archive(tmp_path / "archive", START, START + timedelta(hours=12), timedelta(hours=6), wavelengths,
                 size=2048, seed=7)
    ini = write_ini(tmp_path / "configs" / "test.ini", {
        "SDO_DATA": {"aia_file_pattern": f"../archive/{ARCHIVE_PATTERN}", "ignore_quality_bits": ""},
        "IMAGE_STATS": {"output_directory": "../output/image_stats", "hdu": 0,
                        "wavelengths": ", ".join(map(str, wavelengths))},
    }, script="get_image_stats")
    output = tmp_path / "output" / "image_stats"
    dates = ("--start-date", START.isoformat(), "--end-date", (START + timedelta(hours=12)).isoformat())
    run = subprocess.Popen([sys.executable, str(REPO_ROOT / "get_image_stats.py"), str(ini), *dates],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (output.is_dir() and any(output.glob("*.csv"))) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert time.monotonic() - signalled < 10
    written = sorted(output.glob("*.csv"))
    assert 0 < len(written) < 2 * len(wavelengths), "the run was not interrupted in its middle"
    assert [path.name for path in output.iterdir() if path.suffix != ".csv"] == []
    for path in written:
        assert read_image_stats(path) is not None, path
    interrupted = {path.name: path.read_bytes() for path in written}
    again = run_script(str(ini), *dates)
    assert again.returncode == 0, again.stderr
    complete = {path.name: path.read_bytes() for path in output.glob("*.csv")}
    assert len(complete) == 2 * len(wavelengths)
    assert {name: complete[name] for name in interrupted} == interrupted
    shutil.rmtree(tmp_path / "output")
    assert run_script(str(ini), *dates).returncode == 0
    assert {path.name: path.read_bytes() for path in output.glob("*.csv")} == complete
