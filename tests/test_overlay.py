"""Tests of scripts/overlay.py: contours drawn on a generated AIA image with known regions.

The segmentation maps are written here, in the SPoCA map format (spec section 7: RICE int32 in HDU 1,
EXTNAME SegmentedMap, CRPIX/CDELT/RSUN_OBS), from the true region masks of the generated image. The contour
pixels are found in the PNG by their exact colours and compared with the boundaries of the true regions,
converted to display coordinates here with the layout documented in the module.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from matplotlib.colors import to_rgb
from PIL import Image

from scripts.make_synthetic_aia import mask_paths, write_aia_file
from scripts.overlay import AR_COLOUR, CH_COLOUR, HEADER_PIXELS, write_overlay

REPO_ROOT = Path(__file__).resolve().parents[1]
DATE = "2026-03-20T06:00:00"
TOLERANCE = 2  # display pixels


def write_segmentation_map(path: Path, classes: np.ndarray, image_header: fits.Header,
                           shift: tuple[int, int] = (0, 0), *, compressed: bool = True) -> Path:
    """Write ``classes`` (on the image grid) as a SPoCA map whose content and CRPIX are moved by ``shift``.

    The content at image pixel (i, j) lands at map pixel (i + dx, j + dy), and CRPIX moves by the same amount,
    as for a map made on the grid of another channel whose sun centre is a few pixels away. ``compressed=False``
    writes the map in HDU 0 (SPoCA's ``uncompressed = true``).
    """
    dx, dy = shift
    height, width = classes.shape
    data = np.zeros((height, width), dtype=np.int32)
    data[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        classes[max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    header = fits.Header()
    header["EXTNAME"] = "SegmentedMap"
    header["CDELT1"] = image_header["CDELT1"]
    header["CDELT2"] = image_header["CDELT2"]
    header["CRPIX1"] = image_header["CRPIX1"] + dx
    header["CRPIX2"] = image_header["CRPIX2"] + dy
    header["RSUN_OBS"] = image_header["RSUN_OBS"]
    header["INSTRUME"] = "Segmentation Map"
    header["TELESCOP"] = "SPoCA"
    if compressed:
        hdu = fits.CompImageHDU(data=data, header=header, compression_type="RICE_1", tile_shape=(1, width))
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    else:
        fits.PrimaryHDU(data=data, header=header).writeto(path)
    return path


def disk_mask(header: fits.Header, shape: tuple[int, int]) -> np.ndarray:
    """Pixels within RSUN_OBS/CDELT1 of (CRPIX1 - 1, CRPIX2 - 1)."""
    rows, columns = np.indices(shape)
    radius = header["RSUN_OBS"] / header["CDELT1"]
    return (columns - (header["CRPIX1"] - 1)) ** 2 + (rows - (header["CRPIX2"] - 1)) ** 2 <= radius**2


def dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow ``mask`` by ``steps`` pixels (8-connected)."""
    grown = mask.copy()
    for _ in range(steps):
        padded = np.pad(grown, 1)
        grown = np.zeros_like(grown)
        for drow in (0, 1, 2):
            for dcolumn in (0, 1, 2):
                grown |= padded[drow:drow + mask.shape[0], dcolumn:dcolumn + mask.shape[1]]
    return grown


def display_boundary(mask: np.ndarray, factor: int, display_shape: tuple[int, int]) -> np.ndarray:
    """Display pixels holding a pixel of the boundary of ``mask`` (full resolution, inside or outside edge)."""
    padded = np.pad(mask, 1)
    neighbours = [padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]]
    differs = np.zeros_like(mask)
    for neighbour in neighbours:
        differs |= neighbour != mask
    rows, columns = np.nonzero(differs)
    display_rows = np.rint((rows - (factor - 1) / 2) / factor).astype(int)
    display_columns = np.rint((columns - (factor - 1) / 2) / factor).astype(int)
    keep = (display_rows >= 0) & (display_rows < display_shape[0]) & (display_columns >= 0) & \
        (display_columns < display_shape[1])
    boundary = np.zeros(display_shape, dtype=bool)
    boundary[display_rows[keep], display_columns[keep]] = True
    return boundary


def colour_pixels(png: Path, colour: str, display_shape: tuple[int, int]) -> np.ndarray:
    """Display pixels (row counted from the bottom, like FITS) whose PNG pixel has exactly ``colour``."""
    rgb = np.asarray(Image.open(png).convert("RGB"))
    target = np.rint(np.array(to_rgb(colour)) * 255).astype(np.uint8)
    image_area = rgb[HEADER_PIXELS:]
    assert image_area.shape[:2] == display_shape
    return np.all(image_area == target, axis=2)[::-1]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 512x512 synthetic AIA 193 image with its true masks, a CH map and an AR map shifted by (6, -4)."""
    folder = tmp_path_factory.mktemp("overlay")
    image = write_aia_file(folder / "AIA20260320_060000_0193.fits", DATE, 193, size=512, seed=3, masks=True)
    header = fits.getheader(image, 1)
    ar_path, ch_path = mask_paths(image)
    ar_true = fits.getdata(ar_path).astype(bool)
    ch_true = fits.getdata(ch_path).astype(bool)
    assert ar_true.any() and ch_true.any()
    disk = disk_mask(header, ch_true.shape)
    ch_classes = np.where(disk, 2, 0)
    ch_classes[ch_true] = 1
    ar_classes = np.where(disk, 1, 0)
    ar_classes[ar_true] = 3
    return {
        "image": image,
        "ch_map": write_segmentation_map(folder / "ch.SegmentedMap.fits", ch_classes, header),
        "ar_map": write_segmentation_map(folder / "ar.SegmentedMap.fits", ar_classes, header, shift=(6, -4)),
        "ch_true": ch_true,
        "ar_true": ar_true,
    }


@pytest.mark.parametrize(("max_size", "factor"), [(512, 1), (256, 2)])
def test_contours_lie_on_the_region_boundaries(scene: dict, tmp_path: Path, max_size: int, factor: int) -> None:
    png = write_overlay(scene["ch_map"], scene["ar_map"], scene["image"], tmp_path / "overlay.png",
                        max_size=max_size)
    display_shape = (512 // factor, 512 // factor)
    with Image.open(png) as picture:
        assert picture.format == "PNG"
        assert picture.size == (display_shape[1], display_shape[0] + HEADER_PIXELS)
        picture.verify()
    for colour, truth in ((CH_COLOUR, scene["ch_true"]), (AR_COLOUR, scene["ar_true"])):
        drawn = colour_pixels(png, colour, display_shape)
        boundary = display_boundary(truth, factor, display_shape)
        assert drawn.sum() > 50, f"too few {colour} pixels"
        off_boundary = drawn & ~dilate(boundary, TOLERANCE)
        assert not off_boundary.any(), f"{off_boundary.sum()} {colour} pixels away from the region boundary"
        covered = boundary & dilate(drawn, TOLERANCE)
        assert covered.sum() >= 0.95 * boundary.sum(), f"{colour} contour misses part of the boundary"


def test_ar_map_offset_is_corrected(scene: dict, tmp_path: Path) -> None:
    """Without the CRPIX shift the AR contour would be 6 pixels off: it must be on the true AR boundary."""
    png = write_overlay(scene["ch_map"], scene["ar_map"], scene["image"], tmp_path / "overlay.png")
    drawn = colour_pixels(png, AR_COLOUR, (512, 512))
    shifted = np.zeros_like(scene["ar_true"])
    shifted[:, 6:] = scene["ar_true"][:, :-6]
    assert (drawn & ~dilate(display_boundary(shifted, 1, (512, 512)), TOLERANCE)).sum() > 0.3 * drawn.sum()
    assert not (drawn & ~dilate(display_boundary(scene["ar_true"], 1, (512, 512)), TOLERANCE)).any()


def test_uncompressed_map(scene: dict, tmp_path: Path) -> None:
    """A map in HDU 0, shifted the other way, is placed on the image like the compressed one."""
    ar_classes = np.where(scene["ar_true"], 3, 0)
    header = fits.getheader(scene["image"], 1)
    ar_map = write_segmentation_map(tmp_path / "ar.fits", ar_classes, header, shift=(-5, 7), compressed=False)
    png = write_overlay(scene["ch_map"], ar_map, scene["image"], tmp_path / "overlay.png")
    drawn = colour_pixels(png, AR_COLOUR, (512, 512))
    boundary = display_boundary(scene["ar_true"], 1, (512, 512))
    assert drawn.sum() > 50
    assert not (drawn & ~dilate(boundary, TOLERANCE)).any()


def test_classes_select_the_regions(scene: dict, tmp_path: Path) -> None:
    """A class absent from the maps draws nothing; the quiet-Sun class of the CH map outlines the disk."""
    png = write_overlay(scene["ch_map"], scene["ar_map"], scene["image"], tmp_path / "overlay.png",
                        ch_class=2, ar_class=7)
    assert not colour_pixels(png, AR_COLOUR, (512, 512)).any()
    quiet = colour_pixels(png, CH_COLOUR, (512, 512))
    header = fits.getheader(scene["image"], 1)
    quiet_true = disk_mask(header, (512, 512)) & ~scene["ch_true"]
    assert quiet.sum() > 500
    assert not (quiet & ~dilate(display_boundary(quiet_true, 1, (512, 512)), TOLERANCE)).any()


def test_off_disc_ch_class_is_not_drawn(scene: dict, tmp_path: Path) -> None:
    """SPoCA puts the dark corona beyond the limb in the CH class: only the on-disc coronal holes are drawn."""
    header = fits.getheader(scene["image"], 1)
    disk = disk_mask(header, (512, 512))
    ch_classes = np.where(disk, 2, 1)  # every off-disc pixel in the CH class, as in a real CH map
    ch_classes[scene["ch_true"]] = 1
    ch_map = write_segmentation_map(tmp_path / "ch.fits", ch_classes, header)
    png = write_overlay(ch_map, scene["ar_map"], scene["image"], tmp_path / "overlay.png")
    drawn = colour_pixels(png, CH_COLOUR, (512, 512))
    assert drawn.sum() > 50
    assert not (drawn & ~dilate(disk, TOLERANCE)).any(), "CH contour drawn off the disc"
    assert not (drawn & ~dilate(display_boundary(scene["ch_true"], 1, (512, 512)), TOLERANCE)).any()


@pytest.mark.parametrize("data_format", ["int32_bscale", "float32"])
def test_uncompressed_images(data_format: str, scene: dict, tmp_path: Path) -> None:
    """Uncompressed images (HDU 0) give the same picture size and the contours at the same places."""
    image = write_aia_file(tmp_path / "image.fits", DATE, 193, size=512, seed=3, data_format=data_format)
    png = write_overlay(scene["ch_map"], scene["ar_map"], image, tmp_path / "overlay.png", max_size=256)
    with Image.open(png) as picture:
        assert picture.size == (256, 256 + HEADER_PIXELS)
    drawn = colour_pixels(png, CH_COLOUR, (256, 256))
    assert drawn.any()
    assert not (drawn & ~dilate(display_boundary(scene["ch_true"], 2, (256, 256)), TOLERANCE)).any()


def test_unknown_wavelength_and_no_exptime(scene: dict, tmp_path: Path) -> None:
    """No sunpy colour map for WAVELNTH 6173 and no EXPTIME: still a picture, with grey levels, and the contours."""
    image = write_aia_file(tmp_path / "image.fits", DATE, 193, size=512, seed=3,
                           header_overrides={"WAVELNTH": 6173}, drop_keywords=("EXPTIME",))
    png = write_overlay(scene["ch_map"], scene["ar_map"], image, tmp_path / "overlay.png")
    rgb = np.asarray(Image.open(png).convert("RGB"))[HEADER_PIXELS:].astype(int)  # PNG rows: top first
    drawn = colour_pixels(png, CH_COLOUR, (512, 512)) | colour_pixels(png, AR_COLOUR, (512, 512))
    assert colour_pixels(png, AR_COLOUR, (512, 512)).any()
    inner_disk = ~dilate(~disk_mask(fits.getheader(image, 1), (512, 512)), 3)
    grey = rgb[(inner_disk & ~drawn)[::-1]]
    assert np.ptp(grey[:, 1]) > 50  # not a blank picture
    assert np.array_equal(grey[:, 0], grey[:, 1]) and np.array_equal(grey[:, 1], grey[:, 2])


def test_command_line(scene: dict, tmp_path: Path, umask: int) -> None:
    png = tmp_path / "sub" / "overlay.png"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "overlay.py"), str(scene["ch_map"]), str(scene["ar_map"]),
         str(scene["image"]), "-o", str(png), "--max-size", "128"],
        capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    with Image.open(png) as picture:
        assert picture.format == "PNG"
        assert picture.size == (128, 128 + HEADER_PIXELS)
    assert [path.name for path in png.parent.iterdir()] == ["overlay.png"]
    assert stat.S_IMODE(png.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0o600


@pytest.mark.parametrize("problem", ["not_fits", "no_crpix", "corrupt_image"])
def test_bad_input_is_one_clear_error(problem: str, scene: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.fits"
    ar_map, image = bad, scene["image"]
    if problem == "not_fits":
        bad.write_text("this is not FITS\n")
    elif problem == "no_crpix":
        fits.PrimaryHDU(data=np.zeros((8, 8), dtype=np.int32)).writeto(bad)
    else:  # the compressed data zeroed after the headers: the RICE decoder fails
        content = Path(scene["image"]).read_bytes()
        bad.write_bytes(content[:20160] + bytes(len(content) - 20160))
        ar_map, image = scene["ar_map"], bad
    png = tmp_path / "overlay.png"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "overlay.py"), str(scene["ch_map"]), str(ar_map),
         str(image), "-o", str(png)],
        capture_output=True, text=True, check=False)
    assert completed.returncode == 1
    message = completed.stderr.strip().splitlines()
    assert len(message) == 1 and str(bad) in message[0], completed.stderr
    assert not png.exists()
