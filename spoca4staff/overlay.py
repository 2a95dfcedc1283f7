"""Draw the SPoCA coronal-hole and active-region contours over an AIA image, for operators to judge by eye.

One PNG per time step and wavelength, made to be read by a solar physicist at any input size:

* the AIA image in sunpy's colour map for its wavelength, north up whatever the roll of the image (rotated
  about the reference pixel by CROTA2), on helioprojective axes in arcsec (astropy's WCSAxes with the image's
  WCS, through a sunpy Map), with a colour bar in DN/s;
* an asinh stretch between the 0.5th percentile of the disc and the brightest disc pixel, so that the cores
  of active regions are not saturated while the quiet Sun and the coronal holes keep their contrast;
* the contours of the coronal-hole class of the CH map (on the disc only, as the STAFF statistics measure
  them) and of the active-region class of the AR map, drawn along the region boundaries: the class masks are
  smoothed by a Gaussian of one display pixel before the 0.5 level is traced, so that the lines follow the
  boundaries instead of the pixel staircase;
* the solar limb, a legend, and the channel and observation time in the title.

The PNG has a fixed size (:data:`FIGURE_PIXELS`) whatever the image size, so that the text stays readable on
sunpy's 128x128 test image as on a 4096x4096 one. A large image is first block-averaged down to at most
``max_size`` pixels on a side (the maps sampled with the nearest neighbour at the centres of the blocks), so that
a 4096x4096 time step costs well under a second after the one-off imports (``make bench``):

* display pixel ``(I, J)`` (column, row from the bottom, like FITS) is the mean of the image pixels
  ``[I·f, I·f + f) x [J·f, J·f + f)``, with ``f = ceil(max(W, H) / max_size)``; its centre is at image pixel
  ``I·f + (f - 1) / 2``.

The segmentation maps may be on a slightly different grid from the image (the AR map has the WCS of the 171
image, the CH map that of the 193 image): each map is placed on the image by its own sun centre and pixel scale
(a roll between the two is ignored, it is negligible for SDO).

The pipeline draws them after the STAFF statistics (``[OVERLAYS]``); ``scripts/overlay.py`` is the command line
for one picture.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import astropy.units as u  # noqa: E402
import fitsio  # noqa: E402
import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.visualization import AsinhStretch, ImageNormalize  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402
from scipy import ndimage  # noqa: E402

import sunpy.visualization.colormaps  # noqa: E402,F401  (registers the sdoaiaNNN colour maps with matplotlib)

from spoca4staff.aia_file import AiaFile, AiaFileError, observation_datetime, observation_time  # noqa: E402
from spoca4staff.atomic_file import atomic_write  # noqa: E402

__all__ = [
    "AR_COLOUR",
    "CH_COLOUR",
    "DEFAULT_MAX_SIZE",
    "FIGURE_PIXELS",
    "DisplayGrid",
    "Overlay",
    "OverlayError",
    "display_factor",
    "draw_overlay",
    "write_overlay",
]

LOGGER = logging.getLogger(__name__)

#: Contour colours: cyan and magenta, which no AIA colour map contains.
CH_COLOUR = "#00ffff"
AR_COLOUR = "#ff00ff"
LIMB_COLOUR = "white"
#: Size in pixels (width, height) of every overlay PNG.
FIGURE_PIXELS = (900, 780)
#: Where the image axes are in the PNG: left and bottom offsets and side, in pixels (square).
_AXES_PIXELS = (110, 70, 640)
#: Default ``max_size``: the side of the image axes, so that the image is drawn about one display pixel per PNG pixel.
DEFAULT_MAX_SIZE = _AXES_PIXELS[2]
_DPI = 100
_CONTOUR_WIDTH_POINTS = 1.1
#: Width (sigma, display pixels) of the Gaussian smoothing of the class masks before their contour is traced.
_SMOOTHING = 1.0
#: Low end of the stretch: this percentile of the finite disc pixels.
_LOW_PERCENTILE = 0.5
#: Asinh softening: the stretch is linear below about this fraction of the range, logarithmic above.
_ASINH_A = 0.03
#: Rolls smaller than this (degrees) are not corrected: the rotation would move nothing by a display pixel.
_MIN_ROLL = 0.01


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


@dataclass
class Overlay:
    """A drawn overlay: the figure and what it shows.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
        The figure, :data:`FIGURE_PIXELS` in size at its dpi.
    display_map : sunpy.map.GenericMap
        The displayed (block-averaged, north-up) image, in DN/s; its WCS is that of the axes, so that the pixel
        coordinates of the contours are its pixel coordinates.
    contours : dict
        ``"CH"`` and ``"AR"`` to the list of contour lines, each an (N, 2) array of display pixel coordinates
        (x, y), empty when the class has no pixel.
    norm : astropy.visualization.ImageNormalize
        The stretch of the image.
    """

    figure: Figure
    display_map: object
    contours: dict[str, list[np.ndarray]]
    norm: ImageNormalize


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
    """Sun centre, pixel scale and radius of an image or a map, by the rules of :class:`~spoca4staff.aia_file.AiaFile`
    (CRPIX1/2, CDELT1, RSUN_OBS else R_SUN)."""
    record = AiaFile(path, 0, header)
    try:
        (cx, cy), cdelt, radius = record.sun_centre, record.pixel_scale, record.radius
    except AiaFileError as error:
        raise OverlayError(f"{path}: {error}") from error
    if cdelt < 0:
        raise OverlayError(f"{path}: unusable CDELT1 {cdelt} in the header")
    return _SunGrid(cx=cx, cy=cy, cdelt=cdelt, radius=radius)


def _display_image(path: Path, max_size: int) -> tuple[np.ndarray, fits.Header, DisplayGrid, bool]:
    """Read an AIA image, block-average it to display size, then apply BSCALE/BZERO and divide by EXPTIME
    (the last item: whether it could be, or the picture is in DN).

    The scaling is linear, so applying it after the averaging gives the same result for a fraction of the cost.
    BLANK pixels of integer images are NaN; a block containing a NaN pixel is NaN (drawn black).
    """
    raw, header = _read_fits(path, scale=False)
    grid_factor = display_factor(raw.shape, max_size)
    height, width = raw.shape[0] // grid_factor, raw.shape[1] // grid_factor
    if height == 0 or width == 0:
        raise OverlayError(f"{path}: image of shape {raw.shape} is too small")

    def blocks(array: np.ndarray) -> np.ndarray:
        return array[: height * grid_factor, : width * grid_factor].reshape(height, grid_factor, width, grid_factor)

    image = blocks(raw).mean(axis=(1, 3), dtype=np.float32)  # NaN pixels of float images make NaN blocks
    if np.issubdtype(raw.dtype, np.integer) and "BLANK" in header:
        image[blocks(raw == header["BLANK"]).any(axis=(1, 3))] = np.nan
    image = image * np.float32(header.get("BSCALE", 1.0)) + np.float32(header.get("BZERO", 0.0))
    exposure = _exposure(header, path)
    if exposure is not None:
        image /= np.float32(exposure)
    return image, header, DisplayGrid(factor=grid_factor, width=width, height=height), exposure is not None


def _exposure(header: fits.Header, path: Path) -> float | None:
    """The exposure time of :class:`~spoca4staff.aia_file.AiaFile`, or None (said once) when it is not usable:
    the picture is then drawn in DN."""
    try:
        return AiaFile(path, 0, header).exposure
    except AiaFileError as error:
        LOGGER.warning("%s: %s, intensities not normalised", path, error)
        return None


def _read_rows(hdu: fitsio.hdu.ImageHDU, rows: np.ndarray) -> np.ndarray:
    """The image rows ``rows`` (sorted, distinct, in range) of an HDU, read with one strided read on a regular grid."""
    if rows.size == 0:
        return np.zeros((0, hdu.get_dims()[1]), dtype=np.int32)
    steps = np.diff(rows)
    if steps.size == 0 or (steps == steps[0]).all():
        step = int(steps[0]) if steps.size else 1
        return np.asarray(hdu[int(rows[0]):int(rows[-1]) + 1:step, :])
    return np.asarray(hdu[int(rows[0]):int(rows[-1]) + 1, :])[rows - rows[0]]


def _sample_map(path: Path, image_sun: _SunGrid, grid: DisplayGrid) -> np.ndarray:
    """Sample a segmentation map at the centres of the display pixels (nearest neighbour, 0 outside the map).

    The image point at ``x`` (0-based image pixels) is the map point ``cx_map + (x - cx_image)·s`` with
    ``s = CDELT1_image / CDELT1_map``, the same for y. Only the sampled rows are read, with cfitsio (``fitsio``):
    the maps are tile-compressed one row per tile, and cfitsio decompresses just the rows asked for, several
    times faster than astropy decompresses a whole map.
    """
    try:
        with fitsio.FITS(str(path)) as hdus:
            hdu = next((hdu for hdu in hdus if hdu.get_exttype() == "IMAGE_HDU" and len(hdu.get_dims()) == 2), None)
            if hdu is None:
                raise OverlayError(f"{path}: no 2-D image in any HDU")
            header = fits.Header.fromstring("".join(record["card_string"].ljust(80)
                                                    for record in hdu.read_header().records()))
            map_sun = _sun_grid(header, path)
            height, width = hdu.get_dims()
            scale = image_sun.cdelt / map_sun.cdelt
            columns = np.rint(map_sun.cx + (grid.centres(grid.width) - image_sun.cx) * scale).astype(np.intp)
            rows = np.rint(map_sun.cy + (grid.centres(grid.height) - image_sun.cy) * scale).astype(np.intp)
            valid_columns = (columns >= 0) & (columns < width)
            valid_rows = (rows >= 0) & (rows < height)
            needed = np.unique(rows[valid_rows])
            data = _read_rows(hdu, needed)
    except OverlayError:
        raise
    except Exception as error:  # cfitsio's errors for damaged files come as OSError, ValueError...
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]  # cfitsio adds its error stack
        raise OverlayError(f"{path}: cannot read FITS image: {first_line}") from error
    sampled = np.zeros((grid.height, grid.width), dtype=data.dtype)
    where = np.searchsorted(needed, rows[valid_rows])
    sampled[np.ix_(valid_rows, valid_columns)] = data[np.ix_(where, columns[valid_columns])]
    return sampled


def _on_disc(sun: _SunGrid, grid: DisplayGrid) -> np.ndarray:
    """Display pixels whose centre lies on the solar disc (distance to the sun centre at most R)."""
    dx = grid.centres(grid.width) - sun.cx
    dy = grid.centres(grid.height) - sun.cy
    return dy[:, np.newaxis] ** 2 + dx[np.newaxis, :] ** 2 <= sun.radius**2


def _observation_time(header: fits.Header) -> str:
    """The observation time of :class:`~spoca4staff.aia_file.AiaFile` (T_OBS, else DATE-OBS, else DATE_OBS), as
    ``YYYY-MM-DD HH:MM:SS UTC``; the raw string when it is not a date, ``unknown time`` when there is none."""
    try:
        text = observation_time(header)
    except AiaFileError:
        return "unknown time"
    try:
        when: datetime = observation_datetime(header)
    except AiaFileError:
        return text.rstrip("Z")
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _colour_map(header: fits.Header) -> tuple[object, str]:
    """sunpy's AIA colour map for the image's WAVELNTH (grey for an unknown wavelength) and a channel label."""
    wavelength = header.get("WAVELNTH")
    try:
        channel = AiaFile(Path(), 0, header).wavelength
        label, cmap = f"AIA {channel} Å", colormaps[f"sdoaia{channel}"]
    except (AiaFileError, KeyError):
        LOGGER.warning("no sunpy AIA colour map for WAVELNTH=%r, using grey", wavelength)
        label = f"WAVELNTH {wavelength}" if wavelength is not None else "image"
        cmap = colormaps["gray"]
    return cmap.with_extremes(bad="black"), label


def _stretch(image: np.ndarray, disc: np.ndarray) -> ImageNormalize:
    """Asinh stretch from the 0.5th percentile of the finite disc pixels to the brightest of them.

    The brightest disc pixel is the top of the range, so no active-region core is saturated; the asinh keeps
    the faint quiet Sun and coronal holes apart. Without a finite disc pixel the whole image is used, and an
    image without any finite pixel gets the range 0 to 1.
    """
    values = image[disc & np.isfinite(image)]
    if values.size == 0:
        values = image[np.isfinite(image)]
    low, high = (float(np.percentile(values, _LOW_PERCENTILE)), float(values.max())) if values.size else (0.0, 1.0)
    if not high > low:
        high = low + 1.0
    return ImageNormalize(vmin=low, vmax=high, stretch=AsinhStretch(a=_ASINH_A), clip=True)


_OBSERVER_KEYWORDS = ("DATE-OBS", "DATE_OBS", "T_OBS", "DSUN_OBS", "HGLN_OBS", "HGLT_OBS", "CRLN_OBS", "CRLT_OBS",
                      "RSUN_REF", "RSUN_OBS", "WAVELNTH", "WAVEUNIT", "TELESCOP", "INSTRUME", "CTYPE1", "CTYPE2",
                      "CUNIT1", "CUNIT2", "CRVAL1", "CRVAL2")


def _display_header(header: fits.Header, grid: DisplayGrid, normalised: bool) -> dict[str, object]:
    """The header of the displayed image: the image's WCS on the display grid, north up (no rotation)."""
    display: dict[str, object] = {key: header[key] for key in _OBSERVER_KEYWORDS if key in header}
    display.setdefault("CTYPE1", "HPLN-TAN")
    display.setdefault("CTYPE2", "HPLT-TAN")
    display.setdefault("CUNIT1", "arcsec")
    display.setdefault("CUNIT2", "arcsec")
    display.setdefault("CRVAL1", 0.0)
    display.setdefault("CRVAL2", 0.0)
    display.update(NAXIS=2, NAXIS1=grid.width, NAXIS2=grid.height,
                   CRPIX1=float(grid.to_display(float(header["CRPIX1"]) - 1)) + 1,
                   CRPIX2=float(grid.to_display(float(header["CRPIX2"]) - 1)) + 1,
                   CDELT1=float(header["CDELT1"]) * grid.factor,
                   CDELT2=float(header.get("CDELT2", header["CDELT1"])) * grid.factor,
                   BUNIT="DN/s" if normalised else "DN")
    return display


def _roll_matrix(roll: float) -> np.ndarray:
    """``PC`` for CROTA2 = ``roll`` degrees: ``[[cos θ, -sin θ], [sin θ, cos θ]]`` in (x, y) order."""
    angle = math.radians(roll)
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def _north_up_image(image: np.ndarray, roll: float, centre: tuple[float, float]) -> np.ndarray:
    """Rotate the display image about ``centre`` (x, y) so that solar north is up, for an image rolled by ``roll``.

    With CROTA2 = θ, the intermediate world coordinates of pixel ``p`` are ``PC (p - c)``; the north-up pixel
    ``q`` of the same point is ``c + PC (p - c)``, so each output pixel ``q`` takes the value at
    ``p = c + PCᵀ (q - c)`` (bilinear; NaN outside the image).
    """
    transposed = _roll_matrix(roll).T  # PCᵀ in (x, y) order
    matrix = transposed[::-1, ::-1]  # the same in (row, column) = (y, x) order
    centre_yx = np.array([centre[1], centre[0]])
    offset = centre_yx - matrix @ centre_yx
    return ndimage.affine_transform(image, matrix, offset=offset, order=1, cval=np.nan, mode="constant")


def _north_up_lines(lines: list[np.ndarray], roll: float, centre: tuple[float, float]) -> list[np.ndarray]:
    """Move contour vertices (x, y) of the rolled display image to the north-up one: ``q = c + PC (p - c)``."""
    matrix, origin = _roll_matrix(roll), np.asarray(centre)
    return [origin + (line - origin) @ matrix.T for line in lines]


def _outline(mask: np.ndarray) -> list[np.ndarray]:
    """The boundary lines of a class mask: the 0.5 level of the mask smoothed by one display pixel."""
    if not mask.any():
        return []
    import contourpy

    smooth = ndimage.gaussian_filter(mask.astype(np.float32), _SMOOTHING, mode="constant")
    return [line for line in contourpy.contour_generator(z=smooth).lines(0.5) if len(line) > 1]


def _roll(header: fits.Header, path: Path) -> float:
    try:
        return AiaFile(path, 0, header).roll
    except AiaFileError as error:
        raise OverlayError(f"{path}: {error}") from error


def _tick_spacing(display_map) -> float:
    """A round tick spacing in arcsec giving 4 to 10 ticks across the field of view."""
    width = abs(float(display_map.meta["cdelt1"])) * display_map.data.shape[1]
    for spacing in (50, 100, 200, 250, 500, 1000, 2000, 5000):
        if width / spacing <= 8:
            return float(spacing)
    return 10000.0


def _colour_bar_ticks(norm: ImageNormalize) -> list[float]:
    """Round intensities (1, 2, 5 x 10^n and 0) spread along the stretched colour bar, none closer than 6 %."""
    low, high = float(norm.vmin), float(norm.vmax)
    candidates = [0.0] + [m * 10.0**e for e in range(-2, 8) for m in (1, 2, 5)]
    ticks: list[float] = []
    for value in sorted(value for value in candidates if low <= value <= high):
        if not ticks or float(norm(value)) - float(norm(ticks[-1])) >= 0.06:
            ticks.append(value)
    return ticks


def _draw(display_map, norm: ImageNormalize, header: fits.Header, contours: dict[str, list[np.ndarray]],
          labels: tuple[str, str], sun: tuple[float, float, float], normalised: bool) -> Figure:
    """Build the figure: the image on helioprojective axes, the contours, the limb, the colour bar, the legend."""
    from matplotlib.collections import LineCollection

    figure = Figure(figsize=(FIGURE_PIXELS[0] / _DPI, FIGURE_PIXELS[1] / _DPI), dpi=_DPI)
    width_px, height_px = FIGURE_PIXELS
    left, bottom, side = _AXES_PIXELS
    axes = figure.add_axes((left / width_px, bottom / height_px, side / width_px, side / height_px),
                           projection=display_map.wcs, facecolor="black")
    cmap, channel = _colour_map(header)
    # NaN (BLANK pixels, corners rotated in) as the bottom of the colour map: matplotlib would make them
    # transparent at the image edges when resampling.
    shown = np.where(np.isfinite(display_map.data), display_map.data, float(norm.vmin))
    picture = axes.imshow(shown, cmap=cmap, norm=norm, origin="lower", interpolation="nearest")
    for key, colour in (("CH", CH_COLOUR), ("AR", AR_COLOUR)):
        if contours[key]:
            axes.add_collection(LineCollection(contours[key], colors=colour, linewidths=_CONTOUR_WIDTH_POINTS,
                                               zorder=3))
    axes.add_patch(Circle(sun[:2], sun[2], fill=False, edgecolor=LIMB_COLOUR, linewidth=0.9, linestyle="--",
                          alpha=0.8, zorder=2))
    height, width = display_map.data.shape
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(-0.5, height - 0.5)
    x_axis, y_axis = axes.coords[0], axes.coords[1]
    for coordinate, label in ((x_axis, "Solar X (helioprojective longitude) [arcsec]"),
                              (y_axis, "Solar Y (helioprojective latitude) [arcsec]")):
        coordinate.set_format_unit(u.arcsec, decimal=True)
        coordinate.set_major_formatter("s")
        coordinate.set_ticks(spacing=_tick_spacing(display_map) * u.arcsec)
        coordinate.set_axislabel(label, fontsize=11)
        coordinate.set_ticklabel(fontsize=10)
    axes.set_title(f"SDO/{channel}   {_observation_time(header)}   (north up)", fontsize=13, pad=10)
    colour_axes = figure.add_axes(((left + side + 25) / width_px, bottom / height_px, 20 / width_px,
                                   side / height_px))
    bar = figure.colorbar(picture, cax=colour_axes, ticks=_colour_bar_ticks(norm))
    bar.ax.set_yticklabels([f"{tick:g}" for tick in bar.get_ticks()])
    bar.set_label("intensity [DN/s]" if normalised else "intensity [DN] (no EXPTIME)", fontsize=11)
    bar.ax.tick_params(labelsize=9)
    handles = [Line2D([], [], color=CH_COLOUR, linewidth=2, label=labels[0]),
               Line2D([], [], color=AR_COLOUR, linewidth=2, label=labels[1]),
               Line2D([], [], color=LIMB_COLOUR, linewidth=1.2, linestyle="--", label="limb")]
    legend = axes.legend(handles=handles, loc="upper left", fontsize=9, framealpha=0.6, facecolor="black",
                         edgecolor="none", labelcolor="white")
    legend.set_zorder(5)
    return figure


def draw_overlay(ch_map: str | os.PathLike[str], ar_map: str | os.PathLike[str], image: str | os.PathLike[str], *,
                 ch_class: int = 1, ar_class: int = 3, max_size: int = DEFAULT_MAX_SIZE) -> Overlay:
    """Draw the overlay of ``image`` with the CH and AR contours of two maps (arguments of :func:`write_overlay`)."""
    import sunpy.map

    image_path = Path(image)
    display, header, grid, normalised = _display_image(image_path, max_size)
    sun = _sun_grid(header, image_path)
    ch = (_sample_map(Path(ch_map), sun, grid) == ch_class) & _on_disc(sun, grid)
    ar = _sample_map(Path(ar_map), sun, grid) == ar_class
    centre = (float(grid.to_display(sun.cx)), float(grid.to_display(sun.cy)))
    norm = _stretch(display, _on_disc(sun, grid))
    contours = {"CH": _outline(ch), "AR": _outline(ar)}
    roll = _roll(header, image_path)
    if abs(roll) >= _MIN_ROLL:
        display = _north_up_image(display, roll, centre)
        contours = {key: _north_up_lines(lines, roll, centre) for key, lines in contours.items()}
    display_map = sunpy.map.Map(display, _display_header(header, grid, normalised))
    labels = (f"coronal holes (CH class {ch_class})", f"active regions (AR class {ar_class})")
    figure = _draw(display_map, norm, header, contours, labels, (*centre, sun.radius / grid.factor), normalised)
    return Overlay(figure=figure, display_map=display_map, contours=contours, norm=norm)


def write_overlay(
    ch_map: str | os.PathLike[str],
    ar_map: str | os.PathLike[str],
    image: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    ch_class: int = 1,
    ar_class: int = 3,
    max_size: int = DEFAULT_MAX_SIZE,
) -> Path:
    """Write a PNG of ``image`` with the CH and AR contours of two SPoCA segmentation maps on top.

    Parameters
    ----------
    ch_map : path
        CH segmentation map written by ``ch_segmentation.x`` (compat 7); its pixels equal to ``ch_class``
        on the solar disc are the coronal holes, drawn in :data:`CH_COLOUR`. Off the disc that class is the
        dark corona, which the STAFF statistics leave out (``CH_ondisc``), so it is not drawn.
    ar_map : path
        AR segmentation map written by ``ar_segmentation.x``; its pixels equal to ``ar_class`` are the active
        regions, drawn in :data:`AR_COLOUR`.
    image : path or AiaFile
        AIA image (tile-compressed in HDU 1 or uncompressed in HDU 0) whose WAVELNTH chooses the colour map and
        whose observation time (:class:`~spoca4staff.aia_file.AiaFile`) goes in the title.
    png : path
        Output PNG (:data:`FIGURE_PIXELS` in size), written atomically; its folder is created when missing.
    ch_class, ar_class : int
        Class numbers of the coronal holes in the CH map and of the active regions in the AR map (the pipeline's
        ``CHClass = 1`` and ``ARClass = 3``).
    max_size : int
        Largest number of display pixels along either axis; larger images are block-averaged.

    Returns
    -------
    Path
        The PNG written.

    Raises
    ------
    OverlayError
        When an input file cannot be read or lacks the keywords needed to place it (message names the file).
    ValueError
        When ``max_size`` is less than 1.
    OSError
        When the PNG cannot be written.
    """
    png_path = Path(png)
    overlay = draw_overlay(ch_map, ar_map, image, ch_class=ch_class, ar_class=ar_class, max_size=max_size)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(png_path) as stream:  # the usual permissions, so that operators can be served the PNG
        overlay.figure.savefig(stream, format="png", dpi=_DPI, pil_kwargs={"compress_level": 1})
    LOGGER.debug("wrote overlay %s", png_path)
    return png_path
