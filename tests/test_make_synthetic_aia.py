"""Tests of scripts/make_synthetic_aia.py: file structure, header, determinism, regions, geometry, archive."""

from __future__ import annotations

import math
import stat
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from scripts import make_synthetic_aia as synthetic

OBSERVATION = datetime(2026, 3, 20, 6, 0, 9)


def _image(path: Path) -> tuple[np.ndarray, fits.Header]:
    """The image data (float, BLANK as NaN) and header of the first HDU holding an image."""
    with fits.open(path) as hdus:
        hdu = next(hdu for hdu in hdus if hdu.data is not None)
        return np.asarray(hdu.data, dtype=np.float64), hdu.header.copy()


def _mask(path: Path) -> np.ndarray:
    return fits.getdata(path).astype(bool)


def test_rice_file_structure_like_jsoc(aia_factory):
    path = aia_factory(193, OBSERVATION, size=256, invalid_blocks=[(10, 20, 30, 50)])
    with fits.open(path, disable_image_compression=True) as raw:
        assert len(raw) == 2
        assert raw[0].header["NAXIS"] == 0 and raw[0].data is None
        table = raw[1].header
        assert table["XTENSION"] == "BINTABLE" and table["ZIMAGE"] is True
        assert table["ZCMPTYPE"] == "RICE_1"
        assert table["ZBITPIX"] == 16
        assert (table["ZNAXIS1"], table["ZNAXIS2"]) == (256, 256)
        assert (table["ZTILE1"], table["ZTILE2"]) == (256, 1)  # one tile per row, as JSOC
    with fits.open(path) as hdus:
        header = hdus[1].header
        assert header["BITPIX"] == 16
        assert header["BLANK"] == -32768
        data = hdus[1].data  # astropy turns BLANK into NaN
        assert np.isnan(data[10:20, 30:50]).all()
        assert np.isnan(data).sum() == 10 * 20 == header["MISSVALS"]
        assert header["DATAVALS"] == 256 * 256 - 200


@pytest.mark.parametrize(("wavelength", "instrument", "exptime"),
                         [(171, "AIA_3", 2.0), (193, "AIA_2", 2.0), (94, "AIA_4", 2.9), (211, "AIA_2", 2.9),
                          (335, "AIA_1", 2.9), (1600, "AIA_3", 1.0), (1700, "AIA_3", 1.0)])
def test_header_is_a_plausible_aia_header(aia_factory, wavelength, instrument, exptime):
    _, header = _image(aia_factory(wavelength, OBSERVATION, size=256))
    for keyword in ("T_OBS", "DATE-OBS", "WAVEUNIT", "QUALITY", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2", "CRVAL1",
                    "CRVAL2", "R_SUN", "RSUN_REF", "HGLN_OBS", "HGLT_OBS", "CRLN_OBS", "CRLT_OBS", "TELESCOP",
                    "LVL_NUM", "IMG_TYPE", "DATAMEDN"):
        assert keyword in header, keyword
    assert header["WAVELNTH"] == wavelength
    assert header["INSTRUME"] == instrument
    assert header["TELESCOP"] == "SDO/AIA"
    assert header["EXPTIME"] == pytest.approx(exptime, abs=0.01)
    assert header["QUALITY"] == 0
    assert datetime.fromisoformat(header["DATE-OBS"]) == OBSERVATION
    t_obs = datetime.fromisoformat(header["T_OBS"].rstrip("Z"))
    assert t_obs - OBSERVATION == pytest.approx(timedelta(seconds=exptime / 2), abs=timedelta(seconds=0.02))
    assert (header["CTYPE1"], header["CTYPE2"], header["CUNIT1"]) == ("HPLN-TAN", "HPLT-TAN", "arcsec")
    # 0.6 arcsec/pixel at 4096, so 2.4 at 1024 and 9.6 at 256
    assert header["CDELT1"] == header["CDELT2"] == pytest.approx(9.6, rel=0.002)
    # the Sun's angular radius from the distance in the header, computed here independently
    assert header["DSUN_OBS"] == pytest.approx(1.496e11, rel=0.02)
    assert header["RSUN_OBS"] == pytest.approx(
        math.degrees(math.asin(header["RSUN_REF"] / header["DSUN_OBS"])) * 3600, rel=1e-6)
    assert header["R_SUN"] == pytest.approx(header["RSUN_OBS"] / header["CDELT1"])
    assert abs(header["HGLT_OBS"]) <= 7.3 and header["HGLT_OBS"] == header["CRLT_OBS"]
    assert 0 < abs(header["CROTA2"]) < 1
    assert 0 <= header["DATAMIN"] <= header["DATAMEDN"] <= header["DATAMAX"] <= 16383


def test_march_b0_and_distance_are_seasonal(aia_factory):
    """In early March B0 is near its most negative (-7.2 deg); in early September near +7.2 deg."""
    _, march = _image(aia_factory(171, datetime(2026, 3, 6), size=64))
    _, september = _image(aia_factory(171, datetime(2026, 9, 8), size=64))
    assert march["HGLT_OBS"] == pytest.approx(-7.2, abs=0.3)
    assert september["HGLT_OBS"] == pytest.approx(7.2, abs=0.3)
    _, january = _image(aia_factory(171, datetime(2026, 1, 3), size=64))
    _, july = _image(aia_factory(171, datetime(2026, 7, 4), size=64))
    assert january["DSUN_OBS"] == pytest.approx(0.9833 * 1.495978707e11, rel=5e-4)  # perihelion
    assert july["DSUN_OBS"] == pytest.approx(1.0167 * 1.495978707e11, rel=5e-4)  # aphelion


def _stored_content(path: Path) -> list[tuple[list[tuple[str, object, str]], bytes]]:
    """Every HDU's cards and stored bytes, but for the time astropy writes in the checksum cards' comments (and so
    the CHECKSUM value, which covers it): two files written a second apart differ only there."""
    content = []
    with fits.open(path, disable_image_compression=True) as hdus:
        for hdu in hdus:
            cards = [(card.keyword, card.value, "" if card.keyword in ("CHECKSUM", "DATASUM") else card.comment)
                     for card in hdu.header.cards if card.keyword != "CHECKSUM"]
            content.append((cards, hdu.data.tobytes() if hdu.data is not None else b""))
    return content


def test_deterministic_for_a_seed(tmp_path):
    first = synthetic.write_aia_file(tmp_path / "a.fits", OBSERVATION, 171, size=128, seed=5)
    second = synthetic.write_aia_file(tmp_path / "b.fits", OBSERVATION, 171, size=128, seed=5)
    other = synthetic.write_aia_file(tmp_path / "c.fits", OBSERVATION, 171, size=128, seed=6)
    assert first.stat().st_size == second.stat().st_size
    assert _stored_content(first) == _stored_content(second)  # DATASUM included: the same stored bytes
    assert not np.array_equal(_image(first)[0], _image(other)[0])


def test_regions_where_the_masks_say(aia_factory):
    path = aia_factory(193, OBSERVATION, size=512, seed=3, masks=True)
    data, header = _image(path)
    ar_path, ch_path = synthetic.mask_paths(path)
    assert ar_path.name == path.name.replace(".fits", ".ar_mask.fits")
    ar, ch = _mask(ar_path), _mask(ch_path)
    rows, columns = np.indices(data.shape)
    distance = np.hypot(columns - (header["CRPIX1"] - 1), rows - (header["CRPIX2"] - 1))
    inner_disk = distance < 0.9 * header["RSUN_OBS"] / header["CDELT1"]
    assert ar.sum() > 500 and (ch & inner_disk).sum() > 500
    assert not (ar & ch).any()
    quiet = np.median(data[inner_disk & ~ar & ~ch])
    assert np.median(data[ar]) > 3 * quiet
    assert np.median(data[ch & inner_disk]) < 0.3 * quiet
    # 171: holes darker than the quiet Sun, but less contrasted than at 193
    data_171, _ = _image(aia_factory(171, OBSERVATION, size=512, seed=3))
    quiet_171 = np.median(data_171[inner_disk & ~ar & ~ch])
    hole_171 = np.median(data_171[ch & inner_disk]) / quiet_171
    assert 0.3 < hole_171 < 0.85
    assert np.median(data_171[ar]) > 2 * quiet_171


def test_same_regions_at_every_wavelength(aia_factory):
    masks = {}
    for wavelength in (171, 193, 304, 1600):
        path = aia_factory(wavelength, OBSERVATION, size=128, seed=4, masks=True)
        masks[wavelength] = [_mask(mask) for mask in synthetic.mask_paths(path)]
    for wavelength in (193, 304, 1600):
        assert np.array_equal(masks[wavelength][0], masks[171][0])
        assert np.array_equal(masks[wavelength][1], masks[171][1])


def _far_quiet_sun(image: synthetic.SyntheticImage, margin: int) -> np.ndarray:
    """Inner-disk pixels (r < 0.6 R) farther than ``margin`` pixels (square) from every AR and CH mask pixel."""
    regions = (image.ar_mask > 0) | (image.ch_mask > 0)
    grown = regions.copy()
    for axis in (0, 1):
        spread = grown.copy()
        for shift in range(1, margin + 1):
            spread |= np.roll(grown, shift, axis=axis) | np.roll(grown, -shift, axis=axis)
        grown = spread
    rows, columns = np.indices(regions.shape)
    radius = np.hypot(columns - image.centre[0], rows - image.centre[1]) / image.radius
    return (radius < 0.6) & ~grown


def _log_quiet(date: datetime, wavelength: int, size: int) -> tuple[np.ndarray, synthetic.SyntheticImage]:
    image = synthetic.render_sun(date, wavelength, size=size, seed=0, centre_offset=(0.0, 0.0), roll=0.0)
    return np.log(np.maximum(image.counts, 1.0).astype(np.float64)), image


def test_quiet_sun_has_a_skewed_network_texture():
    """The quiet Sun is not a smooth disc: a log-normal-like, spatially correlated, per-wavelength network."""
    widths = {}
    for wavelength in (193, 171, 304):
        logs, image = _log_quiet(OBSERVATION, wavelength, 512)
        quiet = _far_quiet_sun(image, 25)
        assert quiet.sum() > 5000
        values = logs[quiet]
        widths[wavelength] = values.std()
        linear = np.exp(values)
        skewness = np.mean((linear - linear.mean()) ** 3) / linear.std() ** 3
        assert skewness > 0.3, "a bright tail (the network), as real quiet-Sun histograms"
        near = quiet[:, :-1] & quiet[:, 1:]  # neighbours 5 arcsec apart: mostly in the same lane or cell
        assert np.corrcoef(logs[:, :-1][near], logs[:, 1:][near])[0, 1] > 0.4
        far = quiet[:, :-40] & quiet[:, 40:]  # 190 arcsec apart: independent cells
        assert abs(np.corrcoef(logs[:, :-40][far], logs[:, 40:][far])[0, 1]) < 0.15
    # photon noise alone gives about 0.01 at 512 in 193: the width is the network's, weakest in the hot channel
    assert 0.08 < widths[193] < 0.3
    assert widths[193] < widths[171] < widths[304] < 0.6


def test_same_quiet_sun_at_every_size_and_wavelength():
    """The texture lives on the sphere: a 2048 image binned 4x4 shows the 512 image's network, 171 that of 193."""
    small, image = _log_quiet(OBSERVATION, 193, 512)
    large = synthetic.render_sun(OBSERVATION, 193, size=2048, seed=0, centre_offset=(0.0, 0.0), roll=0.0)
    binned = np.log(large.counts.astype(np.float64).reshape(512, 4, 512, 4).mean(axis=(1, 3)))
    quiet = _far_quiet_sun(image, 25)
    assert np.corrcoef(small[quiet], binned[quiet])[0, 1] > 0.9
    other, _ = _log_quiet(OBSERVATION, 171, 512)
    assert np.corrcoef(small[quiet], other[quiet])[0, 1] > 0.8
    seeded = synthetic.render_sun(OBSERVATION, 193, size=512, seed=1, centre_offset=(0.0, 0.0), roll=0.0)
    assert abs(np.corrcoef(small[quiet], np.log(seeded.counts[quiet].astype(np.float64)))[0, 1]) < 0.5


def test_active_regions_have_a_broad_bright_tail():
    """Bright cores, plage and fainter halos: the AR intensities spread over a decade above the quiet Sun."""
    image = synthetic.render_sun(OBSERVATION, 193, size=512, seed=0)
    quiet = np.median(image.counts[_far_quiet_sun(image, 25)])
    inside = image.counts[image.ar_mask > 0] / quiet
    low, median, high = np.percentile(inside, [10, 50, 99])
    assert low > 1.5, "the whole mask is brighter than the quiet Sun"
    assert high > 10 and high / low > 5
    assert 2 < median < 6


@pytest.mark.parametrize("wavelength", [1700, 304])
def test_header_centre_and_radius_match_the_drawn_disk(aia_factory, wavelength):
    """Measure the disk on the image (threshold, centroid, area) and compare with the header."""
    data, header = _image(aia_factory(wavelength, OBSERVATION, size=512, seed=1))
    centre_disk = data[200:312, 200:312]
    disk = data > 0.5 * np.median(centre_disk)  # limb: above 0.65, corona: below 0.45
    rows, columns = np.nonzero(disk)
    measured_radius = math.sqrt(disk.sum() / math.pi)
    assert columns.mean() == pytest.approx(header["CRPIX1"] - 1, abs=0.3)
    assert rows.mean() == pytest.approx(header["CRPIX2"] - 1, abs=0.3)
    assert measured_radius == pytest.approx(header["RSUN_OBS"] / header["CDELT1"], abs=0.6)
    offset = math.hypot(header["CRPIX1"] - 256.5, header["CRPIX2"] - 256.5)
    assert 1.0 <= offset <= 15.0  # a few pixels off the image centre


def test_wcs_roll_and_b0_are_consistent_with_the_drawing(aia_factory):
    """With a large roll, the header's WCS (read by astropy and sunpy) must put the poles in the polar holes."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning
    from sunpy.coordinates import HeliographicStonyhurst

    path = aia_factory(193, OBSERVATION, size=256, seed=2, masks=True, roll=20.0)
    _, header = _image(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    rows, columns = np.indices((256, 256))
    coordinates = wcs.pixel_to_world(columns, rows).transform_to(HeliographicStonyhurst(obstime=header["DATE-OBS"]))
    latitude = coordinates.lat.deg
    ar, ch = (_mask(mask) for mask in synthetic.mask_paths(path))
    polar = np.isfinite(latitude) & (np.abs(latitude) > 70)
    assert polar.sum() > 50
    assert ch[polar].mean() > 0.99
    assert np.nanmax(np.abs(latitude[ar])) < 40


@pytest.mark.parametrize("data_format", ["int32_bscale", "int16", "float32", "float64"])
def test_other_formats_hold_the_same_image(tmp_path, data_format):
    block = [(5, 9, 0, 128)]
    reference = synthetic.write_aia_file(tmp_path / "rice.fits", OBSERVATION, 171, size=128, invalid_blocks=block)
    other = synthetic.write_aia_file(tmp_path / f"{data_format}.fits", OBSERVATION, 171, size=128,
                                     data_format=data_format, invalid_blocks=block)
    with fits.open(other) as hdus:
        assert len(hdus) == 1 and hdus[0].header["NAXIS"] == 2
        header = hdus[0].header
        expected_bitpix = {"int32_bscale": 32, "int16": 16, "float32": -32, "float64": -64}[data_format]
        assert header["BITPIX"] == expected_bitpix
        if data_format == "int32_bscale":
            assert header["BSCALE"] == 0.0625 and header["BLANK"] == -2147483648
        if data_format.startswith("float"):
            assert "BLANK" not in header
    data, _ = _image(other)
    expected, _ = _image(reference)
    assert np.isnan(data[5:9]).all() and np.isnan(data).sum() == 4 * 128
    np.testing.assert_array_equal(data, expected)


def test_header_overrides_and_dropped_keywords(aia_factory):
    path = aia_factory(171, OBSERVATION, size=64, header_overrides={"EXPTIME": 0.0, "OBSERVER": "test"},
                       drop_keywords=("RSUN_OBS", "WAVELNTH"))
    _, header = _image(path)
    assert header["EXPTIME"] == 0.0 and header["OBSERVER"] == "test"
    assert "RSUN_OBS" not in header and "WAVELNTH" not in header
    assert "R_SUN" in header


def test_unknown_wavelength_and_format_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown AIA wavelength 170"):
        synthetic.write_aia_file(tmp_path / "x.fits", OBSERVATION, 170, size=32)
    with pytest.raises(ValueError, match="unknown data_format"):
        synthetic.write_aia_file(tmp_path / "x.fits", OBSERVATION, 171, size=32, data_format="jpeg")
    assert not list(tmp_path.iterdir())  # nothing left behind


def test_archive_layout_quality_and_missing(tmp_path, umask):
    start = datetime(2026, 3, 20)
    paths = synthetic.make_archive(tmp_path, start, start + timedelta(hours=12), timedelta(hours=6), (171, 193),
                                   size=128, seed=9, quality=synthetic.QUICKLOOK_QUALITY,
                                   bad_quality=[(start + timedelta(hours=6), 193)],
                                   missing=[(start, 171)], masks=True)
    assert len(paths) == 3
    assert sorted(tmp_path.rglob("AIA*_0???.fits")) == sorted(paths)
    assert {stat.S_IMODE(path.stat().st_mode) for path in paths} == {0o666 & ~umask}  # not mkstemp's 0o600
    for step in (start, start + timedelta(hours=6)):
        for wavelength in (171, 193):
            pattern = synthetic.ARCHIVE_PATTERN.format(date=step, wavelength=wavelength)
            found = sorted(tmp_path.glob(pattern))
            if (step, wavelength) == (start, 171):
                assert found == []
                continue
            assert len(found) == 1
            _, header = _image(found[0])
            observed = datetime.fromisoformat(header["DATE-OBS"])
            assert timedelta(0) < observed - step < timedelta(seconds=60)
            assert found[0].name == f"AIA{observed:%Y%m%d_%H%M%S}_{wavelength:04d}.fits"
            assert found[0].parent == tmp_path / f"{wavelength:04d}/2026/03/20/H{step.hour:02d}00"
            bad = (step, wavelength) == (start + timedelta(hours=6), 193)
            expected = synthetic.BAD_QUALITY | synthetic.QUICKLOOK_QUALITY if bad else synthetic.QUICKLOOK_QUALITY
            assert header["QUALITY"] == expected
            assert all(mask.is_file() for mask in synthetic.mask_paths(found[0]))


def test_regions_rotate_west_with_time(tmp_path):
    start = datetime(2026, 3, 20)
    first, later = synthetic.make_archive(tmp_path, start, start + timedelta(hours=48), timedelta(hours=24), (171,),
                                          size=256, seed=9, masks=True)
    ar_first, ar_later = (_mask(synthetic.mask_paths(path)[0]) for path in (first, later))
    _, header = _image(first)
    radius = header["RSUN_OBS"] / header["CDELT1"]
    shift = np.nonzero(ar_later)[1].mean() - np.nonzero(ar_first)[1].mean()
    # about 13 degrees a day: a few tenths of the radius towards the west (+x), less near the limb
    assert 0.05 * radius < shift < 0.3 * radius


def test_cli_writes_the_archive(tmp_path, capsys):
    status = synthetic.main([str(tmp_path), "--start", "2026-03-20T00:00", "--end", "2026-03-20T12:00",
                             "--interval-hours", "6", "--wavelengths", "171", "193", "--size", "64", "--quicklook",
                             "--bad-quality", "2026-03-20T06:00:171=0x80000000", "--missing", "2026-03-20T00:00:193"])
    assert status == 0
    printed = [Path(line) for line in capsys.readouterr().out.split()]
    assert len(printed) == 3 and all(path.is_file() for path in printed)
    bad = next(tmp_path.glob("0171/2026/03/20/H0600/*.fits"))
    assert _image(bad)[1]["QUALITY"] == 0x80000000
    good = next(tmp_path.glob("0171/2026/03/20/H0000/*.fits"))
    assert _image(good)[1]["QUALITY"] == synthetic.QUICKLOOK_QUALITY
    assert not list(tmp_path.glob("0193/2026/03/20/H0000/*"))


def test_cli_rejects_a_bad_item(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main([str(tmp_path), "--start", "2026-03-20", "--end", "2026-03-21", "--missing", "yesterday:171"])
    assert exit_info.value.code == 2
    assert "expected DATE:WAVELENGTH" in capsys.readouterr().err
