"""Tests of sdo_data.py on generated local archives: quality selection, HDU choice, bad files, cache, CLI."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from astropy.io import fits

from scripts.make_synthetic_aia import ARCHIVE_PATTERN, QUICKLOOK_QUALITY, archive_path, write_aia_file
from sdo_data import SdoData, SdoDataError, get_quality_errors
from spoca4staff.aia_file import AiaFileError

STEP = datetime(2026, 3, 20, 12, 0)


def _write(root: Path, second: int, quality: int, wavelength: int = 193, **options) -> Path:
    """One small file of the quicklook archive under ``root``, observed ``second`` seconds after STEP."""
    observation = STEP.replace(second=second)
    return write_aia_file(archive_path(root, observation, wavelength), observation, wavelength, size=64,
                          quality=quality, **options)


def _sdo(root: Path, **options) -> SdoData:
    return SdoData(str(root / ARCHIVE_PATTERN), **options)


def test_first_good_file_in_sorted_order(tmp_path, caplog):
    bad = _write(tmp_path, 3, 1 << 0)
    good = _write(tmp_path, 15, 0)
    later = _write(tmp_path, 40, 0)
    _write(tmp_path, 9, 0, wavelength=171)
    with caplog.at_level(logging.INFO, logger="sdo_data"):
        assert _sdo(tmp_path, ignore_quality_bits=[30], hdu=0).get_AIA_file(STEP, 193) == good
    assert later != good
    rejection = next(record for record in caplog.records if bad.name in record.getMessage())
    assert "QUALITY = 0x00000001" in rejection.getMessage() and "bit 0: FLAT_REC missing" in rejection.getMessage()


def test_all_bad_gives_none_and_says_why(tmp_path, caplog):
    first = _write(tmp_path, 3, 1 << 31)
    second = _write(tmp_path, 15, QUICKLOOK_QUALITY | (1 << 16))
    sdo = _sdo(tmp_path, ignore_quality_bits=[30])
    with caplog.at_level(logging.INFO, logger="sdo_data"):
        assert sdo.get_AIA_file(STEP, 193) is None
    selection = sdo.get_AIA_selection(STEP, 193)
    assert [candidate for candidate, _ in selection.rejected] == [str(first), str(second)]
    assert "bit 31: image not available" in selection.rejected[0][1]
    assert "bit 16: dark image" in selection.rejected[1][1] and "bit 30" not in selection.rejected[1][1]
    assert "no good-quality AIA 193 at 2026-03-20T12:00:00" in caplog.text


def test_no_file_at_all(tmp_path, caplog):
    sdo = _sdo(tmp_path)
    with caplog.at_level(logging.INFO, logger="sdo_data"):
        assert sdo.get_AIA_file(STEP, 193) is None
    assert sdo.get_AIA_selection(STEP, 193).reason.startswith("no file matches " + str(tmp_path))


@pytest.mark.parametrize("damage", ["truncated", "not_fits", "empty", "no_quality"])
def test_unreadable_file_is_skipped_with_a_warning(tmp_path, caplog, damage):
    corrupt = _write(tmp_path, 3, 0, drop_keywords=("QUALITY",) if damage == "no_quality" else ())
    content = corrupt.read_bytes()
    if damage == "truncated":
        corrupt.write_bytes(content[: len(content) - 5000])
    elif damage == "not_fits":
        corrupt.write_text("<html>Service unavailable</html>")
    elif damage == "empty":
        corrupt.write_bytes(b"")
    good = _write(tmp_path, 15, 0)
    with caplog.at_level(logging.WARNING, logger="sdo_data"):
        assert _sdo(tmp_path, hdu=0).get_AIA_file(STEP, 193) == good
    warning = next(record for record in caplog.records if record.levelno == logging.WARNING)
    expected = {"truncated": "truncated", "not_fits": "not a FITS header", "empty": "not a FITS header",
                "no_quality": "no QUALITY keyword"}[damage]
    assert corrupt.name in warning.getMessage() and expected in warning.getMessage()


@pytest.mark.parametrize("data_format", ["rice_int16", "int32_bscale", "float64"])
@pytest.mark.parametrize("hdu", [None, 0, 1])
def test_quality_read_from_compressed_and_uncompressed_files(tmp_path, data_format, hdu):
    path = write_aia_file(tmp_path / "image.fits", STEP, 171, size=32, quality=0x40000101, data_format=data_format)
    holder = 1 if data_format == "rice_int16" else 0
    with fits.open(path, disable_image_compression=True) as hdus:
        assert hdus[holder].header["QUALITY"] == 0x40000101  # independent reading, where it really is
        assert "QUALITY" not in hdus[1 - holder].header if len(hdus) > 1 else True
    assert SdoData("unused", hdu=hdu).get_quality(path) == 0x40000101


def test_configured_hdu_wins_when_it_has_the_keyword(two_quality_hdus):
    path = two_quality_hdus
    assert SdoData("unused", hdu=1).get_quality(path) == 8
    assert SdoData("unused", hdu=0).get_quality(path) == 4
    assert SdoData("unused").get_quality(path) == 4
    assert SdoData("unused", hdu=5).get_quality(path) == 4
    with pytest.raises(AiaFileError, match="no MISSING keyword"):
        SdoData("unused", quality_keyword="MISSING").get_quality(path)


def test_ignored_bits(tmp_path):
    quicklook = _write(tmp_path, 3, QUICKLOOK_QUALITY)
    assert _sdo(tmp_path).get_AIA_file(STEP, 193) is None
    assert _sdo(tmp_path, ignore_quality_bits=[30]).get_AIA_file(STEP, 193) == quicklook
    quicklook.unlink()
    _write(tmp_path, 3, QUICKLOOK_QUALITY | (1 << 8))
    assert _sdo(tmp_path, ignore_quality_bits=[30]).get_AIA_file(STEP, 193) is None
    assert _sdo(tmp_path, ignore_quality_bits=[8, 30]).get_AIA_file(STEP, 193) is not None
    with pytest.raises(ValueError, match="32 is not a QUALITY bit"):
        SdoData("unused", ignore_quality_bits=[32])


def test_quality_errors_table():
    assert get_quality_errors(0) == set()
    assert get_quality_errors(0x40000001) == {"bit 0: FLAT_REC missing (flat-field record)", "bit 30: quicklook image"}
    messages = get_quality_errors((1 << 17) | (1 << 18) | (1 << 20) | (1 << 21) | (1 << 31) | (1 << 5))
    assert messages == {"bit 17: ISS loop open (image stabilisation off)", "bit 18: calibration image (FID)",
                        "bit 20: focus out of the normal range", "bit 21: register flag (AIAGP6 not 0)",
                        "bit 31: image not available", "bit 5: unknown quality bit"}
    assert len(get_quality_errors(0x0000FF1F)) == 13  # bits 0-4 and 8-15
    expected = {"bit 12: ACS_MODE is not SCIENCE (spacecraft not in science pointing)"}
    assert SdoData.get_quality_errors(1 << 12) == expected


def test_results_are_cached_per_date_and_wavelength(tmp_path):
    first = _write(tmp_path, 3, 0)
    sdo = _sdo(tmp_path)
    assert sdo.get_AIA_file(STEP, 193) == first
    first.unlink()
    second = _write(tmp_path, 5, 0)
    assert sdo.get_AIA_file(STEP, 193) == first  # cached: not looked up again
    assert _sdo(tmp_path).get_AIA_file(STEP, 193) == second  # a new run looks again
    assert sdo.get_AIA_file(STEP, 171) is None


def test_hmi_pattern(tmp_path):
    path = write_aia_file(tmp_path / "hmi.M_45s.20260320_120000_TAI.magnetogram.fits", STEP, 171, size=32)
    sdo = SdoData("unused", hmi_file_pattern=str(tmp_path / "hmi.M_45s.{date:%Y%m%d_%H%M}??_TAI.magnetogram.fits"))
    assert sdo.get_HMI_file(STEP) == path
    with pytest.raises(SdoDataError, match="no hmi_file_pattern"):
        SdoData("unused").get_HMI_file(STEP)


def test_real_sample_is_a_good_quicklook_file(shared_data):
    sample = shared_data / "AIA20110319_105400_0171.fits"
    pattern = str(shared_data / "AIA{date:%Y%m%d_%H%M}??_{wavelength:04d}.fits")
    assert SdoData(pattern, hdu=0).get_quality(sample) == QUICKLOOK_QUALITY
    assert SdoData(pattern, hdu=0, ignore_quality_bits=[30]).get_AIA_file(datetime(2011, 3, 19, 10, 54), 171) == sample
    assert SdoData(pattern, hdu=0).get_AIA_file(datetime(2011, 3, 19, 10, 54), 171) is None


def _cli(repo_root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(repo_root / "sdo_data.py"), *arguments], capture_output=True,
                          text=True, check=False, cwd=repo_root, timeout=120)


def test_cli_prints_the_chosen_file(tmp_path, repo_root):
    _write(tmp_path, 3, QUICKLOOK_QUALITY | 1)
    good = _write(tmp_path, 15, QUICKLOOK_QUALITY)
    result = _cli(repo_root, "2026-03-20T12:00", "193", "--aia-file-pattern", str(tmp_path / ARCHIVE_PATTERN),
                  "--ignore-quality-bits", "30", "--hdu", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(good)


def test_cli_says_why_nothing_was_found(tmp_path, repo_root):
    bad = _write(tmp_path, 3, QUICKLOOK_QUALITY | (1 << 9) | (1 << 8))
    result = _cli(repo_root, "2026-03-20T12:00:00Z", "193", "--aia-file-pattern", str(tmp_path / ARCHIVE_PATTERN))
    assert result.returncode == 1
    assert result.stdout == "No file found!\n"  # the original's output
    assert "No good-quality file for AIA 193 at 2026-03-20T12:00:00" in result.stderr
    line = next(line for line in result.stderr.splitlines() if bad.name in line)
    assert "bit 8: MISSVALS > 0" in line and "bit 9: MISSVALS > 1%" in line and "bit 30: quicklook image" in line
    empty = _cli(repo_root, "2026-03-21T00:00", "193", "--aia-file-pattern", str(tmp_path / ARCHIVE_PATTERN))
    assert empty.returncode == 1 and empty.stdout == "No file found!\n" and "No file matches" in empty.stderr


def test_cli_original_short_options(tmp_path, repo_root):
    """The original's ``sdo_data.py DATE WAVELENGTH -A PATTERN -I BIT ... -H N -K KEYWORD``."""
    pattern = str(tmp_path / ARCHIVE_PATTERN)
    no_limb_fit = _write(tmp_path, 3, QUICKLOOK_QUALITY | (1 << 4))
    good = _write(tmp_path, 15, QUICKLOOK_QUALITY)
    result = _cli(repo_root, "2026-03-20T12:00:00", "193", "-A", pattern, "-I", "30", "-H", "0", "-K", "QUALITY")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{good}\n"
    result = _cli(repo_root, "2026-03-20T12:00:00", "193", "-A", pattern, "-I", "4", "30", "-H", "1")
    assert result.stdout == f"{no_limb_fit}\n"


def test_cli_bad_arguments(repo_root, tmp_path):
    result = _cli(repo_root, "yesterday", "193")
    assert result.returncode == 2 and "not an ISO 8601 date" in result.stderr
    result = _cli(repo_root, "2026-03-20T12:00", "193", "--aia-file-pattern", str(tmp_path / "{nothing}.fits"))
    assert result.returncode == 2 and "cannot format the pattern" in result.stderr


# -- outages and undecompressable candidates (issue 12) -------------------------------------------------------


def test_missing_archive_root_is_an_outage_a_missing_day_is_no_data(tmp_path):
    _write(tmp_path / "archive", 15, 0)
    # The day folder 2026/03/21 is missing inside an existing archive: no data.
    selection = _sdo(tmp_path / "archive").get_AIA_selection(STEP.replace(day=21), 193)
    assert selection.outage is None and selection.reason.startswith("no file matches")
    # The archive root itself is missing (an unmounted share, a typo): an outage.
    selection = _sdo(tmp_path / "unmounted").get_AIA_selection(STEP, 193)
    assert selection.chosen is None
    assert selection.outage == (f"archive unavailable: the archive root {tmp_path / 'unmounted'} cannot be listed "
                                "(No such file or directory): unmounted share, wrong aia_file_pattern or no "
                                "permission?")
    assert selection.reason == selection.outage


@pytest.mark.parametrize(("depth", "error"), [(0, errno.EACCES), (5, errno.EIO)])
def test_a_folder_that_cannot_be_listed_is_an_outage(tmp_path, monkeypatch, depth, error):
    """No permission on the root; an I/O error on the hour folder, which exists (root bypasses permissions and
    glob hides listing errors: injected at os.listdir)."""
    _write(tmp_path, 15, 0)
    broken = tmp_path.joinpath(*["0193", "2026", "03", "20", "H1200"][:depth])
    listdir = os.listdir

    def failing_listdir(path="."):
        if os.path.abspath(path) == str(broken):
            raise OSError(error, os.strerror(error), str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", failing_listdir)
    selection = _sdo(tmp_path).get_AIA_selection(STEP, 193)
    assert selection.chosen is None and selection.outage is not None
    assert str(broken) in selection.outage and os.strerror(error) in selection.outage


def _without_checksums(path: Path) -> Path:
    """``path`` rewritten as stored (tiles untouched) without CHECKSUM and DATASUM, as some non-JSOC files."""
    with fits.open(path, disable_image_compression=True) as hdus:
        for hdu in hdus:
            for keyword in ("CHECKSUM", "DATASUM"):
                hdu.header.remove(keyword, ignore_missing=True)
        hdus.writeto(path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return path


@pytest.mark.parametrize(("checksums", "reason"), [
    (True, "unreadable: damaged image data (HDU 1 does not match its DATASUM)"),
    (False, "unreadable: unreadable image data (decompression error"),
])
def test_first_candidate_whose_data_are_damaged_is_rejected(tmp_path, caplog, corrupt_tiles, checksums, reason):
    """A corrupt tile fails the file's checksums (verified without decompressing); a file without them is
    decompressed to be judged."""
    written = _write(tmp_path, 3, 0)
    with fits.open(written, disable_image_compression=True) as hdus:
        assert "DATASUM" in hdus[1].header  # the synthetic files carry them, as JSOC's
    damaged = corrupt_tiles(written if checksums else _without_checksums(written))
    good = _write(tmp_path, 15, 0)
    sdo = _sdo(tmp_path, hdu=0)
    with caplog.at_level(logging.WARNING, logger="sdo_data"):
        assert sdo.get_AIA_file(STEP, 193) == good
    (candidate, why), = sdo.get_AIA_selection(STEP, 193).rejected
    assert candidate == str(damaged) and why.startswith(reason)
    assert f"skipping {damaged}: unreadable" in caplog.text
