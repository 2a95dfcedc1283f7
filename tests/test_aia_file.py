"""Tests of spoca4staff/aia_file.py: the one record of an AIA file and the one rule per fact of its header."""

from __future__ import annotations

import os
import pickle
from datetime import datetime
from pathlib import Path

import pytest
from astropy.io import fits

from scripts.make_synthetic_aia import write_aia_file
from spoca4staff.aia_file import (
    AiaFile,
    AiaFileError,
    FitsStructureError,
    observation_datetime,
    observation_time,
    read_aia_file,
    read_headers,
)

STEP = datetime(2026, 3, 20, 12, 0)


@pytest.mark.parametrize("data_format", ["rice_int16", "int16", "int32_bscale", "float64"])
def test_facts_of_a_synthetic_file(tmp_path: Path, data_format: str) -> None:
    path = write_aia_file(tmp_path / "image.fits", STEP, 171, size=64, quality=0x40000000, data_format=data_format,
                          header_overrides={"EXPTIME": 2.5, "CRPIX1": 33.25, "CRPIX2": 31.5, "CDELT1": 2.4,
                                            "RSUN_OBS": 960.0, "CROTA2": 0.125})
    record = read_aia_file(path, hdu=0)
    assert record.hdu == (1 if data_format == "rice_int16" else 0)
    assert record.quality == 0x40000000
    assert record.wavelength == 171
    assert record.exposure == 2.5
    assert record.sun_centre == (32.25, 30.5)
    assert record.radius == 400.0
    assert record.roll == 0.125
    assert record.shape == (64, 64)
    assert record.observation_time == fits.getheader(path, record.hdu)["T_OBS"]
    assert os.fspath(record) == str(path) and record.name == "image.fits"
    assert pickle.loads(pickle.dumps(record)).radius == 400.0  # for the workers of a Dask cluster


def test_radius_falls_back_on_r_sun_as_the_spoca_programs(tmp_path: Path) -> None:
    path = write_aia_file(tmp_path / "image.fits", STEP, 193, size=32, drop_keywords=("RSUN_OBS",),
                          header_overrides={"R_SUN": 12.5})
    assert read_aia_file(path).radius == 12.5
    bare = AiaFile(path, 1, fits.Header({"CDELT1": 0.6}), 0)
    with pytest.raises(AiaFileError, match="^keyword RSUN_OBS missing"):
        _ = bare.radius


@pytest.mark.parametrize(("keyword", "value", "message"), [
    ("EXPTIME", 0.0, "^EXPTIME is 0.0, not a positive exposure time$"),
    ("CDELT1", 0.0, "^CDELT1 is 0$"),
    ("WAVELNTH", "blue", "^keyword WAVELNTH is not a number: 'blue'$"),
])
def test_bad_keyword_is_one_clear_error(keyword: str, value: object, message: str) -> None:
    record = AiaFile(Path("x.fits"), 0, fits.Header({keyword: value}), 0)
    fact = {"EXPTIME": "exposure", "CDELT1": "pixel_scale", "WAVELNTH": "wavelength"}[keyword]
    with pytest.raises(AiaFileError, match=message):
        getattr(record, fact)


@pytest.mark.parametrize(("damage", "message"), [
    ("last_block_gone", "^truncated: "),
    ("header_cut", r"^HDU 1: header cut short at byte 3880$"),
    ("garbage_after", r"^HDU 2: not a FITS header \(it does not start with 'XTENSION=', damaged or cut "),
    ("not_fits", r"^not a FITS header \(it does not start with 'SIMPLE  ='\)$"),
    ("empty", "^not a FITS header"),
])
def test_damaged_files_are_structure_errors(tmp_path: Path, damage: str, message: str) -> None:
    path = write_aia_file(tmp_path / "image.fits", STEP, 193, size=64)
    content = path.read_bytes()
    damaged = {"last_block_gone": content[:-2880], "header_cut": content[:2880 + 1000],
               "garbage_after": content + b"<html>Service unavailable</html>".ljust(2880),
               "not_fits": b"<html>Service unavailable</html>", "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(FitsStructureError, match=message):
        read_headers(path)


def test_quality_of_the_configured_hdu_then_the_first_that_has_it(two_quality_hdus: Path) -> None:
    path = two_quality_hdus
    assert read_aia_file(path, hdu=1).quality == 8
    assert read_aia_file(path, hdu=0).quality == 4
    assert read_aia_file(path).quality == 4 and read_aia_file(path).hdu == 1  # the image is in HDU 1
    with pytest.raises(AiaFileError, match="^no MISSING keyword in any HDU$"):
        read_aia_file(path, quality_keyword="MISSING")


@pytest.mark.parametrize(("cards", "raw", "instant"), [
    ({"T_OBS": "2012-07-01T00:00:01.34Z", "DATE-OBS": "2012-07-01T00:00:00.34", "DATE_OBS": "2012-07-01"},
     "2012-07-01T00:00:01.34Z", datetime(2012, 7, 1, 0, 0, 1, 340000)),
    ({"DATE-OBS": "2012-07-01T00:00:00.34", "DATE_OBS": "2012-07-02"}, "2012-07-01T00:00:00.34",
     datetime(2012, 7, 1, 0, 0, 0, 340000)),
    ({"T_OBS": " ", "DATE_OBS": "2012-07-01T02:00:00+02:00"}, "2012-07-01T02:00:00+02:00", datetime(2012, 7, 1)),
    ({"T_OBS": "2016-12-31T23:59:60.34Z"}, "2016-12-31T23:59:60.34Z", datetime(2017, 1, 1, 0, 0, 0, 340000)),
])
def test_observation_time_is_t_obs_then_date_obs(cards, raw, instant):
    header = fits.Header(cards)
    assert observation_time(header) == raw
    assert observation_datetime(header) == instant and observation_datetime(header).tzinfo is None


def test_observation_time_of_the_real_sample(shared_data):
    header = fits.getheader(shared_data / "AIA20110319_105400_0171.fits")
    assert observation_time(header) == "2011-03-19T10:54:01.34Z"
    assert observation_datetime(header) == datetime(2011, 3, 19, 10, 54, 1, 340000)


def test_no_observation_time_is_one_clear_error():
    with pytest.raises(AiaFileError, match="^no T_OBS, DATE-OBS or DATE_OBS keyword$"):
        observation_time(fits.Header({"DATE": "2012-07-01T00:14:00"}))
    with pytest.raises(AiaFileError, match="'yesterday' is not an ISO 8601 date"):
        observation_datetime(fits.Header({"T_OBS": "yesterday"}))


def test_a_compressed_header_without_its_image_keywords_is_a_structure_error(tmp_path: Path) -> None:
    path = write_aia_file(tmp_path / "image.fits", STEP, 193, size=64)
    content = bytearray(path.read_bytes())
    at = content.index(b"ZNAXIS  =", 2880)
    content[at:at + 80] = b"ZNAXIX  =                    2".ljust(80)  # the image's NAXIS renamed away
    path.write_bytes(bytes(content))
    with pytest.raises(FitsStructureError, match=r"^damaged compressed image header \(no 'ZNAXIS'\)$"):
        read_aia_file(path)
