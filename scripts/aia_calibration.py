"""Calibrate an AIA level-1 image to level 2 with aiapy: pointing, observer, registration, degradation, exposure.

The steps, in order, on a sunpy :class:`~sunpy.map.sources.AIAMap`:

1. **pointing** (:func:`aiapy.calibrate.update_pointing`): CRPIX, CDELT and CROTA2 from the 3-hourly master
   pointing table. aiapy applies it to full-resolution 4096x4096 images only; on another size the step is
   skipped with a warning (such images are not JSOC level 1).
2. **observer location**: aiapy dropped ``fix_observer_location``; done here by hand. When the header has
   SDO's heliocentric ecliptic position (``HAEX_OBS``, ``HAEY_OBS``, ``HAEZ_OBS``), ``HGLN_OBS``, ``HGLT_OBS``
   and ``DSUN_OBS`` are recomputed from it, so that sunpy and aiapy use the more accurate position.
3. **registration** (:func:`aiapy.calibrate.register`): rotated north up, scaled to 0.6 arcsec per pixel
   (a multiple of it for binned images) and recentred, so that the sun centre is the image centre. The
   pixels that fall outside the original image are NaN.
4. **degradation** (:func:`aiapy.calibrate.correct_degradation`): divided by the time-dependent degradation
   factor of the channel, from the ``aia.response`` correction table.
5. **exposure**: aiapy dropped ``normalize_exposure``; done here by hand: divided by ``EXPTIME``, then
   ``EXPTIME = 1`` and ``BUNIT = PIXLUNIT = 'DN/s'``.

The result is level 2: ``LVL_NUM = 2``, the ``DATA*`` statistics keywords recomputed on the calibrated data,
``BLANK`` and ``DATACENT`` removed, one ``HISTORY`` line saying what was done, written as a RICE
tile-compressed image in HDU 1 with checksums, atomically (a temporary file renamed into place: a failed or
interrupted calibration leaves no file).

The two tables come from the network in production (JSOC, or the SSW mirrors for the correction table, or
the LMSAL copy of the pointing table); :func:`load_pointing_table` and :func:`load_correction_table` also read
local copies, and say in one line which table is missing and how to give a file when the network fails.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from datetime import datetime
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import ascii as astropy_ascii
from astropy.io import fits
from astropy.table import QTable
from astropy.time import Time
from sunpy.coordinates import HeliographicStonyhurst

from spoca4staff.atomic_file import atomic_write

__all__ = [
    "CORRECTION_SOURCES",
    "POINTING_SOURCES",
    "CalibrationError",
    "TableUnavailableError",
    "calibrate_aia_fits_file",
    "calibrate_aia_map",
    "data_statistics",
    "fix_observer_location",
    "load_correction_table",
    "load_pointing_table",
    "normalize_exposure",
]

LOGGER = logging.getLogger(__name__)

#: Network sources of the master pointing table (anything else is a local file).
POINTING_SOURCES = ("jsoc", "lmsal")
#: Network sources of the degradation correction table (anything else is a local file).
CORRECTION_SOURCES = ("jsoc", "ssw")
#: The percentiles of the DATAPnn keywords (as in the JSOC headers).
_PERCENTILES = (1, 10, 25, 75, 90, 95, 98, 99)
#: Keywords that do not describe a level-2 floating-point image.
_REMOVED_KEYWORDS = ("BLANK", "DATACENT", "BZERO", "BSCALE")
#: Half-width of the pointing-table window fetched around the observations (the table is 3-hourly).
_POINTING_MARGIN = 6 * u.hour


class CalibrationError(Exception):
    """An image cannot be calibrated; the message names the file or table and the problem."""


class TableUnavailableError(CalibrationError):
    """A calibration table could not be obtained (network or file); the message says how to give a local file."""


def _read_table(path: Path, what: str, option: str) -> QTable:
    if not path.is_file():
        raise TableUnavailableError(f"{what} {path} not found: give an existing file with {option} FILE")
    try:
        return QTable(astropy_ascii.read(str(path)))
    except Exception as error:  # astropy's readers raise many types on a malformed table
        raise TableUnavailableError(f"{what} {path} cannot be read ({error}): give a valid file with {option}")\
            from error


def load_pointing_table(source: str | os.PathLike[str], start: datetime | Time | None = None,
                        end: datetime | Time | None = None) -> QTable:
    """Return the 3-hourly AIA master pointing table, from the network or from a local file.

    Parameters
    ----------
    source : str or path
        ``"jsoc"`` (the ``aia.master_pointing3h`` series, between ``start`` and ``end``), ``"lmsal"`` (LMSAL's
        static copy, up to November 2024), or the path of a local copy in LMSAL's CSV format
        (``master_aia_pointing3h.csv``: columns ``T_START``, ``T_STOP``, ``A_<wave>_X0``, ``A_<wave>_Y0``,
        ``A_<wave>_IMSCALE``, ``A_<wave>_INSTROT``).
    start, end : datetime or astropy.time.Time, optional
        Time range of the observations (``"jsoc"`` only; widened by 6 hours on each side).

    Raises
    ------
    TableUnavailableError
        When the table cannot be obtained; the message says how to give a local file.
    """
    from aiapy.calibrate.util import get_pointing_table

    how = ("give a local copy of https://aia.lmsal.com/public/master_aia_pointing3h.csv (or of JSOC's "
           "aia.master_pointing3h series) with --pointing-table FILE")
    name = str(source).lower()
    if name in POINTING_SOURCES:
        try:
            if name == "jsoc":
                if start is None or end is None:
                    raise ValueError("the JSOC pointing table needs the time range of the observations")
                window = (Time(start, scale="utc") - _POINTING_MARGIN, Time(end, scale="utc") + _POINTING_MARGIN)
                return get_pointing_table("jsoc", time_range=window)
            return get_pointing_table("lmsal")
        except Exception as error:  # drms and sunpy's data manager raise OSError, RuntimeError, ValueError, ...
            raise TableUnavailableError(f"pointing table missing: cannot get it from {name} "
                                        f"({_one_line(error)}); {how}") from error
    table = _read_table(Path(source), "pointing table", "--pointing-table")
    return _pointing_units(table, Path(source))


def _pointing_units(table: QTable, path: Path) -> QTable:
    """Give a pointing table read from a file the times and units aiapy's reader gives (aiapy 0.10)."""
    missing = {"T_START", "T_STOP"} - set(table.colnames)
    if missing:
        raise TableUnavailableError(f"pointing table {path} has no column {', '.join(sorted(missing))}: give a "
                                    "copy of master_aia_pointing3h.csv with --pointing-table")
    table["T_START"] = Time(table["T_START"], scale="utc")
    table["T_STOP"] = Time(table["T_STOP"], scale="utc")
    units = {"_X0": u.pix, "_Y0": u.pix, "_IMSCALE": u.arcsec / u.pix, "_INSTROT": u.deg}
    for column in table.colnames:
        for ending, unit in units.items():
            if column.endswith(ending):
                values = table[column]
                filled = values.filled(np.nan) if hasattr(values, "filled") else values
                table[column] = u.Quantity(np.asarray(filled, dtype=float), unit)
    return table


def load_correction_table(source: str | os.PathLike[str]) -> QTable:
    """Return the AIA degradation correction table (``aia.response``), from the network or from a local file.

    Parameters
    ----------
    source : str or path
        ``"jsoc"`` (the ``aia.response`` series), ``"ssw"`` (the V10 response table on the SolarSoft mirrors,
        cached by aiapy), or a local file in the SSW format (``aia_V10_20201119_190000_response_table.txt``,
        read by :func:`aiapy.calibrate.util.get_correction_table`).

    Raises
    ------
    TableUnavailableError
        When the table cannot be obtained; the message says how to give a local file.
    """
    from aiapy.calibrate.util import get_correction_table

    name = str(source).lower()
    if name in CORRECTION_SOURCES:
        try:
            return get_correction_table(name)
        except Exception as error:  # drms and sunpy's data manager raise OSError, RuntimeError, ...
            raise TableUnavailableError(
                f"degradation correction table missing: cannot get it from {name} ({_one_line(error)}); give a "
                "local copy of SolarSoft's sdo/aia/response/aia_V10_20201119_190000_response_table.txt with "
                "--correction-table FILE") from error
    path = Path(source)
    if not path.is_file():
        raise TableUnavailableError(f"degradation correction table {path} not found: give an existing file with "
                                    "--correction-table FILE")
    try:
        return get_correction_table(path)
    except Exception as error:  # a malformed table: KeyError for a missing column, astropy's reader errors
        raise TableUnavailableError(f"degradation correction table {path} cannot be read ({_one_line(error)}): "
                                    "give a file in SolarSoft's aia_V*_response_table.txt format") from error


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def fix_observer_location(smap):
    """Return ``smap`` with HGLN_OBS, HGLT_OBS and DSUN_OBS from SDO's heliocentric ecliptic position.

    aiapy 0.10 no longer has this step. The ``HAEX_OBS``, ``HAEY_OBS``, ``HAEZ_OBS`` keywords (metres,
    heliocentric mean ecliptic of date) are the spacecraft's position from the orbit data; the Stonyhurst
    keywords computed from them are what sunpy reads as the observer. A header without them is returned
    unchanged (logged).
    """
    keys = ("HAEX_OBS", "HAEY_OBS", "HAEZ_OBS")
    if not all(key.lower() in smap.meta for key in keys):
        LOGGER.debug("no %s in the header: observer location kept", "/".join(keys))
        return smap
    position = SkyCoord(*(float(smap.meta[key.lower()]) for key in keys), unit=u.m, representation_type="cartesian",
                        frame="heliocentricmeanecliptic", obstime=smap.reference_date)
    stonyhurst = position.transform_to(HeliographicStonyhurst(obstime=smap.reference_date))
    meta = smap.meta.copy()
    meta["hgln_obs"] = float(stonyhurst.lon.to_value(u.deg))
    meta["hglt_obs"] = float(stonyhurst.lat.to_value(u.deg))
    meta["dsun_obs"] = float(stonyhurst.radius.to_value(u.m))
    return smap._new_instance(smap.data, meta, plot_settings=smap.plot_settings, mask=smap.mask)


def normalize_exposure(smap):
    """Return ``smap`` divided by its exposure time: DN/s, ``EXPTIME = 1`` (aiapy 0.10 no longer has this step).

    Raises
    ------
    CalibrationError
        When EXPTIME is missing, not a number or not positive.
    """
    exptime = smap.meta.get("exptime")
    if not isinstance(exptime, (int, float)) or not math.isfinite(exptime) or exptime <= 0:
        raise CalibrationError(f"EXPTIME = {exptime!r}: cannot normalise the exposure")
    meta = smap.meta.copy()
    meta["exptime"] = 1.0
    meta["bunit"] = "DN/s"
    meta["pixlunit"] = "DN/s"
    data = np.asarray(smap.data, dtype=np.float64) / float(exptime)
    return smap._new_instance(data, meta, plot_settings=smap.plot_settings, mask=smap.mask)


def data_statistics(data: np.ndarray) -> dict[str, float | int]:
    """The JSOC data-statistics keywords of an image, over its finite pixels.

    ``TOTVALS``, ``DATAVALS``, ``MISSVALS``, ``PERCENTD``, ``DATAMIN``, ``DATAMAX``, ``DATAMEDN``,
    ``DATAMEAN``, ``DATARMS`` (standard deviation), ``DATASKEW``, ``DATAKURT`` (excess kurtosis) and
    ``DATAP01`` ... ``DATAP99``. Without a finite pixel only the counts are given.
    """
    values = np.asarray(data, dtype=np.float64)
    finite = values[np.isfinite(values)]
    statistics: dict[str, float | int] = {
        "TOTVALS": int(values.size),
        "DATAVALS": int(finite.size),
        "MISSVALS": int(values.size - finite.size),
        "PERCENTD": round(100.0 * finite.size / values.size, 3) if values.size else 0.0,
    }
    if finite.size == 0:
        return statistics
    mean = float(finite.mean())
    deviation = finite - mean
    rms = float(np.sqrt(np.mean(deviation**2)))
    statistics.update(DATAMIN=float(finite.min()), DATAMAX=float(finite.max()), DATAMEDN=float(np.median(finite)),
                      DATAMEAN=mean, DATARMS=rms)
    if rms > 0:
        statistics["DATASKEW"] = float(np.mean(deviation**3) / rms**3)
        statistics["DATAKURT"] = float(np.mean(deviation**4) / rms**4 - 3.0)
    for percentile, value in zip(_PERCENTILES, np.percentile(finite, _PERCENTILES), strict=True):
        statistics[f"DATAP{percentile:02d}"] = float(value)
    return statistics


def _update_pointing(smap, pointing_table: QTable | None):
    from aiapy.calibrate import update_pointing

    if pointing_table is None:
        LOGGER.warning("no pointing table given: the header pointing is kept")
        return smap
    if smap.data.shape != (4096, 4096):
        LOGGER.warning("pointing update skipped: aiapy applies the master pointing to 4096x4096 images only, "
                       "not %dx%d", smap.data.shape[1], smap.data.shape[0])
        return smap
    if "sat_rot" not in smap.meta:
        raise CalibrationError("keyword SAT_ROT missing: needed to update the pointing")
    try:
        return update_pointing(smap, pointing_table=pointing_table)
    except (IndexError, KeyError) as error:
        raise CalibrationError(f"pointing table has no entry for this image ({_one_line(error)}): give a table "
                               "covering its T_OBS and wavelength") from error


def calibrate_aia_map(smap, *, pointing_table: QTable | None, correction_table: QTable, order: int = 3):
    """Calibrate a level-1 AIA map to level 2 (steps in the module docstring) and return the new map.

    Parameters
    ----------
    smap : sunpy.map.sources.AIAMap
        A full-disk AIA level-1 map.
    pointing_table : astropy.table.QTable or None
        Master pointing table (:func:`load_pointing_table`); ``None`` keeps the header's pointing (logged).
    correction_table : astropy.table.QTable
        Degradation correction table (:func:`load_correction_table`).
    order : int
        Order of the spline interpolation of the registration (3, as aiapy's default and the original).

    Returns
    -------
    sunpy.map.GenericMap
        The level-2 map: float64 data in DN/s, ``LVL_NUM = 2``, ``DEGRADAT`` (the degradation factor divided
        by), the ``DATA*`` statistics recomputed, ``BLANK`` and ``DATACENT`` removed and one HISTORY line.

    Raises
    ------
    CalibrationError
        When a step cannot be applied (missing keyword, table without the needed entry, bad EXPTIME).
    """
    from aiapy.calibrate import correct_degradation, degradation, register
    from sunpy.map.sources import AIAMap

    if not isinstance(smap, AIAMap):
        raise CalibrationError(f"not an AIA image (INSTRUME = {smap.meta.get('instrume')!r})")
    level = smap.meta.get("lvl_num")
    if isinstance(level, (int, float)) and level > 1:
        raise CalibrationError(f"LVL_NUM = {level}: only level-1 images are calibrated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # e.g. sunpy's "missing metadata" on rotate
        smap = _update_pointing(smap, pointing_table)
        smap = fix_observer_location(smap)
        try:
            factor = float(np.squeeze(degradation(smap.wavelength, smap.date, correction_table=correction_table)))
        except (ValueError, KeyError) as error:
            raise CalibrationError(f"degradation table: {_one_line(error)}") from error
        float_map = smap._new_instance(np.asarray(smap.data, dtype=np.float64), smap.meta.copy(),
                                       plot_settings=smap.plot_settings)
        smap = register(float_map, missing=np.nan, order=order)
        smap = correct_degradation(smap, correction_table=correction_table)
    smap = normalize_exposure(smap)
    meta = smap.meta
    for keyword in _REMOVED_KEYWORDS:
        meta.pop(keyword.lower(), None)
    meta["lvl_num"] = 2.0
    meta["degradat"] = factor
    for keyword, value in data_statistics(smap.data).items():
        meta[keyword.lower()] = value
    return smap


def _level2_header(smap) -> fits.Header:
    """The FITS header of a calibrated map, with the HISTORY line and without keywords CompImageHDU manages."""
    header = smap.fits_header
    for keyword in ("SIMPLE", "EXTEND", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", *_REMOVED_KEYWORDS):
        header.remove(keyword, ignore_missing=True, remove_all=True)
    header.comments["DEGRADAT"] = "degradation factor divided by"
    for keyword in ("HISTORY", "COMMENT"):  # sunpy turns absent ones into one blank card each
        blanks = [index for index, card in enumerate(header.cards) if card.keyword == keyword and not str(card.value)]
        for index in reversed(blanks):
            del header[index]
    header["HISTORY"] = (f"aiapy {_aiapy_version()}: pointing, observer, register, "
                         f"degradation/{smap.meta['degradat']:.4f}, DN/s")
    return header


def _aiapy_version() -> str:
    import aiapy

    return aiapy.__version__


def _read_level1(path: Path):
    import sunpy.map

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            maps = sunpy.map.Map(str(path))
    except Exception as error:  # astropy and sunpy raise many types on a corrupt or non-FITS file
        raise CalibrationError(f"{path}: cannot read as an AIA image: {_one_line(error)}") from error
    return maps[0] if isinstance(maps, list) else maps


def calibrate_aia_fits_file(input_file: str | os.PathLike[str], output_file: str | os.PathLike[str], *,
                            pointing_table: QTable | None, correction_table: QTable, overwrite: bool = False,
                            order: int = 3) -> Path:
    """Calibrate one AIA level-1 FITS file to level 2 and write it atomically (RICE-compressed, with checksums).

    Parameters
    ----------
    input_file : path
        AIA level-1 file (RICE-compressed in HDU 1 as JSOC writes them, or uncompressed).
    output_file : path
        Level-2 file to write; its folder is created. An empty primary HDU, then the image as a RICE
        :class:`~astropy.io.fits.CompImageHDU` (float32 data, quantised by cfitsio's default), both with
        ``CHECKSUM`` and ``DATASUM``.
    pointing_table, correction_table, order
        See :func:`calibrate_aia_map`.
    overwrite : bool
        Replace an existing output; without it an existing output is kept and returned (logged).

    Raises
    ------
    CalibrationError
        When the file cannot be read or calibrated; the message names it. Nothing is written then.
    OSError
        When the output cannot be written; no partial file is left.
    """
    source, target = Path(input_file), Path(output_file)
    if target.exists() and not overwrite:
        LOGGER.info("%s exists, kept (use --overwrite to recompute)", target)
        return target
    try:
        level2 = calibrate_aia_map(_read_level1(source), pointing_table=pointing_table,
                                   correction_table=correction_table, order=order)
    except CalibrationError as error:
        message = str(error)
        raise CalibrationError(message if message.startswith(str(source)) else f"{source}: {message}") from error
    header = _level2_header(level2)
    hdu = fits.CompImageHDU(data=np.asarray(level2.data, dtype=np.float32), header=header,
                            compression_type="RICE_1")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as stream:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(stream, checksum=True)
    LOGGER.info("%s -> %s (degradation factor %.4f)", source, target, level2.meta["degradat"])
    return target
