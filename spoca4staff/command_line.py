"""The command line shared by the pipeline scripts: options, exit statuses and logging.

``get_staff_stats.py`` and ``get_image_stats.py`` take the same options (the original scripts' ones and the
additions: ``--force``, ``--status``, ``--rerun-failed``, ``--log-file``, the Dask options), exit with the same
statuses and log the same way. :func:`add_run_arguments` adds the options, :data:`EXIT_STATUS_HELP` documents
the exit statuses for ``--help``, :func:`setup_logging` sends the log to standard error and the log file.
:func:`setup_tool_logging` is the logging of the one-shot tools (``sdo_data.py``, ``scripts/*.py``).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import textwrap
import time
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

from spoca4staff.time_window import parse_date

__all__ = [
    "ExitStatus",
    "EXIT_STATUS_HELP",
    "LOG_LEVELS",
    "add_run_arguments",
    "config_path",
    "normalise_verbose_arguments",
    "setup_logging",
    "setup_tool_logging",
]

LOGGER = logging.getLogger("runner")


class ExitStatus(IntEnum):
    """Exit statuses of a run (see :data:`EXIT_STATUS_HELP`)."""

    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    LOCK_BUSY = 3
    INTERRUPTED = 130


#: The exit statuses, as documented in ``--help`` (use it as the parser's epilog).
EXIT_STATUS_HELP = """\
exit status:
  0    every time step is done, or skipped for lack of good data (no good-quality file, missing input)
  1    at least one job failed (see --status for which and why; --rerun-failed reruns them), the
       archive was unavailable (an outage, recorded as failed jobs), or the lock or the ledger could
       not be used (disk full, read-only file system, damaged ledger): one line says which file and why
  2    usage or configuration error (bad option, invalid ini file, missing executable); nothing was run
  3    another run of the same configuration holds the lock; this one did nothing
  130  interrupted by SIGTERM or Ctrl-C: the running program was stopped, the attempt is recorded as
       interrupted in the ledger and no partial output was left; the next run redoes it
"""


def _positive_hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of hours")
    return value


#: The levels of ``--verbose LEVEL``, the original scripts' choices (a bare ``-v`` means DEBUG).
LOG_LEVELS = ("DEBUG", "INFO", "ERROR")


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level ({', '.join(LOG_LEVELS)})")
    return level


def normalise_verbose_arguments(argv: Sequence[str]) -> list[str]:
    """``argv`` with each bare ``-v``/``--verbose`` that is not followed by a level written ``--verbose=DEBUG``.

    ``--verbose LEVEL`` is the original scripts' option; a bare ``-v`` (at the end, or before another option)
    means DEBUG. Rewriting the bare flag keeps ``script.py -v configs/AIA.quicklook.ini`` unambiguous: the ini
    file is not taken as the level. Arguments after ``--`` are left alone.
    """
    arguments = list(argv)
    for index, argument in enumerate(arguments):
        if argument == "--":
            break
        following = arguments[index + 1] if index + 1 < len(arguments) else None
        if argument in ("-v", "--verbose") and (following is None or following.strip().upper() not in LOG_LEVELS):
            arguments[index] = "--verbose=DEBUG"
    return arguments


def _positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of workers")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by the pipeline scripts to ``parser``.

    The configuration can be given as a positional argument (``script.py configs/AIA.quicklook.ini``) or,
    as in the original scripts, with ``--config-file``/``-c``; :func:`config_path` picks it.
    """
    parser.add_argument("config", nargs="?", type=Path, metavar="CONFIG_FILE",
                        help="the pipeline's ini file (same as --config-file)")
    parser.add_argument("-c", "--config-file", type=Path, dest="config_file", metavar="CONFIG_FILE",
                        help="the pipeline's ini file (the original scripts' option)")
    window = parser.add_argument_group("time steps", textwrap.fill(
        "Time steps are start, start + interval, ... up to but excluding the end date. Without "
        "--start-date (the cron case) the steps cover the look-back window ending now ([OPERATIONS] "
        "look_back_hours, default 48), aligned on multiples of the interval since 1970-01-01T00:00Z, so that "
        "data arriving late is picked up by the next run.", 78))
    window.add_argument("-s", "--start-date", type=parse_date, metavar="DATE",
                        help="first time step, ISO 8601, UTC unless an offset is given (e.g. 2026-03-20T00:00)")
    window.add_argument("-e", "--end-date", type=parse_date, metavar="DATE",
                        help="end of the time steps, excluded (default: now)")
    window.add_argument("-i", "--interval", type=_positive_hours, metavar="HOURS",
                        help="hours between time steps (default: [OPERATIONS] interval_hours, itself 6 by default)")
    operations = parser.add_argument_group("operations")
    operations.add_argument("--force", action="store_true",
                            help="recompute the time steps even when their outputs exist and are valid")
    operations.add_argument("--rerun-failed", action="store_true",
                            help="rerun exactly the time steps that have a failed job and no later success, "
                                 "oldest first (only those between --start-date and --end-date when given)")
    operations.add_argument("--status", action="store_true",
                            help="print the ledger's counts per outcome and the most recent failures with "
                                 "their reasons, then exit without running anything")
    operations.add_argument("--log-file", type=Path, metavar="FILE",
                            help="also append the log to FILE (the progress bar is shown only on a terminal)")
    operations.add_argument("-v", "--verbose", nargs="?", const="DEBUG", default="INFO", type=_log_level,
                            metavar="LEVEL",
                            help="log level, as in the original scripts: DEBUG (debug messages too, e.g. the time "
                                 "steps skipped because already done), INFO (the default) or ERROR (errors only); "
                                 "a bare -v, not followed by a level, means DEBUG")
    cluster = parser.add_argument_group("parallel runs on Dask (backfills, reprocessing)", textwrap.fill(
        "Without these options the time steps run one after another in this process. With one of them the "
        "programs run on a Dask cluster while this process keeps the lock, the ledger and the centres files; "
        "the results are the same, byte for byte (see the README).", 78)).add_mutually_exclusive_group()
    cluster.add_argument("--workers", nargs="?", const=0, type=_positive_count, metavar="N",
                         help="run on a local Dask cluster of N worker processes (alone: one per core)")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (its workers must see "
                              "the same file system and this checkout)")


def config_path(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """The ini file given positionally or with ``--config-file``; a usage error (exit 2) if none or both differ."""
    if args.config is not None and args.config_file is not None and args.config != args.config_file:
        parser.error("give the configuration file once, either positionally or with --config-file")
    path = args.config if args.config is not None else args.config_file
    if path is None:
        parser.error("the configuration file is required (CONFIG_FILE or --config-file)")
    return path


def setup_logging(verbose: bool | str = False, log_file: Path | None = None) -> bool:
    """Log to stderr (and append to ``log_file``), UTC time stamps; return ``False`` if the file cannot be opened.

    ``verbose`` is a level of :data:`LOG_LEVELS` (``--verbose LEVEL``), or a bool: ``True`` for DEBUG,
    ``False`` for INFO. With a log file, standard error carries only the warnings and errors (cron mails only
    the problems); the file gets everything at the chosen level.
    """
    level = ("DEBUG" if verbose else "INFO") if isinstance(verbose, bool) else _log_level(verbose)
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    stderr = logging.StreamHandler(sys.stderr)
    if log_file is not None:  # under cron, standard error is mailed: only the problems go there
        stderr.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [stderr]
    problem = None
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
        except OSError as error:
            problem = f"cannot open the log file {log_file}: {error.strerror or error}"
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level), handlers=handlers, force=True)
    if problem:
        LOGGER.error(problem)
    return problem is None


def setup_tool_logging(verbose: bool) -> None:
    """The logging of a one-shot tool (``sdo_data.py``, ``scripts/overlay.py``...): its warnings and errors on
    standard error, everything with ``-v``."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
