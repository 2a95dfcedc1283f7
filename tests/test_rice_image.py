"""Tests of spoca4staff/rice_image.py: the image statistics' Rice decoder (the SPoCA programs' one, built as the
extension spoca4staff._kernels) against astropy, which is the reference for the stored integers it returns."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from spoca4staff import rice_image
from spoca4staff.fits_hdus import read_hdus
from spoca4staff.rice_image import DecodeBufferPool, DecodeBuffers, RiceImageError, read_rice_hdu, read_rice_image


def write_compressed(path: Path, data: np.ndarray, **options: object) -> Path:
    """``data`` as HDU 1 of ``path``, tile-compressed by astropy (RICE_1 unless ``compression_type`` says)."""
    options.setdefault("compression_type", "RICE_1")
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, **options)]).writeto(path)
    return path


def astropy_pixels(path: Path, hdu: int = 1) -> np.ndarray:
    with fits.open(path, do_not_scale_image_data=True) as hdus:
        return np.array(hdus[hdu].data)


def textured(rng: np.random.Generator, shape: tuple[int, int], dtype: type) -> np.ndarray:
    """An image with every kind of Rice block: equal pixels, small and large differences, the type's extremes."""
    info = np.iinfo(dtype)
    data = rng.normal(800, 300, size=shape).astype(dtype)
    rows = shape[0]
    data[: rows // 4] = rng.integers(0, 3)  # blocks of equal pixels: all-zero differences
    data[rows // 4: rows // 3] = rng.integers(info.min, info.max, size=data[rows // 4: rows // 3].shape, dtype=dtype)
    data[-1, :5] = [info.min, info.max, info.min, 0, info.max][: min(5, shape[1])]
    return data


def test_the_module_example_runs() -> None:
    failed, tried = doctest.testmod(rice_image, raise_on_error=False, report=True)
    assert tried >= 5
    assert failed == 0


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
@pytest.mark.parametrize("tile_rows", [1, 3, 16])
def test_the_values_are_astropys(tmp_path: Path, dtype: type, tile_rows: int) -> None:
    rng = np.random.default_rng([tile_rows, np.dtype(dtype).itemsize])
    for case, shape in enumerate([(1, 1), (1, 31), (2, 33), (17, 64), (40, 95), (33, 300)]):
        data = textured(rng, shape, dtype)
        path = write_compressed(tmp_path / f"{case}.fits", data, tile_shape=(min(tile_rows, shape[0]), shape[1]))
        mine = read_rice_image(path, 1)
        assert mine is not None
        assert mine.dtype == np.dtype(dtype) and mine.dtype.isnative
        assert mine.flags.c_contiguous and mine.flags.writeable
        np.testing.assert_array_equal(mine, astropy_pixels(path))
        np.testing.assert_array_equal(mine, data)


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
def test_long_unary_codes_are_astropys(tmp_path: Path, dtype: type) -> None:
    """Blocks of equal pixels but for one outlier: the encoder picks a split from the block's mean, so the outlier's
    unary high part runs to tens of bits, beyond what the decoder's bit buffer holds at once."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(np.dtype(dtype).itemsize)
    data = np.zeros((8, 32 * 24), dtype=dtype)
    for block in range(data.size // 32):
        row, column = divmod(block * 32 + int(rng.integers(0, 32)), data.shape[1])
        data[row, column] = min(info.max, 2 ** (block % (8 * np.dtype(dtype).itemsize - 1)) + int(rng.integers(0, 7)))
    data[1::2] += rng.integers(-2, 3, size=data[1::2].shape).astype(dtype)  # and with small differences around
    path = write_compressed(tmp_path / "outliers.fits", data, tile_shape=(2, data.shape[1]))
    np.testing.assert_array_equal(read_rice_image(path, 1), astropy_pixels(path))
    np.testing.assert_array_equal(read_rice_image(path, 1), data)


def test_a_synthetic_aia_file_decodes_to_astropys_values(aia_factory) -> None:
    image = aia_factory(171, size=512, invalid_blocks=[(10, 20, 30, 90)])
    np.testing.assert_array_equal(read_rice_image(image, 1), astropy_pixels(image))


@pytest.mark.parametrize("layout", ["primary", "gzip", "float", "tiles of half rows", "uint8"])
def test_other_layouts_are_left_to_astropy(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 1000, size=(20, 64)).astype(np.int16)
    path = tmp_path / "image.fits"
    if layout == "primary":
        fits.PrimaryHDU(data).writeto(path)
        assert read_rice_image(path, 0) is None
        return
    options: dict[str, object] = {
        "gzip": {"compression_type": "GZIP_1"},
        "float": {"data": data.astype(np.float32) / 7},
        "tiles of half rows": {"tile_shape": (1, 32)},
        "uint8": {"data": data.astype(np.uint8)},
    }[layout]
    write_compressed(path, options.pop("data", data), **options)
    assert read_rice_image(path, 1) is None


def test_a_damaged_tile_is_an_error_naming_the_tile(aia_factory, corrupt_tiles) -> None:
    damaged = corrupt_tiles(aia_factory(193, size=64))
    with pytest.raises(RiceImageError, match=r"^decompression error: tile \d+ of the compressed image cannot be "):
        read_rice_image(damaged, 1)


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_a_truncated_file_is_an_error(aia_factory, tmp_path: Path) -> None:
    image = aia_factory(193, size=64)
    truncated = tmp_path / "truncated.fits"
    content = image.read_bytes()
    truncated.write_bytes(content[: len(content) - 5000])
    with pytest.raises(RiceImageError, match="^decompression error: the file ends before the last tile$"):
        read_rice_image(truncated, 1)


def test_reused_buffers_hold_each_image_in_turn(tmp_path: Path) -> None:
    """One thread's buffers decode image after image, larger and smaller, int16 and int32: each is astropy's."""
    rng = np.random.default_rng(11)
    buffers = DecodeBuffers()
    for case, (shape, dtype) in enumerate([((40, 95), np.int16), ((70, 120), np.int32), ((3, 9), np.int16),
                                           ((70, 120), np.int16)]):
        path = write_compressed(tmp_path / f"{case}.fits", textured(rng, shape, dtype), tile_shape=(1, shape[1]))
        mine = read_rice_hdu(path, read_hdus(path)[1], buffers)
        assert mine.shape == shape and mine.dtype == np.dtype(dtype)
        assert mine.flags.c_contiguous and mine.flags.writeable
        np.testing.assert_array_equal(mine, astropy_pixels(path))


def test_a_pool_lends_buffers_to_one_image_at_a_time() -> None:
    pool = DecodeBufferPool()
    with pool.borrow() as first, pool.borrow() as second:
        assert first is not second  # two images read at once never share memory
    with pool.borrow() as again:
        assert again in (first, second)  # returned buffers are lent again, not allocated anew
