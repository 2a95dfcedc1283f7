"""The SPoCA jobs of the STAFF pipeline: segmentation maps, then STAFF statistics from a CH and an AR map.

A job succeeds only when its program exits with status 0 *and* its outputs were (re)written by this run and
are valid: a readable segmentation map (an HDU named ``SegmentedMap`` holding a 2-D integer image), or one CSV
per image with the STAFF header and its five rows. Anything else raises :class:`job.JobError` (or
:class:`job.TransientJobError` for failures worth retrying) with the reason. The programs write their outputs
atomically themselves; this module only validates them afterwards.

``get_STAFF_stats.x`` takes the CH map *first* and the AR map second (quirk Q1): the original pipeline
passed them the other way round, which silently swapped the CH and AR statistics.

As a script::

    python staff_jobs.py segmentation EXECUTABLE CONFIG CENTERS OUTPUT IMAGE [IMAGE]
    python staff_jobs.py staff_stats EXECUTABLE CONFIG OUTPUT_DIRECTORY AR_MAP CH_MAP IMAGE [IMAGE ...]
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import spoca4staff  # noqa: F401 (first: it keeps OpenBLAS to one thread, read when numpy loads)
import numpy as np

from job import Job, JobError, JobResult
from spoca4staff.exceptions import FitsStructureError
from spoca4staff.fits_hdus import astropy_data_errors, astropy_fits, checksum_problem, read_hdus

__all__ = [
    "SegmentationJob",
    "GetStaffStatsJob",
    "StaffJobResult",
    "STAFF_CSV_HEADER",
    "STAFF_CSV_TYPES",
    "staff_csv_name",
    "check_segmentation_map",
    "check_staff_csv",
]

LOGGER = logging.getLogger(__name__)

#: The header line of a STAFF CSV (compat 8.8).
STAFF_CSV_HEADER = ("Channel", "Type", "ObservationDate", "MinIntensity", "MaxIntensity", "Mean", "Median",
                    "LowerQuartile", "UpperQuartile", "Variance", "Skewness", "Kurtosis", "TotalIntensity",
                    "Area_Raw", "Area_AtDiskCenter", "FillingFactor")
#: The ``Type`` of the five rows of a STAFF CSV, in file order (compat 8.8).
STAFF_CSV_TYPES = ("AR_all", "CH_central_meridian", "CH_ondisc", "AR_ondisc", "QS_ondisc")


@dataclass(frozen=True)
class StaffJobResult:
    """A successful job: the command run, what the program printed, and the validated output files."""

    command: list[str]
    exit_code: int
    output: str
    error: str
    outputs: list[Path]


def _stem(path: Path | str) -> str:
    """The base name of ``path`` without its last suffix (``S(path)`` of compat 8.2)."""
    name = os.path.basename(str(path))
    stem, dot, _ = name.rpartition(".")
    return stem if dot else name


def staff_csv_name(ch_segmentation_map: Path | str, ar_segmentation_map: Path | str, image: Path | str) -> str:
    """File name of the CSV ``get_STAFF_stats.x`` writes for ``image`` in an output folder (compat 8.2)."""
    return f"{_stem(ch_segmentation_map)}_and_{_stem(ar_segmentation_map)}_on_{_stem(image)}.csv"


def check_segmentation_map(path: Path) -> str | None:
    """Why ``path`` is not a valid segmentation map, or ``None`` when it is one.

    Valid means: a readable FITS file with an HDU named ``SegmentedMap`` holding a 2-D integer image. The maps
    of our programs carry ``CHECKSUM``/``DATASUM``: those are verified on the stored (compressed) bytes and the
    header says the rest, so that validation costs a read of the file and no decompression
    (:mod:`spoca4staff.fits_hdus`). A map without them (written by the original SPoCA suite) is decompressed by
    astropy to be judged.
    """
    try:
        hdus = read_hdus(path)
        names = [str(hdu.header.get("EXTNAME", "PRIMARY" if hdu.index == 0 else "")).strip() for hdu in hdus]
        upper = [name.upper() for name in names]  # HDU names are compared regardless of case, as astropy does
        if "SEGMENTEDMAP" not in upper:
            return f"{path} has no SegmentedMap HDU (HDUs: {', '.join(names)})"
        hdu = hdus[upper.index("SEGMENTEDMAP")]
        header = hdu.header
        if header.get("ZIMAGE") is True and "DATASUM" in header and "CHECKSUM" in header:
            problem = checksum_problem(path, hdu)
            if problem is not None:
                return f"{path}: the SegmentedMap HDU does not match its CHECKSUM/DATASUM (damaged)"
            dimensions, bitpix = header.get("ZNAXIS"), header.get("ZBITPIX")
            if dimensions != 2:
                return f"{path}: the SegmentedMap HDU does not hold a 2-D image"
            if not isinstance(bitpix, int) or bitpix <= 0:
                return f"{path}: the SegmentedMap image is of BITPIX {bitpix}, not integer"
            return None
    except FitsStructureError as error:
        return f"{path} is not a readable FITS file: {error}"
    except OSError as error:
        return f"{path} is not a readable FITS file: {error or type(error).__name__}"
    return _decompressed_map_problem(path)


def _decompressed_map_problem(path: Path) -> str | None:
    """:func:`check_segmentation_map` for a map without checksums: its image decompressed and inspected."""
    fits = astropy_fits()  # only for the original suite's maps
    try:
        with warnings.catch_warnings():  # astropy's warnings about a damaged file: the reason returned says it
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdus:
                data = hdus["SegmentedMap"].data
    except astropy_data_errors() as error:
        return f"{path} is not a readable FITS file: {error or type(error).__name__}"
    if data is None or data.ndim != 2:
        return f"{path}: the SegmentedMap HDU does not hold a 2-D image"
    if not np.issubdtype(data.dtype, np.integer):
        return f"{path}: the SegmentedMap image is of type {data.dtype}, not integer"
    return None


def check_staff_csv(path: Path) -> str | None:
    """Why ``path`` is not a valid STAFF CSV, or ``None`` when it is one.

    Valid means: the header of compat 8.8 and exactly five rows of 16 fields whose types are, in order,
    ``AR_all, CH_central_meridian, CH_ondisc, AR_ondisc, QS_ondisc``.
    """
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return f"{path} cannot be read: {error}"
    if not rows or tuple(rows[0]) != STAFF_CSV_HEADER:
        return f"{path} does not start with the STAFF header"
    types = tuple(row[1] if len(row) > 1 else "" for row in rows[1:])
    if types != STAFF_CSV_TYPES:
        return f"{path} has rows {', '.join(types) or 'none'} instead of {', '.join(STAFF_CSV_TYPES)}"
    if any(len(row) != len(STAFF_CSV_HEADER) for row in rows[1:]):
        return f"{path} has a row without {len(STAFF_CSV_HEADER)} fields"
    return None


def _identity(path: Path) -> tuple[int, int] | None:
    """(inode, mtime in ns) of ``path``, to tell whether a run replaced it; ``None`` when it does not exist."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_ino, status.st_mtime_ns


def _validate_outputs(job: Job, result: JobResult, before: dict[Path, tuple[int, int] | None],
                      checker: Callable[[Path], str | None]) -> list[Path]:
    """Raise :class:`JobError` unless every output was written by this run and passes ``checker``."""
    for path, identity in before.items():
        now = _identity(path)
        if now is None:
            problem = f"yet {path} was not written"
        elif now == identity:
            problem = f"yet {path} was not rewritten (it is the file of an earlier run)"
        else:
            problem = checker(path)
        if problem is not None:
            raise JobError(job.command, result.exit_code, result.error, problem)
    return list(before)


class SegmentationJob:
    """A run of ``ch_segmentation.x`` or ``ar_segmentation.x``.

    Parameters
    ----------
    executable
        The classification program.
    config_file
        Its SPoCA config file (``--config``).
    centers_file
        The centres history it reads and rewrites (``--centersFile``).
    """

    def __init__(self, executable: Path | str, config_file: Path | str, centers_file: Path | str):
        self.executable = Path(executable)
        self.config_file = Path(config_file)
        self.centers_file = Path(centers_file)

    def job(self, aia_images: Sequence[Path | str], output_file: Path | str) -> Job:
        """The :class:`job.Job` that segments ``aia_images`` (in channel order) into ``output_file``."""
        return Job(self.executable, list(aia_images),
                   {"config": self.config_file, "centersFile": self.centers_file, "output": output_file})

    def execute(self, aia_images: Sequence[Path | str], output_file: Path | str,
                timeout: float | None = None) -> StaffJobResult:
        """Segment ``aia_images`` into the map ``output_file``.

        Raises
        ------
        JobError
            When the program fails or exits 0 without writing a valid map (the reason is in the message).
        TransientJobError
            On timeout, a program killed by a signal or an OS error.
        """
        output_file = Path(output_file)
        job = self.job(aia_images, output_file)
        before = {output_file: _identity(output_file)}
        result = job.run(timeout, context=f"segmentation into {output_file}")
        outputs = _validate_outputs(job, result, before, check_segmentation_map)
        return StaffJobResult(job.command, result.exit_code, result.output, result.error, outputs)


class GetStaffStatsJob:
    """A run of ``get_STAFF_stats.x``: statistics of CH, AR and quiet Sun on each image.

    Parameters
    ----------
    executable
        The ``get_STAFF_stats.x`` program.
    config_file
        Its SPoCA config file (``--config``).
    output_directory
        The folder of the CSVs; it must exist.
    """

    def __init__(self, executable: Path | str, config_file: Path | str, output_directory: Path | str):
        self.executable = Path(executable)
        self.config_file = Path(config_file)
        self.output_directory = Path(output_directory)

    def job(self, ar_segmentation_map: Path | str, ch_segmentation_map: Path | str,
            sun_images: Sequence[Path | str]) -> Job:
        """The :class:`job.Job`: the CH map goes first and the AR map second (compat 1.6, 8.1, quirk Q1)."""
        return Job(self.executable, [ch_segmentation_map, ar_segmentation_map, *sun_images],
                   {"config": self.config_file, "output": self.output_directory})

    def output_files(self, ar_segmentation_map: Path | str, ch_segmentation_map: Path | str,
                     sun_images: Sequence[Path | str]) -> list[Path]:
        """The CSVs the program writes, one per image, in the order of ``sun_images``."""
        return [self.output_directory / staff_csv_name(ch_segmentation_map, ar_segmentation_map, image)
                for image in sun_images]

    def execute(self, ar_segmentation_map: Path | str, ch_segmentation_map: Path | str,
                sun_images: Sequence[Path | str], timeout: float | None = None) -> StaffJobResult:
        """Compute the STAFF statistics of every image of ``sun_images`` with the two maps.

        Raises
        ------
        JobError
            When the program fails, or exits 0 without writing a valid CSV for every image.
        TransientJobError
            On timeout, a program killed by a signal or an OS error.
        """
        if not sun_images:
            raise ValueError("get_STAFF_stats needs at least one image")
        job = self.job(ar_segmentation_map, ch_segmentation_map, sun_images)
        outputs = self.output_files(ar_segmentation_map, ch_segmentation_map, sun_images)
        before = {path: _identity(path) for path in outputs}
        result = job.run(timeout, context=f"STAFF statistics into {self.output_directory}")
        outputs = _validate_outputs(job, result, before, check_staff_csv)
        return StaffJobResult(job.command, result.exit_code, result.output, result.error, outputs)


def main(argv: list[str] | None = None) -> int:
    """Run one job from the command line; print its outputs, or the error and exit status 1."""
    parser = argparse.ArgumentParser(description="Run one SPoCA job of the STAFF pipeline and validate its "
                                                 "outputs. Exit status 0 on success, 1 when the job failed.")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before the program is killed")
    commands = parser.add_subparsers(dest="kind", required=True)
    segmentation = commands.add_parser("segmentation", help="run ch_segmentation.x or ar_segmentation.x",
                                       description="Segment AIA images into a map; print the map's path.")
    segmentation.add_argument("executable", type=Path, help="ch_segmentation.x or ar_segmentation.x")
    segmentation.add_argument("config_file", type=Path, help="its SPoCA config file (--config)")
    segmentation.add_argument("centers_file", type=Path, help="the centres history it reads and rewrites")
    segmentation.add_argument("output_file", type=Path, help="the segmentation map to write")
    segmentation.add_argument("images", type=Path, nargs="+", help="the AIA images, in channel order (171 193)")
    staff = commands.add_parser("staff_stats", help="run get_STAFF_stats.x",
                                description="STAFF statistics of each image with an AR and a CH map; print the "
                                            "CSVs written. The CH map is passed first to the program.")
    staff.add_argument("executable", type=Path, help="get_STAFF_stats.x")
    staff.add_argument("config_file", type=Path, help="its SPoCA config file (--config)")
    staff.add_argument("output_directory", type=Path, help="existing folder of the CSVs")
    staff.add_argument("ar_map", type=Path, help="the AR segmentation map")
    staff.add_argument("ch_map", type=Path, help="the CH segmentation map")
    staff.add_argument("images", type=Path, nargs="+", help="the AIA images to measure")
    args = parser.parse_args(argv)
    try:
        if args.kind == "segmentation":
            result = SegmentationJob(args.executable, args.config_file, args.centers_file).execute(
                args.images, args.output_file, timeout=args.timeout)
        else:
            result = GetStaffStatsJob(args.executable, args.config_file, args.output_directory).execute(
                args.ar_map, args.ch_map, args.images, timeout=args.timeout)
    except JobError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    sys.stdout.write("".join(f"{path}\n" for path in result.outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
