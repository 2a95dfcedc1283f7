"""Tests of scripts/overlay.py: contours, orientation, stretch and layout, on generated AIA images.

The segmentation maps are written here, in the SPoCA map format (compat 7: RICE int32 in HDU 1,
EXTNAME SegmentedMap, CRPIX/CDELT/RSUN_OBS), from the true region masks of the generated image. The drawn
contour lines (display pixel coordinates of the north-up display image) are taken to image pixel coordinates
through the WCS of the two sunpy Maps, the displayed one and the image's own (rolled) one, and compared with
the boundaries of the true regions: that checks the placement of the maps, the smoothing of the lines and the
north-up rotation at once, with sunpy's coordinate transformations rather than the module's.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sunpy.map
from astropy.io import fits
from astropy.visualization import AsinhStretch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image
from scipy import ndimage

from scripts.make_synthetic_aia import mask_paths, write_aia_file
from spoca4staff.overlay import FIGURE_PIXELS, draw_overlay, write_overlay

REPO_ROOT = Path(__file__).resolve().parents[1]
DATE = "2026-03-20T06:00:00"


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


def image_map(path: Path) -> sunpy.map.GenericMap:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sunpy.map.Map(str(path))


def in_image_pixels(overlay, key: str, image: sunpy.map.GenericMap) -> np.ndarray:
    """The vertices of the ``key`` contours, in 0-based pixel coordinates (x, y) of the image, through the WCS."""
    lines = overlay.contours[key]
    if not lines:
        return np.zeros((0, 2))
    vertices = np.concatenate(lines)
    world = overlay.display_map.wcs.pixel_to_world(vertices[:, 0], vertices[:, 1])
    x, y = image.wcs.world_to_pixel(world)
    return np.column_stack([x, y])


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` or of its complement having a 4-neighbour on the other side."""
    padded = np.pad(mask, 1, mode="edge")
    differs = np.zeros_like(mask)
    for neighbour in (padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]):
        differs |= neighbour != mask
    return differs


def assert_on_boundary(points: np.ndarray, truth: np.ndarray, tolerance: float) -> None:
    """Every point within ``tolerance`` image pixels of the true boundary, and the boundary covered by them."""
    edge = boundary(truth)
    assert len(points) > 20, "too few contour vertices"
    distance_to_edge = ndimage.distance_transform_edt(~edge)
    columns = np.clip(np.rint(points[:, 0]).astype(int), 0, truth.shape[1] - 1)
    rows = np.clip(np.rint(points[:, 1]).astype(int), 0, truth.shape[0] - 1)
    far = distance_to_edge[rows, columns] > tolerance
    assert not far.any(), f"{far.sum()} of {len(points)} contour vertices farther than {tolerance} px from the boundary"
    drawn = np.zeros_like(truth)
    drawn[rows, columns] = True
    covered = ndimage.distance_transform_edt(~drawn)[edge] <= tolerance
    assert covered.mean() >= 0.95, f"the contours miss {100 * (1 - covered.mean()):.1f} % of the boundary"


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
def test_contours_lie_on_the_region_boundaries(scene: dict, max_size: int, factor: int) -> None:
    overlay = draw_overlay(scene["ch_map"], scene["ar_map"], scene["image"], max_size=max_size)
    assert overlay.display_map.data.shape == (512 // factor, 512 // factor)
    image = image_map(scene["image"])
    for key, truth in (("CH", scene["ch_true"]), ("AR", scene["ar_true"])):
        assert_on_boundary(in_image_pixels(overlay, key, image), truth, tolerance=factor + 1.0)


def test_contours_are_smooth_lines_not_pixel_staircases(scene: dict) -> None:
    """Along a staircase every segment is horizontal or vertical; along a region boundary most are not."""
    overlay = draw_overlay(scene["ch_map"], scene["ar_map"], scene["image"], max_size=512)
    segments = np.concatenate([np.diff(line, axis=0) for line in overlay.contours["AR"]])
    oblique = (np.abs(segments[:, 0]) > 0.05) & (np.abs(segments[:, 1]) > 0.05)
    assert oblique.mean() > 0.6


def test_ar_map_offset_is_corrected(scene: dict) -> None:
    """Without the CRPIX shift the AR contour would be 6 pixels off: it must be on the true AR boundary."""
    overlay = draw_overlay(scene["ch_map"], scene["ar_map"], scene["image"], max_size=512)
    points = in_image_pixels(overlay, "AR", image_map(scene["image"]))
    assert_on_boundary(points, scene["ar_true"], tolerance=2.0)
    shifted = np.zeros_like(scene["ar_true"])
    shifted[:, 6:] = scene["ar_true"][:, :-6]
    distance = ndimage.distance_transform_edt(~boundary(shifted))
    columns, rows = np.rint(points[:, 0]).astype(int), np.rint(points[:, 1]).astype(int)
    assert (distance[rows, columns] > 2.0).mean() > 0.3


@pytest.mark.parametrize("roll", [30.0, -100.0])
def test_north_up_whatever_the_roll(roll: float, tmp_path: Path) -> None:
    """A rolled image is drawn north up: the display WCS has no rotation, the contours still land on the true
    boundaries through the rolled image's WCS, and the displayed intensities are the image's at the same place."""
    image_path = write_aia_file(tmp_path / "AIA20260320_060000_0193.fits", DATE, 193, size=384, seed=4, masks=True,
                                roll=roll)
    header = fits.getheader(image_path, 1)
    ar_true = fits.getdata(mask_paths(image_path)[0]).astype(bool)
    ch_true = fits.getdata(mask_paths(image_path)[1]).astype(bool)
    disk = disk_mask(header, ar_true.shape)
    ch_map = write_segmentation_map(tmp_path / "ch.fits", np.where(ch_true, 1, np.where(disk, 2, 0)), header)
    ar_map = write_segmentation_map(tmp_path / "ar.fits", np.where(ar_true, 3, np.where(disk, 1, 0)), header)
    overlay = draw_overlay(ch_map, ar_map, image_path, max_size=384)
    np.testing.assert_allclose(overlay.display_map.rotation_matrix, np.eye(2), atol=1e-12)
    image = image_map(image_path)
    assert_on_boundary(in_image_pixels(overlay, "AR", image), ar_true, tolerance=2.0)
    assert_on_boundary(in_image_pixels(overlay, "CH", image), ch_true, tolerance=2.0)
    rows, columns = np.mgrid[40:340:7, 40:340:7]
    world = overlay.display_map.wcs.pixel_to_world(columns.ravel(), rows.ravel())
    x, y = image.wcs.world_to_pixel(world)
    original = ndimage.map_coordinates(image.data / header["EXPTIME"], [y, x], order=1)
    shown = overlay.display_map.data[rows.ravel(), columns.ravel()]
    keep = np.isfinite(shown) & (original > 0)
    assert keep.mean() > 0.9
    assert np.median(np.abs(shown[keep] - original[keep]) / original[keep]) < 0.05
    assert np.corrcoef(shown[keep], original[keep])[0, 1] > 0.95


def test_stretch_keeps_active_region_cores_and_coronal_holes_apart(scene: dict) -> None:
    """Asinh stretch: no disc pixel saturated (the AR cores stay bright), CH well below the quiet Sun."""
    overlay = draw_overlay(scene["ch_map"], scene["ar_map"], scene["image"], max_size=512)
    assert isinstance(overlay.norm.stretch, AsinhStretch)
    header = fits.getheader(scene["image"], 1)
    data = overlay.display_map.data
    disk = disk_mask(header, data.shape) & np.isfinite(data)
    stretched = np.asarray(overlay.norm(data))
    assert (stretched[disk] >= 0.999).mean() < 1e-4
    assert stretched[scene["ar_true"] & disk].max() > 0.9
    quiet = disk & ~scene["ar_true"] & ~scene["ch_true"]
    assert np.median(stretched[quiet]) - np.median(stretched[scene["ch_true"] & disk]) > 0.15
    assert np.median(stretched[scene["ar_true"] & disk]) - np.median(stretched[quiet]) > 0.1


def test_readable_on_sunpys_128_pixel_image(sunpy_aia_171: Path, tmp_path: Path) -> None:
    """The title, the axis labels and the colour bar fit in the PNG whatever the image size."""
    image = image_map(sunpy_aia_171)
    header = fits.getheader(sunpy_aia_171)
    classes = np.zeros(image.data.shape, dtype=np.int32)
    classes[40:60, 70:90] = 3
    ar_map = write_segmentation_map(tmp_path / "ar.fits", classes, header)
    ch_map = write_segmentation_map(tmp_path / "ch.fits", np.where(classes == 3, 2, 1), header)
    overlay = draw_overlay(ch_map, ar_map, sunpy_aia_171)
    figure = overlay.figure
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = figure.bbox
    (axes, colour_axes) = figure.axes
    everything = figure.get_tightbbox(renderer)  # in inches: every artist, the labels included
    assert everything.x0 >= 0 and everything.y0 >= 0
    assert everything.x1 * figure.dpi <= page.x1 and everything.y1 * figure.dpi <= page.y1, "something is cut off"
    for text in (axes.title, colour_axes.yaxis.label):
        box = text.get_window_extent(renderer)
        assert box.width > 0 and page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, \
            f"{text.get_text()!r} is cut off"
    assert "AIA 171" in axes.title.get_text() and "2011-02-15" in axes.title.get_text()
    assert colour_axes.get_ylabel() == "intensity [DN/s]"
    assert "arcsec" in axes.coords[0].get_axislabel() and "arcsec" in axes.coords[1].get_axislabel()
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        "coronal holes (CH class 1)", "active regions (AR class 3)", "limb"]
    png = write_overlay(ch_map, ar_map, sunpy_aia_171, tmp_path / "overlay.png")
    with Image.open(png) as picture:
        assert picture.size == FIGURE_PIXELS


def test_uncompressed_map(scene: dict, tmp_path: Path) -> None:
    """A map in HDU 0, shifted the other way, is placed on the image like the compressed one."""
    ar_classes = np.where(scene["ar_true"], 3, 0)
    header = fits.getheader(scene["image"], 1)
    ar_map = write_segmentation_map(tmp_path / "ar.fits", ar_classes, header, shift=(-5, 7), compressed=False)
    overlay = draw_overlay(scene["ch_map"], ar_map, scene["image"], max_size=512)
    assert_on_boundary(in_image_pixels(overlay, "AR", image_map(scene["image"])), scene["ar_true"], tolerance=2.0)


def test_classes_select_the_regions(scene: dict) -> None:
    """A class absent from the maps draws nothing; the quiet-Sun class of the CH map outlines the disc."""
    overlay = draw_overlay(scene["ch_map"], scene["ar_map"], scene["image"], ch_class=2, ar_class=7, max_size=512)
    assert overlay.contours["AR"] == []
    header = fits.getheader(scene["image"], 1)
    quiet_true = disk_mask(header, (512, 512)) & ~scene["ch_true"]
    assert_on_boundary(in_image_pixels(overlay, "CH", image_map(scene["image"])), quiet_true, tolerance=2.0)


def test_off_disc_ch_class_is_not_drawn(scene: dict, tmp_path: Path) -> None:
    """SPoCA puts the dark corona beyond the limb in the CH class: only the on-disc coronal holes are drawn."""
    header = fits.getheader(scene["image"], 1)
    disk = disk_mask(header, (512, 512))
    ch_classes = np.where(disk, 2, 1)  # every off-disc pixel in the CH class, as in a real CH map
    ch_classes[scene["ch_true"]] = 1
    ch_map = write_segmentation_map(tmp_path / "ch.fits", ch_classes, header)
    overlay = draw_overlay(ch_map, scene["ar_map"], scene["image"], max_size=512)
    points = in_image_pixels(overlay, "CH", image_map(scene["image"]))
    radius = header["RSUN_OBS"] / header["CDELT1"]
    distance = np.hypot(points[:, 0] - (header["CRPIX1"] - 1), points[:, 1] - (header["CRPIX2"] - 1))
    assert distance.max() <= radius + 1.5, "CH contour drawn off the disc"
    assert_on_boundary(points, scene["ch_true"], tolerance=2.0)


@pytest.mark.parametrize("data_format", ["int32_bscale", "float32"])
def test_uncompressed_images(data_format: str, scene: dict, tmp_path: Path) -> None:
    """Uncompressed images (HDU 0) are drawn like the compressed one, contours at the same places."""
    image = write_aia_file(tmp_path / "image.fits", DATE, 193, size=512, seed=3, data_format=data_format)
    overlay = draw_overlay(scene["ch_map"], scene["ar_map"], image, max_size=256)
    assert overlay.display_map.data.shape == (256, 256)
    assert_on_boundary(in_image_pixels(overlay, "CH", image_map(image)), scene["ch_true"], tolerance=3.0)


def test_unknown_wavelength_and_no_exptime(scene: dict, tmp_path: Path) -> None:
    """No sunpy colour map for WAVELNTH 6173 and no EXPTIME: still a picture, in grey levels, in DN."""
    image = write_aia_file(tmp_path / "image.fits", DATE, 193, size=512, seed=3,
                           header_overrides={"WAVELNTH": 6173}, drop_keywords=("EXPTIME",))
    overlay = draw_overlay(scene["ch_map"], scene["ar_map"], image, max_size=512)
    (axes, colour_axes) = overlay.figure.axes
    assert axes.get_images()[0].get_cmap().name.startswith("gray")
    assert colour_axes.get_ylabel() == "intensity [DN] (no EXPTIME)"
    assert overlay.contours["AR"]


def test_command_line(scene: dict, tmp_path: Path, umask: int) -> None:
    png = tmp_path / "sub" / "overlay.png"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "overlay.py"), str(scene["ch_map"]), str(scene["ar_map"]),
         str(scene["image"]), "-o", str(png), "--max-size", "128"],
        capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    with Image.open(png) as picture:
        assert picture.format == "PNG"
        assert picture.size == FIGURE_PIXELS
        rgb = np.asarray(picture.convert("RGB")).astype(int)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 200  # an image, not a blank page
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
