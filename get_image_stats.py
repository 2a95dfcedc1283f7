"""Whole-image and on-disk statistics of the AIA images, one CSV per image, for every time step.

For each time step and each wavelength of ``[IMAGE_STATS]``, the good-quality file chosen by ``[SDO_DATA]`` is
summarised in ``<output_directory>/<image name>.csv``: a header line with the sorted column names and one row
of values (floats as ``%.3f``)::

    DATAMAX,DATAMEAN,DATAMEDN,DATAMIN,DATAP01,DATAP10,DATAP25,DATAP75,DATAP90,DATAP95,DATAP98,DATAP99,
    DATARMS,DATATOTL,DATE_OBS,DISKMAX,DISKMEAN,DISKMEDN,DISKMIN,DISKP01,...,DISKP99,DISKRMS,DISKTOTL,WAVELENGTH

The statistics are those of the AIA level-1 header keywords (DATAMIN, DATAMAX, DATAMEDN, DATAMEAN, DATARMS,
the percentiles DATAP01, 10, 25, 75, 90, 95, 98 and 99) plus the total, computed on the image divided by its
exposure time (DN/s), in float64, without the undefined pixels (NaN, and BLANK in integer images). DATARMS is,
as in AIA headers, the standard deviation around the mean; percentiles interpolate linearly between order
statistics (numpy's default). The DISK columns are the same statistics over the pixels on the solar disk: those
whose distance to the sun centre (CRPIX1 - 1, CRPIX2 - 1), with x along the columns, is at most
RSUN_OBS / CDELT1 pixels. (The original computed them over the off-disk pixels, with x and y swapped, and failed
on integer images.) DATE_OBS is, as in the original, the image header's raw T_OBS string (the middle of the
exposure, e.g. ``2012-07-01T00:00:01.34Z``), or DATE-OBS, then DATE_OBS, when it has none; WAVELENGTH is
WAVELNTH. Every header fact (these, the exposure, the sun centre and radius) is that of the image's
:class:`~spoca4staff.aia_file.AiaFile`, read once when :mod:`sdo_data` chose the file.

Speed and memory (a 4096x4096 SDO image in about 0.1 s and 100 MiB): the pixels are read once, those of SDO's
RICE files decoded by the SPoCA programs' decoder (:mod:`spoca4staff.rice_image`); integer images are summarised
from two histograms of their stored values, one of the disk and one of the other pixels (each row's disk pixels
are one run of columns), counted in place in one pass (:func:`spoca4staff._kernels.disk_histograms`), which give
the exact order statistics without sorting; floating-point images through one float64 copy, its disk pixels
moved to the front by swapping runs of pixels, partitioned in place with all the ranks needed at once. The images
of a time step are summarised at once, one thread per core (the decoding and the counting release the GIL).

The time steps, the lock, the ledger (stage ``image_stats``, one job per time step), ``--status``,
``--rerun-failed``, ``--force`` and the exit statuses are those of :mod:`spoca4staff.entry_point`. An image that
cannot be summarised (unreadable data, a keyword missing) fails its time step's job, logged and recorded in the
ledger with the file and the reason; the other images of the step are still written and the run goes on. A file
whose QUALITY cannot even be read is skipped by :mod:`sdo_data`, like a file of bad quality.

Example::

    python get_image_stats.py configs/AIA.quicklook.ini --start-date 2026-03-20 --end-date 2026-03-21
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import spoca4staff  # noqa: F401 (first: it keeps OpenBLAS to one thread, read when numpy loads)
import numpy as np

from spoca4staff import _kernels
from spoca4staff.aia_file import AiaFile, AiaFileError, Header, image_hdu_index, read_stored_headers
from spoca4staff.atomic_file import atomic_write
from spoca4staff.configuration import IMAGE_STATS_SECTIONS, Configuration
from spoca4staff.command_line import EXIT_STATUS_HELP, add_run_arguments
from spoca4staff.entry_point import exit_script, run_script
from spoca4staff.job_runner import Runner
from spoca4staff.fits_hdus import astropy_data_errors, astropy_fits
from spoca4staff.rice_image import DecodeBufferPool, DecodeBuffers, RiceImageError, read_rice_hdu
from spoca4staff.worker_tasks import in_process

__all__ = [
    "PERCENTILES",
    "COLUMNS",
    "STAGE",
    "ImageStatsError",
    "ImageTooLargeError",
    "DEFAULT_MEMORY_LIMIT",
    "image_statistics",
    "format_csv",
    "write_image_stats",
    "read_image_stats",
    "image_stats_path",
    "build_parser",
    "main",
]

LOGGER = logging.getLogger("get_image_stats")

#: The percentiles of AIA level-1 headers (DATAP01 ... DATAP99).
PERCENTILES = (1, 10, 25, 75, 90, 95, 98, 99)
_STATISTICS = ("MAX", "MEAN", "MEDN", "MIN", *(f"P{p:02d}" for p in PERCENTILES), "RMS", "TOTL")
#: The CSV columns, in file order (sorted, as the original wrote them).
COLUMNS = tuple(sorted([*(f"DATA{name}" for name in _STATISTICS), *(f"DISK{name}" for name in _STATISTICS),
                        "DATE_OBS", "WAVELENGTH"]))
#: The ledger stage of this script.
STAGE = "image_stats"
#: Pixels processed at once by the chunked loops (bounds the temporary arrays to a few MiB).
_CHUNK = 1 << 20
#: Integer images whose stored values span fewer than this many values are summarised from a histogram.
_MAX_BINS = 1 << 24


#: The most memory (bytes) an image may need, by default: its stored pixels plus one float64 copy. 2 GiB is
#: comfortably above a 4096x4096 AIA image (160 MiB for 16-bit pixels) and refuses what would swap or be
#: killed by the kernel, e.g. a damaged header announcing 100000x100000 pixels.
DEFAULT_MEMORY_LIMIT = 2 * 1024**3


class ImageStatsError(ValueError):
    """An image that cannot be summarised: unreadable, no 2-D image, missing or bad keywords."""


class ImageTooLargeError(ImageStatsError):
    """An image whose size would need more memory than the bound (refused before allocating), or that did not
    fit in memory."""


@dataclass(frozen=True)
class _ImageInfo:
    """What the statistics need from an image header: scaling, geometry and labels."""

    exptime: float
    bscale: float
    bzero: float
    blank: int | None
    cx: float
    cy: float
    radius: float
    wavelength: int
    date_obs: str


def _number(header: Header, keyword: str) -> float:
    """A scaling keyword (BSCALE, BZERO) as a finite number."""
    try:
        value = float(header[keyword])
    except (TypeError, ValueError):
        raise ImageStatsError(f"keyword {keyword} is not a number: {header[keyword]!r}") from None
    if not math.isfinite(value):
        raise ImageStatsError(f"keyword {keyword} is not finite: {value}")
    return value


def _image_info(image: AiaFile) -> _ImageInfo:
    """Exposure time, scaling, sun centre (0-based, x along columns), radius in pixels, wavelength, date."""
    header = image.header
    blank = header.get("BLANK")
    try:
        cx, cy = image.sun_centre
        return _ImageInfo(
            exptime=image.exposure,
            bscale=_number(header, "BSCALE") if "BSCALE" in header else 1.0,
            bzero=_number(header, "BZERO") if "BZERO" in header else 0.0,
            blank=int(blank) if isinstance(blank, (int, np.integer)) else None,
            cx=cx,
            cy=cy,
            radius=image.radius,
            wavelength=image.wavelength,
            date_obs=image.observation_time,
        )
    except AiaFileError as error:
        raise ImageStatsError(str(error)) from None


def _memory_needed(header: Header) -> int:
    """Bytes the statistics of an image need at most, from its header: the stored pixels and a float64 copy."""
    try:
        pixels = math.prod(int(header.get(f"NAXIS{axis}", 0)) for axis in (1, 2))
        itemsize = abs(int(header.get("BITPIX", 8))) // 8
    except (TypeError, ValueError):
        raise ImageStatsError("NAXIS1, NAXIS2 or BITPIX is not an integer") from None
    return pixels * (itemsize + 8)


def _read_raw(image: AiaFile | Path, hdu: int | None, memory_limit: int,
              buffers: DecodeBuffers) -> tuple[np.ndarray, _ImageInfo]:
    """The stored (unscaled) pixels, as a writable 2-D array in native byte order, and the header facts.

    ``image`` is the pipeline's :class:`~spoca4staff.aia_file.AiaFile` (its headers already read), or a file
    given by name, whose record is made from its headers (no QUALITY needed). The size is read from the header
    first: an image that would need more than ``memory_limit`` bytes is refused before any pixel is read. A
    RICE_1 image of the SDO layout is decoded by :func:`~spoca4staff.rice_image.read_rice_hdu` (about 3x faster
    than astropy, the same values) into ``buffers``; any other is read by astropy, its pixels read once and not
    copied (big-endian data of uncompressed files are byte-swapped in place).
    """
    record = image if isinstance(image, AiaFile) else _record_of(Path(image), hdu)
    info = _checked_info(record, memory_limit)
    raw = read_rice_hdu(record.path, record.stored, buffers) if record.stored is not None else None
    if raw is None:
        raw = _read_with_astropy(record)
    if raw is None or raw.ndim != 2:
        raise ImageStatsError("the image HDU has no 2-D data")
    if not raw.dtype.isnative:
        raw = raw.byteswap(inplace=True).view(raw.dtype.newbyteorder("="))
    if not (raw.flags.c_contiguous and raw.flags.writeable):
        raw = np.ascontiguousarray(raw).copy()
    return raw, info


#: The decoding memory of the images (:class:`~spoca4staff.rice_image.DecodeBuffers`), reused image after image.
_DECODE_BUFFERS = DecodeBufferPool()


def _read_with_astropy(record: AiaFile) -> np.ndarray | None:
    """The stored pixels of an image the SPoCA decoder does not take (uncompressed, another compression...)."""
    fits = astropy_fits()  # only for such images
    try:
        with fits.open(record.path, do_not_scale_image_data=True, memmap=False) as hdus:
            return hdus[record.hdu].data
    except OSError:
        raise  # image_statistics tells a system error (transient) from a damaged file
    except astropy_data_errors() as error:
        raise ImageStatsError(f"cannot read the image: {error or type(error).__name__}") from error


def _checked_info(record: AiaFile, memory_limit: int) -> _ImageInfo:
    """The header facts of ``record``, after checking that its image needs at most ``memory_limit`` bytes."""
    header = record.header
    needed = _memory_needed(header)
    if needed > memory_limit:
        raise ImageTooLargeError(
            f"a {header.get('NAXIS1')}x{header.get('NAXIS2')} image of BITPIX {header.get('BITPIX')} would "
            f"need {needed / 1024**2:.1f} MiB, more than the memory limit of {memory_limit / 1024**2:.1f} MiB "
            "([IMAGE_STATS] memory_limit)")
    return _image_info(record)


def _record_of(path: Path, hdu: int | None) -> AiaFile:
    """The :class:`~spoca4staff.aia_file.AiaFile` of a file given by name, from its headers.

    The data may be cut short: the memory bound is judged from the header first, and the reader of the pixels
    says when they are missing.
    """
    try:
        stored = read_stored_headers(path, complete=False)
    except AiaFileError as error:
        raise ImageStatsError(f"cannot read the image: {error}") from None
    index = image_hdu_index([header for header, _ in stored], hdu)
    if index is None:
        raise ImageStatsError("no HDU holds a 2-D image")
    return AiaFile(path, index, stored[index][0], None, stored[index][1])


# -- the solar disk ----------------------------------------------------------------------------------------


def _inside(columns: np.ndarray, dy2: np.ndarray, cx: float, r2: float) -> np.ndarray:
    """Whether pixel ``columns`` of rows with squared offsets ``dy2`` is on the disk (distance <= radius)."""
    return (columns - cx) ** 2 + dy2 <= r2


def _disk_intervals(rows: int, columns: int, cx: float, cy: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row j, the columns [low_j, high_j) on the disk: ``(i - cx)**2 + (j - cy)**2 <= radius**2``.

    The bounds come from a square root, then are corrected so that they agree exactly with the test above.
    """
    r2 = radius * radius
    dy2 = (np.arange(rows, dtype=np.float64) - cy) ** 2
    half = np.sqrt(np.maximum(r2 - dy2, 0.0))
    low = np.clip(np.ceil(cx - half), 0, columns).astype(np.int64)
    high = np.clip(np.floor(cx + half) + 1, 0, columns).astype(np.int64)
    for _ in range(3):  # a correctly rounded square root is off by at most one column
        grow = (low > 0) & _inside(low - 1.0, dy2, cx, r2)
        shrink = (low < high) & ~_inside(low.astype(np.float64), dy2, cx, r2)
        low += shrink.astype(np.int64) - grow.astype(np.int64)
        grow = (high < columns) & _inside(high.astype(np.float64), dy2, cx, r2)
        shrink = (high > low) & ~_inside(high - 1.0, dy2, cx, r2)
        high += grow.astype(np.int64) - shrink.astype(np.int64)
    empty = (high <= low) | (r2 < dy2)
    low[empty] = 0
    high[empty] = 0
    return low, high


def _disk_first(image: np.ndarray, low: np.ndarray, high: np.ndarray) -> int:
    """Permute the pixels of ``image`` in place so that those on the disk come first; return their number.

    The disk pixels of row j are the run of columns [low_j, high_j) (:func:`_disk_intervals`). The off-disk runs
    inside the first ``n`` positions are swapped with the disk runs beyond them, run by run: no full-size temporary
    array is needed, and the multiset of all pixels is unchanged (only the whole-image statistics are computed
    afterwards).
    """
    rows, columns = image.shape
    flat = image.reshape(-1)
    count = int(np.sum(high - low))
    starts = np.arange(rows, dtype=np.int64) * columns
    # Off-disk runs before `count` (the holes) and disk runs after it (the items to move), in order.
    hole_starts = np.column_stack([starts, starts + high]).ravel()
    hole_stops = np.minimum(np.column_stack([starts + low, starts + columns]).ravel(), count)
    item_starts = np.maximum(starts + low, count)
    item_stops = starts + high
    holes = [(a, b) for a, b in zip(hole_starts.tolist(), hole_stops.tolist(), strict=True) if b > a]
    items = [(a, b) for a, b in zip(item_starts.tolist(), item_stops.tolist(), strict=True) if b > a]
    _swap_runs(flat, holes, items)
    return count


def _swap_runs(flat: np.ndarray, holes: list[tuple[int, int]], items: list[tuple[int, int]]) -> None:
    """Swap the contents of the runs ``holes`` with those of ``items`` (same total length), in order."""
    item_index = 0
    item_start, item_stop = items[0] if items else (0, 0)
    for hole_start, hole_stop in holes:
        while hole_start < hole_stop:
            length = min(hole_stop - hole_start, item_stop - item_start)
            hole = flat[hole_start:hole_start + length].copy()
            flat[hole_start:hole_start + length] = flat[item_start:item_start + length]
            flat[item_start:item_start + length] = hole
            hole_start += length
            item_start += length
            if item_start == item_stop and item_index + 1 < len(items):
                item_index += 1
                item_start, item_stop = items[item_index]


# -- statistics ---------------------------------------------------------------------------------------------


def _to_physical(values: np.ndarray, info: _ImageInfo) -> np.ndarray:
    """Scale float64 stored values in place to DN/s: ``(stored * BSCALE + BZERO) / EXPTIME``."""
    if info.bscale != 1.0:
        values *= info.bscale
    if info.bzero != 0.0:
        values += info.bzero
    values /= info.exptime
    return values


def _lerp(low: float, high: float, fraction: float) -> float:
    """Linear interpolation as numpy's percentile does it (from the nearer end)."""
    difference = high - low
    return high - difference * (1 - fraction) if fraction >= 0.5 else low + difference * fraction


def _positions(count: int) -> dict[str, float]:
    """Fractional rank of the median and of each percentile among ``count`` sorted values."""
    fractions = {f"P{p:02d}": p / 100 for p in PERCENTILES} | {"MEDN": 0.5}
    return {name: fraction * (count - 1) for name, fraction in fractions.items()}


def _moments(total: float, squares: float, count: int) -> dict[str, float]:
    return {"MEAN": total / count, "RMS": math.sqrt(squares / count), "TOTL": total}


def _partition_statistics(values: np.ndarray, count: int, info: _ImageInfo) -> dict[str, float]:
    """Statistics in DN/s of the ``count`` defined stored values of ``values`` (floating point, NaN undefined).

    ``values`` is reordered in place: one :meth:`numpy.ndarray.partition` with all the ranks needed (min, max,
    median, percentiles) puts the NaN last and every order statistic in place; the scaling to DN/s is
    monotonic, so only those order statistics are scaled (in reverse order when BSCALE < 0). The sums scale
    the values to float64 DN/s a chunk at a time.
    """
    positions = _positions(count)
    ranks = {0, count - 1}
    for position in positions.values():
        ranks |= {math.floor(position), min(math.floor(position) + 1, count - 1)}
    increasing = info.bscale >= 0
    values.partition(sorted(rank if increasing else count - 1 - rank for rank in ranks))
    defined = values[:count]

    def order_statistic(rank: int) -> float:
        stored = float(defined[rank if increasing else count - 1 - rank]) + 0.0  # 0.0, never -0.0
        return float(_to_physical(np.array([stored], dtype=np.float64), info)[0])

    chunks = range(0, count, _CHUNK)
    total = sum(float(_to_physical(defined[start:start + _CHUNK].astype(np.float64), info).sum()) for start in chunks)
    mean = total / count
    squares = 0.0
    for start in chunks:
        deviation = _to_physical(defined[start:start + _CHUNK].astype(np.float64), info)
        deviation -= mean
        deviation *= deviation
        squares += float(deviation.sum())  # numpy's own sum, not BLAS: see _histogram_statistics
    stats = {"MIN": order_statistic(0), "MAX": order_statistic(count - 1)} | _moments(total, squares, count)
    for name, position in positions.items():
        low = math.floor(position)
        stats[name] = _lerp(order_statistic(low), order_statistic(min(low + 1, count - 1)), position - low)
    return stats


def _histogram(stored: np.ndarray, low: int, bins: int, blank: int | None) -> np.ndarray:
    """Counts of the stored integers ``low ... low + bins - 1`` in ``stored`` (BLANK left out), by chunks."""
    counts = np.zeros(bins, dtype=np.int64)
    blank_inside = blank is not None and 0 <= blank - low < bins
    for start in range(0, stored.size, _CHUNK):
        chunk = stored[start:start + _CHUNK]
        if blank is not None and not blank_inside:
            chunk = chunk[chunk != blank]
        indices = chunk.astype(np.intp)
        indices -= low
        counts += np.bincount(indices, minlength=bins)
    if blank_inside:
        counts[blank - low] = 0
    return counts


def _histogram_statistics(counts: np.ndarray, low: int, info: _ImageInfo) -> dict[str, float]:
    """The statistics of the pixels counted in ``counts`` (stored integers from ``low``), in DN/s.

    The scaling is monotonic (BSCALE > 0, EXPTIME > 0), so the order statistics are the scaled order
    statistics of the stored integers; the sums are weighted sums over the histogram bins.
    """
    count = int(counts.sum())
    present = np.flatnonzero(counts)
    values = _to_physical((present + low).astype(np.float64), info)
    weights = counts[present].astype(np.float64)
    cumulative = np.cumsum(counts[present])

    def order_statistic(rank: int) -> float:
        return float(values[np.searchsorted(cumulative, rank, side="right")])

    # numpy's pairwise sums rather than np.dot: BLAS would wake its own threads, which then spin on the cores
    # the images of a step are summarised on (0.3 cpu-s a step), and its result depends on the thread count.
    total = float((weights * values).sum())
    deviations = values - total / count
    squares = float((weights * (deviations * deviations)).sum())
    stats = {"MIN": float(values[0]), "MAX": float(values[-1])} | _moments(total, squares, count)
    for name, position in _positions(count).items():
        rank = math.floor(position)
        stats[name] = _lerp(order_statistic(rank), order_statistic(min(rank + 1, count - 1)), position - rank)
    return stats


def _stored_range(stored: np.ndarray, blank: int | None) -> tuple[int, int] | None:
    """Smallest and largest stored integer other than BLANK, by chunks; ``None`` when there is none."""
    if stored.dtype.itemsize <= 2:
        info = np.iinfo(stored.dtype)
        return int(info.min), int(info.max)
    low, high = None, None
    for start in range(0, stored.size, _CHUNK):
        chunk = stored[start:start + _CHUNK]
        if blank is not None:
            chunk = chunk[chunk != blank]
        if chunk.size:
            low = int(chunk.min()) if low is None else min(low, int(chunk.min()))
            high = int(chunk.max()) if high is None else max(high, int(chunk.max()))
    return None if low is None else (low, high)


def _statistics(stored: np.ndarray, low: np.ndarray, high: np.ndarray, info: _ImageInfo) -> dict[str, float]:
    """DISK and DATA statistics of the 2-D ``stored`` pixels; the disk is columns [low_j, high_j) of each row j.

    Integer images are summarised from histograms of their stored values: one of the disk and one of the other
    pixels, whose sum is the whole image's. int16 and int32 images (SDO's, and the shared real sample) are counted
    in place by :func:`spoca4staff._kernels.disk_histograms`; other integer types after :func:`_disk_first`.
    ``stored`` may be reordered in place.
    """
    stats: dict[str, float] = {}
    integer = np.issubdtype(stored.dtype, np.integer)
    extent = _stored_range(stored.reshape(-1), info.blank) if integer and info.bscale > 0 else None
    if integer and info.bscale > 0 and (extent is None or extent[1] - extent[0] < _MAX_BINS):
        minimum, maximum = extent or (0, 0)
        disk = np.zeros(maximum - minimum + 1, dtype=np.int64)
        rest = np.zeros_like(disk)
        if stored.dtype in (np.int16, np.int32):
            _kernels.disk_histograms(stored, low, high, minimum, info.blank, disk, rest)
        else:
            disk_count = _disk_first(stored, low, high)
            flat = stored.reshape(-1)
            disk += _histogram(flat[:disk_count], minimum, disk.size, info.blank)
            rest += _histogram(flat[disk_count:], minimum, disk.size, info.blank)
        for prefix, counts in (("DISK", disk), ("DATA", disk + rest)):  # each pixel counted once
            stats |= _prefixed(prefix, _histogram_statistics(counts, minimum, info) if counts.any() else None)
        return stats
    disk_count = _disk_first(stored, low, high)
    stored = stored.reshape(-1)
    if integer:  # too wide a range for a histogram (or BSCALE <= 0): one float64 copy, BLANK as NaN
        values = stored.astype(np.float64)
        if info.blank is not None:
            values[stored == info.blank] = np.nan
        del stored
    else:  # the stored floats themselves (already a private, native-order array)
        values = stored
        values[np.isinf(values)] = np.nan
    for prefix, part in (("DISK", values[:disk_count]), ("DATA", values)):
        defined = int(part.size - np.count_nonzero(np.isnan(part)))
        stats |= _prefixed(prefix, _partition_statistics(part, defined, info) if defined else None)
    return stats


def _prefixed(prefix: str, stats: dict[str, float] | None) -> dict[str, float]:
    """``stats`` with ``prefix`` before each name; all NaN when there was no defined pixel."""
    if stats is None:
        return {f"{prefix}{name}": math.nan for name in _STATISTICS}
    return {f"{prefix}{name}": value for name, value in stats.items()}


def image_statistics(image: AiaFile | Path | str, hdu: int | None = None,
                     memory_limit: int | None = None) -> dict[str, float | int | str]:
    """The statistics of one AIA image, keyed by CSV column (see :data:`COLUMNS`).

    Integer images (the SDO archives) are summarised from a histogram of their stored values, which gives the
    exact order statistics without sorting; floating-point images through one float64 copy partitioned in
    place. Either way the values are those of the image in DN/s, in float64.

    Parameters
    ----------
    image
        The image: its :class:`~spoca4staff.aia_file.AiaFile` (the pipeline's, its header already read), or a
        FITS file, whose headers are then read first.
    hdu
        For a file name only: the HDU holding the image; when ``None``, or when it has no 2-D image (HDU 0 of
        a compressed file), the first HDU that holds one.
    memory_limit
        The most memory (bytes) the image may need, checked from its header before reading any pixel
        (default :data:`DEFAULT_MEMORY_LIMIT`).

    Raises
    ------
    ImageTooLargeError
        When the image would need more than ``memory_limit``, or did not fit in memory; names the file.
    ImageStatsError
        When the file is not a readable FITS image (a corrupt compressed tile included) or lacks a keyword
        needed (EXPTIME, CRPIX1/2, CDELT1, RSUN_OBS, WAVELNTH, a date); the message names the file.
    OSError
        With an ``errno``, when the system fails to read the file (e.g. it vanished): a transient failure.
    """
    with _DECODE_BUFFERS.borrow() as buffers:  # the pixels are done with when the statistics are
        return _image_statistics(image, hdu, DEFAULT_MEMORY_LIMIT if memory_limit is None else memory_limit, buffers)


def _image_statistics(image: AiaFile | Path | str, hdu: int | None, memory_limit: int,
                      buffers: DecodeBuffers) -> dict[str, float | int | str]:
    """:func:`image_statistics`, the image decoded into ``buffers``."""
    path = Path(image)
    try:
        with _warnings_logged(path):
            stored, info = _read_raw(image, hdu, memory_limit, buffers)
    except ImageStatsError as error:
        raise type(error)(f"{path}: {error}") from None
    except MemoryError:
        raise ImageTooLargeError(f"{path}: not enough memory to read the image") from None
    except OSError as error:
        if error.errno is not None:  # a system error (vanished file or mount): may not happen again
            raise
        raise ImageStatsError(f"{path}: cannot read the image: {error}") from error
    except (RiceImageError, AiaFileError) as error:  # a damaged tile or header
        raise ImageStatsError(f"{path}: cannot read the image: {error}") from error
    try:
        low, high = _disk_intervals(*stored.shape, info.cx, info.cy, info.radius)
        stats = _statistics(stored, low, high, info)
    except MemoryError:
        raise ImageTooLargeError(f"{path}: not enough memory for the statistics of the image") from None
    return stats | {"DATE_OBS": info.date_obs, "WAVELENGTH": info.wavelength}


#: The image a thread of the pool of a step is summarising (see :meth:`_ImageStatsStep._summarise`).
_POOL_THREAD = threading.local()


@contextmanager
def _warnings_logged(path: Path) -> Iterator[None]:
    """Log the warnings of reading the image ``path`` at debug level (e.g. a BLANK keyword in a float image:
    harmless, kept for debugging), instead of showing them.

    :func:`warnings.catch_warnings` changes the process's warning state, which threads share: on a thread of a
    step's pool, whose warnings :func:`_pooled_warnings_logged` logs for the whole pool, this does nothing.
    """
    if getattr(_POOL_THREAD, "image", None) is not None:
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                LOGGER.debug("%s: %s", path, warning.message)


@contextmanager
def _pooled_warnings_logged() -> Iterator[None]:
    """While the threads of a step's pool run: their warnings logged at debug level with the image each thread
    is summarising (:data:`_POOL_THREAD`), as :func:`_warnings_logged` logs them; those of other threads shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        shown = warnings.showwarning

        def log(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None,
                line: str | None = None) -> None:
            image = getattr(_POOL_THREAD, "image", None)
            if image is None:
                shown(message, category, filename, lineno, file, line)
            else:
                LOGGER.debug("%s: %s", image, message)

        warnings.showwarning = log
        yield


def _pooled_write_image_stats(image: AiaFile, *arguments: object) -> Path:
    """:func:`write_image_stats` on a thread of a step's pool (its warnings logged by the pool)."""
    _POOL_THREAD.image = Path(image)
    try:
        return write_image_stats(image, *arguments)
    finally:
        _POOL_THREAD.image = None


def format_csv(stats: dict[str, float | int | str]) -> str:
    """The CSV text of one image: the header line of :data:`COLUMNS` and one row, floats as ``%.3f``."""
    row = [value if isinstance(value, (str, int)) else f"{value:.3f}" for value in (stats[c] for c in COLUMNS)]
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow(row)
    return stream.getvalue()


def image_stats_path(output_directory: Path, image: Path | str) -> Path:
    """``<output_directory>/<image name>.csv``: the image's file name with ``.csv`` instead of ``.fits``."""
    name = Path(image).name
    stem = name[: -len(".fits")] if name.endswith(".fits") else Path(name).stem
    return Path(output_directory) / f"{stem}.csv"


def write_image_stats(image: AiaFile | Path | str, csv_path: Path, hdu: int | None = None,
                      scratch_directory: Path | None = None, memory_limit: int | None = None) -> Path:
    """Compute the statistics of ``image`` and write them atomically to ``csv_path``.

    The CSV is written to a temporary file (in ``scratch_directory``, which must be on the same file system,
    or else beside ``csv_path``) and renamed, so that a reader never sees a half-written file. ``memory_limit``
    is that of :func:`image_statistics`.
    """
    text = format_csv(image_statistics(image, hdu, memory_limit))
    with atomic_write(csv_path, "w", encoding="utf-8", newline="", scratch_folder=scratch_directory) as stream:
        stream.write(text)
    return csv_path


def read_image_stats(csv_path: Path) -> dict[str, str] | None:
    """The row of an image-statistics CSV as strings, or ``None`` when the file is missing or not valid.

    Valid means: the header line of :data:`COLUMNS` and one row of as many fields, numbers where numbers
    are expected. An existing file that is not valid (damaged) is said in a warning: it is then recomputed.
    """
    try:
        with csv_path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        LOGGER.warning("existing image statistics %s cannot be read (%s): computing them again", csv_path, error)
        return None
    if len(rows) != 2 or tuple(rows[0]) != COLUMNS or len(rows[1]) != len(COLUMNS) or not _numbers(rows[1]):
        LOGGER.warning("existing image statistics %s are damaged: computing them again", csv_path)
        return None
    return dict(zip(COLUMNS, rows[1], strict=True))


def _numbers(row: Sequence[str]) -> bool:
    """Whether the fields of a row are numbers where :data:`COLUMNS` expects numbers (all but DATE_OBS)."""
    try:
        for column, value in zip(COLUMNS, row, strict=True):
            if column != "DATE_OBS":
                float(value)
    except ValueError:
        return False
    return True


class _ImageStatsStep:
    """What one time step does: find the good files, then one ``image_stats`` job writing their CSVs.

    One job per time step: an image that cannot be read fails the job (and the step, which
    ``--rerun-failed`` will redo) but does not stop the other images of the step, nor the run.
    """

    def __init__(self, configuration: Configuration):
        self.settings = configuration.image_stats
        self.sdo_data = configuration.make_sdo_data()
        self.execute = in_process  # where an image is summarised: here, or on Dask (backfill.py)

    def __call__(self, time_step: datetime, runner: Runner) -> None:
        images, missing = [], []
        for wavelength in self.settings.wavelengths:
            selection = self.sdo_data.get_AIA_selection(time_step, wavelength)
            if selection.outage is not None:
                runner.fail(time_step, STAGE, selection.outage)
                return
            if selection.chosen is None:
                missing.append(f"{wavelength}: {selection.reason}")
            else:
                images.append(selection.file)
        if not images:
            runner.skip(time_step, STAGE, "no good-quality file; " + "; ".join(missing))
            return
        outputs = [image_stats_path(self.settings.output_directory, image) for image in images]
        written: set[Path] = set()
        runner.job(time_step, STAGE, lambda attempt: self.work(runner, images, outputs, written),
                   inputs=images, outputs=outputs,
                   is_complete=lambda: all(read_image_stats(path) is not None for path in outputs))

    def work(self, runner: Runner, images: Sequence[AiaFile], outputs: Sequence[Path], written: set[Path]) -> None:
        """Write the CSV of every image not done yet; raise :class:`ImageStatsError` if any image failed.

        An output is done when this job wrote it (in an earlier attempt of this run), or, without
        ``--force``, when it exists and is valid.
        """
        scratch = runner.scratch_directory(self.settings.output_directory)
        todo = [(image, output) for image, output in zip(images, outputs, strict=True)
                if output not in written and (runner.force or read_image_stats(output) is None)]
        arguments = [(image, output, self.settings.hdu, scratch, self.settings.memory_limit) for image, output in todo]
        problems = []
        for (_, output), problem in zip(todo, self._summarise(arguments), strict=True):
            if problem is not None:
                LOGGER.warning("%s", problem)
                problems.append(str(problem))
            else:
                written.add(output)
        if problems:
            raise ImageStatsError("; ".join(problems))

    def _summarise(self, arguments: Sequence[tuple]) -> Iterator[ImageStatsError | None]:
        """Run :func:`write_image_stats` on each argument tuple and yield, in order, each image's
        :class:`ImageStatsError` (None: written); any other error is raised.

        The images of a step are independent: with two cores free or more they are summarised at once, on as many
        threads, with the same CSVs as one after the other. The work of an SDO image is done without the GIL: its
        decoding (:func:`~spoca4staff.rice_image.read_rice_image`) and its histograms
        (:func:`spoca4staff._kernels.disk_histograms`); threads start at once and share the process's imports,
        where processes cost a fork server importing this module again. On an interruption the images not
        started are dropped and those under way (a tenth of a second each) finish. With ``--workers`` or
        ``--scheduler`` the images go to the Dask cluster instead (:attr:`execute`).
        """
        cores = len(os.sched_getaffinity(0))
        if self.execute is not in_process or len(arguments) < 2 or cores < 2:
            for call in arguments:
                try:
                    self.execute(write_image_stats, *call)
                except ImageStatsError as error:
                    yield error
                else:
                    yield None
            return
        with _pooled_warnings_logged():
            pool = ThreadPoolExecutor(min(cores, len(arguments)), thread_name_prefix="image_stats")
            try:
                pending = [pool.submit(_pooled_write_image_stats, *call) for call in arguments]
                for result in pending:
                    try:
                        result.result()
                    except ImageStatsError as error:
                        yield error
                    else:
                        yield None
            finally:
                pool.shutdown(wait=True, cancel_futures=True)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (its ``--help`` documents the options and the exit statuses)."""
    parser = argparse.ArgumentParser(
        prog="get_image_stats.py",
        description="Write whole-image and on-disk statistics (DN/s) of the AIA images of [IMAGE_STATS], one\n"
                    "<image name>.csv per image and time step, in [IMAGE_STATS] output_directory. Columns: DATA*\n"
                    "over every defined pixel, DISK* over those on the solar disk (MIN, MAX, MEAN, MEDN, RMS =\n"
                    "standard deviation, TOTL, percentiles P01 ... P99), DATE_OBS and WAVELENGTH. Time steps\n"
                    "already done are skipped (--force recomputes); the ledger records every job.",
        epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the script; return its exit status (see ``--help``)."""
    def make_step(configuration: Configuration):
        return _ImageStatsStep(configuration), [configuration.image_stats.output_directory]

    return run_script(build_parser(), argv, IMAGE_STATS_SECTIONS, [STAGE], "get_image_stats", make_step)

if __name__ == "__main__":
    exit_script(main())
