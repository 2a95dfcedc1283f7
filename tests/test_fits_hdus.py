"""Tests of spoca4staff/fits_hdus.py: headers, HDU extents and checksums read by hand, against astropy's reading of
the same bytes (the reference: the pipeline read them with astropy before, and astropy is the house model)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from scripts.make_synthetic_aia import DATA_FORMATS
from spoca4staff import fits_hdus
from spoca4staff.fits_hdus import (
    FitsHeader,
    checksum_problem,
    image_header,
    iter_fits_headers,
    ones_complement_sum,
    read_hdus,
)


def _values(header: fits.Header) -> dict[str, object]:
    """Keyword to value of an astropy header, commentary cards left out, first card of a repeated keyword.

    An undefined value (astropy's ``Undefined``) is None here. A value astropy cannot parse, such as JSOC's
    ``nan``, is its text: astropy either refuses it or, once it has fixed the card, gives the quoted text.
    """
    values: dict[str, object] = {}
    for card in header.cards:
        if card.keyword in ("", "COMMENT", "HISTORY") or card.keyword in values:
            continue
        try:
            value = card.value
        except fits.VerifyError:
            value = card.image[10:].split("/")[0].strip()
        if isinstance(value, fits.card.Undefined):
            value = None
        elif isinstance(value, str) and value.startswith("'") and value.rstrip().endswith("'"):  # a fixed card
            value = value.strip()[1:-1].strip()
        values[card.keyword] = value
    return values


def assert_same_values(mine: FitsHeader, reference: fits.Header) -> None:
    expected = _values(reference)
    assert set(mine) == set(expected)
    for keyword, value in expected.items():
        got = mine[keyword]
        assert type(got) is type(value), keyword
        assert got == value or (isinstance(value, float) and math.isnan(value) and math.isnan(got)), keyword


def _astropy_image_headers(path: Path) -> list[fits.Header]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdus:
            return [hdu.header for hdu in hdus]


def _files(shared_data: Path, sunpy_aia_171: Path) -> list[Path]:
    return [shared_data / "AIA20110319_105400_0171.fits", *sorted((shared_data / "cold-start").glob("*/*.fits")),
            sunpy_aia_171]


def test_image_headers_of_real_files_are_astropys(shared_data: Path, sunpy_aia_171: Path) -> None:
    files = _files(shared_data, sunpy_aia_171)
    assert len(files) >= 4
    for path in files:
        hdus = read_hdus(path)
        reference = _astropy_image_headers(path)
        assert len(hdus) == len(reference), path
        for hdu, expected in zip(hdus, reference, strict=True):
            assert_same_values(image_header(hdu.header), expected)


@pytest.mark.parametrize("data_format", DATA_FORMATS)
def test_image_headers_of_synthetic_files_are_astropys(aia_factory, data_format: str) -> None:
    path = aia_factory(171, size=64, data_format=data_format)
    hdus = read_hdus(path)
    for hdu, expected in zip(hdus, _astropy_image_headers(path), strict=True):
        assert_same_values(image_header(hdu.header), expected)
    assert image_header(hdus[-1].header)["NAXIS1"] == 64


@pytest.mark.parametrize(("cards", "stored", "dtype"), [
    ({"BLANK": -32768, "BSCALE": 2.0, "BZERO": 100.0, "EXTNAME": "COMPRESSED_IMAGE"}, {}, np.int16),
    ({"EXTNAME": "Image"}, {"BSCALE": 1.0, "BZERO": 0.0, "ZBLANK": 7}, np.int32),  # BZERO 0 dropped, ZBLANK kept
    ({}, {"ZBLANK": -5}, np.int16),  # an integer image without BLANK takes ZBLANK's
    ({"BLANK": 12}, {}, np.float32),
])
def test_image_header_of_a_compressed_hdu_follows_astropys_rule(tmp_path: Path, cards: dict, stored: dict,
                                                                dtype: type) -> None:
    data = (np.arange(40 * 30) % 97).reshape(30, 40).astype(dtype)
    path = tmp_path / "image.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdu = fits.CompImageHDU(data, header=fits.Header(list(cards.items())),
                                compression_type="RICE_1" if dtype != np.float32 else "GZIP_1")
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, checksum=True)
    if stored:  # cards astropy does not write itself (ZBLANK, a BZERO of 0): added to the stored table header
        with fits.open(path, mode="update", disable_image_compression=True) as hdus:
            hdus[1].header.update(stored)
    table = read_hdus(path)[1].header
    assert table["ZIMAGE"] is True and all(table[keyword] == value for keyword, value in stored.items())
    assert_same_values(image_header(table), _astropy_image_headers(path)[1])


def test_card_values_are_read_as_astropy_reads_them() -> None:
    cards = ["SIMPLE  =                    T / conforms", "FLAG    =                    F",
             "INT     =                 -42 / [count]", "BIG     =  12345678901234567890",
             "REAL    =            -1.5E-3", "DEXP    =                2.5D2", "POINT   =                  1.",
             "FRAC    =                  .25", "STR     = 'O''Hara  '          / with a quote", "LEAD    = '  padded'",
             "EMPTY   = ''", "BLANKS  = '    '", "SLASH   = 'a/b'                / a slash inside", "UNDEF   =",
             "CPLX    = (1.5, -2.0)", "LONG    = 'first &'", "CONTINUE  'second&'", "CONTINUE  'third'",
             "HISTORY  something", "COMMENT  something else", "        a blank keyword",
             "DUP     =                    1", "DUP     =                    2", "lower   =       3", "END"]
    text = "".join(card.ljust(80) for card in cards)
    mine = FitsHeader.from_cards(text)
    assert_same_values(mine, fits.Header.fromstring(text))
    assert mine["LONG"] == "first secondthird" and mine["DUP"] == 1 and mine["lower"] == 3 and "lower" in mine
    assert "HISTORY" not in mine and mine.get("MISSING", "default") == "default"


def test_unparsable_values_are_kept_as_their_text() -> None:
    header = FitsHeader.from_cards("RSUN_LF =                  nan / JSOC's".ljust(80) + "TWO     = 1 2".ljust(80))
    assert header["RSUN_LF"] == "nan" and header["TWO"] == "1 2"


def test_hdu_extents_are_astropys(aia_factory, two_quality_hdus: Path) -> None:
    for path in (aia_factory(193, size=64), aia_factory(171, size=64, data_format="int32_bscale"), two_quality_hdus):
        hdus = read_hdus(path)
        with fits.open(path, disable_image_compression=True) as reference:
            infos = [reference.fileinfo(index) for index in range(len(reference))]
        assert [(hdu.header_start, hdu.data_start, hdu.padded_end - hdu.data_start) for hdu in hdus] == \
            [(info["hdrLoc"], info["datLoc"], info["datSpan"]) for info in infos]
        assert hdus[-1].padded_end == path.stat().st_size


def test_a_remote_reader_sees_the_same_hdus(aia_factory) -> None:
    path = aia_factory(193, size=64)
    content = path.read_bytes()
    remote = list(iter_fits_headers(lambda offset, size: content[offset:offset + size]))
    assert remote == read_hdus(path)


def test_a_data_unit_cut_short_is_allowed_only_when_asked(aia_factory, tmp_path: Path) -> None:
    cut = tmp_path / "cut.fits"
    cut.write_bytes(aia_factory(193, size=64).read_bytes()[:-3000])
    assert len(read_hdus(cut, complete=False)) == 2
    with pytest.raises(ValueError, match=r"^truncated: \d+ bytes, but its headers announce \d+$"):
        read_hdus(cut)


def test_ones_complement_sum_is_astropys_datasum(aia_factory) -> None:
    path = aia_factory(193, size=64)
    with fits.open(path, disable_image_compression=True) as hdus:
        stored = hdus[1]
        expected = int(stored.header["DATASUM"])
        assert stored.verify_datasum() == 1
    hdu = read_hdus(path)[1]
    data = path.read_bytes()[hdu.data_start:hdu.padded_end]
    assert ones_complement_sum(data) == expected
    assert ones_complement_sum(data[:-1]) == ones_complement_sum(data[:-1] + b"\0")  # a short tail padded with 0
    assert ones_complement_sum(b"\xff\xff\xff\xff" * 3) == 0xFFFFFFFF  # -0 plus -0 stays -0
    assert ones_complement_sum(b"\xff\xff\xff\xff\x00\x00\x00\x02") == 2  # the carry folded back in


@pytest.mark.parametrize("chunk", [1 << 20, 4096])  # the data summed at once, or in many pieces
@pytest.mark.parametrize("damage", ["none", "data", "header"])
def test_checksums_are_verified_on_the_stored_bytes(aia_factory, monkeypatch, damage: str, chunk: int) -> None:
    monkeypatch.setattr(fits_hdus, "_CHUNK", chunk)
    path = aia_factory(193, size=64)
    hdu = read_hdus(path)[1]
    content = bytearray(path.read_bytes())
    if damage == "data":
        content[hdu.data_end - 10] ^= 0x01
    elif damage == "header":  # a comment's letter: the values stay, the HDU's CHECKSUM no longer matches
        comment = content.index(b"/ ", hdu.header_start + 80 * 8)
        content[comment + 2] ^= 0x20
    path.write_bytes(bytes(content))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, disable_image_compression=True, checksum=False) as hdus:
            reference = (hdus[1].verify_datasum(), hdus[1].verify_checksum())
    expected = {"none": None, "data": "HDU 1 does not match its DATASUM", "header": "HDU 1 does not match its CHECKSUM"}
    assert reference == {"none": (1, 1), "data": (0, 0), "header": (1, 0)}[damage]  # astropy says the same
    assert checksum_problem(path, hdu) == expected[damage]
    assert checksum_problem(path, hdu, header_too=False) == (expected[damage] if damage == "data" else None)


def test_a_data_unit_cut_short_fails_its_checksum(aia_factory, tmp_path: Path) -> None:
    cut = tmp_path / "cut.fits"
    cut.write_bytes(aia_factory(193, size=64).read_bytes()[:-3000])
    assert checksum_problem(cut, read_hdus(cut, complete=False)[1]) == "HDU 1: the file ends before its data do"


def test_the_module_examples_hold() -> None:
    import doctest

    assert doctest.testmod(fits_hdus).failed == 0


@pytest.mark.parametrize(("card", "message"), [
    ("NAXIS2  =                   -5", r"^HDU 1: unreadable header \(a negative NAXISn, PCOUNT or GCOUNT\)$"),
    ("NAXIS2  =                 'ab'", r"^HDU 1: unreadable header \(invalid literal for int\(\)"),
    ("NAXIS2  =                     ", r"^HDU 1: unreadable header \(int\(\) argument must be"),
])
def test_a_damaged_structure_card_is_one_clear_error(aia_factory, card: str, message: str) -> None:
    """A size that cannot be read, or a negative one (which would send the reader back over the file), is an error
    naming the HDU, never a loop or another exception."""
    path = aia_factory(193, size=64)
    content = bytearray(path.read_bytes())
    at = content.index(b"NAXIS2  =", 2880)
    content[at:at + 80] = card.ljust(80).encode()
    path.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=message):
        read_hdus(path)
