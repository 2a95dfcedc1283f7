"""What a worker does: run one SPoCA program (or draw one overlay) in a scratch folder and return what it left.

The pipeline's jobs are split in two halves. The coordinator (the process holding the run lock) decides
which history a classification starts from, writes every ledger row, installs the live centres files and
renames the outputs into place. A *task* of this module does only the work in between: in a folder of its
own on the shared file system it runs one program and returns a :class:`ProgramRun` (the command, the exit
status, stderr, the output files it left in that folder and, for a classification, the centres history the
program wrote). Tasks read nothing but their arguments and the input files, and write nothing outside their
folder, so the same function gives the same bytes whether it runs in the coordinator (the sequential path of
``get_staff_stats.py``) or on a Dask worker (:mod:`backfill`).

Every execution makes a new sub-folder (``tempfile.mkdtemp``) inside the folder it is given: a task that Dask
runs again because its worker died gets a fresh folder, so a program orphaned by the dead worker can never
write into the files of the retry.

A program's failure is returned, not raised (:class:`job.JobError` cannot cross a process boundary by
pickling); :meth:`ProgramRun.raise_failure` raises it again, identical, in the coordinator.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import job
from job import JobError
from staff_jobs import GetStaffStatsJob, SegmentationJob

__all__ = ["ProgramFailure", "ProgramRun", "in_process", "run_segmentation", "run_staff_stats", "draw_overlay"]


@dataclass(frozen=True)
class ProgramFailure:
    """A :class:`job.JobError` (or subclass) as plain data: its class name and constructor arguments."""

    kind: str
    command: list[str]
    exit_code: int | None
    stderr: str
    context: str

    @classmethod
    def of(cls, error: JobError) -> ProgramFailure:
        """Describe ``error``."""
        return cls(type(error).__name__, list(error.command), error.exit_code, error.stderr, error.context)

    def error(self) -> JobError:
        """The same exception again (same class, message, exit code and stderr)."""
        kind = getattr(job, self.kind, JobError)
        return kind(self.command, self.exit_code, self.stderr, self.context)


@dataclass(frozen=True)
class ProgramRun:
    """What one execution of a program returned.

    Attributes
    ----------
    command
        The argument list that was run.
    exit_status
        The program's exit status (``None`` when it did not finish).
    stderr
        Its error output.
    outputs
        The output files it wrote, inside the task's own folder, in the order the coordinator expects.
    centers_after
        For a classification, the centres history the program left (``None`` otherwise, or on failure).
    failure
        Why the job failed (``None`` when it succeeded and its outputs are valid).
    """

    command: list[str]
    exit_status: int | None
    stderr: str
    outputs: list[Path] = field(default_factory=list)
    centers_after: str | None = None
    failure: ProgramFailure | None = None

    def raise_failure(self) -> None:
        """Raise the program's failure as the :class:`job.JobError` it was, if it failed."""
        if self.failure is not None:
            raise self.failure.error()


def in_process(function: Callable[..., Any], *args: Any) -> Any:
    """Run a task here and now: the sequential path (:mod:`backfill` runs the same task on a Dask worker)."""
    return function(*args)


def _own_folder(folder: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="run-", dir=folder))


def run_segmentation(executable: Path, config_file: Path, images: Sequence[os.PathLike[str]], centers_name: str,
                     centers_before: str, map_name: str, folder: Path, timeout: float | None) -> ProgramRun:
    """Run ``ch_segmentation.x`` or ``ar_segmentation.x`` from the history ``centers_before``.

    The centres file ``centers_name`` is written with ``centers_before`` in a new folder inside ``folder``,
    the program segments ``images`` into ``map_name`` there, and the history it left is read back.

    Raises
    ------
    OSError
        When the scratch folder cannot be written (transient when it has an errno, as for the sequential path).
    """
    work = _own_folder(Path(folder))
    centers, partial_map = work / centers_name, work / map_name
    centers.write_text(centers_before, encoding="utf-8")
    try:
        result = SegmentationJob(executable, config_file, centers).execute(images, partial_map, timeout=timeout)
    except JobError as error:  # the command of the job that was run, as it failed
        return ProgramRun(error.command, error.exit_code, error.stderr, failure=ProgramFailure.of(error))
    return ProgramRun(result.command, result.exit_code, result.error, [partial_map],
                      centers.read_text(encoding="utf-8"))


def run_staff_stats(executable: Path, config_file: Path, ar_map: Path, ch_map: Path,
                    images: Sequence[os.PathLike[str]],
                    folder: Path, timeout: float | None) -> ProgramRun:
    """Run ``get_STAFF_stats.x`` on ``images`` with the two maps; the CSVs are returned in image order."""
    work = _own_folder(Path(folder))
    try:
        result = GetStaffStatsJob(executable, config_file, work).execute(ar_map, ch_map, images, timeout=timeout)
    except JobError as error:  # the command of the job that was run, as it failed
        return ProgramRun(error.command, error.exit_code, error.stderr, failure=ProgramFailure.of(error))
    return ProgramRun(result.command, result.exit_code, result.error, list(result.outputs))


def draw_overlay(ch_map: Path, ar_map: Path, image: os.PathLike[str], png_name: str, folder: Path) -> Path:
    """Draw one overlay PNG in a new folder inside ``folder`` and return its path (the coordinator renames it).

    Raises what :func:`spoca4staff.overlay.write_overlay` raises (``OverlayError``, ``OSError``, ``ValueError``).
    """
    from spoca4staff.overlay import write_overlay  # matplotlib is slow to import: only when used

    return write_overlay(ch_map, ar_map, image, _own_folder(Path(folder)) / png_name)
