"""Synthetic SDO/AIA level-1 images for the demo, the tests and the benchmark.

The files look like the ones of the JSOC archives: an empty primary HDU and a RICE tile-compressed int16
image in HDU 1 (one tile per row, BLANK = -32768) with a full AIA header and CHECKSUM/DATASUM in every HDU,
laid out like the quicklook archive. The images look like the Sun: a disk with limb brightening (EUV) or limb
darkening (UV and visible), a quiet Sun with a supergranular network texture (log-normal-like, skewed towards
bright lanes, with a per-wavelength contrast), bright active regions with a broad internal brightness distribution
(bright cores, textured plage, fainter halos), dark coronal holes (two polar ones and a low-latitude one),
an off-limb corona falling with height, photon noise, a sun centre a few pixels off the image centre and a
small roll (CROTA2 with a consistent CRPIX). The regions and the textures are defined on the sphere (the
textures as heliographic maps), so that every wavelength and every image size shows the same Sun with its
own contrast, and they rotate with the differential rotation of the Sun from a reference epoch. A realistic
quiet Sun matters: the fuzzy classifiers of SPoCA split a too narrow or featureless intensity distribution
differently from a real one. The true AR and CH masks can be written beside every image.

Everything is deterministic for a given seed: the regions and textures depend on the seed only, the
pointing on the seed and the hour of observation (all channels of a time step share it), the photon noise
on the seed, the observation time and the wavelength.

Example, the demo archive::

    .venv/bin/python scripts/make_synthetic_aia.py demo/archive --start 2026-03-20T00:00 --end 2026-03-21T00:00 \\
        --interval-hours 6 --wavelengths 171 193 --bad-quality 2026-03-20T12:00:193 --missing 2026-03-20T18:00:171
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from astropy.io import fits

from spoca4staff.atomic_file import atomic_write
from spoca4staff.command_line import setup_tool_logging
from spoca4staff.time_window import parse_date

__all__ = [
    "AIA_WAVELENGTHS",
    "ARCHIVE_PATTERN",
    "BAD_QUALITY",
    "DATA_FORMATS",
    "QUICKLOOK_QUALITY",
    "SyntheticImage",
    "archive_path",
    "make_archive",
    "mask_paths",
    "observation_time",
    "render_sun",
    "write_aia_file",
]

LOGGER = logging.getLogger(__name__)

#: The ini pattern that finds the files written by :func:`make_archive` (relative to its root).
ARCHIVE_PATTERN = (
    "{wavelength:04d}/{date.year:04d}/{date.month:02d}/{date.day:02d}/H{date.hour:02d}00/"
    "AIA{date:%Y%m%d_%H%M}??_{wavelength:04d}.fits"
)
#: QUALITY of quicklook files: bit 30 set.
QUICKLOOK_QUALITY = 1 << 30
#: QUALITY given to the files listed as bad: bit 0 (missing telemetry records).
BAD_QUALITY = 1 << 0
#: The accepted values of ``data_format``.
DATA_FORMATS = ("rice_int16", "int16", "int32_bscale", "float32", "float64")

_RSUN_REF = 696_000_000.0  # m, the AIA value
_AU = 149_597_870_691.0  # m, DSUN_REF of AIA headers
_ARCSEC_PER_PIXEL_4096 = 0.599489  # a typical level-1 CDELT at full resolution
_SATURATION = 16383  # DN, the largest value of a level-1 image
_INT16_BLANK = -32768
_INT32_BLANK = -2147483648
_BSCALE = 0.0625


@dataclass(frozen=True)
class _Channel:
    """How one AIA channel sees the synthetic Sun.

    ``quiet`` is the quiet-Sun disk-centre rate (DN/s per pixel), ``active`` and ``hole`` the AR and CH
    intensities relative to the quiet Sun, ``limb`` and ``limb_power`` the centre-to-limb variation
    ``1 + limb * (1 - mu) ** limb_power``, ``corona`` the off-limb intensity just above the limb relative to
    the quiet Sun, ``scale_height`` its e-folding height in solar radii and ``network`` the contrast of the
    quiet-Sun network: the standard deviation of the logarithm of the quiet-Sun intensity (about 0.2 in the
    hot coronal channels, 0.3 to 0.4 in 171, 304 and the UV, almost none in the visible).
    """

    quiet: float
    exptime: float
    active: float
    hole: float
    limb: float
    limb_power: int
    corona: float
    scale_height: float
    instrument: str
    wave_str: str
    offset_seconds: float
    network: float


_CHANNELS: dict[int, _Channel] = {
    94: _Channel(0.8, 2.901, 15.0, 0.5, 0.4, 3, 0.5, 0.08, "AIA_4", "94_THIN", 11.12, 0.25),
    131: _Channel(3.0, 2.901, 8.0, 0.5, 0.4, 3, 0.5, 0.08, "AIA_1", "131_THIN", 6.62, 0.30),
    171: _Channel(130.0, 1.999, 5.0, 0.6, 0.6, 3, 0.7, 0.08, "AIA_3", "171_THIN", 9.35, 0.22),
    193: _Channel(220.0, 1.999, 6.0, 0.15, 0.6, 3, 0.7, 0.10, "AIA_2", "193_THIN", 4.84, 0.15),
    211: _Channel(60.0, 2.901, 8.0, 0.15, 0.6, 3, 0.6, 0.10, "AIA_2", "211_THIN", 9.63, 0.22),
    304: _Channel(25.0, 2.901, 3.0, 0.75, 0.2, 3, 0.4, 0.02, "AIA_4", "304_THIN", 5.13, 0.38),
    335: _Channel(2.5, 2.901, 15.0, 0.2, 0.8, 3, 0.6, 0.10, "AIA_1", "335_THIN", 2.62, 0.20),
    1600: _Channel(40.0, 1.001, 2.5, 0.95, -0.25, 1, 0.0, 0.01, "AIA_3", "1600", 3.12, 0.35),
    1700: _Channel(450.0, 1.001, 1.6, 1.0, -0.35, 1, 0.0, 0.01, "AIA_3", "1700", 6.73, 0.28),
    4500: _Channel(3000.0, 1.001, 0.95, 1.0, -0.6, 1, 0.0, 0.01, "AIA_3", "4500", 7.52, 0.03),
}
#: The AIA wavelengths (angstrom) the generator knows.
AIA_WAVELENGTHS = tuple(_CHANNELS)


@dataclass(frozen=True)
class _Region:
    """A circular region on the sphere: Stonyhurst longitude and latitude (degrees) at the epoch, radius."""

    longitude: float
    latitude: float
    radius: float
    strength: float = 1.0


@dataclass(frozen=True)
class SyntheticImage:
    """One rendered image: noisy counts (DN, float32), true masks and the header (without data keywords)."""

    counts: np.ndarray
    ar_mask: np.ndarray
    ch_mask: np.ndarray
    header: fits.Header
    centre: tuple[float, float]
    radius: float


# ----------------------------------------------------------------------------------------------- dates


def _as_utc(date: datetime | str) -> datetime:
    """A naive UTC datetime from a datetime (naive = UTC, or aware) or an ISO 8601 string."""
    if isinstance(date, str):
        return parse_date(date)
    if date.tzinfo is not None:
        date = date.astimezone(timezone.utc).replace(tzinfo=None)
    return date


def _unix_seconds(date: datetime) -> float:
    """Seconds since 1970-01-01T00:00 UTC of a naive UTC datetime (independent of the machine's time zone)."""
    return (date - datetime(1970, 1, 1)).total_seconds()


def _julian_day(date: datetime) -> float:
    """Julian day of a naive UTC datetime (UTC used as TT: seconds do not matter here)."""
    return (date - datetime(2000, 1, 1, 12)).total_seconds() / 86400.0 + 2451545.0


def _sun_ephemeris(date: datetime) -> dict[str, float]:
    """Approximate Earth-Sun distance (m), B0 and Carrington L0 (degrees) and rotation number at ``date``.

    Low-precision formulas (Astronomical Almanac), good to a fraction of a degree: enough for plausible
    headers, which every consumer reads rather than recomputes.
    """
    jd = _julian_day(date)
    n = jd - 2451545.0
    g = math.radians((357.529 + 0.98560028 * n) % 360.0)
    distance = (1.00014 - 0.01671 * math.cos(g) - 0.00014 * math.cos(2 * g)) * _AU
    mean_longitude = 280.460 + 0.9856474 * n
    ecliptic_longitude = math.radians(mean_longitude + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    node = math.radians(73.6667 + 1.3958333 * (jd - 2396758.0) / 36525.0)
    b0 = math.degrees(math.asin(math.sin(ecliptic_longitude - node) * math.sin(math.radians(7.25))))
    rotations = (jd - 2398140.2270) / 27.2752316
    l0 = (360.0 * (1.0 - (rotations % 1.0))) % 360.0
    return {"distance": distance, "b0": b0, "l0": l0, "carrington_rotation": float(int(rotations) + 1)}


def observation_time(step: datetime | str, wavelength: int) -> datetime:
    """The observation time (DATE-OBS) of ``wavelength`` for the time step ``step``: a few seconds later."""
    return _as_utc(step) + timedelta(seconds=_channel(wavelength).offset_seconds)


def _channel(wavelength: int) -> _Channel:
    try:
        return _CHANNELS[int(wavelength)]
    except KeyError:
        raise ValueError(f"unknown AIA wavelength {wavelength}; known: {', '.join(map(str, _CHANNELS))}") from None


# --------------------------------------------------------------------------------------------- regions


def _regions(seed: int) -> tuple[list[list[_Region]], list[_Region]]:
    """The active regions (each a group of blobs) and coronal holes of ``seed``, at the epoch."""
    rng = np.random.default_rng([seed, 1])
    active: list[list[_Region]] = []
    for index, longitude in enumerate(np.linspace(-50.0, 40.0, 4) + rng.uniform(-6.0, 6.0, 4)):
        latitude = (1 if index % 2 == 0 else -1) * rng.uniform(10.0, 26.0)
        blobs = [_Region(float(longitude), float(latitude), float(rng.uniform(4.5, 7.0)), 1.0)]
        for _ in range(2):
            blobs.append(_Region(float(longitude + rng.uniform(-5.0, 5.0)), float(latitude + rng.uniform(-3.0, 3.0)),
                                 float(rng.uniform(2.5, 4.5)), float(rng.uniform(0.6, 1.0))))
        active.append(blobs)
    holes = [
        _Region(float(rng.uniform(-180, 180)), float(rng.uniform(84.0, 88.0)), float(rng.uniform(24.0, 30.0))),
        _Region(float(rng.uniform(-180, 180)), float(-rng.uniform(84.0, 88.0)), float(rng.uniform(22.0, 28.0))),
    ]
    for _ in range(100):  # a low-latitude hole away from the active regions (bounded search)
        candidate = _Region(float(rng.uniform(-35.0, 35.0)), float(rng.uniform(-20.0, 20.0)), float(rng.uniform(8, 11)))
        if all(_angle(candidate, blob) > candidate.radius + blob.radius + 6.0 for group in active for blob in group):
            holes.append(candidate)
            break
    return active, holes


def _angle(first: _Region, second: _Region) -> float:
    """Angular distance between two region centres (degrees)."""
    return math.degrees(math.acos(min(1.0, float(np.dot(_unit(first), _unit(second))))))


def _unit(region: _Region) -> np.ndarray:
    """Stonyhurst unit vector (x west, y north, z towards the observer) of a region centre."""
    lon, lat = math.radians(region.longitude), math.radians(region.latitude)
    return np.array([math.cos(lat) * math.sin(lon), math.sin(lat), math.cos(lat) * math.cos(lon)])


def _rotated(region: _Region, days: float) -> _Region:
    """The region ``days`` after the epoch, moved by the synodic differential rotation."""
    sin2 = math.sin(math.radians(region.latitude)) ** 2
    rate = 14.713 - 2.396 * sin2 - 1.787 * sin2 * sin2 - 0.9856  # deg/day, synodic
    longitude = (region.longitude + rate * days + 180.0) % 360.0 - 180.0
    return _Region(longitude, region.latitude, region.radius, region.strength)


# -------------------------------------------------------------------------------------------- textures

_TEXTURE_STEP = 0.2  # degrees of heliographic longitude and latitude per pixel of the texture maps
_SUPERGRANULE = 2.5  # degrees, the supergranular cell size (about 30 Mm, 20 arcsec at disk centre)
_PLAGE = 0.8  # degrees, the size of the bright plage and loop-foot structures inside active regions
_HALO = 1.5  # radius of the faint plage halo of an active region, relative to its main blob
_ACTIVE_CONTRAST = 0.5  # standard deviation of the logarithm of the active-region excess brightness


def _band_passed(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """White noise filtered around the wavenumber ``1 / scale`` (degrees), standardised (float64)."""
    k_rows = np.fft.fftfreq(shape[0], d=_TEXTURE_STEP)[:, np.newaxis]
    k_columns = np.fft.rfftfreq(shape[1], d=_TEXTURE_STEP)[np.newaxis, :]
    k = np.hypot(k_rows, k_columns) * scale
    spectrum = np.fft.rfft2(rng.standard_normal(shape)) * (k * np.exp(-k * k))
    field = np.fft.irfft2(spectrum, s=shape)
    return (field - field.mean()) / field.std()


def _lognormal(field: np.ndarray, contrast: float) -> np.ndarray:
    """``exp(contrast * field)`` normalised to a mean of 1 over the map (float32)."""
    modulation = np.exp(contrast * field)
    return (modulation / modulation.mean()).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _texture_fields(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The quiet-Sun network and the active-region structure of ``seed``: standardised heliographic maps.

    Both are maps of (latitude, longitude) at the epoch, :data:`_TEXTURE_STEP` degrees per pixel, so that the
    same Sun looks the same at every image size and wavelength. The network is made of bright thin lanes along
    the borders of supergranular cells (the zero contours of noise band-passed at the cell size), on a weaker
    large-scale modulation: a skewed field with a bright tail, as the real network. Cells get narrower in
    longitude towards the poles (a longitude-latitude map); the polar holes hide most of it.
    """
    rng = np.random.default_rng([seed, 4])
    shape = (round(180.0 / _TEXTURE_STEP), round(360.0 / _TEXTURE_STEP))
    cells = _band_passed(rng, shape, _SUPERGRANULE)
    lanes = np.exp(-((cells / 0.45) ** 2)) + 0.15 * _band_passed(rng, shape, 4.0 * _SUPERGRANULE)
    network = (lanes - lanes.mean()) / lanes.std()
    return network, _band_passed(rng, shape, _PLAGE)


@functools.lru_cache(maxsize=8)
def _texture_map(seed: int, kind: str, contrast: float) -> np.ndarray:
    """The log-normal modulation map (mean 1) of the network (``kind`` "network") or of the active regions."""
    network, active = _texture_fields(seed)
    modulation = _lognormal(network if kind == "network" else active, contrast)
    modulation.flags.writeable = False
    return modulation


def _textured(disk: _Disk, days: float, textures: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The texture maps seen on the disk at ``days`` after the epoch (float32 images, 1 off the disk).

    Each on-disk pixel is taken back to its heliographic position at the epoch (the differential rotation
    moves the texture with the regions) and the maps are interpolated bilinearly there. Done by blocks of
    rows to keep the memory small at 4096 x 4096.
    """
    rows, columns = textures[0].shape
    flat = [texture.ravel() for texture in textures]
    images = [np.ones((disk.size, disk.size), dtype=np.float32) for _ in textures]
    step = np.float32(_TEXTURE_STEP)
    for first in range(0, disk.size, 256):
        box = (slice(first, min(first + 256, disk.size)), slice(None))
        inside = disk.on_disk[box]
        if not inside.any():
            continue
        x, y, z = (component[inside] for component in disk.stonyhurst(box))
        y = np.clip(y, np.float32(-1.0), np.float32(1.0))
        sin2 = y * y
        rate = np.float32(14.713 - 0.9856) - np.float32(2.396) * sin2 - np.float32(1.787) * sin2 * sin2
        longitude = np.degrees(np.arctan2(x, z)) - rate * np.float32(days) + np.float32(180.0)
        u = np.mod(longitude / step - np.float32(0.5), np.float32(columns))
        v = np.clip((np.degrees(np.arcsin(y)) + np.float32(90.0)) / step - np.float32(0.5), 0, rows - 1)
        u0, v0 = np.floor(u), np.floor(v)
        fu, fv = u - u0, v - v0
        i0 = u0.astype(np.int32) % columns
        i1 = (i0 + 1) % columns
        j0 = v0.astype(np.int32) * columns
        j1 = np.minimum(v0.astype(np.int32) + 1, rows - 1) * columns
        for values, image in zip(flat, images, strict=True):
            top = values.take(j0 + i0) * (1 - fu) + values.take(j0 + i1) * fu
            bottom = values.take(j1 + i0) * (1 - fu) + values.take(j1 + i1) * fu
            image[box][inside] = top * (1 - fv) + bottom * fv
    return images


# ------------------------------------------------------------------------------------------- rendering


class _Disk:
    """Per-pixel heliographic geometry of the image: Stonyhurst unit vectors and mu on the disk."""

    def __init__(self, size: int, centre: tuple[float, float], radius: float, roll: float, b0: float) -> None:
        self.size, self.centre, self.radius = size, centre, radius
        self.roll, self.b0 = math.radians(roll), math.radians(b0)
        self.dx = (np.arange(size, dtype=np.float32) - np.float32(centre[0])) / np.float32(radius)
        self.dy = (np.arange(size, dtype=np.float32) - np.float32(centre[1])) / np.float32(radius)
        self.r2 = self.dx[np.newaxis, :] ** 2 + self.dy[:, np.newaxis] ** 2  # the roll does not change distances
        self.on_disk = self.r2 < 1.0
        self.mu = np.sqrt(np.maximum(np.float32(0.0), 1.0 - self.r2))

    def stonyhurst(self, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stonyhurst unit vectors (x west, y north, z towards the observer) of the pixels of a box."""
        dx, dy = self.dx[box[1]][np.newaxis, :], self.dy[box[0]][:, np.newaxis]
        cos_r, sin_r = np.float32(math.cos(self.roll)), np.float32(math.sin(self.roll))
        x = cos_r * dx - sin_r * dy  # solar west, in solar radii
        y = sin_r * dx + cos_r * dy  # solar north
        mu = self.mu[box]
        cos_b, sin_b = np.float32(math.cos(self.b0)), np.float32(math.sin(self.b0))
        return x, y * cos_b + mu * sin_b, mu * cos_b - y * sin_b

    def box(self, region: _Region, extent: float) -> tuple[slice, slice] | None:
        """The rows and columns within ``extent`` (chord, in solar radii) of the region, or None if hidden."""
        vx, vy, vz = _unit(region)
        cos_b, sin_b = math.cos(self.b0), math.sin(self.b0)
        x, y, z = vx, vy * cos_b - vz * sin_b, vy * sin_b + vz * cos_b
        if z < -extent:
            return None
        cos_r, sin_r = math.cos(self.roll), math.sin(self.roll)
        column = self.centre[0] + (cos_r * x + sin_r * y) * self.radius
        row = self.centre[1] + (-sin_r * x + cos_r * y) * self.radius
        half = extent * self.radius + 2
        rows = slice(max(0, int(row - half)), min(self.size, int(row + half) + 1))
        columns = slice(max(0, int(column - half)), min(self.size, int(column + half) + 1))
        if rows.start >= rows.stop or columns.start >= columns.stop:
            return None
        return rows, columns

    def profile(self, region: _Region, sharpness: int) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """A plateau ``1 / (1 + (s / r) ** sharpness)`` of chord distance s (sharpness 4 or 8), on the disk."""
        chord = 2.0 * math.sin(math.radians(region.radius) / 2.0)
        extent = min(2.0, chord * (4.0 if sharpness <= 4 else 2.0))
        box = self.box(region, extent)
        if box is None:
            return None
        vx, vy, vz = (np.float32(v) for v in _unit(region))
        hx, hy, hz = self.stonyhurst(box)
        cosine = hx * vx + hy * vy + hz * vz
        q = 2.0 * (1.0 - cosine) / np.float32(chord * chord)  # (s / r) ** 2
        power = q * q  # sharpness 4
        if sharpness == 8:
            power *= power
        plateau = 1.0 / (1.0 + power)
        plateau[~self.on_disk[box]] = 0.0
        return box, plateau


def _draw_active(disk: _Disk, active: Sequence[Sequence[_Region]], days: float, seed: int,
                 ar_mask: np.ndarray) -> np.ndarray:
    """The active-region brightness (0 to 4, float32 image) of the groups at ``days``; fills ``ar_mask``.

    Each group gets its own brightness (0.75 to 1 of the strongest), a compact core on its main blob four
    times as bright as the plateau, and a fainter halo (0.7 of the plateau, :data:`_HALO` times wider): with
    the plage texture this spreads the active-region intensities over a long bright tail, from about twice
    the quiet Sun to tens of times, as on the real Sun. The mask is where a blob's or halo's plateau is at
    least half its height (the cores lie inside their blob's mask), i.e. the region as drawn, halo included.
    """
    brightness = np.zeros((disk.size, disk.size), dtype=np.float32)  # groups do not overlap
    factors = np.random.default_rng([seed, 5]).uniform(0.75, 1.0, len(active))
    for group, factor in zip(active, factors, strict=True):
        main = group[0]
        core = _Region(main.longitude, main.latitude, 0.5 * main.radius, 4.0)
        halo = _Region(main.longitude, main.latitude, _HALO * main.radius, 0.7)
        for blob in (*group, core, halo):
            shaped = disk.profile(_rotated(blob, days), sharpness=4)
            if shaped is None:
                continue
            box, plateau = shaped
            np.maximum(brightness[box], np.float32(factor * blob.strength) * plateau, out=brightness[box])
            if blob is not core:
                ar_mask[box] |= (plateau >= 0.5).astype(np.uint8)
    return brightness


def _pointing(seed: int, date: datetime, size: int) -> tuple[float, float, float]:
    """Sun-centre offset (pixels) and roll (degrees), shared by all channels of the same hour."""
    hour = date.replace(minute=0, second=0, microsecond=0)
    rng = np.random.default_rng([seed, 2, int(_unix_seconds(hour) // 3600) % 2**62])
    angle = rng.uniform(0.0, 2.0 * math.pi)
    offset = rng.uniform(2.0, 6.0) * size / 1024.0
    roll = rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.3)
    return offset * math.cos(angle), offset * math.sin(angle), roll


def _noisy(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photon noise: Poisson below 10 counts, its (rounded) normal approximation above (much faster)."""
    counts = np.empty_like(expected)
    low = expected < 10.0
    counts[low] = rng.poisson(expected[low])
    high = ~low
    mean = expected[high]
    counts[high] = np.rint(mean + np.sqrt(mean) * rng.standard_normal(mean.shape, dtype=np.float32))
    return counts


def render_sun(date: datetime | str, wavelength: int, *, size: int = 1024, seed: int = 0,
               rotation_epoch: datetime | str | None = None, centre_offset: tuple[float, float] | None = None,
               roll: float | None = None) -> SyntheticImage:
    """Render one synthetic AIA image in DN (float32, integer-valued, before any file formatting).

    Parameters
    ----------
    date
        Observation time (DATE-OBS), UTC.
    wavelength
        AIA wavelength in angstrom, one of :data:`AIA_WAVELENGTHS`.
    size
        Image side in pixels; the pixel scale is that of a 4096 image binned to ``size``.
    seed
        Seeds the regions, the textures, the pointing and the noise.
    rotation_epoch
        Time at which the regions are at their seeded Stonyhurst positions; they rotate from there.
        ``None``: the observation time itself (no rotation).
    centre_offset, roll
        Sun centre offset from the image centre (pixels, x then y) and CROTA2 (degrees); seeded if None.
    """
    date = _as_utc(date)
    channel = _channel(wavelength)
    epoch = date if rotation_epoch is None else _as_utc(rotation_epoch)
    ephemeris = _sun_ephemeris(date)
    cdelt = _ARCSEC_PER_PIXEL_4096 * 4096.0 / size
    rsun_obs = math.degrees(math.asin(_RSUN_REF / ephemeris["distance"])) * 3600.0
    radius = rsun_obs / cdelt
    dx, dy, seeded_roll = _pointing(seed, date, size)
    if centre_offset is not None:
        dx, dy = centre_offset
    roll = seeded_roll if roll is None else roll
    centre = ((size - 1) / 2.0 + dx, (size - 1) / 2.0 + dy)
    disk = _Disk(size, centre, radius, roll, ephemeris["b0"])

    quiet = np.float32(channel.quiet)
    limb = 1.0 - disk.mu
    limb = limb * limb * limb if channel.limb_power == 3 else limb ** np.float32(channel.limb_power)
    rate = quiet * (1.0 + np.float32(channel.limb) * limb)
    above = ~disk.on_disk
    height = np.sqrt(disk.r2[above]) - 1.0
    rate[above] = quiet * (channel.corona * np.exp(-height / np.float32(channel.scale_height)) + 0.01)
    ar_mask = np.zeros((size, size), dtype=np.uint8)
    ch_mask = np.zeros((size, size), dtype=np.uint8)
    days = (date - epoch).total_seconds() / 86400.0
    active, holes = _regions(seed)
    for hole in holes:
        shaped = disk.profile(_rotated(hole, days), sharpness=8)
        if shaped is not None:
            box, plateau = shaped
            rate[box] *= 1.0 - np.float32(1.0 - channel.hole) * plateau
            ch_mask[box] |= (plateau >= 0.5).astype(np.uint8)
    network, structure = _textured(disk, days, (_texture_map(seed, "network", channel.network),
                                               _texture_map(seed, "active", _ACTIVE_CONTRAST)))
    rate *= 1.0 + (network - 1.0) * disk.mu  # the network fades towards the limb (line of sight, foreshortening)
    brightness = _draw_active(disk, active, days, seed, ar_mask)
    rate += quiet * np.float32(channel.active - 1.0) * brightness * structure
    rng = np.random.default_rng([seed, 3, int(wavelength), round(_unix_seconds(date) * 1000) % 2**62])
    counts = np.clip(_noisy(rate * np.float32(channel.exptime), rng), 0, _SATURATION)
    header = _header(date, int(wavelength), channel, ephemeris, size, cdelt, rsun_obs, centre, roll)
    return SyntheticImage(counts, ar_mask, ch_mask, header, centre, radius)


# --------------------------------------------------------------------------------------------- headers


def _header(date: datetime, wavelength: int, channel: _Channel, ephemeris: Mapping[str, float], size: int,
            cdelt: float, rsun_obs: float, centre: tuple[float, float], roll: float) -> fits.Header:
    """The AIA level-1 header of an image (without the data statistics, added when written)."""
    t_obs = date + timedelta(seconds=channel.exptime / 2.0)
    cards = [
        ("ORIGIN", "SDO/JSOC-SDP", None),
        ("DATE", (date + timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%S"), "file creation date"),
        ("TELESCOP", "SDO/AIA", None),
        ("INSTRUME", channel.instrument, None),
        ("DATE-OBS", date.strftime("%Y-%m-%dT%H:%M:%S.") + f"{date.microsecond // 10000:02d}", None),
        ("T_OBS", t_obs.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t_obs.microsecond // 10000:02d}Z", None),
        ("CAMERA", int(channel.instrument[-1]), None),
        ("IMG_TYPE", "LIGHT", None),
        ("EXPTIME", channel.exptime, "[s]"),
        ("WAVELNTH", wavelength, "[angstrom]"),
        ("WAVEUNIT", "angstrom", None),
        ("WAVE_STR", channel.wave_str, None),
        ("FSN", 20_000_000 + int((date - datetime(2010, 5, 1)).total_seconds() // 3) * 8 + wavelength % 8, None),
        ("LVL_NUM", 1.0, None),
        ("QUALITY", 0, None),
        ("CTYPE1", "HPLN-TAN", None),
        ("CUNIT1", "arcsec", None),
        ("CRVAL1", 0.0, None),
        ("CDELT1", cdelt, "[arcsec/pixel]"),
        ("CRPIX1", centre[0] + 1.0, "sun centre, 1-based"),
        ("CTYPE2", "HPLT-TAN", None),
        ("CUNIT2", "arcsec", None),
        ("CRVAL2", 0.0, None),
        ("CDELT2", cdelt, "[arcsec/pixel]"),
        ("CRPIX2", centre[1] + 1.0, "sun centre, 1-based"),
        ("CROTA2", roll, "[deg]"),
        ("R_SUN", rsun_obs / cdelt, "[pixel]"),
        ("INST_ROT", roll, "[deg]"),
        ("IMSCL_MP", _ARCSEC_PER_PIXEL_4096, "[arcsec/pixel]"),
        ("X0_MP", (centre[0] + 0.5) * 4096.0 / size - 0.5, "[pixel]"),
        ("Y0_MP", (centre[1] + 0.5) * 4096.0 / size - 0.5, "[pixel]"),
        ("ACS_MODE", "SCIENCE", None),
        ("ACS_ECLP", "NO", None),
        ("DSUN_REF", _AU, "[m]"),
        ("DSUN_OBS", round(ephemeris["distance"], 2), "[m]"),
        ("RSUN_REF", _RSUN_REF, "[m]"),
        ("RSUN_OBS", rsun_obs, "[arcsec]"),
        ("HGLN_OBS", 0.0, "[deg]"),
        ("HGLT_OBS", ephemeris["b0"], "[deg]"),
        ("CRLN_OBS", ephemeris["l0"], "[deg]"),
        ("CRLT_OBS", ephemeris["b0"], "[deg]"),
        ("CAR_ROT", int(ephemeris["carrington_rotation"]), None),
    ]
    header = fits.Header()
    for keyword, value, comment in cards:
        header[keyword] = (value, comment) if comment else value
    return header


def _add_statistics(header: fits.Header, counts: np.ndarray, valid: np.ndarray) -> None:
    """DATAMIN ... DATARMS, TOTVALS, DATAVALS, MISSVALS, PERCENTD from the valid pixels (as JSOC does)."""
    values = counts[valid]
    header["TOTVALS"] = int(counts.size)
    header["DATAVALS"] = int(values.size)
    header["MISSVALS"] = int(counts.size - values.size)
    header["PERCENTD"] = round(100.0 * values.size / counts.size, 3)
    if values.size:
        histogram = np.bincount(values.astype(np.int64), minlength=_SATURATION + 1)
        median = int(np.searchsorted(np.cumsum(histogram), (values.size + 1) // 2))
        mean = float(values.mean(dtype=np.float64))
        header["DATAMIN"] = int(values.min())
        header["DATAMAX"] = int(values.max())
        header["DATAMEDN"] = median
        header["DATAMEAN"] = round(mean, 2)
        header["DATARMS"] = round(float(np.sqrt(np.mean((values - mean) ** 2, dtype=np.float64))), 2)


# ------------------------------------------------------------------------------------------------ files


def mask_paths(path: Path | str) -> tuple[Path, Path]:
    """Where the true masks of the image ``path`` are written: ``<name>.ar_mask.fits``, ``<name>.ch_mask.fits``."""
    path = Path(path)
    stem = path.name[: -len(".fits")] if path.name.endswith(".fits") else path.name
    return path.with_name(stem + ".ar_mask.fits"), path.with_name(stem + ".ch_mask.fits")


def _write_fits(hdus: fits.HDUList, path: Path, *, checksum: bool = False) -> None:
    """Write ``hdus`` to ``path`` atomically, creating its folder if needed (with CHECKSUM and DATASUM in
    every HDU when ``checksum``, as JSOC writes its files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as stream:
        hdus.writeto(stream, checksum=checksum)


def _image_hdus(counts: np.ndarray, invalid: np.ndarray, header: fits.Header, data_format: str) -> fits.HDUList:
    """The HDUs of one image in ``data_format`` (see :func:`write_aia_file`)."""
    if data_format in ("rice_int16", "int16"):
        data = counts.astype(np.int16)
        data[invalid] = _INT16_BLANK
        header["BLANK"] = _INT16_BLANK
        if data_format == "int16":
            return fits.HDUList([fits.PrimaryHDU(data=data, header=header)])
        compressed = fits.CompImageHDU(data=data, header=header, compression_type="RICE_1",
                                       tile_shape=(1, data.shape[1]))
        return fits.HDUList([fits.PrimaryHDU(), compressed])
    if data_format == "int32_bscale":
        raw = np.rint(counts / _BSCALE).astype(np.int32)
        raw[invalid] = _INT32_BLANK
        primary = fits.PrimaryHDU(data=raw, header=header, do_not_scale_image_data=True)
        primary.header["BLANK"] = _INT32_BLANK
        primary.header["BZERO"] = 0.0
        primary.header["BSCALE"] = _BSCALE
        return fits.HDUList([primary])
    if data_format in ("float32", "float64"):
        data = counts.astype(data_format)
        data[invalid] = np.nan
        return fits.HDUList([fits.PrimaryHDU(data=data, header=header)])
    raise ValueError(f"unknown data_format {data_format!r}; expected one of {', '.join(DATA_FORMATS)}")


def _mask_hdus(mask: np.ndarray, header: fits.Header, kind: str) -> fits.HDUList:
    """A uint8 mask in a primary HDU, with the geometry keywords of its image."""
    mask_header = fits.Header()
    for keyword in ("DATE-OBS", "T_OBS", "WAVELNTH", "CTYPE1", "CUNIT1", "CRVAL1", "CDELT1", "CRPIX1", "CTYPE2",
                    "CUNIT2", "CRVAL2", "CDELT2", "CRPIX2", "CROTA2", "RSUN_OBS", "RSUN_REF", "DSUN_OBS", "HGLN_OBS",
                    "HGLT_OBS"):
        if keyword in header:
            mask_header[keyword] = header[keyword]
    mask_header["MASK"] = (kind, "true synthetic region mask, 1 = inside")
    return fits.HDUList([fits.PrimaryHDU(data=mask, header=mask_header)])


def write_aia_file(path: Path | str, date: datetime | str, wavelength: int, *, size: int = 1024, seed: int = 0,
                   quality: int = 0, data_format: str = "rice_int16",
                   invalid_blocks: Sequence[tuple[int, int, int, int]] = (),
                   header_overrides: Mapping[str, object] | None = None, drop_keywords: Iterable[str] = (),
                   masks: bool = False, rotation_epoch: datetime | str | None = None,
                   centre_offset: tuple[float, float] | None = None, roll: float | None = None) -> Path:
    """Write one synthetic AIA level-1 file (atomically) and return its path.

    Parameters
    ----------
    path
        The file to write; its folder is created.
    date
        Observation time (DATE-OBS; T_OBS is half an exposure later), UTC, datetime or ISO 8601 string.
    wavelength
        AIA wavelength in angstrom (94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500).
    size, seed, rotation_epoch, centre_offset, roll
        See :func:`render_sun`.
    quality
        The QUALITY keyword: 0 is good, :data:`QUICKLOOK_QUALITY` a good quicklook file,
        :data:`BAD_QUALITY` (or any other set bit) a bad one.
    data_format
        ``"rice_int16"``: empty primary HDU and a RICE-compressed int16 image in HDU 1, one tile per row,
        BLANK = -32768 (like JSOC files). ``"int16"``: the same image uncompressed in the primary HDU.
        ``"int32_bscale"``: uncompressed primary HDU, int32 with BSCALE = 0.0625 and BLANK = -2147483648
        (like the shared real sample). ``"float32"``, ``"float64"``: uncompressed primary HDU, NaN for
        invalid pixels.
    invalid_blocks
        ``(row_start, row_stop, column_start, column_stop)`` blocks of invalid pixels: BLANK in integer
        formats, NaN in floating-point ones. They are left out of the DATA* statistics, as JSOC does.
    header_overrides
        Keywords to set (or add) after the header is built, e.g. ``{"EXPTIME": 0.0}``.
    drop_keywords
        Keywords to remove from the header, e.g. ``("RSUN_OBS",)``.
    masks
        Also write the true AR and CH masks (uint8, 1 inside) beside the image, see :func:`mask_paths`.
    """
    path = Path(path)
    image = render_sun(date, wavelength, size=size, seed=seed, rotation_epoch=rotation_epoch,
                       centre_offset=centre_offset, roll=roll)
    invalid = np.zeros(image.counts.shape, dtype=bool)
    for row_start, row_stop, column_start, column_stop in invalid_blocks:
        invalid[row_start:row_stop, column_start:column_stop] = True
    header = image.header.copy()
    header["QUALITY"] = int(quality)
    _add_statistics(header, image.counts, ~invalid)
    for keyword, value in (header_overrides or {}).items():
        header[keyword] = value
    for keyword in drop_keywords:
        header.remove(keyword, ignore_missing=True, remove_all=True)
    _write_fits(_image_hdus(image.counts, invalid, header, data_format), path, checksum=True)
    if masks:
        ar_path, ch_path = mask_paths(path)
        _write_fits(_mask_hdus(image.ar_mask, image.header, "AR"), ar_path)
        _write_fits(_mask_hdus(image.ch_mask, image.header, "CH"), ch_path)
    LOGGER.debug("wrote %s", path)
    return path


# ---------------------------------------------------------------------------------------------- archive


def archive_path(root: Path | str, observation: datetime, wavelength: int) -> Path:
    """The quicklook-like path of an image observed at ``observation`` under ``root``."""
    return Path(root) / (
        f"{wavelength:04d}/{observation:%Y/%m/%d}/H{observation.hour:02d}00/"
        f"AIA{observation:%Y%m%d_%H%M%S}_{wavelength:04d}.fits"
    )


def _step_set(items: Iterable[Sequence[object]]) -> dict[tuple[datetime, int], int | None]:
    """{(time step, wavelength): quality or None} from (date, wavelength[, quality]) items."""
    result: dict[tuple[datetime, int], int | None] = {}
    for item in items:
        quality = int(item[2]) if len(item) > 2 else None
        result[(_as_utc(item[0]), int(item[1]))] = quality
    return result


def make_archive(root: Path | str, start: datetime | str, end: datetime | str, interval: timedelta | float,
                 wavelengths: Iterable[int], *, size: int = 1024, seed: int = 0, quality: int = 0,
                 bad_quality: Iterable[Sequence[object]] = (), missing: Iterable[Sequence[object]] = (),
                 masks: bool = False, data_format: str = "rice_int16") -> list[Path]:
    """Write a quicklook-like archive of synthetic images and return the paths written, in time order.

    Parameters
    ----------
    root
        Archive root; files go to :func:`archive_path` (found by the ini pattern :data:`ARCHIVE_PATTERN`).
    start, end, interval
        Time steps ``start, start + interval, ...`` before ``end`` (half-open, as the pipeline's);
        ``interval`` is a timedelta or a number of hours. Each image is observed a few seconds after its
        step (:func:`observation_time`). The regions rotate from ``start``.
    wavelengths
        AIA wavelengths to write at every step.
    size, seed, data_format
        See :func:`write_aia_file`.
    quality
        QUALITY of the good files (0, or :data:`QUICKLOOK_QUALITY` for quicklook-like files).
    bad_quality
        ``(time step, wavelength)`` or ``(time step, wavelength, quality)`` items: these files get
        :data:`BAD_QUALITY` (or the given value).
    missing
        ``(time step, wavelength)`` items that are not written.
    masks
        Write the true masks beside every image.
    """
    start, end = _as_utc(start), _as_utc(end)
    step = interval if isinstance(interval, timedelta) else timedelta(hours=float(interval))
    if step <= timedelta(0):
        raise ValueError(f"interval must be positive, got {interval}")
    bad, absent = _step_set(bad_quality), _step_set(missing)
    written: list[Path] = []
    date = start
    while date < end:
        for wavelength in wavelengths:
            if (date, int(wavelength)) in absent:
                continue
            file_quality = quality
            if (date, int(wavelength)) in bad:
                file_quality = bad[(date, int(wavelength))]
                file_quality = BAD_QUALITY | quality if file_quality is None else file_quality
            observation = observation_time(date, wavelength)
            written.append(write_aia_file(archive_path(root, observation, int(wavelength)), observation,
                                          int(wavelength), size=size, seed=seed, quality=file_quality,
                                          data_format=data_format, masks=masks, rotation_epoch=start))
        date += step
    return written


# -------------------------------------------------------------------------------------------------- CLI


def _step_item(text: str) -> tuple[datetime, int] | tuple[datetime, int, int]:
    """Parse ``DATE:WAVELENGTH`` or ``DATE:WAVELENGTH=QUALITY`` (DATE in ISO 8601, QUALITY may be hex)."""
    item, _, quality = text.partition("=")
    date, _, wavelength = item.rpartition(":")
    try:
        step = (_as_utc(date), int(wavelength))
        return (*step, int(quality, 0)) if quality else step
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DATE:WAVELENGTH[=QUALITY], got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a synthetic SDO/AIA level-1 archive laid out like the JSOC quicklook archive,\n"
                    "OUTPUT_DIR/WWWW/YYYY/MM/DD/HHH00/AIAYYYYmmdd_HHMMSS_WWWW.fits, one image per wavelength and\n"
                    "time step, observed a few seconds after the step. Files are RICE-compressed int16 in HDU 1 by\n"
                    "default, with a full AIA header. Deterministic for a given seed. Prints the files written.",
        epilog=f"The matching aia_file_pattern, relative to OUTPUT_DIR:\n  {ARCHIVE_PATTERN}\n\n"
               "Example:\n  .venv/bin/python scripts/make_synthetic_aia.py demo/archive --start 2026-03-20T00:00 "
               "--end 2026-03-21T00:00 \\\n      --wavelengths 171 193 --quicklook "
               "--bad-quality 2026-03-20T12:00:193 --missing 2026-03-20T18:00:171")
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", type=Path, help="archive root folder (created)")
    parser.add_argument("--start", required=True, type=parse_date,
                        help="first time step, ISO 8601 UTC, e.g. 2026-03-20T00:00")
    parser.add_argument("--end", required=True, type=parse_date, help="end of the time steps (excluded), ISO 8601 UTC")
    parser.add_argument("--interval-hours", type=float, default=6.0, help="hours between time steps (default 6)")
    parser.add_argument("--wavelengths", type=int, nargs="+", default=[171, 193], choices=AIA_WAVELENGTHS,
                        metavar="WAVELENGTH", help="AIA wavelengths in angstrom (default 171 193)")
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (default 1024; 4096 is full)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the regions, pointing and noise (default 0)")
    parser.add_argument("--format", dest="data_format", choices=DATA_FORMATS, default="rice_int16",
                        help="file format (default rice_int16, as JSOC files)")
    parser.add_argument("--quicklook", action="store_true",
                        help="set QUALITY bit 30 (quicklook image) in every file, as in the quicklook archive")
    parser.add_argument("--masks", action="store_true",
                        help="also write the true masks beside each image: NAME.ar_mask.fits and NAME.ch_mask.fits")
    parser.add_argument("--bad-quality", type=_step_item, nargs="*", default=[], metavar="DATE:WAVELENGTH[=QUALITY]",
                        help=f"time steps and wavelengths whose file gets a bad QUALITY: {BAD_QUALITY} (bit 0, "
                             "FLAT_REC missing, plus bit 30 with --quicklook) or the QUALITY given, e.g. =0x80000000")
    parser.add_argument("--missing", type=_step_item, nargs="*", default=[], metavar="DATE:WAVELENGTH",
                        help="time steps and wavelengths whose file is not written")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every file written")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: write the archive and print the paths written, one per line."""
    arguments = _parser().parse_args(argv)
    setup_tool_logging(arguments.verbose)
    try:
        paths = make_archive(arguments.output_dir, arguments.start, arguments.end, arguments.interval_hours,
                             arguments.wavelengths, size=arguments.size, seed=arguments.seed,
                             quality=QUICKLOOK_QUALITY if arguments.quicklook else 0,
                             bad_quality=arguments.bad_quality, missing=arguments.missing, masks=arguments.masks,
                             data_format=arguments.data_format)
    except (ValueError, OSError) as error:
        print(f"make_synthetic_aia.py: error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
