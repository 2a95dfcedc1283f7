"""An AIA file as the pipeline knows it: its path, image HDU, QUALITY and the facts of its header, read once.

:func:`read_aia_file` reads the headers of a local FITS file (:mod:`spoca4staff.fits_hdus`: no pixel is read, and
no astropy, which takes 0.25 s to import), checks that the file is as long as its headers announce, and returns an
:class:`AiaFile`. Every module that needs a fact of an AIA image takes it from that record, so that each fact has
one rule, as sunpy's ``AIAMap`` decides "the date" in one place:

* the observation time (:attr:`AiaFile.observation_time`): the raw ``T_OBS`` string (the middle of the
  exposure), else ``DATE-OBS``, else ``DATE_OBS``, as the original spoca4staff wrote it;
* the wavelength (``WAVELNTH``), the exposure time (``EXPTIME``), the roll (``CROTA2``);
* the sun centre, 0-based with x along the columns (``CRPIX1 - 1``, ``CRPIX2 - 1``), and the solar radius in
  pixels, ``RSUN_OBS / CDELT1``, else ``R_SUN``: the rule of the SPoCA programs (docs/spoca-compatibility.md).

An :class:`AiaFile` is path-like (:func:`os.fspath` and :class:`str` give its path), so it can be given wherever
a file name is expected: a program's command line, a CSV name, the ledger. It pickles, for the workers of a
Dask cluster.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from spoca4staff.exceptions import AiaFileError, FitsStructureError
from spoca4staff.fits_hdus import Hdu, image_header, read_hdus

__all__ = [
    "OBSERVATION_TIME_KEYWORDS",
    "AiaFile",
    "AiaFileError",
    "FitsStructureError",
    "image_hdu_index",
    "observation_datetime",
    "observation_time",
    "quality_of",
    "read_aia_file",
    "read_headers",
    "read_stored_headers",
]

#: The header keywords giving the observation time of an AIA file, in order of preference.
OBSERVATION_TIME_KEYWORDS = ("T_OBS", "DATE-OBS", "DATE_OBS")

#: A header as the pipeline reads it: keyword to value (a :class:`~spoca4staff.fits_hdus.FitsHeader`; astropy's
#: ``Header`` is read the same way).
Header = Mapping[str, object]


def observation_time(header: Header) -> str:
    """The observation time of an AIA header: its raw ``T_OBS`` string, e.g. ``2012-07-01T00:00:01.34Z``.

    ``T_OBS`` is the middle of the exposure, in UTC with a ``Z``; it is what the original spoca4staff wrote
    as the ``DATE_OBS`` of the image statistics. When a header has no (or an empty) ``T_OBS``, as some
    non-JSOC files, the raw ``DATE-OBS`` (the start of the exposure) is used, then ``DATE_OBS``. The string
    is returned as it is in the header, only stripped of surrounding blanks.

    Raises
    ------
    AiaFileError
        When none of :data:`OBSERVATION_TIME_KEYWORDS` has a non-empty string value.
    """
    for keyword in OBSERVATION_TIME_KEYWORDS:
        value = header.get(keyword)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise AiaFileError(f"no {', '.join(OBSERVATION_TIME_KEYWORDS[:-1])} or {OBSERVATION_TIME_KEYWORDS[-1]} keyword")


def observation_datetime(header: Header) -> datetime:
    """The observation time of :func:`observation_time` as a naive UTC datetime.

    The ISO 8601 string is taken as UTC (a trailing ``Z`` is accepted, an offset is converted). What
    :meth:`datetime.datetime.fromisoformat` cannot read, such as a leap second (``...T23:59:60.34Z``), is
    parsed by :class:`astropy.time.Time`; a leap second then becomes the first instant of the next day.

    Raises
    ------
    AiaFileError
        When there is no observation time, or it is not an ISO 8601 date.
    """
    text = observation_time(header)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        from astropy.time import Time  # slow to import (~0.02 s): only for what fromisoformat cannot read

        try:
            return Time(text.rstrip("Zz"), scale="utc").to_datetime(leap_second_strict="silent")
        except ValueError as error:
            raise AiaFileError(f"observation time {text!r} is not an ISO 8601 date") from error
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def quality_of(headers: Iterable[Header], hdu: int | None = None, keyword: str = "QUALITY") -> int:
    """The QUALITY of a file from the headers of its HDUs, in file order (consumed only as far as needed).

    From HDU ``hdu`` when it has ``keyword``; otherwise (no ``hdu``, an HDU without the keyword, or fewer
    HDUs) from the first HDU that has it. RICE-compressed SDO files keep their header in HDU 1 and
    uncompressed ones in HDU 0, so ``hdu = 0`` works for both. The headers may be a lazy iterable (a remote
    file's, read by HTTP range requests): it is not read past what decides the answer.

    Raises
    ------
    AiaFileError
        When no HDU has the keyword, or its value is not an integer.
    """
    first_found: int | None = None
    for index, header in enumerate(headers):
        if keyword in header:
            value = header[keyword]
            try:
                quality = int(value)
            except (TypeError, ValueError):
                raise AiaFileError(f"{keyword} = {value!r} in HDU {index} is not an integer") from None
            if hdu is None or index == hdu:
                return quality
            if first_found is None:
                first_found = quality
        if hdu is not None and index >= hdu and first_found is not None:
            return first_found
    if first_found is not None:
        return first_found
    raise AiaFileError(f"no {keyword} keyword in any HDU")


def image_hdu_index(headers: list[Header], hdu: int | None = None) -> int | None:
    """The HDU holding the image: ``hdu`` when it holds a 2-D image, else the first that does (None: none).

    SDO files are RICE-compressed with an empty primary HDU, so ``hdu = 0`` in the configs falls back to HDU 1
    for them. The headers are the images' (:func:`read_headers`: a compressed HDU's is its image's, ``NAXIS`` = 2).
    """
    order = list(range(len(headers)))
    if hdu is not None and 0 <= hdu < len(headers):
        order.insert(0, hdu)
    return next((index for index in order if headers[index].get("NAXIS") == 2), None)


@dataclass(frozen=True)
class AiaFile:
    """A local AIA FITS file and the facts of its image header (see the module notes for the rules).

    Parameters
    ----------
    path
        The file.
    hdu
        The index of the HDU holding the image (1 for RICE-compressed SDO files).
    header
        The image header (for a compressed HDU, that of the image it holds:
        :func:`~spoca4staff.fits_hdus.image_header`).
    quality
        The QUALITY keyword, as :func:`quality_of` finds it (None: the file has none).
    stored
        The image HDU as stored, when its headers were read from the file: its own header (a compressed
        image's table header) and where its data lie, so that its pixels are read without reading the headers
        again.
    """

    path: Path
    hdu: int
    header: Header = field(repr=False)
    quality: int | None = None
    stored: Hdu | None = field(default=None, repr=False, compare=False)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return os.fspath(self.path)

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.name

    def _number(self, keyword: str) -> float:
        try:
            value = float(self.header[keyword])
        except KeyError:
            raise AiaFileError(f"keyword {keyword} missing") from None
        except (TypeError, ValueError):
            raise AiaFileError(f"keyword {keyword} is not a number: {self.header[keyword]!r}") from None
        if not math.isfinite(value):
            raise AiaFileError(f"keyword {keyword} is not finite: {value}")
        return value

    @cached_property
    def observation_time(self) -> str:
        """The raw observation time string (:func:`observation_time`)."""
        return observation_time(self.header)

    @cached_property
    def observation_datetime(self) -> datetime:
        """The observation time as a naive UTC datetime (:func:`observation_datetime`)."""
        return observation_datetime(self.header)

    @cached_property
    def wavelength(self) -> int:
        """``WAVELNTH``, in angstrom."""
        return int(self._number("WAVELNTH"))

    @cached_property
    def exposure(self) -> float:
        """``EXPTIME`` in seconds; an :class:`AiaFileError` when it is not positive."""
        exposure = self._number("EXPTIME")
        if exposure <= 0:
            raise AiaFileError(f"EXPTIME is {exposure}, not a positive exposure time")
        return exposure

    @cached_property
    def pixel_scale(self) -> float:
        """``CDELT1``, arcsec per pixel; an :class:`AiaFileError` when it is 0."""
        scale = self._number("CDELT1")
        if scale == 0:
            raise AiaFileError("CDELT1 is 0")
        return scale

    @cached_property
    def sun_centre(self) -> tuple[float, float]:
        """The sun centre in pixels, 0-based, x along the columns: ``(CRPIX1 - 1, CRPIX2 - 1)``."""
        return self._number("CRPIX1") - 1, self._number("CRPIX2") - 1

    @cached_property
    def radius(self) -> float:
        """The solar radius in pixels: ``RSUN_OBS / |CDELT1|``, else ``R_SUN`` (the SPoCA programs' rule)."""
        if "RSUN_OBS" in self.header:
            return self._number("RSUN_OBS") / abs(self.pixel_scale)
        if "R_SUN" in self.header:
            return self._number("R_SUN")
        raise AiaFileError("keyword RSUN_OBS missing (and no R_SUN)")

    @cached_property
    def roll(self) -> float:
        """``CROTA2`` in degrees (0 when absent or not finite)."""
        value = self.header.get("CROTA2", 0.0)
        try:
            roll = float(value)
        except (TypeError, ValueError):
            raise AiaFileError(f"bad CROTA2 value {value!r}") from None
        return roll if math.isfinite(roll) else 0.0

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the image: ``(NAXIS2, NAXIS1)``."""
        return int(self.header.get("NAXIS2", 0)), int(self.header.get("NAXIS1", 0))


def read_headers(path: Path | str) -> list[Header]:
    """The image headers of the HDUs of a local FITS file, read without any pixel (:func:`read_stored_headers`).

    A compressed HDU's header is that of the image it holds (:func:`~spoca4staff.fits_hdus.image_header`).

    Raises
    ------
    FitsStructureError
        When the file is not FITS, a header is damaged, or the file is shorter than its headers say.
    OSError
        With an ``errno``, when the system fails to read the file.
    """
    return [header for header, _ in read_stored_headers(path)]


def read_stored_headers(path: Path | str, *, complete: bool = True) -> list[tuple[Header, Hdu]]:
    """The HDUs of a local FITS file (:func:`~spoca4staff.fits_hdus.read_hdus`), each with its image header.

    With ``complete=False`` the last HDU's data may be cut short (its reader then says so).

    Raises
    ------
    FitsStructureError
        As :func:`read_headers`.
    OSError
        With an ``errno``, when the system fails to read the file.
    """
    hdus = read_hdus(path, complete=complete)
    try:
        return [(image_header(hdu.header), hdu) for hdu in hdus]
    except KeyError as error:
        raise FitsStructureError(f"damaged compressed image header (no {error})") from None
    except (TypeError, ValueError) as error:
        raise FitsStructureError(f"damaged compressed image header ({error})") from None


def read_aia_file(path: Path | str, hdu: int | None = None, quality_keyword: str = "QUALITY") -> AiaFile:
    """Read the headers of a local AIA file (no pixel, :func:`read_headers`) and return its :class:`AiaFile`.

    Parameters
    ----------
    path
        The FITS file.
    hdu
        The HDU holding QUALITY and the image; when None, or when that HDU lacks them, the first that has them.
    quality_keyword
        The keyword holding the quality.

    Raises
    ------
    FitsStructureError
        When the file is not FITS, a header is damaged, or the file is shorter than its headers say.
    AiaFileError
        When no HDU has a 2-D image, or the quality keyword, or it is not an integer.
    OSError
        With an ``errno``, when the system fails to read the file.
    """
    stored = read_stored_headers(path)
    headers = [header for header, _ in stored]
    quality = quality_of(headers, hdu, quality_keyword)
    image = image_hdu_index(headers, hdu)
    if image is None:
        raise AiaFileError("no HDU holds a 2-D image")
    return AiaFile(Path(path), image, headers[image], quality, stored[image][1])

