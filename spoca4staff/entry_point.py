"""The entry point of the pipeline scripts: a whole run from the command line, and the ``--status`` report.

``get_staff_stats.py`` and ``get_image_stats.py`` only say what one time step does; :func:`run_script` does
the rest: the command line (:mod:`spoca4staff.command_line`), the logging, the configuration, then
:func:`execute`: the ``--status`` report, or the lock, the ledger, the time steps (a window, or the failed
steps to rerun), the progress bar, SIGTERM/Ctrl-C handling, and the exit status.

Examples
--------
A script's main, with a step function that writes one small file per time step (``sections=()``: this example
needs no ini section but the optional ``[OPERATIONS]``; the ledger goes beside the ini file):

>>> import argparse, shutil, tempfile
>>> from pathlib import Path
>>> from spoca4staff.atomic_file import atomic_write
>>> from spoca4staff.command_line import EXIT_STATUS_HELP, add_run_arguments
>>> from spoca4staff.ledger import Ledger
>>> folder = Path(tempfile.mkdtemp())
>>> ini = folder / "example.ini"
>>> _ = ini.write_text("[OPERATIONS]\\ninterval_hours = 12\\n", encoding="utf-8")
>>> def make_step(configuration):
...     output = configuration.path.parent / "output"
...     output.mkdir(exist_ok=True)
...     def process_step(time_step, runner):
...         csv = output / f"{time_step:%Y%m%dT%H%M}.csv"
...         def work(attempt):
...             with atomic_write(csv, "w", encoding="utf-8") as stream:
...                 stream.write(f"{time_step:%Y-%m-%dT%H:%M},{attempt.number}\\n")
...         runner.job(time_step, "example", work, outputs=[csv], is_complete=csv.is_file)
...     return process_step, [output]
>>> def main(argv=None):
...     parser = argparse.ArgumentParser(description="An example.", epilog=EXIT_STATUS_HELP,
...                                      formatter_class=argparse.RawDescriptionHelpFormatter)
...     add_run_arguments(parser)
...     return run_script(parser, argv, sections=(), stages=["example"], name="example", make_step=make_step)
>>> arguments = [str(ini), "-s", "2026-03-20", "-e", "2026-03-21", "--log-file", str(folder / "example.log")]
>>> main(arguments)
<ExitStatus.OK: 0>
>>> sorted(path.name for path in (folder / "output").iterdir())
['20260320T0000.csv', '20260320T1200.csv']
>>> with Ledger(folder / "spoca4staff.ledger.sqlite") as ledger:
...     ledger.outcome_counts(["example"])
{'done': 2}
>>> main(arguments)  # already done: nothing run again, nothing recorded
<ExitStatus.OK: 0>
>>> with Ledger(folder / "spoca4staff.ledger.sqlite") as ledger:
...     ledger.outcome_counts(["example"])
{'done': 2}
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from spoca4staff.command_line import ExitStatus, config_path, normalise_verbose_arguments, setup_logging
from spoca4staff.configuration import Configuration, ConfigurationError, OperationsConfig, load_configuration
from spoca4staff.job_runner import Runner
from spoca4staff.ledger import OUTAGE, Ledger, LedgerError, Outcome, format_time_step
from spoca4staff.run_lock import LockBusy, RunInterrupted, RunLock, interruptible
from spoca4staff.time_window import UsageError, select_time_steps

__all__ = ["status_report", "execute", "run_script", "exit_script"]

LOGGER = logging.getLogger("runner")


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


def execute(args: argparse.Namespace, operations: OperationsConfig, stages: Sequence[str],
            process_step: Callable[[datetime, Runner], object], *, name: str,
            output_directories: Iterable[Path] = (), now: datetime | None = None,
            sleep: Callable[[float], None] | None = None) -> ExitStatus:
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
                interruptible():
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


def _status(operations: OperationsConfig, stages: Sequence[str]) -> ExitStatus:
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


def _run_steps(args: argparse.Namespace, ledger: Ledger, operations: OperationsConfig, stages: Sequence[str],
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


def exit_script(status: int) -> NoReturn:
    """End the process of a pipeline script with ``status``, skipping the interpreter's last garbage collections.

    For a script's ``if __name__ == "__main__":``, once :func:`run_script` has returned: every output is then
    written and closed, the ledger closed and the lock released. At exit the interpreter collects the objects
    of every module, which after astropy and numpy takes ~0.08 s of the run's wall time for memory that the
    system frees anyway; :func:`gc.freeze` puts the objects out of the collector's reach. The exit is
    otherwise that of :func:`sys.exit`: the ``atexit`` handlers run, logging flushes and closes its files.
    Not for a process that goes on (a test calling ``main``): the frozen objects would never be collected.
    """
    gc.freeze()
    sys.exit(status)


def _steps_to_run(args: argparse.Namespace, ledger: Ledger, operations: OperationsConfig, stages: Sequence[str],
                  now: datetime | None) -> list[datetime]:
    if not args.rerun_failed:
        return select_time_steps(args, operations.look_back_hours, operations.interval_hours, now)
    steps = ledger.failed_time_steps(stages)
    if args.start_date is not None:
        steps = [step for step in steps if step >= args.start_date]
    if args.end_date is not None:
        steps = [step for step in steps if step < args.end_date]
    return steps
