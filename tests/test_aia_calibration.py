"""Tests of scripts/aia_calibration.py and scripts/get_calibrated_aia.py, offline.

The level-1 files are synthetic (scripts/make_synthetic_aia.py); the pointing and degradation tables are
small files written here, with values chosen so that each step changes the result measurably:

* the pointing table puts the sun centre 4 pixels right of the header's and its plate scale 2 % larger, so
  that the registered disc must be off-centre by (-4 px) x scale and 4 % larger in area than without the
  pointing update;
* the degradation table's epoch has an effective-area ratio of 0.8 and a linear drift, so that the factor
  (computed here from the table's formula) is not 1;
* the exposure is the synthetic 193 channel's EXPTIME (about 2 s).

The network is unreachable in the offline tests (HTTP(S) proxies pointing at a closed port).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from scripts.aia_calibration import (
    CalibrationError,
    TableUnavailableError,
    calibrate_aia_fits_file,
    data_statistics,
    load_correction_table,
    load_pointing_table,
)
from scripts.make_synthetic_aia import write_aia_file

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "get_calibrated_aia.py"
STEP = datetime(2026, 3, 20, 0, 0)
OBSERVATION = "2026-03-20T00:00:09"
POINTING_SHIFT = 4.0  # pixels, along x
SCALE_RATIO = 1.02  # pointing-table IMSCALE / header CDELT1
EPOCH_START = "2025-01-01T00:00:00"
AREA_RATIO = 0.8
DRIFT_PER_DAY = 1e-4
#: No network: every HTTP(S) request goes to a closed local port and fails at once.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": ""}


def write_pointing_table(path: Path, header: fits.Header, wavelength: int = 193) -> Path:
    """A one-row pointing table (LMSAL CSV format) covering the observation, shifted and rescaled."""
    name = f"A_{wavelength:03d}"
    Table({"T_START": ["2026-03-19T21:00:00"], "T_STOP": ["2026-03-20T03:00:00"],
           f"{name}_X0": [header["CRPIX1"] - 1 + POINTING_SHIFT], f"{name}_Y0": [header["CRPIX2"] - 1],
           f"{name}_IMSCALE": [header["CDELT1"] * SCALE_RATIO], f"{name}_INSTROT": [header["CROTA2"]]},
          ).write(path, format="ascii.csv")
    return path


def write_correction_table(path: Path, wavelength: int = 193) -> Path:
    """A two-epoch degradation table (SSW response-table columns): launch, and an epoch from 2025."""
    Table({"DATE": ["2020-11-19T19:00:00"] * 2, "VER_NUM": [10, 10], "WAVE_STR": [f"{wavelength}_THIN"] * 2,
           "WAVELNTH": [float(wavelength)] * 2, "T_START": ["2010-03-24T00:00:00", EPOCH_START],
           "T_STOP": [EPOCH_START, "2030-01-01T00:00:00"], "EFFA_P1": [0.0, DRIFT_PER_DAY], "EFFA_P2": [0.0, 0.0],
           "EFFA_P3": [0.0, 0.0], "EFF_AREA": [2.0, 2.0 * AREA_RATIO], "EFF_WVLN": [float(wavelength)] * 2},
          ).write(path, format="ascii.csv")
    return path


def expected_degradation(date_obs: str) -> float:
    """The degradation factor of the table above at ``date_obs``: ratio x (1 + p1 dt), dt in days."""
    days = (datetime.fromisoformat(date_obs) - datetime.fromisoformat(EPOCH_START)).total_seconds() / 86400
    return AREA_RATIO * (1.0 + DRIFT_PER_DAY * days)


def disc_mask(data: np.ndarray, level: float) -> np.ndarray:
    """Pixels brighter than ``level``: the solar disc of a synthetic 193 image (the corona is much fainter)."""
    return np.nan_to_num(data, nan=0.0) > level


def circle(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, columns = np.indices(shape)
    return (columns - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2


def centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, columns = np.nonzero(mask)
    return float(columns.mean()), float(rows.mean())


def run_script(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, check=False,
                          env={**os.environ, **OFFLINE, **(env or {})}, cwd=REPO_ROOT, timeout=300)


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 4096x4096 synthetic 193 level-1 file in an archive, its tables, and the script's level-2 output."""
    folder = tmp_path_factory.mktemp("calibration")
    archive = folder / "archive"
    level1 = write_aia_file(archive / "AIA20260320_000009_0193.fits", OBSERVATION, 193, size=4096, seed=5,
                            header_overrides={"SAT_ROT": 0.0})
    header = fits.getheader(level1, 1)
    pointing = write_pointing_table(folder / "pointing.csv", header)
    correction = write_correction_table(folder / "response_table.txt")
    output = folder / "level2"
    pattern = str(archive / "AIA{date:%Y%m%d_%H}*_{wavelength:04d}.fits")
    result = run_script("--start-date", "2026-03-20T00:00", "--end-date", "2026-03-20T01:00", "--wavelength", "193",
                        "--output-dir", str(output), "--aia-file-pattern", pattern,
                        "--pointing-table", str(pointing), "--correction-table", str(correction))
    return {"level1": level1, "header": header, "output": output, "result": result, "pointing": pointing,
            "correction": correction}


def test_script_writes_level2_file_in_date_folders(full_disk):
    result = full_disk["result"]
    assert result.returncode == 0, result.stderr
    written = sorted(path.relative_to(full_disk["output"]) for path in full_disk["output"].rglob("*.fits"))
    assert written == [Path("0193/2026/03/20/AIA20260320_000009_0193.image_lev2.fits")]


@pytest.fixture(scope="module")
def level2(full_disk) -> tuple[np.ndarray, fits.Header]:
    path = full_disk["output"] / "0193/2026/03/20/AIA20260320_000009_0193.image_lev2.fits"
    with fits.open(path, disable_image_compression=True) as raw:  # the checksums are those of the stored table
        assert [hdu.verify_checksum() for hdu in raw] == [1, 1] and raw[1].verify_datasum() == 1
    with fits.open(path) as hdul:
        assert len(hdul) == 2 and isinstance(hdul[1], fits.CompImageHDU)
        assert hdul[1].compression_type == "RICE_1"
        return hdul[1].data.astype(np.float64), hdul[1].header.copy()


def test_level2_keywords(level2, full_disk):
    data, header = level2
    level1 = full_disk["header"]
    assert header["LVL_NUM"] == 2
    assert header["PIXLUNIT"] == "DN/s" and header["BUNIT"] == "DN/s"
    assert header["EXPTIME"] == 1.0
    assert "BLANK" not in header and "DATACENT" not in header
    history = [str(value) for value in header["HISTORY"]]
    assert any("aiapy" in line and "register" in line for line in history)
    assert all(len(line) <= 72 for line in history)
    assert header["T_OBS"] == level1["T_OBS"] and header["WAVELNTH"] == 193
    assert header["DEGRADAT"] == pytest.approx(expected_degradation(level1["DATE-OBS"]), rel=1e-6)


def test_level2_is_registered_north_up_at_0_6_arcsec_centred(level2):
    data, header = level2
    assert data.shape == (4096, 4096)
    assert header["CDELT1"] == pytest.approx(0.6) and header["CDELT2"] == pytest.approx(0.6)
    assert header["CRPIX1"] == pytest.approx(2048.5) and header["CRPIX2"] == pytest.approx(2048.5)
    assert header["CRVAL1"] == pytest.approx(0.0, abs=1e-6) and header["CRVAL2"] == pytest.approx(0.0, abs=1e-6)
    rotation = np.array([[header.get("PC1_1", 1.0), header.get("PC1_2", 0.0)],
                         [header.get("PC2_1", 0.0), header.get("PC2_2", 1.0)]])
    np.testing.assert_allclose(rotation, np.eye(2), atol=1e-9)
    assert header["R_SUN"] == pytest.approx(header["RSUN_OBS"] / 0.6)


def test_pointing_table_moves_and_scales_the_disc(level2, full_disk):
    """The disc lands where the pointing table (not the header) says, at the table's plate scale."""
    data, header = level2
    level1_header = full_disk["header"]
    level1 = fits.getdata(full_disk["level1"], 1).astype(np.float64) / level1_header["EXPTIME"]
    threshold = 0.25 * np.median(level1[level1 > np.percentile(level1, 30)])
    before = disc_mask(level1, threshold)
    after = disc_mask(data * header["DEGRADAT"], threshold)
    scale = SCALE_RATIO * level1_header["CDELT1"] / 0.6  # level-2 pixels per level-1 pixel
    table_centre = (level1_header["CRPIX1"] - 1 + POINTING_SHIFT, level1_header["CRPIX2"] - 1)
    x1, y1 = centroid(before)
    expected = (2047.5 + (x1 - table_centre[0]) * scale, 2047.5 + (y1 - table_centre[1]) * scale)
    x2, y2 = centroid(after)
    assert x2 == pytest.approx(expected[0], abs=0.5) and y2 == pytest.approx(expected[1], abs=0.5)
    without_update = 2047.5 + (x1 - (level1_header["CRPIX1"] - 1)) * level1_header["CDELT1"] / 0.6
    assert abs(x2 - without_update) > 3.0  # where the header's pointing would have put it
    assert after.sum() / before.sum() == pytest.approx(scale**2, rel=0.005)


def test_exposure_and_degradation_divide_the_intensities(level2, full_disk):
    data, header = level2
    level1_header = full_disk["header"]
    level1 = fits.getdata(full_disk["level1"], 1).astype(np.float64)
    factor = expected_degradation(level1_header["DATE-OBS"])
    # The same central part of the disc (0.8 R) in both images: where the true sun centre lands after the
    # registration, and the radius times the scale. Its median is kept by the (smooth) resampling.
    scale = SCALE_RATIO * level1_header["CDELT1"] / 0.6
    radius = 0.8 * level1_header["RSUN_OBS"] / level1_header["CDELT1"]
    before = circle(level1.shape, (level1_header["CRPIX1"] - 1, level1_header["CRPIX2"] - 1), radius)
    after = circle(data.shape, (2047.5 - POINTING_SHIFT * scale, 2047.5), radius * scale)
    expected = np.median(level1[before]) / level1_header["EXPTIME"] / factor
    assert np.nanmedian(data[after]) == pytest.approx(expected, rel=0.01)
    assert np.nanmedian(data[after]) * factor == pytest.approx(np.median(level1[before]) / level1_header["EXPTIME"],
                                                               rel=0.01)


def test_data_statistics_keywords_describe_the_calibrated_data(level2):
    data, header = level2
    finite = data[np.isfinite(data)]
    assert header["TOTVALS"] == data.size
    assert header["DATAVALS"] == finite.size and header["MISSVALS"] == data.size - finite.size
    assert header["PERCENTD"] == pytest.approx(100.0 * finite.size / data.size, abs=1e-3)
    spread = float(finite.std())
    assert header["DATAMEAN"] == pytest.approx(finite.mean(), abs=0.01 * spread)
    assert header["DATAMEDN"] == pytest.approx(np.median(finite), abs=0.01 * spread)
    assert header["DATARMS"] == pytest.approx(spread, rel=0.01)
    assert header["DATAP99"] == pytest.approx(np.percentile(finite, 99), abs=0.01 * spread)
    assert header["DATAMIN"] <= header["DATAP01"] <= header["DATAMEDN"] <= header["DATAP99"] <= header["DATAMAX"]


def test_second_run_keeps_the_file_and_overwrite_replaces_it(full_disk):
    path = full_disk["output"] / "0193/2026/03/20/AIA20260320_000009_0193.image_lev2.fits"
    before = path.stat().st_mtime_ns
    arguments = ("--start-date", "2026-03-20T00:00", "--end-date", "2026-03-20T01:00", "-w", "193",
                 "--output-dir", str(full_disk["output"]), "-A",
                 str(Path(full_disk["level1"]).parent / "AIA{date:%Y%m%d_%H}*_{wavelength:04d}.fits"),
                 "--pointing-table", str(full_disk["pointing"]), "--correction-table", str(full_disk["correction"]))
    kept = run_script(*arguments)
    assert kept.returncode == 0 and path.stat().st_mtime_ns == before


def test_offline_without_tables_says_which_is_missing_and_writes_nothing(tmp_path, aia_factory):
    level1 = aia_factory(193, OBSERVATION, name="archive/AIA20260320_000009_0193.fits")
    pattern = str(level1.parent / "AIA{date:%Y%m%d_%H}*_{wavelength:04d}.fits")
    output = tmp_path / "level2"
    common = ("-s", "2026-03-20", "-e", "2026-03-20T01:00", "-w", "193", "-o", str(output), "-A", pattern)
    result = run_script(*common)  # the defaults: JSOC pointing, SSW correction table
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pointing table missing" in lines[0] and "--pointing-table FILE" in lines[0]
    assert "Traceback" not in result.stderr
    pointing = write_pointing_table(tmp_path / "pointing.csv", fits.getheader(level1, 1))
    result = run_script(*common, "--pointing-table", str(pointing))
    assert result.returncode == 1
    assert "degradation correction table missing" in result.stderr and "--correction-table FILE" in result.stderr
    assert not output.exists() or not any(output.rglob("*"))


def test_missing_local_table_file_is_named(tmp_path):
    with pytest.raises(TableUnavailableError, match="pointing.csv not found"):
        load_pointing_table(tmp_path / "pointing.csv")
    with pytest.raises(TableUnavailableError, match="table.txt not found"):
        load_correction_table(tmp_path / "table.txt")
    (tmp_path / "bad.txt").write_text("not,a,response\n1,2,3\n")
    with pytest.raises(TableUnavailableError, match="bad.txt cannot be read"):
        load_correction_table(tmp_path / "bad.txt")


def test_small_image_is_registered_to_a_multiple_of_0_6_arcsec(tmp_path, aia_factory):
    """A binned image (256x256 here) keeps its pointing (aiapy's table is for 4096x4096) and its binning."""
    level1 = aia_factory(193, OBSERVATION)
    correction = load_correction_table(write_correction_table(tmp_path / "table.txt"))
    target = calibrate_aia_fits_file(level1, tmp_path / "out" / "x.image_lev2.fits", pointing_table=None,
                                     correction_table=correction)
    header = fits.getheader(target, 1)
    assert header["CDELT1"] == pytest.approx(0.6 * round(fits.getheader(level1, 1)["CDELT1"] / 0.6))
    assert header["CRPIX1"] == pytest.approx(128.5) and header["LVL_NUM"] == 2


def test_bad_exposure_names_the_file_and_leaves_nothing(tmp_path, aia_factory):
    level1 = aia_factory(193, OBSERVATION, header_overrides={"EXPTIME": 0.0})
    correction = load_correction_table(write_correction_table(tmp_path / "table.txt"))
    target = tmp_path / "out" / "x.image_lev2.fits"
    with pytest.raises(CalibrationError, match=rf"{level1.name}: EXPTIME = 0.0"):
        calibrate_aia_fits_file(level1, target, pointing_table=None, correction_table=correction)
    assert not target.exists() and not (tmp_path / "out").exists()


def test_not_a_fits_file_is_one_error(tmp_path):
    bad = tmp_path / "AIA20260320_000009_0193.fits"
    bad.write_bytes(b"SIMPLE  = garbage")
    correction = load_correction_table(write_correction_table(tmp_path / "table.txt"))
    with pytest.raises(CalibrationError, match="cannot read as an AIA image"):
        calibrate_aia_fits_file(bad, tmp_path / "x.fits", pointing_table=None, correction_table=correction)


def test_data_statistics_of_known_values():
    values = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]])
    statistics = data_statistics(values)
    assert statistics["TOTVALS"] == 6 and statistics["DATAVALS"] == 5 and statistics["MISSVALS"] == 1
    assert statistics["DATAMEAN"] == 3.0 and statistics["DATAMEDN"] == 3.0
    assert statistics["DATAMIN"] == 1.0 and statistics["DATAMAX"] == 5.0
    assert statistics["DATARMS"] == pytest.approx(np.sqrt(2.0))
    assert statistics["DATASKEW"] == pytest.approx(0.0) and statistics["DATAKURT"] == pytest.approx(-1.3)
    assert data_statistics(np.full((2, 2), np.nan)) == {"TOTVALS": 4, "DATAVALS": 0, "MISSVALS": 4, "PERCENTD": 0.0}


def test_sunpy_opens_the_level2_file_as_an_aia_map(full_disk):
    import astropy.units as u
    import sunpy.map
    from sunpy.map.sources import AIAMap

    smap = sunpy.map.Map(str(full_disk["output"] / "0193/2026/03/20/AIA20260320_000009_0193.image_lev2.fits"))
    assert isinstance(smap, AIAMap)
    assert smap.processing_level == 2
    assert smap.unit == u.DN / u.s
    assert smap.exposure_time.to_value(u.s) == 1.0
    np.testing.assert_allclose(smap.rotation_matrix, np.eye(2), atol=1e-9)
