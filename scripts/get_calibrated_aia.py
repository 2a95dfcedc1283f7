"""Calibrate the AIA images of a date range to level 2 (aiapy), one file per time step and wavelength.

For every time step from ``--start-date`` (included) to ``--end-date`` (excluded), every ``--interval`` hours,
and every ``--wavelength``, the first good-QUALITY level-1 file is found with :class:`sdo_data.SdoData` (the
pattern and the ignored QUALITY bits as in the pipeline's ``[SDO_DATA]``), calibrated by
:func:`scripts.aia_calibration.calibrate_aia_fits_file`, and written as

    ``<output dir>/<wavelength:04d>/<YYYY>/<MM>/<DD>/<file name without .fits>.image_lev2.fits``

(the date folders are the time step's). An existing output is kept unless ``--overwrite``. The master pointing
and degradation tables are fetched once, before the first file; when one cannot be had (no network), the script
says in one line which table is missing and how to give a local copy, writes nothing and exits with status 1.
A file that cannot be calibrated is reported in one line and skipped; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from scripts.aia_calibration import (
    CalibrationError,
    TableUnavailableError,
    calibrate_aia_fits_file,
    load_correction_table,
    load_pointing_table,
)
from sdo_data import DEFAULT_AIA_FILE_PATTERN, SdoData
from spoca4staff.time_window import parse_date

__all__ = ["DEFAULT_WAVELENGTHS", "level2_path", "main", "time_steps"]

LOGGER = logging.getLogger("get_calibrated_aia")

#: The AIA EUV wavelengths, calibrated by default.
DEFAULT_WAVELENGTHS = (94, 131, 171, 193, 211, 304, 335)


def time_steps(start: datetime, end: datetime, interval: timedelta) -> Iterator[datetime]:
    """``start``, ``start + interval``, ... while before ``end`` (as the pipeline scripts)."""
    step = start
    while step < end:
        yield step
        step += interval


def level2_path(output_directory: Path, wavelength: int, step: datetime, level1: Path) -> Path:
    """Where the level-2 file of ``level1`` goes: ``{wavelength:04d}/{YYYY}/{MM}/{DD}/<name>.image_lev2.fits``."""
    name = level1.name[: -len(".fits")] if level1.name.endswith(".fits") else level1.name
    return output_directory / f"{wavelength:04d}" / f"{step:%Y}" / f"{step:%m}" / f"{step:%d}" / \
        f"{name}.image_lev2.fits"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Calibrate AIA level-1 images to level 2 with aiapy (pointing update, observer location, "
        "registration to 0.6 arcsec per pixel with the sun centred and north up, degradation correction, "
        "exposure normalised to DN/s), one file per time step and wavelength, written RICE-compressed with "
        "checksums as <output dir>/<wavelength>/<YYYY>/<MM>/<DD>/<name>.image_lev2.fits. Exit status 0 when "
        "every file found was calibrated, 1 when a file or a calibration table failed, 2 for a usage error.",
        epilog="example (offline, with local copies of the two tables): .venv/bin/python "
        "scripts/get_calibrated_aia.py --start-date 2026-03-20 --end-date 2026-03-21 --wavelength 171 193 "
        "--output-dir /data/aia_lev2 --pointing-table master_aia_pointing3h.csv "
        "--correction-table aia_V10_20201119_190000_response_table.txt",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("-s", "--start-date", type=parse_date, required=True, metavar="DATE",
                        help="first time step, ISO 8601 (UTC when no zone is given)")
    parser.add_argument("-e", "--end-date", type=parse_date, default=None, metavar="DATE",
                        help="end of the time steps, excluded (default: now, UTC)")
    parser.add_argument("-i", "--interval", type=int, default=6, metavar="HOURS", help="hours between time steps")
    parser.add_argument("-w", "--wavelength", type=int, nargs="+", default=list(DEFAULT_WAVELENGTHS),
                        metavar="WAVELENGTH", help="AIA wavelengths in angstrom")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, metavar="FOLDER",
                        help="root folder of the level-2 files")
    parser.add_argument("--overwrite", action="store_true", help="recompute level-2 files that already exist")
    parser.add_argument("-A", "--aia-file-pattern", default=DEFAULT_AIA_FILE_PATTERN, metavar="PATTERN",
                        help="level-1 file pattern ({date} and {wavelength} in Python format syntax, then shell "
                        "wildcards), as aia_file_pattern in the pipeline's ini")
    parser.add_argument("-I", "--ignore-quality-bits", type=int, nargs="*", default=[0, 1, 2, 3, 4, 8, 30],
                        metavar="BIT", help="QUALITY bits that do not reject a file (the quicklook ini's)")
    parser.add_argument("--pointing-table", default="jsoc", metavar="SOURCE",
                        help="master pointing table: 'jsoc', 'lmsal' (static copy up to 2024-11) or a local copy "
                        "of master_aia_pointing3h.csv")
    parser.add_argument("--correction-table", default="ssw", metavar="SOURCE",
                        help="degradation correction table: 'ssw', 'jsoc' or a local copy of SolarSoft's "
                        "aia_V10_20201119_190000_response_table.txt")
    parser.add_argument("-v", "--verbose", choices=("DEBUG", "INFO", "ERROR"), default="INFO",
                        help="logging level")
    return parser


def _describe_quality(path: Path, sdo_data: SdoData) -> str:
    """The file's QUALITY in words, decoded by aiapy (e.g. 'QUALITY 0x40000000: Quicklook image')."""
    from aiapy.util import check_quality_flag

    try:
        quality = sdo_data.get_quality(path)
    except Exception:  # any reading error: the calibration itself reports an unreadable file
        return "QUALITY unreadable"
    return f"QUALITY 0x{quality:08x}: {'; '.join(check_quality_flag(quality))}"


class _Tables:
    """The two calibration tables, fetched once, at the first file that needs them."""

    def __init__(self, arguments: argparse.Namespace, end: datetime) -> None:
        self._arguments, self._end = arguments, end
        self._tables: tuple | None = None

    def get(self) -> tuple:
        if self._tables is None:
            self._tables = (load_pointing_table(self._arguments.pointing_table, self._arguments.start_date, self._end),
                            load_correction_table(self._arguments.correction_table))
        return self._tables


def run(arguments: argparse.Namespace) -> int:
    """Walk the time steps and wavelengths; return the exit status (0, or 1 when anything failed)."""
    end = arguments.end_date or datetime.now(timezone.utc).replace(tzinfo=None)
    sdo_data = SdoData(arguments.aia_file_pattern, ignore_quality_bits=arguments.ignore_quality_bits)
    tables = _Tables(arguments, end)
    counts = {"calibrated": 0, "kept": 0, "no file": 0, "failed": 0}
    for step in time_steps(arguments.start_date, end, timedelta(hours=arguments.interval)):
        for wavelength in arguments.wavelength:
            selection = sdo_data.get_AIA_selection(step, wavelength)
            if selection.chosen is None:
                LOGGER.info("%s AIA %d: skipped, %s", step.isoformat(), wavelength, selection.reason)
                counts["no file"] += 1
                continue
            level1 = Path(selection.chosen)
            target = level2_path(arguments.output_dir, wavelength, step, level1)
            if target.exists() and not arguments.overwrite:
                LOGGER.info("%s AIA %d: %s exists, kept", step.isoformat(), wavelength, target)
                counts["kept"] += 1
                continue
            LOGGER.debug("%s AIA %d: %s (%s)", step.isoformat(), wavelength, level1,
                         _describe_quality(level1, sdo_data))
            try:
                pointing, correction = tables.get()
                calibrate_aia_fits_file(level1, target, pointing_table=pointing, correction_table=correction,
                                        overwrite=arguments.overwrite)
            except TableUnavailableError as error:
                LOGGER.error("%s", error)
                return 1
            except (CalibrationError, OSError) as error:
                LOGGER.error("%s AIA %d: %s", step.isoformat(), wavelength, error)
                counts["failed"] += 1
                continue
            counts["calibrated"] += 1
    LOGGER.info("done: %s", ", ".join(f"{count} {what}" for what, count in counts.items()))
    return 1 if counts["failed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, arguments.verbose), format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("sunpy").setLevel(logging.ERROR)  # sunpy's warnings duplicate ours
    if arguments.interval < 1:
        _parser().error(f"--interval must be at least 1 hour, not {arguments.interval}")
    return run(arguments)


if __name__ == "__main__":
    sys.exit(main())
