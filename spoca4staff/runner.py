"""Run the pipeline's time steps safely: one run at a time, a ledger, retries, reruns, clean interruptions.

``get_staff_stats.py`` and ``get_image_stats.py`` both walk time steps and run jobs for each of them. This
module holds everything about *running* that the two share, so that a script only says what one time step
does:

* :func:`add_run_arguments` adds the common command-line options (config file, dates, interval, ``--force``,
  ``--status``, ``--rerun-failed``, ``--log-file``, ``--verbose``) and :data:`EXIT_STATUS_HELP` documents the
  exit statuses for ``--help``;
* :func:`execute` does a whole run: ``--status`` report, or the lock, the ledger, the time steps (a window, or
  the failed steps to rerun), the progress bar, SIGTERM/Ctrl-C handling, and returns the exit status;
* :class:`Runner` is what the script's step function receives: :meth:`Runner.job` runs one job (one stage of
  one time step) with the idempotent skip, the ledger row(s), the retries of transient failures and the log
  line; :meth:`Runner.skip` records a job skipped for lack of good data.

A script's main looks like this::

    parser = argparse.ArgumentParser(description=..., epilog=EXIT_STATUS_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    args = parser.parse_args(normalise_verbose_arguments(argv))
    if not setup_logging(args.verbose, args.log_file):
        return ExitStatus.USAGE
    configuration = load_configuration(config_path(parser, args), sections)   # ConfigurationError -> 2
    def process_step(time_step, runner):
        runner.job(time_step, "image_stats", work, inputs=[image], outputs=[csv], is_complete=csv_is_valid)
    return execute(args, configuration.operations, ["image_stats"], process_step, name="get_image_stats",
                   output_directories=[configuration.image_stats.output_directory])

Work callables must write their outputs atomically (:meth:`Runner.scratch_directory` gives a private folder
on the same file system, emptied at the start of every run, for temporary files) and raise on failure. A
failure is *transient*, and retried with exponential back-off, when the exception says so (a ``transient``
attribute, as :class:`job.TransientJobError`), or is a timeout or an OS error with an ``errno`` (e.g. a
vanished NFS mount); anything else is deterministic and is not retried.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import itertools
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from pathlib import Path
from typing import Protocol

import tenacity
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from spoca4staff.configuration import Configuration, ConfigurationError, load_configuration
from spoca4staff.ledger import OUTAGE, Ledger, LedgerError, Outcome, format_time_step

__all__ = [
    "ExitStatus",
    "EXIT_STATUS_HELP",
    "RunInterrupted",
    "LockBusy",
    "UsageError",
    "OUTAGE",
    "RunLock",
    "Attempt",
    "Runner",
    "LOG_LEVELS",
    "add_run_arguments",
    "config_path",
    "normalise_verbose_arguments",
    "setup_logging",
    "parse_date",
    "time_steps",
    "select_time_steps",
    "is_transient",
    "status_report",
    "execute",
    "run_script",
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


class RunInterrupted(BaseException):
    """Raised in the main thread by SIGTERM or SIGINT (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class LockBusy(Exception):
    """Another run holds the lock of this configuration."""


class UsageError(ValueError):
    """The command line asks for something impossible (e.g. a start date not before the end date): exit 2."""

#: OS errors that do not go away by waiting a few seconds: a retry would fail the same way.
_PERSISTENT_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR})


class _Operations(Protocol):
    """What :func:`execute` needs from ``configuration.OperationsConfig``."""

    ledger: Path
    lock_file: Path
    look_back_hours: float
    interval_hours: float
    job_timeout: float
    retry_attempts: int
    retry_initial_delay: float
    retry_max_delay: float
    ledger_timeout: float


# -- command line ---------------------------------------------------------------------------------------


def parse_date(text: str) -> datetime:
    """Parse an ISO 8601 date for argparse; return it as a naive UTC datetime.

    A date without a time zone is taken as UTC; one with an offset (``Z``, ``+02:00``) is converted.
    """
    try:
        date = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date, e.g. 2026-03-20T06:00:00") from None
    if date.tzinfo is not None:
        date = date.astimezone(timezone.utc).replace(tzinfo=None)
    return date


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


# -- time steps -------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1)


def time_steps(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """The time steps ``start, start + interval, ...`` strictly before ``end``."""
    if interval <= timedelta(0):
        raise ValueError("the interval must be positive")
    steps = []
    step = start
    while step < end:
        steps.append(step)
        step += interval
    return steps


def select_time_steps(args: argparse.Namespace, look_back_hours: float, interval_hours: float,
                      now: datetime | None = None) -> list[datetime]:
    """The time steps of a run from the command line: ``[start, end)`` by interval.

    Without ``--start-date`` the window is the ``look_back_hours`` before the end (default now), its first
    step rounded up to a multiple of the interval since the epoch, so that successive cron runs hit the
    same time steps.

    Raises
    ------
    UsageError
        When ``--start-date`` is not before the end (``--end-date``, or now).
    """
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    interval = timedelta(hours=args.interval or interval_hours)
    end = args.end_date or now
    start = args.start_date
    if start is not None and start >= end:
        raise UsageError(f"--start-date {start:%Y-%m-%dT%H:%M:%S} is not before "
                         f"{'--end-date' if args.end_date else 'now'} {end:%Y-%m-%dT%H:%M:%S}: no time step to run")
    if start is None:
        earliest = end - timedelta(hours=look_back_hours)
        start = _EPOCH + math.ceil((earliest - _EPOCH) / interval) * interval
    return time_steps(start, end, interval)


# -- lock and signals --------------------------------------------------------------------------------------


class RunLock:
    """An exclusive, non-blocking ``flock`` on a lock file: one run at a time per configuration.

    The lock is released by the kernel when the process dies, even with SIGKILL, so a stale lock file
    never blocks the next run. The file itself is kept (deleting it would race with other runs); it
    holds the pid of the current holder, for the operator.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`LockBusy` at once, naming the file and the holder's pid.

        Raises OSError (with the lock file as its ``filename``) when the lock file cannot be created or
        written (disk full, read-only file system, no permission).
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_file = self.path.open("a+", encoding="utf-8")
        except OSError as error:
            raise _named(error, self.path) from error
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise LockBusy(f"another run holds the lock {self.path} (pid {holder}); nothing done") from None
        try:
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(f"{os.getpid()}\n")
            lock_file.flush()
        except OSError as error:
            lock_file.close()
            raise _named(error, self.path) from error
        self._file = lock_file
        return self

    def release(self) -> None:
        """Release the lock (closing the file releases the flock)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire() if self._file is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@contextmanager
def _interruptible() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`RunInterrupted` (once; later signals are ignored while cleaning up)."""
    received: list[str] = []

    def handler(number: int, _frame: object) -> None:
        if received:
            return
        received.append(signal.Signals(number).name)
        raise RunInterrupted(received[0])

    previous = {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


# -- jobs ----------------------------------------------------------------------------------------------------


def is_transient(error: BaseException) -> bool:
    """Whether a failure is worth retrying: it says so, or it is a timeout or an OS error with an errno.

    An ``OSError`` without errno (e.g. astropy's "empty or corrupt FITS file") is deterministic, and so are
    the errors that waiting does not cure: a read-only file system (EROFS), a full disk or quota (ENOSPC,
    EDQUOT), a permission refused.
    """
    if not isinstance(error, Exception):
        return False
    transient = getattr(error, "transient", None)
    if isinstance(transient, bool):
        return transient
    if isinstance(error, (subprocess.TimeoutExpired, TimeoutError)):
        return True
    return isinstance(error, OSError) and error.errno is not None and error.errno not in _PERSISTENT_ERRNOS


def _named(error: OSError, path: os.PathLike | str) -> OSError:
    """``error`` with ``path`` as its file name when it has none (``os.write`` and friends do not say)."""
    if error.filename is not None or error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, str(path))


def _reason(error: BaseException) -> str:
    """A one-line reason for the ledger and the log (without the command line, which has its own column)."""
    if isinstance(error, OSError) and error.errno is not None and error.filename is not None:
        return f"{error.filename}: {error.strerror}"[:1000]
    text = str(error).strip()
    command_line = getattr(error, "command_line", None)
    if isinstance(command_line, str):
        text = text.removesuffix(f" [command: {command_line}]")
    text = text.splitlines()[0] if text else type(error).__name__
    return text[:1000]


class Attempt:
    """One attempt of a job, handed to its work callable.

    Attributes
    ----------
    time_step, stage
        The job.
    number
        1 for the first attempt, 2 for the first retry, ...
    timeout
        Seconds the work should allow a program to run (``[OPERATIONS] job_timeout``).
    row_id
        The ledger row of this attempt.
    ledger
        The ledger, for queries such as :meth:`ledger.Ledger.centers_start`.
    """

    def __init__(self, ledger: Ledger, row_id: int, time_step: datetime, stage: str, number: int, timeout: float):
        self.ledger = ledger
        self.row_id = row_id
        self.time_step = time_step
        self.stage = stage
        self.number = number
        self.timeout = timeout

    def record(self, **fields: object) -> None:
        """Record facts about the attempt in its ledger row at once (see :meth:`ledger.Ledger.update`):
        ``command``, ``inputs``, ``outputs``, ``exit_status``, ``stderr``, ``centers_file``, ``centers_before``,
        ``centers_after``, ``centers_live``."""
        self.ledger.update(self.row_id, **fields)


Work = Callable[[Attempt], object]


class Runner:
    """Runs the jobs of the time steps of one run; handed to the script's step function.

    Parameters
    ----------
    ledger
        The open ledger.
    operations
        ``configuration.OperationsConfig``: job timeout and retry settings.
    force
        Recompute jobs whose outputs exist and are valid.
    name
        The script's name, used for its scratch folders.
    sleep
        Function used to wait between retries (tests may pass a no-op).
    """

    def __init__(self, ledger: Ledger, operations: _Operations, *, force: bool = False, name: str = "run",
                 sleep: Callable[[float], None] = time.sleep):
        self.ledger = ledger
        self.operations = operations
        self.force = force
        self.name = name
        self.failures = 0
        self.done = 0
        self.skipped = 0
        self.outages = 0
        self._sleep = sleep
        self._scratch: set[Path] = set()

    # -- scratch folders

    def scratch_directory(self, output_directory: Path) -> Path:
        """A private folder inside ``output_directory`` for temporary files (same file system, so
        ``os.replace`` from it is atomic). Emptied at the start and the end of every run, so nothing
        half-written survives even a SIGKILL."""
        folder = Path(output_directory) / f".partial-{self.name}"
        folder.mkdir(parents=True, exist_ok=True)
        self._scratch.add(folder)
        return folder

    def clean_scratch(self, output_directories: Iterable[Path] = ()) -> None:
        """Delete the scratch folders of ``output_directories`` and of this run (only call it under the lock)."""
        folders = {Path(folder) / f".partial-{self.name}" for folder in output_directories} | self._scratch
        for folder in folders:
            if folder.exists():
                LOGGER.debug("removing the scratch folder %s", folder)
                shutil.rmtree(folder, ignore_errors=True)
        self._scratch.clear()

    # -- jobs

    def already_done(self, time_step: datetime, stage: str, is_complete: Callable[[], bool]) -> bool:
        """Whether a job can be skipped because its outputs exist and are valid (never with ``force``).

        Said at debug level, not recorded in the ledger.
        """
        if self.force or not is_complete():
            return False
        LOGGER.debug("%s %s: already done, skipped", format_time_step(time_step), stage)
        self.done += 1
        return True

    def skip(self, time_step: datetime, stage: str, reason: str, *, inputs: Iterable[os.PathLike | str] = ()
             ) -> Outcome:
        """Record and log a job skipped for lack of good data (e.g. "no good-quality file for 171").

        The row is not repeated when the job's latest attempt is already the same skip (cron runs see the
        same missing file several times).
        """
        latest = self.ledger.latest(time_step, stage)
        if latest is None or latest.outcome != Outcome.SKIPPED or latest.reason != reason:
            self.ledger.record_skip(time_step, stage, reason, inputs=inputs)
        LOGGER.info("%s %s: skipped (%s)", format_time_step(time_step), stage, reason)
        self.skipped += 1
        return Outcome.SKIPPED

    def fail(self, time_step: datetime, stage: str, reason: str, *, inputs: Iterable[os.PathLike | str] = ()
             ) -> Outcome:
        """Record and log a job that cannot run because the archive is unavailable (an outage, not "no data").

        The job is recorded as failed with ``reason`` (which starts with :data:`OUTAGE`), so that the run
        exits with status 1, ``--status`` shows it and ``--rerun-failed`` redoes it once the archive is back.
        """
        row_id = self.ledger.start(time_step, stage, inputs=inputs,
                                   attempt=len(self.ledger.attempts(time_step=time_step, stage=stage)) + 1)
        self.ledger.finish(row_id, Outcome.FAILED, reason=reason)
        LOGGER.error("%s %s: failed: %s", format_time_step(time_step), stage, reason)
        self.failures += 1
        self.outages += 1
        return Outcome.FAILED

    def job(self, time_step: datetime, stage: str, work: Work, *, inputs: Sequence[os.PathLike | str] = (),
            outputs: Sequence[os.PathLike | str] = (), is_complete: Callable[[], bool] | None = None) -> Outcome:
        """Run one job: skip it if complete, else attempt ``work`` with retries of transient failures.

        Parameters
        ----------
        time_step, stage
            The job, as recorded in the ledger.
        work
            Called with an :class:`Attempt`; does the job and raises on failure. Its outputs must be
            written atomically; it may record the command line and exit status with ``attempt.record``.
        inputs, outputs
            The files read and written, recorded in the ledger.
        is_complete
            Says whether the outputs exist and are valid; then the job is skipped (unless ``force``),
            logged at debug level and not recorded.

        Returns
        -------
        Outcome
            ``DONE`` (done now or already) or ``FAILED`` (after the retries).

        Raises
        ------
        RunInterrupted
            On SIGTERM or Ctrl-C, after recording the attempt as interrupted.
        """
        label = f"{format_time_step(time_step)} {stage}"
        if is_complete is not None and self.already_done(time_step, stage, is_complete):
            return Outcome.DONE
        started = time.monotonic()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.operations.retry_attempts),
            wait=tenacity.wait_exponential(multiplier=self.operations.retry_initial_delay,
                                           max=self.operations.retry_max_delay),
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=lambda state: LOGGER.warning(
                "%s: attempt %d failed (transient): %s; retrying in %.0f s", label, state.attempt_number,
                _reason(state.outcome.exception()), state.next_action.sleep),
            sleep=self._sleep, reraise=True)
        numbers = itertools.count(1)
        try:
            retrying(self._attempt, time_step, stage, work, inputs, outputs, numbers)
        except LedgerError:
            raise
        except Exception as error:
            self.failures += 1
            LOGGER.error("%s: failed in %.1f s: %s", label, time.monotonic() - started, _reason(error))
            return Outcome.FAILED
        LOGGER.info("%s: done in %.1f s", label, time.monotonic() - started)
        self.done += 1
        return Outcome.DONE

    def _attempt(self, time_step: datetime, stage: str, work: Work, inputs: Sequence[os.PathLike | str],
                 outputs: Sequence[os.PathLike | str], numbers: Iterator[int]) -> None:
        """One attempt: a ledger row, the work, and the outcome recorded whatever happens."""
        number = next(numbers)
        row_id = self.ledger.start(time_step, stage, inputs=inputs, outputs=outputs,
                                   attempt=len(self.ledger.attempts(time_step=time_step, stage=stage)) + 1)
        attempt = Attempt(self.ledger, row_id, time_step, stage, number, self.operations.job_timeout)
        try:
            work(attempt)
        except LedgerError:
            raise
        except (RunInterrupted, KeyboardInterrupt) as interruption:
            name = getattr(interruption, "signal_name", "SIGINT")
            self.ledger.finish(row_id, Outcome.INTERRUPTED, reason=f"interrupted by {name}")
            raise
        except Exception as error:
            self.ledger.finish(row_id, Outcome.FAILED, reason=_reason(error),
                               exit_status=getattr(error, "exit_code", None), stderr=getattr(error, "stderr", None))
            if getattr(error, "command", None):
                self.ledger.update(row_id, command=error.command)
            raise
        self.ledger.finish(row_id, Outcome.DONE)

    # -- a whole run

    def run(self, steps: Sequence[datetime], process_step: Callable[[datetime, Runner], object]) -> ExitStatus:
        """Call ``process_step(time_step, runner)`` for each step in order, with a progress bar on a terminal.

        An unexpected exception in one step is logged in one line (its traceback at debug level) and counted
        as a failure; the run goes on with the next step. :class:`RunInterrupted` and
        :class:`ledger.LedgerError` (the run cannot go on without its ledger) propagate.
        """
        show_bar = sys.stderr.isatty()
        with logging_redirect_tqdm() if show_bar else nullcontext():
            for step in tqdm(steps, desc=self.name, unit="step", disable=not show_bar):
                try:
                    process_step(step, self)
                except LedgerError:
                    raise
                except Exception as error:
                    self.failures += 1
                    LOGGER.error("%s: unexpected error, the rest of this time step is abandoned: %s",
                                 format_time_step(step), _reason(error))
                    LOGGER.debug("traceback of the unexpected error", exc_info=True)
        return ExitStatus.JOB_FAILED if self.failures else ExitStatus.OK


# -- status and the whole run --------------------------------------------------------------------------------


def status_report(ledger: Ledger, stages: Iterable[str], limit: int = 10) -> str:
    """The ``--status`` table: attempts and jobs per outcome, and the most recent unresolved failures."""
    stages = list(stages)
    attempts = ledger.outcome_counts(stages)
    jobs = ledger.latest_outcome_counts(stages)
    lines = [f"ledger: {ledger.path}", "", f"{'outcome':<12} {'attempts':>8} {'jobs':>8}"]
    for outcome in Outcome:
        if attempts.get(outcome.value):
            lines.append(f"{outcome.value:<12} {attempts[outcome.value]:>8} {jobs.get(outcome.value, 0):>8}")
    if not attempts:
        lines.append("(no job recorded yet)")
    failures = ledger.recent_failures(limit, stages)
    lines += ["", f"most recent failures not yet rerun successfully ({len(failures)}):" if failures
              else "no failure waiting for a rerun"]
    outages = [failure for failure in failures if (failure.reason or "").startswith(OUTAGE)]
    if outages:
        lines[1:1] = ["", f"ARCHIVE OUTAGE: {len(outages)} job(s) failed because the archive could not be read; "
                          f"latest: {_shorten(outages[0].reason or '', 300)}",
                      "  (run with --rerun-failed once the archive is back)"]
    for failure in failures:
        ended = (failure.ended or "?")[:19]
        lines.append(f"  {format_time_step(failure.time_step)}  {failure.stage:<16} ended {ended}Z  "
                     f"exit {failure.exit_status if failure.exit_status is not None else '-'}: "
                     f"{_shorten(failure.reason or '', 300)}")
    return "\n".join(lines) + "\n"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def execute(args: argparse.Namespace, operations: _Operations, stages: Sequence[str],
            process_step: Callable[[datetime, Runner], object], *, name: str,
            output_directories: Iterable[Path] = (), now: datetime | None = None,
            sleep: Callable[[float], None] = time.sleep) -> ExitStatus:
    """Do a whole run of a script and return its exit status.

    ``--status`` prints the report and returns. Otherwise: take the lock (:data:`ExitStatus.LOCK_BUSY` at
    once if taken), open the ledger and mark the attempts of dead runs as interrupted, empty the scratch
    folders, choose the time steps (the window, or the failed ones with ``--rerun-failed``) and run
    ``process_step`` on each, handling SIGTERM and Ctrl-C.

    Parameters
    ----------
    args
        The parsed command line (options of :func:`add_run_arguments`).
    operations
        ``configuration.OperationsConfig``.
    stages
        The ledger stages this script runs (for ``--status``, ``--rerun-failed`` and the clean-up).
    process_step
        Does one time step, calling :meth:`Runner.job` / :meth:`Runner.skip`.
    name
        The script name, for the progress bar and the scratch folders.
    output_directories
        The folders the script writes into; their scratch folders are emptied at the start.
    now, sleep
        For tests: the current time (naive UTC) and the wait between retries.
    """
    if args.status:
        return _status(operations, stages)
    started = time.monotonic()
    try:
        lock = RunLock(operations.lock_file).acquire()
    except LockBusy as busy:
        LOGGER.error("%s", busy)
        return ExitStatus.LOCK_BUSY
    except OSError as error:
        LOGGER.error("cannot take the lock %s: %s; nothing done", error.filename or operations.lock_file,
                     error.strerror or error)
        return ExitStatus.JOB_FAILED
    runner = None
    try:
        with lock, Ledger(operations.ledger, timeout=operations.ledger_timeout) as ledger, \
                _interruptible():
            runner = Runner(ledger, operations, force=args.force, name=name, sleep=sleep)
            status = _run_steps(args, ledger, operations, stages, process_step, runner, output_directories, now)
    except LedgerError as error:
        LOGGER.error("%s", error)
        return ExitStatus.JOB_FAILED
    except UsageError as error:
        LOGGER.error("%s", error)
        return ExitStatus.USAGE
    _summary(name, runner, time.monotonic() - started)
    if status == ExitStatus.JOB_FAILED:
        LOGGER.error("%d job(s) failed; see --status, rerun with --rerun-failed", runner.failures)
    return status


def _status(operations: _Operations, stages: Sequence[str]) -> ExitStatus:
    """``--status``: print the report; a damaged or locked ledger is one line and exit status 1."""
    if not Path(operations.ledger).exists():
        sys.stdout.write(f"ledger: {operations.ledger}\n(no ledger yet: nothing has run)\n")
        return ExitStatus.OK
    try:
        with Ledger(operations.ledger, timeout=operations.ledger_timeout) as ledger:
            sys.stdout.write(status_report(ledger, stages))
    except LedgerError as error:
        LOGGER.error("%s", error)
        return ExitStatus.JOB_FAILED
    return ExitStatus.OK


def _run_steps(args: argparse.Namespace, ledger: Ledger, operations: _Operations, stages: Sequence[str],
               process_step: Callable[[datetime, Runner], object], runner: Runner,
               output_directories: Iterable[Path], now: datetime | None) -> ExitStatus:
    """The body of :func:`execute` under the lock: clean-up, the steps, interruptions."""
    try:
        abandoned = ledger.mark_abandoned(stages)
        if abandoned:
            LOGGER.warning("%d attempt(s) of an earlier run ended without an outcome; recorded as interrupted",
                           abandoned)
        runner.clean_scratch(output_directories)
        steps = _steps_to_run(args, ledger, operations, stages, now)
        LOGGER.info("%s: %d time step(s) to run%s", runner.name, len(steps),
                    f" from {format_time_step(steps[0])} to {format_time_step(steps[-1])}" if steps else "")
        if getattr(args, "workers", None) is not None or getattr(args, "scheduler", None):
            from spoca4staff.backfill import run_on_dask  # dask is slow to import: only when asked for

            status = run_on_dask(args, runner, steps, process_step)
        else:
            status = runner.run(steps, process_step)
    except RunInterrupted as interruption:
        LOGGER.warning("interrupted by %s: the running job was stopped and recorded as interrupted",
                       interruption.signal_name)
        status = ExitStatus.INTERRUPTED
    finally:
        runner.clean_scratch(output_directories)
    if status == ExitStatus.OK and runner.skipped and not runner.done:
        LOGGER.warning("%s: no data at all in the whole window (%d job(s) skipped for lack of good data, none "
                       "done) although the archive answered: is the archive late or its pattern wrong?",
                       runner.name, runner.skipped)
    return status


def _summary(name: str, runner: Runner | None, seconds: float) -> None:
    """The one summary line of a run (in the log file; on standard error only without ``--log-file``)."""
    if runner is not None:
        LOGGER.info("%s: summary: %d done, %d skipped, %d failed%s in %.1f s", name, runner.done, runner.skipped,
                    runner.failures, f" ({runner.outages} for an archive outage)" if runner.outages else "",
                    seconds)


def run_script(parser: argparse.ArgumentParser, argv: Sequence[str] | None, sections: Iterable[str],
               stages: Sequence[str], name: str,
               make_step: Callable[[Configuration], tuple[Callable[[datetime, Runner], object], Iterable[Path]]]
               ) -> ExitStatus:
    """The whole ``main`` of a pipeline script: command line, logging, configuration, then :func:`execute`.

    Parameters
    ----------
    parser
        The script's parser, with the options of :func:`add_run_arguments`.
    argv
        The arguments (``None``: ``sys.argv[1:]``).
    sections
        The ini sections the script needs; only those are checked.
    stages, name
        As for :func:`execute`.
    make_step
        Builds, from the loaded configuration, the function that does one time step and the list of the
        folders it writes into. It may raise :class:`configuration.ConfigurationError`.

    Returns
    -------
    ExitStatus
        :data:`ExitStatus.USAGE` for a logging or configuration problem (nothing is run), else the status of
        :func:`execute`.
    """
    args = parser.parse_args(normalise_verbose_arguments(sys.argv[1:] if argv is None else argv))
    if not setup_logging(args.verbose, args.log_file):
        return ExitStatus.USAGE
    try:
        configuration = load_configuration(config_path(parser, args), sections)
        if not args.status:
            configuration.create_output_directories()
        process_step, output_directories = make_step(configuration)
    except ConfigurationError as error:
        LOGGER.error("%s", error)
        return ExitStatus.USAGE
    return execute(args, configuration.operations, stages, process_step, name=name,
                   output_directories=output_directories)


def _steps_to_run(args: argparse.Namespace, ledger: Ledger, operations: _Operations, stages: Sequence[str],
                  now: datetime | None) -> list[datetime]:
    if not args.rerun_failed:
        return select_time_steps(args, operations.look_back_hours, operations.interval_hours, now)
    steps = ledger.failed_time_steps(stages)
    if args.start_date is not None:
        steps = [step for step in steps if step >= args.start_date]
    if args.end_date is not None:
        steps = [step for step in steps if step < args.end_date]
    return steps
