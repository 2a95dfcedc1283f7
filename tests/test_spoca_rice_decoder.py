"""Tests of the SPoCA programs' own Rice decoder (SPoCA/lib/core/rice_decoder.hpp, rice_image.cpp).

The programs decode RICE_1 tile-compressed integer images themselves, and fall back to cfitsio for every other
layout and for any tile they cannot decode. cfitsio is the reference: with ``SPOCA_RICE_DECODER=cfitsio`` the
programs read every image through cfitsio alone, and the outputs of the two runs must be byte-identical on
images that exercise every part of the format (blocks of equal pixels, blocks stored raw, a last block shorter
than the others, tiles of several rows, BLANK and ZBLANK, BSCALE/BZERO, 32-bit integers) and on every row range
that get_STAFF_stats.x reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from spoca_runs import run_spoca

REPO_ROOT = Path(__file__).resolve().parents[1]
CH_CONFIG = REPO_ROOT / "configs" / "AIA.CH_segmentation.config"
SIZE = 300  # not a multiple of the 32-pixel blocks: each row ends with a short block


def with_texture(stored: np.ndarray, blank: int, seed: int) -> np.ndarray:
    """The stored image with a band of equal pixels (blocks coded as all-zero differences), a band of noise over the
    whole int16 range (blocks stored raw) and a few BLANK pixels."""
    rng = np.random.default_rng(seed)
    data = stored.copy()
    data[20:40, :] = data[30, 150]
    data[60:64, :] = rng.integers(-32767, 32767, size=(4, data.shape[1]), dtype=np.int16)
    data[100:103, 5:90] = blank
    return data


def rewrite(source: Path, target: Path, *, tile_rows: int = 1, scale: tuple[float, float] | None = None,
            int32: bool = False, zblank: int | None = None, seed: int = 0) -> Path:
    """A RICE_1 variant of the synthetic AIA file ``source``, with the same header keywords."""
    with fits.open(source, do_not_scale_image_data=True) as hdus:
        header = hdus[1].header.copy()
        stored = np.array(hdus[1].data)
    data = with_texture(stored, int(header["BLANK"]), seed)
    if int32:  # 32-bit stored integers, 16 per DN
        data = np.where(data == header["BLANK"], np.int32(-2147483648), data.astype(np.int32) * 16)
        header["BLANK"], header["BSCALE"], header["BZERO"] = -2147483648, 0.0625, 0.0
    if scale is not None:
        header["BSCALE"], header["BZERO"] = scale
    hdu = fits.CompImageHDU(data=data, header=header, compression_type="RICE_1",
                            tile_shape=(tile_rows, data.shape[1]), do_not_scale_image_data=True)
    for keyword in ("BSCALE", "BZERO", "BLANK"):
        if keyword in header:
            hdu.header[keyword] = header[keyword]
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(target)
    if zblank is not None:  # astropy leaves ZBLANK to the convention: written in the table header by hand
        with fits.open(target, mode="update", disable_image_compression=True) as hdus:
            hdus[1].header["ZBLANK"] = zblank
    return target


VARIANTS: dict[str, dict[str, object]] = {
    "rows": {},
    "tiles of 7 rows": {"tile_rows": 7},
    "tiles of 200 rows": {"tile_rows": 200},
    "scaled": {"scale": (0.5, 100.0)},
    "zblank": {"zblank": 1500},
    "int32": {"int32": True, "tile_rows": 3},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_outputs_are_those_of_cfitsio(variant: str, tmp_path: Path, aia_factory: Callable[..., Path],
                                      spoca_pipeline: Callable[..., list[Path]]) -> None:
    images = {}
    for seed, wavelength in enumerate((171, 193)):
        source = aia_factory(wavelength, size=SIZE, name=f"source_{wavelength}.fits")
        images[wavelength] = rewrite(source, tmp_path / f"AIA_{wavelength}.fits", seed=seed, **VARIANTS[variant])
    with fits.open(images[193], disable_image_compression=True) as hdus:
        assert hdus[1].header["ZCMPTYPE"] == "RICE_1"
    own = spoca_pipeline(tmp_path / "own", images, {"SPOCA_RICE_DECODER": None})
    reference = spoca_pipeline(tmp_path / "cfitsio", images, {"SPOCA_RICE_DECODER": "cfitsio"})
    assert len(own) == 6
    for mine, theirs in zip(own, reference, strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), mine.name


def test_a_damaged_tile_is_one_line_naming_the_file(tmp_path: Path, aia_factory: Callable[..., Path],
                                                    corrupt_tiles: Callable[..., Path],
                                                    spoca_programs: dict[str, Path]) -> None:
    # cfitsio's own decoder reads past the end of such tiles (with SPOCA_RICE_DECODER=cfitsio this run crashed
    # with a segmentation fault); the programs' decoder stops at the end of the tile's bytes.
    image = corrupt_tiles(aia_factory(193, size=SIZE))
    output = tmp_path / "map.fits"
    result = run_spoca(spoca_programs["ch_segmentation"], "--config", CH_CONFIG, "--centersFile",
                       tmp_path / "ch.txt", "--output", output, image, environment={"SPOCA_RICE_DECODER": None})
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error : {image}: cannot read image pixels (file truncated or corrupt?): tile ")
    assert result.stderr.count("\n") == 1
    assert not output.exists()
