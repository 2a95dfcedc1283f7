"""Compute the STAFF statistics of coronal holes, active regions and quiet Sun, one time step after another.

For each time step of the run (``[start, end)`` by the interval, or the look-back window ending now):

1. ``ch_segmentation``: the CH map from the good-quality 193 image (``[CH_SEGMENTATION]``);
2. ``ar_segmentation``: the AR map from the 171 and 193 images (``[AR_SEGMENTATION]``), independently of
   the CH map: a missing 171 does not prevent the CH map;
3. ``staff_stats``: when both maps exist, ``get_STAFF_stats.x`` on every ``[STAFF_STATS]`` wavelength that
   has a good file, the CH map first (the original pipeline swapped the maps, and with them the CH and AR
   statistics);
4. when ``[OVERLAYS] output_directory`` is set, one overlay PNG per wavelength of step 3.

Maps are named ``YYYYmmdd_HHMMSS.SegmentedMap.fits`` after the time step. Every output is written in a
scratch folder and renamed into place once complete and valid, so no half-written file is ever visible.
A job whose outputs exist and are valid is skipped (``--force`` recomputes); a job without good data is
skipped and recorded with its reason; a failing job is logged and recorded, and the run goes on. The lock,
the ledger, the retries, ``--status`` and ``--rerun-failed`` are those of :mod:`spoca4staff.entry_point`.

The centres files carry the classification history (SPoCA's numberPreviousCenters), which changes the maps.
:class:`CentersHistory` runs every segmentation against a scratch copy of the history the time step must
start from and records it in the ledger. The live centres file only moves forward in time: it is replaced by
the result of a step later than (or equal to) the last one installed; a rerun of an older step starts from
the history recorded for it, and leaves the live file alone.

Run ``python get_staff_stats.py --help`` for the options and the exit statuses.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from spoca4staff.atomic_file import atomic_write
from spoca4staff.configuration import STAFF_SECTIONS, Configuration, SegmentationConfig
from spoca4staff.ledger import Ledger, Outcome, format_time_step
from spoca4staff.command_line import EXIT_STATUS_HELP, add_run_arguments
from spoca4staff.entry_point import exit_script, run_script
from spoca4staff.job_runner import Attempt, Runner
from sdo_data import Selection
from spoca4staff.aia_file import AiaFile
from staff_jobs import check_segmentation_map, check_staff_csv, staff_csv_name
from spoca4staff.worker_tasks import draw_overlay, in_process, run_segmentation, run_staff_stats

__all__ = ["STAGES", "CentersHistory", "MapResult", "StaffPipeline", "map_name", "build_parser", "main"]

LOGGER = logging.getLogger("get_staff_stats")

#: The ledger stages of this script, in the order they run for a time step.
STAGES = ("ch_segmentation", "ar_segmentation", "staff_stats")
_NAME = "get_staff_stats"


def map_name(time_step: datetime) -> str:
    """The file name of the segmentation maps of a time step: ``YYYYmmdd_HHMMSS.SegmentedMap.fits``."""
    return f"{time_step:%Y%m%d_%H%M%S}.SegmentedMap.fits"


class MapResult(NamedTuple):
    """The map of one classification step: its path (``None``: none), whether this run made it, the outcome."""

    path: Path | None
    made: bool
    outcome: Outcome


@contextmanager
def _attempt_folder(runner: Runner, output_directory: Path, attempt: Attempt) -> Iterator[Path]:
    """A folder of the attempt's own in the scratch folder of ``output_directory``, removed afterwards.

    One folder per attempt: a program orphaned by a killed run can never write into the files of a later
    attempt.
    """
    folder = runner.scratch_directory(output_directory) / f"attempt-{attempt.row_id}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class CentersHistory:
    """The live centres file of a classification program, and which history a time step starts from.

    Parameters
    ----------
    live_file
        The centres file of the ini (``centers_file``), used by the current runs.
    stage
        The ledger stage of the program (``ch_segmentation`` or ``ar_segmentation``): its recorded histories.

    Notes
    -----
    The ledger records, for every segmentation attempt, the centres file content it started from
    (``centers_before``), the content the program left (``centers_after``) and whether that result was
    installed as the live file (``centers_live``). The *head* is the latest time step installed. A step
    after the head starts from the live file and its result becomes the live file; the head step itself
    (a retry, or a restart after a crash) starts again from its recorded history and is installed again;
    an older step starts from its recorded history (or, never attempted, from the history left by the
    latest successful earlier step) and its result is not installed. An empty text means "no history"
    (the program then makes its "random" initial centres).
    """

    def __init__(self, live_file: Path, stage: str):
        self.live_file = Path(live_file)
        self.stage = stage

    def start(self, ledger: Ledger, time_step: datetime) -> tuple[str, bool]:
        """The history ``time_step`` starts from, and whether its result becomes the live history.

        The ledger is asked by stage, not by the path of the centres file, so that moving a configuration's
        folders (and updating its ini) keeps every recorded history.
        """
        head = ledger.centers_head(self.live_file, self.stage)
        if head is None or time_step > head:
            return self._live_content(), True
        recorded = ledger.centers_start(self.live_file, time_step, self.stage)
        if recorded is None:
            LOGGER.warning("no centres history recorded before %s for %s: starting from an empty history",
                           format_time_step(time_step), self.live_file)
        return recorded or "", time_step == head

    def _live_content(self) -> str:
        try:
            return self.live_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def install(self, content: str, scratch: Path) -> None:
        """Make ``content`` the live history: written in ``scratch`` (same file system), then renamed."""
        with atomic_write(self.live_file, "w", encoding="utf-8", scratch_folder=scratch) as stream:
            stream.write(content)


class StaffPipeline:
    """The jobs of one time step of ``get_staff_stats.py``, for a loaded configuration.

    The methods are the coordinator's half of each job (ledger, centres history, renames); the programs
    themselves run through :attr:`execute`, which calls a task of :mod:`worker_tasks` with its arguments and
    returns its result: :func:`in_process` by default, a Dask cluster with ``--workers``/``--scheduler``.
    """

    def __init__(self, configuration: Configuration):
        self.configuration = configuration
        self.ch = configuration.ch_segmentation
        self.ar = configuration.ar_segmentation
        self.staff = configuration.staff_stats
        self.overlays = configuration.overlays
        self.sdo_data = configuration.make_sdo_data()
        self.histories = {"ch_segmentation": CentersHistory(self.ch.centers_file, "ch_segmentation"),
                          "ar_segmentation": CentersHistory(self.ar.centers_file, "ar_segmentation")}
        self.sections = {"ch_segmentation": self.ch, "ar_segmentation": self.ar}
        self.execute: Callable[..., Any] = in_process
        #: The STAFF statistics of the last step, when they run with the next step's segmentations.
        self._pending_statistics: Callable[[], None] | None = None

    @property
    def output_directories(self) -> list[Path]:
        """The folders written by the jobs (their scratch folders are emptied at the start of a run)."""
        folders = [self.ch.output_directory, self.ar.output_directory, self.staff.output_directory,
                   self.ch.centers_file.parent, self.ar.centers_file.parent]
        return list(dict.fromkeys(folders))

    def process_step(self, time_step: datetime, runner: Runner) -> None:
        """Run the CH and AR segmentations, then the STAFF statistics and overlays, of one time step.

        The two segmentations are independent (their centres files are not the same): they run at once when
        two cores are free (:meth:`~spoca4staff.job_runner.Runner.concurrently`), the files they need found
        first, once, in this thread. The STAFF statistics of a step need only its two maps: they then run
        with the next step's segmentations (the last step's in :meth:`finish_steps`). The log reads as that of
        a run one job after the other: the STAFF statistics of a step, then the next step's CH and AR jobs.
        """
        stages = ("ch_segmentation", "ar_segmentation")
        if not self._concurrent_segmentations():
            ch, ar = (self.segmentation(time_step, runner, stage) for stage in stages)
            self.statistics(time_step, runner, ch, ar)
            return
        for stage in stages:
            for wavelength in self.sections[stage].wavelengths:
                self.sdo_data.get_AIA_selection(time_step, wavelength)
        calls: list[Callable[[], Any]] = [partial(self.segmentation, time_step, runner, stage) for stage in stages]
        pending, self._pending_statistics = self._pending_statistics, None
        if pending is not None:
            calls.insert(0, pending)
        *_, ch, ar = runner.concurrently(*calls)
        # Run beside another step's jobs: an unexpected error there is that of time_step, not of the step it ran with.
        self._pending_statistics = partial(runner.guarded, time_step, self.statistics, time_step, runner, ch, ar)

    def finish_steps(self, runner: Runner) -> None:
        """Run what is left of the last step (its STAFF statistics), once every step has been processed.

        :meth:`~spoca4staff.job_runner.Runner.run` calls it after the last step. When the run is interrupted
        before, the STAFF statistics not started are not recorded: the next run makes them.
        """
        pending, self._pending_statistics = self._pending_statistics, None
        if pending is not None:
            pending()

    def _concurrent_segmentations(self) -> bool:
        """Whether the CH and AR segmentations of a step run at once: in this process (on Dask the chains are
        scheduled by :mod:`spoca4staff.backfill`), with two cores free and two different centres files."""
        return (self.execute is in_process and len(os.sched_getaffinity(0)) >= 2
                and self.ch.centers_file.resolve() != self.ar.centers_file.resolve())

    def statistics(self, time_step: datetime, runner: Runner, ch: MapResult, ar: MapResult) -> None:
        """The STAFF statistics and overlays of a time step whose two classifications are over."""
        missing = [name for name, result in (("CH", ch), ("AR", ar)) if result.path is None]
        if missing:
            runner.skip(time_step, "staff_stats", f"missing input: no {' and no '.join(missing)} map")
            return
        images = self._staff_stats(time_step, runner, ch.path, ar.path, maps_changed=ch.made or ar.made)
        if self.overlays is not None and images:
            self._draw_overlays(time_step, runner, ch.path, ar.path, images)

    # -- segmentation

    def segmentation(self, time_step: datetime, runner: Runner, stage: str) -> MapResult:
        """Make (or find) the map of ``stage`` (``ch_segmentation`` or ``ar_segmentation``).

        Returns the map (``None`` when there is none: no good data, or the job failed), whether it was made
        by this run, and the outcome (``DONE``, ``SKIPPED`` for lack of good data, ``FAILED``).
        """
        done = self.finished_map(time_step, runner, stage)
        if done is not None:
            return done
        section = self.sections[stage]
        final_map = section.output_directory / map_name(time_step)
        selections = {wavelength: self.sdo_data.get_AIA_selection(time_step, wavelength)
                      for wavelength in section.wavelengths}
        images = [selection.file for selection in selections.values()]  # headers read once, by sdo_data
        outage = _outage(selections)
        if outage is not None:
            runner.fail(time_step, stage, outage)
            return MapResult(None, False, Outcome.FAILED)
        if None in images:
            runner.skip(time_step, stage, _no_good_file(selections),
                        inputs=[image for image in images if image is not None])
            return MapResult(None, False, Outcome.SKIPPED)

        def work(attempt: Attempt) -> None:
            self._segment(attempt, runner, section, images, final_map)

        if runner.job(time_step, stage, work, inputs=images, outputs=[final_map]) is Outcome.DONE:
            return MapResult(final_map, True, Outcome.DONE)
        return MapResult(None, False, Outcome.FAILED)

    def finished_map(self, time_step: datetime, runner: Runner, stage: str) -> MapResult | None:
        """The map of ``stage`` when it exists and is valid and ``--force`` is not given (nothing to do)."""
        final_map = self.sections[stage].output_directory / map_name(time_step)
        if runner.already_done(time_step, stage, lambda: _valid_map(final_map)):
            return MapResult(final_map, False, Outcome.DONE)
        return None

    def _segment(self, attempt: Attempt, runner: Runner, section: SegmentationConfig, images: Sequence[AiaFile],
                 final_map: Path) -> None:
        """One attempt of a segmentation, against a scratch copy of the right centres history."""
        history = self.histories[attempt.stage]
        before, becomes_live = history.start(attempt.ledger, attempt.time_step)
        attempt.record(centers_file=history.live_file, centers_before=before)
        with _attempt_folder(runner, section.output_directory, attempt) as folder:
            run = self.execute(run_segmentation, section.executable, section.config_file, list(images),
                               history.live_file.name, before, final_map.name, folder, attempt.timeout)
            attempt.record(command=run.command)
            run.raise_failure()
            # Recorded before the live file is replaced: a crash in between is then redone from `before`.
            attempt.commit(exit_status=run.exit_status, stderr=run.stderr, centers_after=run.centers_after,
                           centers_live=becomes_live)
            if becomes_live:
                history.install(run.centers_after, runner.scratch_directory(history.live_file.parent))
            os.replace(run.outputs[0], final_map)

    # -- STAFF statistics

    def _staff_stats(self, time_step: datetime, runner: Runner, ch_map: Path, ar_map: Path, *,
                     maps_changed: bool) -> dict[int, AiaFile]:
        """Run ``get_STAFF_stats.x`` on the wavelengths with a good file; return those images by wavelength.

        Existing valid CSVs are kept unless a map was just (re)made (``maps_changed``) or ``--force``.
        """
        selections = {wavelength: self.sdo_data.get_AIA_selection(time_step, wavelength)
                      for wavelength in self.staff.wavelengths}
        good = {wavelength: selection.file for wavelength, selection in selections.items()
                if selection.file is not None}
        images = list(good.values())
        outage = _outage(selections)
        if outage is not None:
            runner.fail(time_step, "staff_stats", outage, inputs=[ch_map, ar_map])
            return {}
        if not images:
            runner.skip(time_step, "staff_stats", _no_good_file(selections), inputs=[ch_map, ar_map])
            return {}
        if len(good) < len(selections):
            LOGGER.info("%s staff_stats: %s; statistics of the %d other image(s) only",
                        format_time_step(time_step), _no_good_file(selections), len(images))
        csvs = [self.staff.output_directory / staff_csv_name(ch_map, ar_map, image) for image in images]

        def work(attempt: Attempt) -> None:
            with _attempt_folder(runner, self.staff.output_directory, attempt) as folder:
                run = self.execute(run_staff_stats, self.staff.executable, self.staff.config_file, ar_map, ch_map,
                                   images, folder, attempt.timeout)
                attempt.record(command=run.command)
                run.raise_failure()
                attempt.record(exit_status=run.exit_status, stderr=run.stderr)
                for source, target in zip(run.outputs, csvs, strict=True):
                    os.replace(source, target)

        runner.job(time_step, "staff_stats", work, inputs=[ch_map, ar_map, *images], outputs=csvs,
                   is_complete=None if maps_changed else lambda: _valid_csvs(csvs))
        return good

    # -- overlays

    def _draw_overlays(self, time_step: datetime, runner: Runner, ch_map: Path, ar_map: Path,
                       images: dict[int, AiaFile]) -> None:
        """One overlay PNG ``YYYYmmdd_HHMMSS_WWWW.png`` per image; a failure is only a warning (the pictures are
        for the eyes of operators, the data do not depend on them)."""
        from spoca4staff.overlay import OverlayError  # matplotlib is slow to import: only when used

        for wavelength, image in images.items():
            png = self.overlays.output_directory / f"{time_step:%Y%m%d_%H%M%S}_{wavelength:04d}.png"
            if not runner.force and png.exists():
                continue
            scratch = runner.scratch_directory(self.overlays.output_directory)
            try:
                drawn = self.execute(draw_overlay, ch_map, ar_map, image, png.name, scratch)
                os.replace(drawn, png)
                drawn.parent.rmdir()
            except (OverlayError, OSError, ValueError) as error:
                LOGGER.warning("%s overlay of %s not drawn: %s", format_time_step(time_step), image, error)


def _no_good_file(selections: dict[int, Selection]) -> str:
    """The skip reason: ``no good-quality file for 171 (why each candidate was rejected)``."""
    absent = {wavelength: selection for wavelength, selection in selections.items() if selection.chosen is None}
    details = "; ".join(selection.reason for selection in absent.values())
    return f"no good-quality file for {', '.join(str(wavelength) for wavelength in absent)} ({details})"


def _valid_csvs(csvs: Sequence[Path]) -> bool:
    """Whether every CSV exists and is valid; a damaged one is said (they are then computed again)."""
    if not all(csv.exists() for csv in csvs):
        return False
    problems = [problem for problem in map(check_staff_csv, csvs) if problem is not None]
    for problem in problems:
        LOGGER.warning("existing STAFF statistics damaged, computing them again: %s", problem)
    return not problems


def _outage(selections: dict[int, Selection]) -> str | None:
    """The first archive outage among ``selections`` (the archive could not be read), or None."""
    return next((selection.outage for selection in selections.values() if selection.outage is not None), None)


def _valid_map(path: Path) -> bool:
    """Whether the map exists and is valid; a damaged one is said (it is then made again, and recorded)."""
    if not path.exists():
        return False
    problem = check_segmentation_map(path)
    if problem is not None:
        LOGGER.warning("existing map damaged, making it again: %s", problem)
    return problem is None


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``get_staff_stats.py``."""
    parser = argparse.ArgumentParser(
        prog="get_staff_stats.py",
        description=textwrap.fill(
            "Segment the AIA images of each time step into coronal-hole (193) and active-region (171+193) maps "
            "with SPoCA, then compute the STAFF statistics of CH, AR and quiet Sun on every configured "
            "wavelength that has a good file. Safe to run from cron: one run at a time per configuration, jobs "
            "already done are skipped, every job attempt is recorded in the ledger ([OPERATIONS] ledger).", 78),
        epilog=EXIT_STATUS_HELP + "\nexamples:\n"
               "  .venv/bin/python get_staff_stats.py configs/AIA.quicklook.ini --status\n"
               "  .venv/bin/python get_staff_stats.py configs/AIA.quicklook.ini --rerun-failed\n"
               "  .venv/bin/python get_staff_stats.py configs/AIA.quicklook.ini -s 2026-03-20 -e 2026-03-22 --force\n"
               "  crontab, every 6 hours over the last 48 hours (the default window):\n"
               "  5 */6 * * * cd /opt/spoca4staff && .venv/bin/python get_staff_stats.py \\\n"
               "      configs/AIA.quicklook.ini --log-file /var/log/spoca4staff/staff.log\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``get_staff_stats.py`` and return its exit status (see :data:`spoca4staff.command_line.EXIT_STATUS_HELP`)."""
    def make_step(configuration: Configuration):
        pipeline = StaffPipeline(configuration)
        return pipeline.process_step, pipeline.output_directories

    return run_script(build_parser(), argv, STAFF_SECTIONS, STAGES, _NAME, make_step)

if __name__ == "__main__":
    exit_script(main())
