"""Draw the SPoCA coronal-hole and active-region contours over an AIA image, for operators to judge by eye.

One PNG per time step and wavelength: the AIA image shown the way solar physicists look at it (sunpy's AIA
colour map for its wavelength, a square-root stretch between robust percentiles of the disk), the contours of
the coronal-hole class of the CH segmentation map and of the active-region class of the AR segmentation map, the
solar limb, a legend and the observation time.

The picture is made at display resolution: a large image is block-averaged (and the maps sampled with the
nearest neighbour) down to at most ``max_size`` pixels on a side, so that a 4096x4096 time step costs about
half a second of CPU (most of it decompressing the three files), after the one-off imports. The image area of
the PNG maps one display pixel to one PNG pixel, under a header band that holds the title and the legend:

* PNG size: ``width = W // f`` and ``height = H // f + HEADER_PIXELS``, with ``f = ceil(max(W, H) / max_size)``
  (the last ``W % f`` columns and ``H % f`` rows of the image are not shown);
* display pixel ``(I, J)`` (column, row counted from the bottom, like FITS) is the mean of the image pixels
  ``[I·f, I·f + f) x [J·f, J·f + f)`` and is drawn at PNG column ``I`` and PNG row ``height - 1 - J``.

The segmentation maps may be on a slightly different grid from the image (the AR map has the WCS of the 171
image, the CH map that of the 193 image): each map is placed on the image by its own sun centre and pixel scale
(nearest neighbour; a roll between the two is ignored, it is negligible for SDO).

Run as a script::

    python scripts/overlay.py MAP_CH MAP_AR IMAGE -o PNG [--ch-class 1] [--ar-class 3]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
from matplotlib import colormaps  # noqa: E402
import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

import sunpy.visualization.colormaps  # noqa: E402,F401  (registers the sdoaiaNNN colour maps with matplotlib)

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:  # run as ``python scripts/overlay.py``: import the top-level modules
    sys.path.insert(0, str(_REPO_ROOT))

from atomic_file import atomic_write  # noqa: E402

__all__ = [
    "AR_COLOUR",
    "CH_COLOUR",
    "HEADER_PIXELS",
    "DisplayGrid",
    "OverlayError",
    "display_factor",
    "main",
    "write_overlay",
]

LOGGER = logging.getLogger(__name__)

#: Contour colours, pure RGB that no sunpy colour map contains, drawn without antialiasing so that the contour
#: pixels of the PNG have exactly these colours (the tests find them that way).
CH_COLOUR = "#00ffff"
AR_COLOUR = "#ff00ff"
LIMB_COLOUR = "white"
#: Height in pixels of the band above the image that holds the title and the legend.
HEADER_PIXELS = 44
_DPI = 100
#: Below this display width the title and legend use smaller fonts and the legend short labels.
_NARROW_PIXELS = 640
_CONTOUR_WIDTH_POINTS = 1.0
_PERCENTILES = (1.0, 99.5)


class OverlayError(Exception):
    """An input file of the overlay cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class DisplayGrid:
    """How the display pixels relate to the image pixels.

    Display pixel ``(I, J)`` covers the image pixels ``[I·factor, I·factor + factor)`` along x and the same along
    y; its centre is at image pixel ``I·factor + (factor - 1) / 2``.

    Attributes
    ----------
    factor : int
        Number of image pixels per display pixel along each axis.
    width, height : int
        Size of the display image in pixels.
    """

    factor: int
    width: int
    height: int

    def to_display(self, image_coordinate: float | np.ndarray) -> float | np.ndarray:
        """Convert 0-based image pixel coordinates to display pixel coordinates."""
        return (image_coordinate - (self.factor - 1) / 2) / self.factor

    def centres(self, count: int) -> np.ndarray:
        """Image coordinates of the centres of the first ``count`` display pixels along one axis."""
        return np.arange(count) * self.factor + (self.factor - 1) / 2


@dataclass(frozen=True)
class _SunGrid:
    """Sun centre (0-based pixels) and pixel scale (arcsec per pixel) of a FITS image or map."""

    cx: float
    cy: float
    cdelt: float
    radius: float


def display_factor(shape: tuple[int, int], max_size: int) -> int:
    """Return the integer block size that brings an image of ``shape`` (rows, columns) to at most ``max_size``.

    Parameters
    ----------
    shape : tuple of int
        Image shape as (rows, columns).
    max_size : int
        Largest allowed number of display pixels along either axis.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    return max(1, math.ceil(max(shape) / max_size))


def _first_image_hdu(hdul: fits.HDUList, path: Path) -> fits.hdu.base.ExtensionHDU:
    """Return the first HDU of ``hdul`` holding a 2-D image (HDU 1 for tile-compressed files, else HDU 0)."""
    for hdu in hdul:
        if hdu.is_image and hdu.header.get("NAXIS") == 2:
            return hdu
    raise OverlayError(f"{path}: no 2-D image in any HDU")


def _read_fits(path: Path, *, scale: bool = True) -> tuple[np.ndarray, fits.Header]:
    """Read the first 2-D image of a FITS file and its header, turning every failure into an OverlayError.

    With ``scale=False`` the stored integers are returned without BSCALE/BZERO and BLANK handling (cheaper for a
    large image that is averaged down before those are applied).
    """
    try:
        with fits.open(path, memmap=False, do_not_scale_image_data=not scale) as hdul:
            hdu = _first_image_hdu(hdul, path)
            return hdu.data, hdu.header.copy()
    except OverlayError:
        raise
    except Exception as error:  # astropy raises many types for corrupt files, e.g. its CfitsioException
        raise OverlayError(f"{path}: cannot read FITS image: {error}") from error


def _sun_grid(header: fits.Header, path: Path) -> _SunGrid:
    """Sun centre, pixel scale and radius from CRPIX1/2, CDELT1 and RSUN_OBS (spec section 0 and 8.3)."""
    try:
        cx = float(header["CRPIX1"]) - 1
        cy = float(header["CRPIX2"]) - 1
        cdelt = float(header["CDELT1"])
        rsun = float(header["RSUN_OBS"]) if "RSUN_OBS" in header else float(header["R_SUN"]) * cdelt
    except KeyError as error:
        raise OverlayError(f"{path}: keyword {error.args[0]} missing from the header") from error
    except (TypeError, ValueError) as error:
        raise OverlayError(f"{path}: bad WCS keyword value: {error}") from error
    if not (math.isfinite(cx) and math.isfinite(cy) and math.isfinite(rsun) and cdelt > 0):
        raise OverlayError(f"{path}: unusable sun centre, CDELT1 or RSUN_OBS in the header")
    return _SunGrid(cx=cx, cy=cy, cdelt=cdelt, radius=rsun / cdelt)


def _display_image(path: Path, max_size: int) -> tuple[np.ndarray, fits.Header, DisplayGrid]:
    """Read an AIA image, block-average it to display size, then apply BSCALE/BZERO and divide by EXPTIME.

    The scaling is linear, so applying it after the averaging gives the same result for a fraction of the cost.
    BLANK pixels of integer images are NaN; a block containing a NaN pixel is NaN (drawn black).
    """
    raw, header = _read_fits(path, scale=False)
    data = raw.astype(np.float32)
    if np.issubdtype(raw.dtype, np.integer) and "BLANK" in header:
        data[raw == header["BLANK"]] = np.nan
    grid_factor = display_factor(data.shape, max_size)
    height, width = data.shape[0] // grid_factor, data.shape[1] // grid_factor
    if height == 0 or width == 0:
        raise OverlayError(f"{path}: image of shape {data.shape} is too small")
    blocks = data[: height * grid_factor, : width * grid_factor].reshape(height, grid_factor, width, grid_factor)
    image = blocks.mean(axis=(1, 3), dtype=np.float32)
    image = image * np.float32(header.get("BSCALE", 1.0)) + np.float32(header.get("BZERO", 0.0))
    exptime = header.get("EXPTIME")
    if isinstance(exptime, (int, float)) and exptime > 0:
        image /= np.float32(exptime)
    else:
        LOGGER.warning("%s: no usable EXPTIME (%r), intensities not normalised", path, exptime)
    return image, header, DisplayGrid(factor=grid_factor, width=width, height=height)


def _sample_map(path: Path, image_sun: _SunGrid, grid: DisplayGrid) -> np.ndarray:
    """Sample a segmentation map at the centres of the display pixels (nearest neighbour, 0 outside the map).

    The image point at ``x`` (0-based image pixels) is the map point ``cx_map + (x - cx_image)·s`` with
    ``s = CDELT1_image / CDELT1_map``, the same for y.
    """
    data, header = _read_fits(path)
    map_sun = _sun_grid(header, path)
    scale = image_sun.cdelt / map_sun.cdelt
    columns = np.rint(map_sun.cx + (grid.centres(grid.width) - image_sun.cx) * scale).astype(np.intp)
    rows = np.rint(map_sun.cy + (grid.centres(grid.height) - image_sun.cy) * scale).astype(np.intp)
    valid_columns = (columns >= 0) & (columns < data.shape[1])
    valid_rows = (rows >= 0) & (rows < data.shape[0])
    sampled = np.zeros((grid.height, grid.width), dtype=data.dtype)
    sampled[np.ix_(valid_rows, valid_columns)] = data[np.ix_(rows[valid_rows], columns[valid_columns])]
    return sampled


def _on_disc(sun: _SunGrid, grid: DisplayGrid) -> np.ndarray:
    """Display pixels whose centre lies on the solar disc (distance to the sun centre at most R)."""
    dx = grid.centres(grid.width) - sun.cx
    dy = grid.centres(grid.height) - sun.cy
    return dy[:, np.newaxis] ** 2 + dx[np.newaxis, :] ** 2 <= sun.radius**2


def _observation_time(header: fits.Header) -> str:
    """The observation time of :func:`sdo_data.observation_time` (T_OBS, else DATE-OBS, else DATE_OBS), as
    ``YYYY-MM-DD HH:MM:SS UTC``; the raw string when it is not a date, ``unknown time`` when there is none."""
    from sdo_data import SdoDataError, observation_datetime, observation_time

    try:
        text = observation_time(header)
    except SdoDataError:
        return "unknown time"
    try:
        when: datetime = observation_datetime(header)
    except SdoDataError:
        return text.rstrip("Z")
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _colour_map(header: fits.Header) -> tuple[mcolors.Colormap, str]:
    """sunpy's AIA colour map for the image's WAVELNTH (grey for an unknown wavelength) and a channel label."""
    wavelength = header.get("WAVELNTH")
    try:
        label = f"AIA {int(wavelength)}"
        cmap = colormaps[f"sdoaia{int(wavelength)}"]
    except (TypeError, ValueError, KeyError):
        LOGGER.warning("no sunpy AIA colour map for WAVELNTH=%r, using grey", wavelength)
        label = "AIA"
        cmap = colormaps["gray"]
    return cmap.with_extremes(bad="black"), label


def _robust_norm(image: np.ndarray, centre: tuple[float, float], radius: float) -> mcolors.Normalize:
    """Square-root stretch between the 1st and 99.5th percentiles of the finite disk pixels.

    ``centre`` and ``radius`` are in display pixels; when the disk has no finite pixel the whole image is used,
    and an image without any finite pixel gets the limits 0 and 1.
    """
    rows, columns = np.ogrid[: image.shape[0], : image.shape[1]]
    disk = (columns - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2
    values = image[disk & np.isfinite(image)]
    if values.size == 0:
        values = image[np.isfinite(image)]
    low, high = np.percentile(values, _PERCENTILES) if values.size else (0.0, 1.0)
    if not high > low:
        high = low + 1.0
    return mcolors.PowerNorm(gamma=0.5, vmin=float(low), vmax=float(high), clip=True)


def _draw(
    image: np.ndarray,
    header: fits.Header,
    grid: DisplayGrid,
    masks: tuple[np.ndarray, np.ndarray],
    labels: tuple[str, str],
    sun: _SunGrid,
) -> Figure:
    """Build the figure: image, CH and AR contours, limb, title and legend (layout in the module docstring)."""
    width, height = grid.width, grid.height
    total_height = height + HEADER_PIXELS
    figure = Figure(figsize=(width / _DPI, total_height / _DPI), dpi=_DPI, facecolor="black")
    axes = figure.add_axes((0.0, 0.0, 1.0, height / total_height))
    axes.set_axis_off()
    cmap, channel = _colour_map(header)
    centre = (float(grid.to_display(sun.cx)), float(grid.to_display(sun.cy)))
    radius = sun.radius / grid.factor
    axes.imshow(
        image, cmap=cmap, norm=_robust_norm(image, centre, radius), origin="lower", interpolation="nearest",
        aspect="auto", resample=False,
    )
    for mask, colour in zip(masks, (CH_COLOUR, AR_COLOUR), strict=True):
        if mask.any():
            axes.contour(mask.view(np.uint8), levels=[0.5], colors=colour, linewidths=_CONTOUR_WIDTH_POINTS,
                         antialiased=False, zorder=3)
    axes.add_patch(Circle(centre, radius, fill=False, edgecolor=LIMB_COLOUR, linewidth=0.8, linestyle="--",
                          alpha=0.8, zorder=2))
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(-0.5, height - 0.5)
    band = HEADER_PIXELS / total_height
    narrow = width < _NARROW_PIXELS
    figure.text(0.5, 1.0 - 0.25 * band, f"{channel}  {_observation_time(header)}", color="white",
                fontsize=7 if narrow else 9, ha="center", va="center")
    handles = [
        Line2D([], [], color=CH_COLOUR, linewidth=1.5, label=labels[0]),
        Line2D([], [], color=AR_COLOUR, linewidth=1.5, label=labels[1]),
        Line2D([], [], color=LIMB_COLOUR, linewidth=1.0, linestyle="--", label="limb"),
    ]
    figure.legend(handles=handles, loc="center", bbox_to_anchor=(0.5, 1.0 - 0.7 * band), ncol=3,
                  fontsize=6 if narrow else 8, frameon=False, labelcolor="white", handlelength=1.5,
                  columnspacing=1.0, borderpad=0.0)
    return figure


def write_overlay(
    ch_map: str | os.PathLike[str],
    ar_map: str | os.PathLike[str],
    image: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    ch_class: int = 1,
    ar_class: int = 3,
    max_size: int = 1024,
) -> Path:
    """Write a PNG of ``image`` with the CH and AR contours of two SPoCA segmentation maps on top.

    Parameters
    ----------
    ch_map : path
        CH segmentation map written by ``ch_segmentation.x`` (spec section 7); its pixels equal to ``ch_class``
        on the solar disc are the coronal holes, drawn in :data:`CH_COLOUR`. Off the disc that class is the
        dark corona, which the STAFF statistics leave out (``CH_ondisc``), so it is not drawn.
    ar_map : path
        AR segmentation map written by ``ar_segmentation.x``; its pixels equal to ``ar_class`` are the active
        regions, drawn in :data:`AR_COLOUR`.
    image : path
        AIA image (tile-compressed in HDU 1 or uncompressed in HDU 0) whose WAVELNTH chooses the colour map and
        whose T_OBS (else DATE-OBS) goes in the title.
    png : path
        Output PNG, written atomically; its folder is created when missing.
    ch_class, ar_class : int
        Class numbers of the coronal holes in the CH map and of the active regions in the AR map (the pipeline's
        ``CHClass = 1`` and ``ARClass = 3``).
    max_size : int
        Largest number of display pixels along either axis; larger images are block-averaged.

    Returns
    -------
    Path
        The PNG written; its size is given in the module docstring.

    Raises
    ------
    OverlayError
        When an input file cannot be read or lacks the keywords needed to place it (message names the file).
    ValueError
        When ``max_size`` is less than 1.
    OSError
        When the PNG cannot be written.
    """
    image_path, png_path = Path(image), Path(png)
    display, header, grid = _display_image(image_path, max_size)
    sun = _sun_grid(header, image_path)
    ch = (_sample_map(Path(ch_map), sun, grid) == ch_class) & _on_disc(sun, grid)
    ar = _sample_map(Path(ar_map), sun, grid) == ar_class
    if grid.width >= _NARROW_PIXELS:
        labels = (f"coronal holes (CH class {ch_class})", f"active regions (AR class {ar_class})")
    else:
        labels = (f"CH class {ch_class}", f"AR class {ar_class}")
    figure = _draw(display, header, grid, (ch, ar), labels, sun)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(png_path) as stream:  # the usual permissions, so that operators can be served the PNG
        figure.savefig(stream, format="png", dpi=_DPI, facecolor=figure.get_facecolor(),
                       pil_kwargs={"compress_level": 1})
    LOGGER.debug("wrote overlay %s (%dx%d display pixels, factor %d)", png_path, grid.width, grid.height,
                  grid.factor)
    return png_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write a PNG of an AIA image with the coronal-hole contours of a SPoCA CH segmentation map "
        "and the active-region contours of a SPoCA AR segmentation map drawn on top, with the solar limb, a "
        "legend and the observation time. Large images are averaged down to at most --max-size pixels a side.",
    )
    parser.add_argument("ch_map", type=Path, metavar="MAP_CH", help="CH segmentation map (ch_segmentation.x output)")
    parser.add_argument("ar_map", type=Path, metavar="MAP_AR", help="AR segmentation map (ar_segmentation.x output)")
    parser.add_argument("image", type=Path, metavar="IMAGE", help="AIA FITS image to draw the contours on")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PNG", help="PNG file to write")
    parser.add_argument("--ch-class", type=int, default=1, metavar="N",
                        help="class number of coronal holes in MAP_CH (default: %(default)s)")
    parser.add_argument("--ar-class", type=int, default=3, metavar="N",
                        help="class number of active regions in MAP_AR (default: %(default)s)")
    parser.add_argument("--max-size", type=int, default=1024, metavar="PIXELS",
                        help="largest number of display pixels along either axis (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 with a one-line message when an input is bad)."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    try:
        write_overlay(arguments.ch_map, arguments.ar_map, arguments.image, arguments.output,
                      ch_class=arguments.ch_class, ar_class=arguments.ar_class, max_size=arguments.max_size)
    except (OverlayError, ValueError, OSError) as error:
        print(f"overlay.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
