"""Find good-quality SDO files (AIA, HMI) for a time step, in a local archive or on a remote HTTP(S) one.

An :class:`SdoData` formats a file pattern with the time step and the wavelength (Python format syntax, e.g.
``{wavelength:04d}/{date.year:04d}/...``), lists the files that match it (shell-style wildcards), and returns
the first one in sorted order whose QUALITY keyword is 0 once the ignored bits are cleared. A pattern that
starts with ``http://`` or ``https://`` is looked up on a remote archive (:mod:`remote_archive`): the folder's
index page is listed, QUALITY is read from the start of each candidate with an HTTP Range request, and only
the chosen file is downloaded, into a cache folder, and returned as a local path.

QUALITY is read from the raw FITS headers, without loading any data: from the configured HDU, or, when none
is configured or that HDU lacks the keyword, from the first HDU that has it. RICE-compressed SDO files keep
their header in HDU 1 and uncompressed ones in HDU 0, so ``hdu = 0`` works for both. A candidate that cannot
be read (not FITS, truncated, no QUALITY) is logged as a warning with the reason and skipped; every rejected
candidate is logged with its quality errors, so that the pipeline's log says why a time step was skipped. A
candidate of good quality whose image data are damaged (a corrupt compressed tile: it fails the file's
CHECKSUM/DATASUM, or, in a file without them, its decompression) is rejected in the same way, and the next
candidate is tried.

An outage is not "no data": when the archive itself cannot be read, :attr:`Selection.outage` says why and the
pipeline fails the job (it is redone by ``--rerun-failed``) instead of skipping it. For a local pattern the
archive root is the folder before the first replacement field (``/data/SDO/public/AIA_quicklook/`` for
``/data/SDO/public/AIA_quicklook/{wavelength:04d}/...``): a root that is missing or cannot be listed (an
unmounted share, a typo, no permission, an I/O error) is an outage, and so is a folder of the formatted pattern
that exists but cannot be listed; a missing folder below the root (no data for that day) is not. For a remote
pattern, a folder that cannot be listed after the retries (DNS failure, connection refused, HTTP 5xx) is an
outage; a 404 is "no data".

The chosen file comes with its :class:`~spoca4staff.aia_file.AiaFile` (:attr:`Selection.file`,
:meth:`SdoData.get_aia_file`): its headers are read once, while its QUALITY is judged, and every later step of
the time step (the programs' command lines, the image statistics, the overlays, the logs) takes the facts of
the image (observation time, wavelength, sun centre...) from that record.

As a script: ``python sdo_data.py DATE WAVELENGTH [--aia-file-pattern P] ...`` prints the chosen file, or
says why none was found.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import sys
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import spoca4staff  # noqa: F401 (first: it keeps OpenBLAS to one thread, read when numpy loads)
from spoca4staff.aia_file import AiaFile, AiaFileError, FitsStructureError, quality_of, read_aia_file, read_headers
from spoca4staff.command_line import setup_tool_logging
from spoca4staff.fits_hdus import astropy_data_errors, astropy_fits, checksum_problem, iter_fits_headers
from spoca4staff.ledger import OUTAGE

if TYPE_CHECKING:
    from spoca4staff.remote_archive import RemoteArchive

__all__ = [
    "DEFAULT_AIA_FILE_PATTERN",
    "QUALITY_BITS",
    "SdoData",
    "SdoDataError",
    "Selection",
    "archive_root",
    "get_quality_errors",
    "main",
]

LOGGER = logging.getLogger(__name__)

#: The JSOC quicklook archive, as mounted at the ROB (the default of the command line): any file of the hour,
#: as in the original's ``configs/AIA.quicklook.ini``.
DEFAULT_AIA_FILE_PATTERN = (
    "/data/SDO/public/AIA_quicklook/{wavelength:04d}/{date.year:04d}/{date.month:02d}/{date.day:02d}/"
    "H{date.hour:02d}00/AIA.{date.year:04d}{date.month:02d}{date.day:02d}_{date.hour:02d}*.{wavelength:04d}.*.fits"
)

#: Meaning of the bits of the SDO QUALITY keyword (AIA and HMI level 1 and 1.5).
QUALITY_BITS: dict[int, str] = {
    0: "FLAT_REC missing (flat-field record)",
    1: "ORB_REC missing (orbit record)",
    2: "ASD_REC missing (ancillary science data record)",
    3: "MPO_REC missing (master pointing record)",
    4: "limb fit missing (RSUN_LF, X0_LF, Y0_LF)",
    8: "MISSVALS > 0 (missing pixels)",
    9: "MISSVALS > 1% of TOTVALS",
    10: "MISSVALS > 5% of TOTVALS",
    11: "MISSVALS > 25% of TOTVALS",
    12: "ACS_MODE is not SCIENCE (spacecraft not in science pointing)",
    13: "ACS_ECLP: spacecraft eclipse",
    14: "ACS_SUNP: sun not present",
    15: "ACS_SAFE: spacecraft in safe mode",
    16: "dark image (IMG_TYPE = DARK)",
    17: "ISS loop open (image stabilisation off)",
    18: "calibration image (FID)",
    20: "focus out of the normal range",
    21: "register flag (AIAGP6 not 0)",
    30: "quicklook image",
    31: "image not available",
}

class SdoDataError(AiaFileError):
    """A search cannot be made (e.g. no HMI pattern configured); a candidate's own problems are
    :class:`~spoca4staff.aia_file.AiaFileError`."""


#: How many searches :class:`SdoData` remembers: a time step asks for each wavelength several times (the
#: segmentations, the STAFF statistics, the image statistics), a run moves on to the next step.
_SELECTIONS_KEPT = 64


def get_quality_errors(quality: int) -> set[str]:
    """The messages of the bits set in ``quality`` (the SDO QUALITY bit table), e.g. ``{"bit 30: quicklook image"}``."""
    errors = set()
    for bit in range(32):
        if quality & (1 << bit):
            errors.add(f"bit {bit}: {QUALITY_BITS.get(bit, 'unknown quality bit')}")
    return errors


# ------------------------------------------------------------------------------------------ SdoData


@dataclass
class Selection:
    """The outcome of a file search: the pattern looked up, the chosen file and the rejected candidates.

    ``outage`` is set, starting with :data:`ledger.OUTAGE`, when the archive itself could not be read: then
    nothing is known about the time step, which must fail rather than be skipped.
    """

    pattern: str
    chosen: Path | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)
    outage: str | None = None
    #: The chosen AIA file's record, its headers read once (None for HMI files and when none was chosen).
    file: AiaFile | None = None

    @property
    def reason(self) -> str:
        """Why nothing was chosen, in one line (empty when a file was chosen)."""
        if self.outage is not None:
            return self.outage
        if self.chosen is not None:
            return ""
        if not self.rejected:
            return f"no file matches {self.pattern}"
        return "; ".join(f"{Path(candidate).name}: {why}" for candidate, why in self.rejected)


def _observed(record: AiaFile | None) -> str:
    """`` (observed T_OBS)`` for a log line, from the file's record (empty when it has no observation time)."""
    try:
        return f" (observed {record.observation_time})" if record is not None else ""
    except AiaFileError:
        return ""


def _sorted_bits(quality: int) -> str:
    return ", ".join(sorted(get_quality_errors(quality), key=lambda text: int(text.split()[1].rstrip(":"))))


class SdoData:
    """Find the good-quality SDO files of a time step.

    Parameters
    ----------
    aia_file_pattern
        Where the AIA files are: a path or an ``http(s)://`` URL, formatted with ``date`` (the time step, a
        datetime) and ``wavelength`` (an int), then with shell-style wildcards (``?``, ``*``, ``[...]``; for
        URLs in the last path component only).
    hmi_file_pattern
        The same for HMI files, formatted with ``date`` only.
    ignore_quality_bits
        QUALITY bits that do not make a file unusable (e.g. 30, quicklook). Every other set bit rejects it.
    hdu
        HDU whose header holds QUALITY; when None, or when that HDU lacks the keyword, the first HDU having it.
    quality_keyword
        Keyword holding the quality (default ``QUALITY``).
    cache_directory
        Remote archives only: folder of the downloaded files (default ``~/.cache/spoca4staff/sdo_data``).
    cache_size_limit
        Remote archives only: bytes the cache may hold; the oldest files are removed first (None: no limit).
    http_timeout
        Remote archives only: seconds to wait for the server to connect or to send data.
    http_retry_attempts, http_retry_initial_delay, http_retry_max_delay
        Remote archives only: attempts of a request failing transiently (connection error, timeout, 429, 5xx,
        body cut short), the first delay between attempts (seconds, doubled at each attempt) and the largest.
    """

    def __init__(self, aia_file_pattern: str, hmi_file_pattern: str | None = None,
                 ignore_quality_bits: Iterable[int] | None = None, hdu: int | None = None,
                 quality_keyword: str | None = None, *, cache_directory: Path | str | None = None,
                 cache_size_limit: int | None = None, http_timeout: float = 60.0, http_retry_attempts: int = 5,
                 http_retry_initial_delay: float = 2.0, http_retry_max_delay: float = 60.0) -> None:
        self.aia_file_pattern = str(aia_file_pattern)
        self.hmi_file_pattern = None if hmi_file_pattern is None else str(hmi_file_pattern)
        self.ignore_quality_bits = tuple(sorted(set(ignore_quality_bits or ())))
        for bit in self.ignore_quality_bits:
            if not 0 <= int(bit) <= 31:
                raise ValueError(f"ignore_quality_bits: {bit} is not a QUALITY bit (0 to 31)")
        self.ignored_mask = sum(1 << int(bit) for bit in self.ignore_quality_bits)
        self.hdu = hdu
        self.quality_keyword = quality_keyword or "QUALITY"
        self.cache_directory = Path(cache_directory) if cache_directory is not None else (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spoca4staff" / "sdo_data")
        self.cache_size_limit = cache_size_limit
        self.http_timeout = http_timeout
        self.http_retry_attempts = http_retry_attempts
        self.http_retry_initial_delay = http_retry_initial_delay
        self.http_retry_max_delay = http_retry_max_delay
        self._remote: RemoteArchive | None = None
        self._selections: OrderedDict[tuple[datetime, int | None, str], Selection] = OrderedDict()

    # -- public interface

    def get_AIA_file(self, date: datetime, wavelength: int) -> Path | None:
        """The first good-quality AIA file of ``wavelength`` at ``date``, or None. Cached per (date, wavelength)."""
        return self.get_AIA_selection(date, wavelength).chosen

    def get_HMI_file(self, date: datetime) -> Path | None:
        """The first good-quality HMI file at ``date``, or None. Cached per date."""
        if self.hmi_file_pattern is None:
            raise SdoDataError("no hmi_file_pattern configured")
        return self._select(self.hmi_file_pattern, date, None, "HMI").chosen

    def get_aia_file(self, date: datetime, wavelength: int) -> AiaFile | None:
        """The :class:`~spoca4staff.aia_file.AiaFile` of :meth:`get_AIA_file` (its headers read once), or None."""
        return self.get_AIA_selection(date, wavelength).file

    def get_AIA_selection(self, date: datetime, wavelength: int) -> Selection:
        """The search behind :meth:`get_AIA_file`: the chosen file and why each other candidate was rejected."""
        return self._select(self.aia_file_pattern, date, int(wavelength), "AIA")

    def get_quality(self, path: Path | str) -> int:
        """QUALITY of a local FITS file (see the class notes on the HDU). Raises AiaFileError or OSError."""
        return quality_of(read_headers(path), self.hdu, self.quality_keyword)

    @staticmethod
    def get_quality_errors(quality: int) -> set[str]:
        """The messages of the bits set in ``quality``, see :func:`get_quality_errors`."""
        return get_quality_errors(quality)

    # -- search

    def _select(self, pattern: str, date: datetime, wavelength: int | None, instrument: str) -> Selection:
        key = (date, wavelength, instrument)
        if key in self._selections:
            self._selections.move_to_end(key)
        else:
            formatted = pattern.format(date=date, wavelength=wavelength)
            if _is_url(formatted):
                selection = self._select_remote(formatted)
            else:
                selection = self._select_local(formatted, archive_root(pattern))
            what = f"{instrument}{'' if wavelength is None else f' {wavelength}'} at {date:%Y-%m-%dT%H:%M:%S}"
            if selection.outage is not None:
                LOGGER.info("%s: %s", what, selection.outage)
            elif selection.chosen is None:
                LOGGER.info("no good-quality %s file: %s", what, selection.reason)
            else:
                LOGGER.debug("%s: %s%s", what, selection.chosen, _observed(selection.file))
            self._selections[key] = selection
            if len(self._selections) > _SELECTIONS_KEPT:
                self._selections.popitem(last=False)
        return self._selections[key]

    def _judge(self, candidate: str, quality: Callable[[], int], selection: Selection) -> bool:
        """True when the candidate's quality is good; otherwise record and log why it is rejected."""
        try:
            value = quality()
        except (AiaFileError, OSError) as error:
            reason = f"unreadable: {error}"
            LOGGER.warning("skipping %s: %s", candidate, reason)
            selection.rejected.append((candidate, reason))
            return False
        bad = value & ~self.ignored_mask
        if bad:
            reason = f"{self.quality_keyword} = {value:#010x} ({_sorted_bits(bad)})"
            LOGGER.info("rejecting %s: %s", candidate, reason)
            selection.rejected.append((candidate, reason))
            return False
        return True

    def _select_local(self, pattern: str, root: str) -> Selection:
        selection = Selection(pattern, outage=_local_outage(pattern, root))
        if selection.outage is not None:
            return selection
        for candidate in sorted(name for name in glob.glob(pattern) if os.path.isfile(name)):
            records: list[AiaFile] = []

            def quality(candidate: str = candidate, records: list[AiaFile] = records) -> int:
                records.append(self._read(candidate))
                return records[0].quality

            if self._judge(candidate, quality, selection) and self._judge_data(candidate, records[0], selection):
                selection.chosen, selection.file = Path(candidate), records[0]
                break
        return selection

    def _judge_data(self, candidate: str, record: AiaFile, selection: Selection) -> bool:
        """True when the image data of a good-quality candidate are sound (:func:`_check_image_data`); else
        rejected."""
        try:
            _check_image_data(record)
        except (FitsStructureError, OSError) as error:
            reason = f"unreadable: {error}"
            LOGGER.warning("skipping %s: %s", candidate, reason)
            selection.rejected.append((candidate, reason))
            return False
        return True

    def _read(self, path: str | Path) -> AiaFile:
        """The record of a local candidate: structure, QUALITY and image header, in one read of its headers."""
        return read_aia_file(path, self.hdu, self.quality_keyword)

    def _verified_download(self, path: Path) -> AiaFile:
        """A downloaded file must be a complete AIA file whose image data can be read (decompressed)."""
        record = self._read(path)
        _check_image_data(record)
        return record

    def _remote_archive(self) -> RemoteArchive:
        """The remote archive of this run (one HTTP session), made on first use."""
        if self._remote is None:
            from spoca4staff.remote_archive import RemoteArchive

            self._remote = RemoteArchive(self.cache_directory, cache_size_limit=self.cache_size_limit,
                                         timeout=self.http_timeout, retry_attempts=self.http_retry_attempts,
                                         retry_initial_delay=self.http_retry_initial_delay,
                                         retry_max_delay=self.http_retry_max_delay)
        return self._remote

    def _select_remote(self, url_pattern: str) -> Selection:
        from spoca4staff.remote_archive import RemoteArchiveError

        remote = self._remote_archive()
        selection = Selection(url_pattern)
        try:
            candidates = remote.list_files(url_pattern)
        except RemoteArchiveError as error:
            selection.outage = f"{OUTAGE}: cannot list the folder of {url_pattern}: {error}"
            return selection
        for url in candidates:
            def quality(url: str = url) -> int:
                cached = remote.cache_path(url)
                if cached.is_file():  # downloaded by an earlier run: no need to ask the server
                    try:
                        return self._read(cached).quality
                    except (AiaFileError, OSError) as error:
                        LOGGER.warning("ignoring the cached %s: %s", cached, error)
                try:
                    headers = (hdu.header for hdu in iter_fits_headers(remote.reader(url)))
                    return quality_of(headers, self.hdu, self.quality_keyword)
                except RemoteArchiveError as error:
                    raise AiaFileError(str(error)) from error

            if not self._judge(url, quality, selection):
                continue
            records: list[AiaFile] = []
            try:
                selection.chosen = remote.fetch(url, verify=lambda path, records=records: records.append(
                    self._verified_download(path)))
                # verified before its rename into the cache: the record is that of the renamed file
                selection.file = replace(records[-1], path=selection.chosen) if records else \
                    self._read(selection.chosen)
                break
            except RemoteArchiveError as error:
                LOGGER.warning("skipping %s: %s", url, error)
                selection.rejected.append((url, f"download failed: {error}"))
        return selection




def _check_image_data(record: AiaFile) -> None:
    """Raise :class:`FitsStructureError` unless the image data of a candidate are sound.

    When the image HDU carries ``DATASUM`` (as JSOC's files do) it is verified on the stored bytes, compressed
    tiles included, without decompressing anything: a corrupt tile fails it. (``CHECKSUM`` covers the header
    too, and JSOC headers hold cards that a FITS reader must repair, such as ``nan`` values: it is not used.)
    Otherwise the image is decompressed by astropy (a few tenths of a second at 4096x4096).
    """
    stored = record.stored
    if stored is not None and "DATASUM" in stored.header:
        problem = checksum_problem(record.path, stored, header_too=False)
        if problem is not None:
            raise FitsStructureError(f"damaged image data ({problem})")
        return
    fits = astropy_fits()  # only for a file without DATASUM
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            with fits.open(record.path, do_not_scale_image_data=True, memmap=False) as hdus:  # decompressed
                hdus[record.hdu].data.max()
    except (*astropy_data_errors(), MemoryError) as error:
        raise FitsStructureError(f"unreadable image data ({error or type(error).__name__})") from error


def archive_root(pattern: str) -> str:
    """The archive root of a local file pattern: the folder before its first replacement field or wildcard.

    ``/data/AIA/{wavelength:04d}/{date:%Y}/AIA*.fits`` gives ``/data/AIA``; ``/data/aia{wavelength}/x.fits``
    gives ``/data``. This folder must exist and be readable whatever the time step: when it is not, the
    archive is unavailable (an outage), not empty.
    """
    cut = len(pattern)
    for marker in ("{", "*", "?", "["):
        index = pattern.find(marker)
        if index >= 0:
            cut = min(cut, index)
    prefix = pattern[:cut]
    return prefix.rstrip("/") or "/" if prefix.endswith("/") else os.path.dirname(prefix) or "."


def _local_outage(pattern: str, root: str) -> str | None:
    """Why the local archive of ``pattern`` (formatted) is unavailable, or None when it answers.

    The root must be a folder that can be listed. Below it, the deepest existing folder of the pattern's
    fixed (wildcard-free) folders must be listable too: a folder that is missing is "no data" (no image that
    day), one that exists but cannot be listed (EACCES, EIO, a stale NFS handle) is an outage.
    """
    deepest = root
    try:
        os.listdir(root)
    except OSError as error:
        return (f"{OUTAGE}: the archive root {root} cannot be listed ({error.strerror or error}): "
                f"unmounted share, wrong aia_file_pattern or no permission?")
    relative = os.path.relpath(os.path.dirname(pattern), root)
    for part in [] if relative == "." else Path(relative).parts:
        if any(character in part for character in "*?[") or not os.path.isdir(os.path.join(deepest, part)):
            break
        deepest = os.path.join(deepest, part)
    try:
        os.listdir(deepest)
    except OSError as error:
        return f"{OUTAGE}: the archive folder {deepest} cannot be listed ({error.strerror or error})"
    return None


def _is_url(pattern: str) -> bool:
    return pattern.lower().startswith(("http://", "https://"))


# ---------------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    from spoca4staff.time_window import parse_date  # the one date parser of the command lines

    parser = argparse.ArgumentParser(
        description="Find the first good-quality AIA file of a wavelength at a time step and print its path "
                    "(downloaded into the cache for an http(s) pattern). When there is none, print \"No file "
                    "found!\", as the original, and say on stderr why: which candidates were found and which "
                    "QUALITY bits rejected them. Exit status 0 when a file was found, 1 when none was (or the "
                    "archive could not be read).")
    parser.add_argument("date", type=parse_date, metavar="DATE",
                        help="time step, ISO 8601, UTC unless an offset is given, e.g. 2026-03-20T12:00")
    parser.add_argument("wavelength", type=int, metavar="WAVELENGTH", help="AIA wavelength in angstrom, e.g. 193")
    parser.add_argument("-A", "--aia-file-pattern", default=DEFAULT_AIA_FILE_PATTERN,
                        help="file pattern or http(s) URL pattern, with {date} and {wavelength} in Python format "
                             "syntax and shell wildcards (default: the quicklook archive, %(default)s)")
    parser.add_argument("-I", "--ignore-quality-bits", type=int, nargs="*", default=[], metavar="BIT",
                        help="QUALITY bits that do not reject a file, e.g. 30 for quicklook files")
    parser.add_argument("-H", "--hdu", type=int, default=None,
                        help="HDU holding QUALITY (default: the first HDU that has it)")
    parser.add_argument("-K", "--quality-keyword", default=None, help="keyword holding the quality (default QUALITY)")
    parser.add_argument("--cache-directory", type=Path, default=None,
                        help="remote archives: folder of the downloaded files (default ~/.cache/spoca4staff/sdo_data)")
    parser.add_argument("--http-timeout", type=float, default=60.0, help="remote archives: seconds (default 60)")
    parser.add_argument("--http-retry-attempts", type=int, default=5,
                        help="remote archives: attempts of a transiently failing request (default 5)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every candidate examined")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    arguments = _parser().parse_args(argv)
    setup_tool_logging(arguments.verbose)
    sdo_data = SdoData(arguments.aia_file_pattern, ignore_quality_bits=arguments.ignore_quality_bits,
                       hdu=arguments.hdu, quality_keyword=arguments.quality_keyword,
                       cache_directory=arguments.cache_directory, http_timeout=arguments.http_timeout,
                       http_retry_attempts=arguments.http_retry_attempts)
    try:
        selection = sdo_data.get_AIA_selection(arguments.date, arguments.wavelength)
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        print(f"sdo_data.py: error: cannot format the pattern {arguments.aia_file_pattern!r}: {error}",
              file=sys.stderr)
        return 2
    if selection.chosen is not None:
        print(selection.chosen)
        return 0
    if selection.outage is not None:
        print(f"sdo_data.py: {selection.outage}", file=sys.stderr)
        return 1
    print("No file found!")
    print(f"No good-quality file for AIA {arguments.wavelength} at {arguments.date:%Y-%m-%dT%H:%M:%S}.",
          file=sys.stderr)
    if not selection.rejected:
        print(f"No file matches {selection.pattern}", file=sys.stderr)
    for candidate, reason in selection.rejected:
        print(f"  {candidate}: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
