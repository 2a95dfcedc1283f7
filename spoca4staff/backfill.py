"""Run a range of time steps on Dask: backfills and reprocessing, with exactly the sequential results.

``--workers [N]`` (a local cluster of N worker processes on 127.0.0.1, one per core when N is not given) or
``--scheduler ADDRESS`` (an existing cluster, e.g. one started by dask-jobqueue) make
:func:`spoca4staff.entry_point.execute` call :func:`run_on_dask` instead of
:meth:`spoca4staff.job_runner.Runner.run`.

This process stays the *coordinator*: it holds the run lock, writes every ledger row, decides which centres
history each classification starts from, installs the live centres files and renames the outputs into place,
exactly through the same methods as the sequential path (:class:`get_staff_stats.StaffPipeline`,
:class:`get_image_stats._ImageStatsStep`, :class:`spoca4staff.job_runner.Runner`). Only the programs move: the
pipeline's ``execute`` hook, which runs a task of :mod:`worker_tasks` in process by default, submits it to the cluster
and waits for its result. Workers need the shared file system and this checkout (on their ``PYTHONPATH``).

How a range of ``get_staff_stats.py`` is scheduled:

* **Chains.** Each classification (``ch_segmentation``, ``ar_segmentation``) is a chain in time order: a step
  starts from the centres history the previous one left, so a chain runs one step after another, in a
  thread of its own; the two chains run concurrently (one chain only if both share a centres file). Their
  tasks have a higher Dask priority than the rest: they are the critical path.
* **Independent reprocessing.** When the ledger holds the recorded starting history of every step of the
  range for a classification, and the range ends at or before the latest step installed in its live centres
  file, every step of it starts from its recorded history whatever the others do
  (:class:`get_staff_stats.CentersHistory`): the steps then run all in parallel.
* **Fan-out.** The STAFF statistics and overlays of a step start as soon as both of its maps are settled;
  ``get_image_stats.py`` steps are all independent. They run from a pool of threads, each waiting on one
  Dask task, so that the cluster always has work queued.
* **Faults.** A worker that dies while running a task: Dask runs the task again on another (or a restarted)
  worker, in a fresh scratch folder (``distributed.scheduler.allowed-failures`` deaths, 3 by default, before
  it gives up: the job then fails with ``KilledWorker``). A failing program is recorded and retried exactly
  as in the sequential path. A classification step that fails ends its chain: the later steps of that chain
  would start from a history it never left, so they are recorded as failed with a reason that starts with
  "not run:", and ``--rerun-failed`` (or the same command again) completes them in order once the cause is
  fixed. SIGTERM or Ctrl-C stop the run: the attempts in flight are recorded as interrupted.

A progress bar (steps done of the total, failures) is shown when stderr is a terminal; the log gives the
dashboard address and ends with one summary line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from job import stop_programs
from spoca4staff.ledger import Ledger, Outcome, format_time_step
from spoca4staff.command_line import ExitStatus
from spoca4staff.job_runner import Runner
from spoca4staff.run_lock import RunInterrupted

__all__ = ["DaskExecutor", "run_on_dask", "independent_steps", "dask_client"]

LOGGER = logging.getLogger("backfill")

#: Dask priority of the tasks that feed a chain (higher runs first).
CHAIN_PRIORITY = 10
_CHAIN_TASKS = ("run_segmentation",)
_SEGMENTATION_STAGES = ("ch_segmentation", "ar_segmentation")


#: Files whose descriptors a forked worker closes at once (the run lock: the lock must die with the coordinator).
_CLOSED_IN_FORKS: set[str] = set()


def _close_inherited_files() -> None:
    """In a process just forked from the coordinator: close the descriptors of :data:`_CLOSED_IN_FORKS`.

    A flock is shared by every descriptor of its open file: a worker forked with the run lock's descriptor
    would keep the lock held after the coordinator's death, and the restart would find it busy.
    """
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target in _CLOSED_IN_FORKS:
            os.close(int(name))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_files)


def _importable(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as the workers can import it: a function of the script run as ``__main__`` is taken from
    the same module imported under its own name (``get_image_stats.write_image_stats``)."""
    if getattr(function, "__module__", None) != "__main__":
        return function
    main_file = getattr(sys.modules["__main__"], "__file__", None)
    if main_file is None:
        return function
    return getattr(importlib.import_module(Path(main_file).stem), function.__name__)


class DaskExecutor:
    """The pipeline's ``execute`` hook on a cluster: submit the task, wait for its result, stop on a signal.

    Parameters
    ----------
    client
        The ``distributed.Client``.
    stop
        Set by the coordinator's main thread when the run is interrupted: a waiting thread then raises
        :class:`spoca4staff.run_lock.RunInterrupted`, so that its attempt is recorded as interrupted.
    """

    def __init__(self, client: Any, stop: threading.Event):
        self.client = client
        self.stop = stop
        self.signal_name = "SIGTERM"

    def __call__(self, function: Callable[..., Any], *args: Any) -> Any:
        from distributed import wait

        priority = CHAIN_PRIORITY if getattr(function, "__name__", "") in _CHAIN_TASKS else 0
        future = self.client.submit(_importable(function), *args, pure=False, priority=priority)
        try:
            while True:
                if self.stop.is_set():
                    raise RunInterrupted(self.signal_name)
                try:
                    wait(future, timeout=0.5)
                except TimeoutError:
                    continue
                return future.result()
        finally:
            if not future.done():
                future.cancel()


def independent_steps(ledger: Ledger, live_file: Path, stage: str, steps: Sequence[datetime]
                      ) -> bool:
    """Whether every step of ``steps`` starts from its own recorded history (so they can all run at once).

    True when the range ends at or before the latest step installed in ``live_file`` (the head) and the ledger
    holds, for every step, the history its first attempt started from: :meth:`get_staff_stats.CentersHistory
    .start` then returns that recorded history for each of them, whatever the other steps do.
    """
    head = ledger.centers_head(live_file)
    if not steps or head is None or max(steps) > head:
        return False
    for step in steps:
        records = ledger.attempts(time_step=step, stage=stage)
        if not any(record.centers_file == str(live_file) and record.centers_before is not None for record in records):
            return False
    return True


@contextmanager
def dask_client(args: argparse.Namespace, lock_file: Path | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on ``--scheduler ADDRESS``, or on a local cluster of ``--workers`` processes.

    The local cluster listens on 127.0.0.1 only, its dashboard on a free port of 127.0.0.1; it is closed
    (and its workers stopped) on the way out. Its workers are forked, and close their copy of ``lock_file``.
    """
    import dask
    from distributed import Client, LocalCluster

    # distributed logs every worker start and stop at INFO: only its warnings go to the run's log.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        workers = args.workers or os.cpu_count() or 1
        fork = os.path.isdir("/proc/self/fd")  # forked workers must be able to close the run lock
        if lock_file is not None:
            _CLOSED_IN_FORKS.add(str(Path(lock_file).resolve()))
        # Forked rather than spawned workers start with this process's modules already imported: on a small
        # machine that saves a few CPU seconds per worker, which a short range would feel.
        with dask.config.set({"distributed.worker.multiprocessing-method": "fork" if fork else "spawn"}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client
    finally:
        logging.getLogger("distributed").setLevel(logging.ERROR)  # the shutdown's "lost workers" are expected
        client.close()
        if cluster is not None:
            cluster.close()


def _dashboard(client: Any) -> str:
    try:
        return client.dashboard_link
    except (KeyError, AttributeError, ValueError):
        return "none (install bokeh for the dashboard)"


class _Coordinator:
    """The threads of one Dask run, and what they share: the runner, the step results, the failures."""

    def __init__(self, runner: Runner, steps: Sequence[datetime], pool: ThreadPoolExecutor, stop: threading.Event):
        self.runner = runner
        self.steps = list(steps)
        self.pool = pool
        self.stop = stop
        self.lock = threading.Lock()
        self.finals: dict[datetime, Future] = {}
        self.threads: list[threading.Thread] = []

    def guarded(self, time_step: datetime, function: Callable[..., Any], *args: Any) -> Any:
        """Call ``function``; an unexpected error is logged with its traceback and counted, as in
        :meth:`spoca4staff.job_runner.Runner.run` (:class:`spoca4staff.run_lock.RunInterrupted` ends the thread's
        work quietly)."""
        try:
            return function(*args)
        except RunInterrupted:
            return None
        except Exception:
            self.runner.count(failures=1)
            LOGGER.exception("%s: unexpected error, the rest of this time step is abandoned",
                             format_time_step(time_step))
            return None

    def finish(self, time_step: datetime, function: Callable[..., Any], *args: Any) -> None:
        """Submit the last work of a step to the pool; the step counts as done when it ends."""
        if self.stop.is_set():
            return
        future = self.pool.submit(self.guarded, time_step, function, *args)
        with self.lock:
            self.finals[time_step] = future

    def thread(self, target: Callable[[], None]) -> None:
        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        self.threads.append(worker)

    def done(self) -> int:
        with self.lock:
            return sum(future.done() for future in self.finals.values())

    def wait(self, show_bar: bool) -> None:
        """Wait (in the main thread, where signals arrive) until every step is done, updating the bar."""
        with tqdm(total=len(self.steps), desc=self.runner.name, unit="step", disable=not show_bar) as bar:
            while True:
                done = self.done()
                bar.update(done - bar.n)
                bar.set_postfix(failures=self.runner.failures, refresh=False)
                if done == len(self.steps) and not any(thread.is_alive() for thread in self.threads):
                    return
                time.sleep(0.2)

    def wind_down(self, client: Any) -> None:
        """After an interruption: stop the programs running on the workers, let the threads record their
        attempts as interrupted and end."""
        self.stop.set()
        try:
            client.run(stop_programs, wait=True)
        except (OSError, TimeoutError) as error:  # a cluster gone already: nothing left to stop
            LOGGER.warning("could not stop the programs running on the workers: %s", error)
        for worker in self.threads:
            worker.join(timeout=60)
        self.pool.shutdown(wait=True, cancel_futures=True)


class _StaffSchedule:
    """The chains and the fan-out of ``get_staff_stats.py`` over a range (see the module notes)."""

    def __init__(self, pipeline: Any, coordinator: _Coordinator):
        self.pipeline = pipeline
        self.coordinator = coordinator
        self.runner = coordinator.runner
        steps = coordinator.steps
        self.maps: dict[str, dict[datetime, Future]] = {stage: {step: Future() for step in steps}
                                                        for stage in _SEGMENTATION_STAGES}
        self.started: set[datetime] = set()

    def start(self) -> None:
        """Start the chains (or the independent steps) and arm the fan-out of every step."""
        steps = self.coordinator.steps
        for step in steps:
            for stage in _SEGMENTATION_STAGES:
                self.maps[stage][step].add_done_callback(lambda _, step=step: self._maps_settled(step))
        chains = []
        for stage in _SEGMENTATION_STAGES:
            live = self.pipeline.histories[stage].live_file
            if independent_steps(self.runner.ledger, live, stage, steps):
                LOGGER.info("%s: every step starts from its recorded centres history: %d step(s) in parallel",
                            stage, len(steps))
                for step in steps:
                    self.coordinator.pool.submit(self._independent, stage, step)
            else:
                chains.append(stage)
        live_files = {self.pipeline.histories[stage].live_file for stage in chains}
        groups = [chains] if len(live_files) < len(chains) else [[stage] for stage in chains]
        for group in groups:
            LOGGER.info("%s: a chain of %d step(s) in time order", " and ".join(group), len(steps))
            self.coordinator.thread(lambda group=group: self._chain(group))

    def _independent(self, stage: str, step: datetime) -> None:
        result = self.coordinator.guarded(step, self.pipeline.segmentation, step, self.runner, stage)
        self.maps[stage][step].set_result(result or self._no_map())

    def _chain(self, stages: Sequence[str]) -> None:
        failed: dict[str, datetime] = {}
        for step in self.coordinator.steps:
            for stage in stages:
                if self.coordinator.stop.is_set():
                    return
                if stage in failed:
                    result = self._not_run(step, stage, failed[stage])
                else:
                    result = self.coordinator.guarded(step, self.pipeline.segmentation, step, self.runner, stage)
                    if self.coordinator.stop.is_set():
                        return
                    result = result or self._no_map()
                    if result.outcome is Outcome.FAILED:
                        failed[stage] = step
                self.maps[stage][step].set_result(result)

    def _no_map(self) -> Any:
        from get_staff_stats import MapResult

        return MapResult(None, False, Outcome.FAILED)

    def _not_run(self, step: datetime, stage: str, failed: datetime) -> Any:
        """A step after a failure of its chain: kept if already done, else recorded as failed, not run."""
        done = self.coordinator.guarded(step, self.pipeline.finished_map, step, self.runner, stage)
        if done is not None:
            return done
        reason = (f"not run: the {stage} of {format_time_step(failed)} failed, and this step must start from the "
                  "centres history that step leaves; rerun the range (or --rerun-failed) once it is fixed")
        self.runner.ledger.record_failure(step, stage, reason)
        self.runner.count(failures=1)
        LOGGER.error("%s %s: %s", format_time_step(step), stage, reason)
        return self._no_map()

    def _maps_settled(self, step: datetime) -> None:
        futures = [self.maps[stage][step] for stage in _SEGMENTATION_STAGES]
        with self.coordinator.lock:
            if step in self.started or not all(future.done() for future in futures):
                return
            self.started.add(step)
        ch, ar = (future.result() for future in futures)
        self.coordinator.finish(step, self.pipeline.statistics, step, self.runner, ch, ar)


def _owner(process_step: Callable[..., Any]) -> Any:
    """The object whose ``execute`` hook runs the tasks: a bound method's instance, or the step object itself."""
    return getattr(process_step, "__self__", process_step)


def run_on_dask(args: argparse.Namespace, runner: Runner, steps: Sequence[datetime],
                process_step: Callable[[datetime, Runner], object]) -> ExitStatus:
    """Run ``steps`` on Dask (see the module notes) and return the exit status, as
    :meth:`spoca4staff.job_runner.Runner.run`.

    Raises
    ------
    RunInterrupted
        On SIGTERM or Ctrl-C, once the attempts in flight are recorded as interrupted.
    """
    owner = _owner(process_step)
    if not steps:
        return runner.run(steps, process_step)
    if not hasattr(owner, "execute"):
        raise TypeError(f"{process_step!r} has no execute hook: it cannot run on Dask")
    started = time.monotonic()
    try:
        client_context = dask_client(args, getattr(runner.operations, "lock_file", None))
        client = client_context.__enter__()
    except (OSError, TimeoutError) as error:
        where = args.scheduler or "a local cluster"
        LOGGER.error("cannot start the Dask client on %s: %s", where, error)
        return ExitStatus.JOB_FAILED
    workers = client.scheduler_info().get("workers", {})
    threads = sum(worker.get("nthreads", 1) for worker in workers.values()) or 1
    LOGGER.info("Dask: %d worker(s), %d thread(s); dashboard %s", len(workers), threads, _dashboard(client))
    stop = threading.Event()
    previous_execute, owner.execute = owner.execute, DaskExecutor(client, stop)
    pool = ThreadPoolExecutor(max_workers=max(8, 4 * threads), thread_name_prefix="backfill")
    coordinator = _Coordinator(runner, steps, pool, stop)
    show_bar = sys.stderr.isatty()
    try:
        with logging_redirect_tqdm() if show_bar else nullcontext():
            if hasattr(owner, "segmentation") and hasattr(owner, "statistics"):
                _StaffSchedule(owner, coordinator).start()
            else:
                for step in steps:
                    coordinator.finish(step, process_step, step, runner)
            coordinator.wait(show_bar)
    except RunInterrupted as interruption:
        owner.execute.signal_name = interruption.signal_name
        coordinator.wind_down(client)
        raise
    finally:
        pool.shutdown(wait=True)
        owner.execute = previous_execute
        client_context.__exit__(None, None, None)
    elapsed = time.monotonic() - started
    rate = len(steps) / elapsed * 3600 if elapsed > 0 else 0.0
    LOGGER.info("%s on Dask: %d time step(s) in %.1f s (%.0f steps/hour) on %d worker(s), %d failure(s)",
                runner.name, len(steps), elapsed, rate, len(workers), runner.failures)
    return ExitStatus.JOB_FAILED if runner.failures else ExitStatus.OK
