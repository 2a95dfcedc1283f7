"""The jobs of a run: one attempt after another, each recorded in the ledger, transient failures retried.

:class:`Runner` is what a script's step function receives: :meth:`Runner.job` runs one job (one stage of one
time step) with the idempotent skip, the ledger row of each attempt, the retries of transient failures and the
log line; :meth:`Runner.skip` and :meth:`Runner.fail` record a job skipped for lack of good data or failed for
an archive outage. The work of a job receives an :class:`Attempt`.

Work callables must write their outputs atomically (:meth:`Runner.scratch_directory` gives a private folder
on the same file system, emptied at the start of every run, for temporary files) and raise on failure. A
failure is *transient*, and retried with exponential back-off, when :func:`is_transient` says so: the
exception says so (a ``transient`` attribute, as :class:`job.TransientJobError`), or it is a timeout or an OS
error with an ``errno`` (e.g. a vanished NFS mount); anything else is deterministic and is not retried.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from job import stop_programs
from spoca4staff.command_line import ExitStatus
from spoca4staff.configuration import OperationsConfig
from spoca4staff.ledger import ATTEMPT_FIELDS, Ledger, LedgerError, Outcome, format_time_step
from spoca4staff.run_lock import RunInterrupted

__all__ = ["Attempt", "Runner", "Work", "is_transient"]

LOGGER = logging.getLogger("runner")

T = TypeVar("T")

#: OS errors that do not go away by waiting a few seconds: a retry would fail the same way.
_PERSISTENT_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR})


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
    """One attempt of a job, handed to its work callable; its facts go to its ledger row with its state changes.

    An attempt costs at most one ledger transaction (synced to disk) per change of state: its start (the row,
    with the attempt's number), a checkpoint where the order of the writes matters, its end. The facts
    recorded in between (:meth:`record`) are kept and written with the next of them.

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

    #: Facts written at once when recorded: a segmentation's result must be in the ledger before the live
    #: centres file is replaced by it (a crash in between is then redone from ``centers_before``).
    WRITTEN_AT_ONCE = frozenset({"centers_after", "centers_live"})

    def __init__(self, ledger: Ledger, row_id: int, time_step: datetime, stage: str, number: int, timeout: float):
        self.ledger = ledger
        self.row_id = row_id
        self.time_step = time_step
        self.stage = stage
        self.number = number
        self.timeout = timeout
        self._pending: dict[str, object] = {}

    def record(self, **fields: object) -> None:
        """Record facts about the attempt, written to its ledger row with the next state change.

        The fields are those of :data:`ledger.ATTEMPT_FIELDS`: ``command``, ``inputs``, ``outputs``,
        ``exit_status``, ``stderr``, ``centers_file``, ``centers_before``, ``centers_after``, ``centers_live``
        (``None`` leaves a field as it is). Those of :attr:`WRITTEN_AT_ONCE` are written at once, with
        everything recorded before them (as :meth:`commit`).

        Raises
        ------
        TypeError
            For a name that is not a field.
        """
        unknown = sorted(set(fields) - set(ATTEMPT_FIELDS))
        if unknown:
            raise TypeError(f"unknown attempt field(s): {', '.join(unknown)}")
        self._pending.update((name, value) for name, value in fields.items() if value is not None)
        if self.WRITTEN_AT_ONCE.intersection(name for name, value in fields.items() if value is not None):
            self.commit()

    def commit(self, **fields: object) -> None:
        """Record ``fields`` (as :meth:`record`) and write every fact not yet written now, in one transaction.

        Call it before an action that the ledger must know about beforehand, e.g. before installing a new
        centres history. Nothing is written when there is nothing new.
        """
        if fields:
            self._pending.update((name, value) for name, value in fields.items() if value is not None)
        if self._pending:
            self.ledger.update(self.row_id, **self._pending)
            self._pending.clear()

    def finish(self, outcome: Outcome, *, reason: str | None = None, exit_status: int | None = None,
               stderr: str | None = None) -> None:
        """Record the end of the attempt with the facts not yet written, in one transaction."""
        self._pending.update((name, value) for name, value in (("exit_status", exit_status), ("stderr", stderr))
                             if value is not None)
        self.ledger.finish(self.row_id, outcome, reason=reason, **self._pending)
        self._pending.clear()


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
        Function used to wait between retries (tests may pass a no-op); by default a wait that
        :meth:`stop` cuts short.

    Notes
    -----
    Several threads may run jobs of the same runner at once (the two segmentations of a time step, the
    coordinator's threads on Dask): the counts are kept under a lock and the ledger serialises its calls.
    When one thread is interrupted, :meth:`stop` tells the others: their running attempt is recorded as
    interrupted (its program killed by :func:`job.stop_programs`) and no new attempt starts.
    """

    def __init__(self, ledger: Ledger, operations: OperationsConfig, *, force: bool = False, name: str = "run",
                 sleep: Callable[[float], None] | None = None):
        self.ledger = ledger
        self.operations = operations
        self.force = force
        self.name = name
        self.failures = 0
        self.done = 0
        self.skipped = 0
        self.outages = 0
        self.stopped: str | None = None
        self._stopping = threading.Event()
        self._counts = threading.Lock()
        self._sleep = sleep if sleep is not None else self._stopping.wait
        self._scratch: set[Path] = set()

    def count(self, *, done: int = 0, skipped: int = 0, failures: int = 0, outages: int = 0) -> None:
        """Add to the run's counts of jobs (safe from any thread)."""
        with self._counts:
            self.done += done
            self.skipped += skipped
            self.failures += failures
            self.outages += outages

    def stop(self, signal_name: str) -> None:
        """The run was interrupted by ``signal_name``: the other threads' attempts end as interrupted."""
        self.stopped = signal_name
        self._stopping.set()

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
        self.count(done=1)
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
        self.count(skipped=1)
        return Outcome.SKIPPED

    def fail(self, time_step: datetime, stage: str, reason: str, *, inputs: Iterable[os.PathLike | str] = ()
             ) -> Outcome:
        """Record and log a job that cannot run because the archive is unavailable (an outage, not "no data").

        The job is recorded as failed with ``reason`` (which starts with :data:`OUTAGE`), so that the run
        exits with status 1, ``--status`` shows it and ``--rerun-failed`` redoes it once the archive is back.
        """
        self.ledger.record_failure(time_step, stage, reason, inputs=inputs)
        LOGGER.error("%s %s: failed: %s", format_time_step(time_step), stage, reason)
        self.count(failures=1, outages=1)
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
        numbers = itertools.count(1)
        try:
            try:
                self._attempt(time_step, stage, work, inputs, outputs, numbers)
            except LedgerError:
                raise
            except Exception as error:
                if self.operations.retry_attempts <= 1 or not is_transient(error):
                    raise
                self._retry(label, error, time_step, stage, work, inputs, outputs, numbers)
        except LedgerError:
            raise
        except Exception as error:
            self.count(failures=1)
            LOGGER.error("%s: failed in %.1f s: %s", label, time.monotonic() - started, _reason(error))
            return Outcome.FAILED
        LOGGER.info("%s: done in %.1f s", label, time.monotonic() - started)
        self.count(done=1)
        return Outcome.DONE

    def _retry(self, label: str, first_error: Exception, time_step: datetime, stage: str, work: Work,
               inputs: Sequence[os.PathLike | str], outputs: Sequence[os.PathLike | str],
               numbers: Iterator[int]) -> None:
        """The attempts after a first one that failed with ``first_error`` (transient), with tenacity's back-off.

        The first attempt runs without tenacity, which takes 50 ms to import (it pulls in asyncio, and tornado
        when installed) and is seldom needed. tenacity then runs the whole schedule as if it had made that attempt
        itself (its first call raises ``first_error`` again): the same waits, messages and number of attempts.
        Raises the last attempt's error.
        """
        import tenacity

        replayed = [first_error]

        def attempt(*arguments: object) -> None:
            if replayed:
                raise replayed.pop()
            self._attempt(*arguments)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.operations.retry_attempts),
            wait=tenacity.wait_exponential(multiplier=self.operations.retry_initial_delay,
                                           max=self.operations.retry_max_delay),
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=lambda state: LOGGER.warning(
                "%s: attempt %d failed (transient): %s; retrying in %.0f s", label, state.attempt_number,
                _reason(state.outcome.exception()), state.next_action.sleep),
            sleep=self._sleep, reraise=True)
        retrying(attempt, time_step, stage, work, inputs, outputs, numbers)

    def _attempt(self, time_step: datetime, stage: str, work: Work, inputs: Sequence[os.PathLike | str],
                 outputs: Sequence[os.PathLike | str], numbers: Iterator[int]) -> None:
        """One attempt: a ledger row, the work, and the outcome recorded whatever happens."""
        number = next(numbers)
        if self.stopped is not None:  # another thread was interrupted: no new attempt
            raise RunInterrupted(self.stopped)
        row_id = self.ledger.start(time_step, stage, inputs=inputs, outputs=outputs)
        attempt = Attempt(self.ledger, row_id, time_step, stage, number, self.operations.job_timeout)
        try:
            work(attempt)
        except LedgerError:
            raise
        except (RunInterrupted, KeyboardInterrupt) as interruption:
            name = getattr(interruption, "signal_name", "SIGINT")
            attempt.finish(Outcome.INTERRUPTED, reason=f"interrupted by {name}")
            raise
        except Exception as error:
            if getattr(error, "command", None):
                attempt.record(command=error.command)
            if self.stopped is not None:  # its program was killed because another thread was interrupted
                attempt.finish(Outcome.INTERRUPTED, reason=f"interrupted by {self.stopped}")
                raise RunInterrupted(self.stopped) from error
            attempt.finish(Outcome.FAILED, reason=_reason(error), exit_status=getattr(error, "exit_code", None),
                           stderr=getattr(error, "stderr", None))
            raise
        attempt.finish(Outcome.DONE)

    # -- jobs at once

    def concurrently(self, *calls: Callable[[], T]) -> list[T]:
        """Run ``calls`` at once, each in a thread (the last in this one, where signals arrive), and return
        their results in order.

        Their log lines come out grouped, call after call in the order of ``calls``, once they are all over:
        the log reads as that of a sequential run. When this thread is interrupted (SIGTERM, Ctrl-C), the
        other calls' programs are killed and their attempts recorded as interrupted before the interruption
        goes on.
        """
        with _GroupedLogs(len(calls)) as logs, ThreadPoolExecutor(max_workers=max(1, len(calls) - 1)) as pool:
            futures = [pool.submit(logs.call, index, call) for index, call in enumerate(calls[:-1])]
            try:
                last = logs.call(len(calls) - 1, calls[-1])
                return [future.result() for future in futures] + [last]
            except (RunInterrupted, KeyboardInterrupt) as interruption:
                self.stop(getattr(interruption, "signal_name", "SIGINT"))
                stop_programs()
                for future in futures:
                    future.exception()  # wait: its attempt is recorded as interrupted
                raise

    # -- a whole run

    def run(self, steps: Sequence[datetime], process_step: Callable[[datetime, Runner], object]) -> ExitStatus:
        """Call ``process_step(time_step, runner)`` for each step in order, with a progress bar on a terminal.

        When ``process_step`` (or the object of a bound method) has a ``finish_steps(runner)`` method, it is
        called after the last step: a step may leave work to run with the next one (the STAFF statistics of
        ``get_staff_stats.py``). An unexpected exception in one step is logged in one line (its traceback at
        debug level) and counted as a failure; the run goes on with the next step. :class:`RunInterrupted` and
        :class:`ledger.LedgerError` (the run cannot go on without its ledger) propagate.
        """
        owner = getattr(process_step, "__self__", process_step)
        finish = getattr(owner, "finish_steps", None)
        show_bar = sys.stderr.isatty()
        with _progress_bar(steps, self.name) if show_bar else nullcontext(steps) as shown_steps:
            for step in shown_steps:
                self.guarded(step, process_step, step, self)
        if finish is not None and steps:
            self.guarded(steps[-1], finish, self)
        return ExitStatus.JOB_FAILED if self.failures else ExitStatus.OK

    def guarded(self, step: datetime, call: Callable[..., object], *arguments: object) -> None:
        """``call(*arguments)``, work of ``step``: an unexpected exception is counted as a failure of that step and
        logged in one line (its traceback at debug level); :class:`RunInterrupted` and
        :class:`ledger.LedgerError` propagate."""
        try:
            call(*arguments)
        except LedgerError:
            raise
        except Exception as error:
            self.count(failures=1)
            LOGGER.error("%s: unexpected error, the rest of this time step is abandoned: %s",
                         format_time_step(step), _reason(error))
            LOGGER.debug("traceback of the unexpected error", exc_info=error)


@contextmanager
def _progress_bar(steps: Sequence[datetime], name: str) -> Iterator[Iterable[datetime]]:
    """The steps wrapped in a tqdm progress bar, log records written above the bar while it is shown."""
    from tqdm import tqdm  # slow to import: only when a bar is shown (standard error is a terminal)
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield tqdm(steps, desc=name, unit="step")


class _GroupedLogs:
    """Hold back the log records of concurrent calls, one group per call, and emit the groups in order at the
    end (see :meth:`Runner.concurrently`). It filters the root logger's handlers: a record of a call's thread
    is kept (once, although every handler asks) instead of being written."""

    def __init__(self, count: int):
        self.groups: list[list[logging.LogRecord]] = [[] for _ in range(count)]
        self.threads: dict[int, int] = {}
        self.handlers: list[logging.Handler] = []

    def call(self, index: int, call: Callable[[], T]) -> T:
        """Run ``call``, its records held in group ``index``."""
        self.threads[threading.get_ident()] = index
        try:
            return call()
        finally:
            self.threads.pop(threading.get_ident(), None)

    def filter(self, record: logging.LogRecord) -> bool:
        index = self.threads.get(record.thread) if record.thread is not None else None
        if index is None:
            return True
        group = self.groups[index]
        if not group or group[-1] is not record:
            group.append(record)
        return False

    def __enter__(self) -> _GroupedLogs:
        self.handlers = list(logging.getLogger().handlers)
        for handler in self.handlers:
            handler.addFilter(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handler in self.handlers:
            handler.removeFilter(self)
        for group in self.groups:
            for record in group:
                logging.getLogger(record.name).handle(record)
