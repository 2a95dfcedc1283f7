"""The job ledger: one SQLite row per job attempt of the pipeline.

Operators need to know, long after a cron run, what was computed, what failed and why, and what to
rerun. Every attempt of a job (one stage of one time step) gets a row holding the time step, the
stage, the input files, the outputs, the command line, the start and end times, the exit status,
the end of stderr and the outcome (``done``, ``failed``, ``interrupted``, or ``skipped`` with its
reason). A row is inserted as ``running`` when the attempt starts, so that an attempt killed with
SIGKILL is still visible; the next run marks such rows ``interrupted``.

The table ``attempts`` has the columns ``id``, ``time_step`` (UTC, ``YYYY-mm-ddTHH:MM:SS``), ``stage``,
``attempt`` (1, 2, ... over all the runs), ``inputs`` and ``outputs`` (JSON lists of paths), ``command``
(JSON list), ``started`` and ``ended`` (UTC), ``exit_status`` (negative: killed by that signal),
``stderr_tail``, ``outcome``, ``reason``, the centres columns below, ``host`` and ``pid``. It can be read with
any SQLite client, e.g. ``sqlite3 spoca4staff.ledger.sqlite "SELECT * FROM attempts WHERE outcome='failed'"``.

Segmentation jobs also record the content of their centres file before and after the run: the
centres history changes the maps, so a rerun of an old time step must start from the history that
step saw (see :meth:`Ledger.centers_start`).

Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) with ``synchronous=FULL`` and
SQLite's rollback journal, so a crash at any moment leaves the previous consistent state. Each transaction is
synced to disk, so an attempt costs one per change of state only: :meth:`Ledger.start` (the row, and the
attempt's number counted in the same transaction), a checkpoint with :meth:`Ledger.update` where the order
matters (a segmentation's result, before the live centres file is replaced), and :meth:`Ledger.finish`, which
writes the facts gathered meanwhile with the outcome. The
rollback journal rather than WAL is used because the ledger usually sits beside the outputs, which
may be on a network file system where WAL does not work. Only the standard library is used.

Examples
--------
>>> ledger = Ledger(":memory:")
>>> row = ledger.start(datetime(2026, 3, 20), "ch_segmentation", inputs=["a.fits"])
>>> ledger.finish(row, Outcome.DONE, exit_status=0)
>>> ledger.outcome_counts()
{'done': 1}
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["Outcome", "AttemptRecord", "Ledger", "LedgerError", "OUTAGE", "format_time_step", "parse_time_step",
           "parse_timestamp", "STDERR_TAIL_CHARS", "ATTEMPT_FIELDS"]

#: How much of the end of a program's stderr is kept in the ledger.
STDERR_TAIL_CHARS = 2000

_TIME_STEP_FORMAT = "%Y-%m-%dT%H:%M:%S"

#: How the reason of a job that failed because the archive could not be read (an outage, not "no data")
#: starts, in the ledger and the log; ``--status`` counts these failures apart.
OUTAGE = "archive unavailable"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_step TEXT NOT NULL,
    stage TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    inputs TEXT NOT NULL DEFAULT '[]',
    outputs TEXT NOT NULL DEFAULT '[]',
    command TEXT,
    started TEXT NOT NULL,
    ended TEXT,
    exit_status INTEGER,
    stderr_tail TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    centers_file TEXT,
    centers_before TEXT,
    centers_after TEXT,
    centers_live INTEGER NOT NULL DEFAULT 0,
    host TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_by_job ON attempts (stage, time_step);
CREATE INDEX IF NOT EXISTS attempts_by_centers ON attempts (centers_file, time_step);
"""
#: The table and indexes of :data:`_SCHEMA`, by name.
_SCHEMA_OBJECTS = tuple(re.findall(r"IF NOT EXISTS (\w+)", _SCHEMA))


class LedgerError(Exception):
    """The ledger cannot be used: damaged, locked by another process for too long, disk full, read-only.

    The message is one line naming the file, SQLite's own error and, when there is one, what to do. The run
    cannot go on without its ledger (it would lose the record of what it does), so this error ends the run.
    """


def _ledger_error(path: object, error: BaseException) -> LedgerError:
    """A :class:`LedgerError` for an error of SQLite (or of the system) on the ledger ``path``."""
    text = str(error) or type(error).__name__
    code = getattr(error, "sqlite_errorname", "")
    if isinstance(error, sqlite3.DatabaseError) and code in ("SQLITE_CORRUPT", "SQLITE_NOTADB", "") and (
            "malformed" in text or "not a database" in text or "corrupt" in text):
        return LedgerError(f"ledger {path} is damaged ({text}): move it aside (e.g. mv {path} {path}.damaged) "
                           "and run again to start a new ledger; the damaged file keeps the earlier records")
    if "locked" in text or code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return LedgerError(f"ledger {path} is locked by another process ({text}) for longer than the wait; "
                           "try again later")
    if isinstance(error, OSError):
        text = error.strerror or text
    return LedgerError(f"ledger {path}: {text}")


class Outcome(str, Enum):
    """The outcome of a job attempt, as stored in the ledger."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


def format_time_step(time_step: datetime) -> str:
    """Return the ledger's text form of a time step (UTC, ``YYYY-mm-ddTHH:MM:SS``, sorts in time order)."""
    if time_step.tzinfo is not None:
        time_step = time_step.astimezone(timezone.utc).replace(tzinfo=None)
    return time_step.strftime(_TIME_STEP_FORMAT)


def parse_time_step(text: str) -> datetime:
    """Inverse of :func:`format_time_step`: a naive UTC datetime."""
    return datetime.strptime(text, _TIME_STEP_FORMAT)


#: The form of the ``started`` and ``ended`` time stamps (UTC, to the microsecond).
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _now() -> str:
    return datetime.now(timezone.utc).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """A ``started`` or ``ended`` time stamp of the ledger as a naive UTC datetime."""
    return datetime.strptime(text, _TIMESTAMP_FORMAT)


def _stage_filter(stages: Iterable[str] | None) -> tuple[str, list[str]]:
    """A WHERE clause (and its parameters) keeping only the given stages; all stages for ``None``."""
    if stages is None:
        return "1", []
    stages = list(stages)
    return f"stage IN ({', '.join('?' for _ in stages)})", stages


def _paths_json(paths: Iterable[os.PathLike | str] | None) -> str:
    return json.dumps([str(path) for path in paths or ()])


#: The SQL value of a new attempt's number: one more than the rows of its job (time step, stage) so far.
_NEXT_ATTEMPT = "(SELECT COUNT(*) + 1 FROM attempts WHERE time_step = ? AND stage = ?)"

#: The facts an attempt may record (:meth:`Ledger.update`), and how each is stored: its column and its form.
ATTEMPT_FIELDS: dict[str, tuple[str, Callable[[Any], object]]] = {
    "command": ("command", _paths_json),
    "inputs": ("inputs", _paths_json),
    "outputs": ("outputs", _paths_json),
    "exit_status": ("exit_status", int),
    "stderr": ("stderr_tail", lambda stderr: stderr[-STDERR_TAIL_CHARS:]),
    "centers_file": ("centers_file", str),
    "centers_before": ("centers_before", str),
    "centers_after": ("centers_after", str),
    "centers_live": ("centers_live", int),
}


def _columns(fields: dict[str, Any]) -> dict[str, object]:
    """The columns and stored values of the given attempt fields (see :data:`ATTEMPT_FIELDS`); ``None``: unset.

    Raises
    ------
    TypeError
        For a name that is not a field (a typo would otherwise be lost silently).
    """
    unknown = sorted(set(fields) - set(ATTEMPT_FIELDS))
    if unknown:
        raise TypeError(f"unknown attempt field(s): {', '.join(unknown)}")
    return {ATTEMPT_FIELDS[name][0]: ATTEMPT_FIELDS[name][1](value) for name, value in fields.items()
            if value is not None}


@dataclass(frozen=True)
class AttemptRecord:
    """One row of the ledger, as read back by :meth:`Ledger.attempts` (the columns of the module notes).

    ``centers_before`` and ``centers_after`` are the centres file content before and after a segmentation
    attempt (empty text: no history), ``centers_live`` whether that result was installed as the live file.
    """

    id: int
    time_step: datetime
    stage: str
    attempt: int
    inputs: list[str]
    outputs: list[str]
    command: list[str] | None
    started: str
    ended: str | None
    exit_status: int | None
    stderr_tail: str | None
    outcome: Outcome
    reason: str | None
    centers_file: str | None
    centers_before: str | None
    centers_after: str | None
    centers_live: bool

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AttemptRecord:
        """Build a record from a ``SELECT *`` row."""
        return cls(
            id=row["id"], time_step=parse_time_step(row["time_step"]), stage=row["stage"], attempt=row["attempt"],
            inputs=json.loads(row["inputs"]), outputs=json.loads(row["outputs"]),
            command=json.loads(row["command"]) if row["command"] is not None else None,
            started=row["started"], ended=row["ended"], exit_status=row["exit_status"],
            stderr_tail=row["stderr_tail"], outcome=Outcome(row["outcome"]), reason=row["reason"],
            centers_file=row["centers_file"], centers_before=row["centers_before"],
            centers_after=row["centers_after"], centers_live=bool(row["centers_live"]),
        )


class Ledger:
    """The SQLite job ledger of a configuration.

    Parameters
    ----------
    path
        The database file (created with its folder when missing), or ``":memory:"`` for tests.
    timeout
        Seconds to wait for another process's write transaction (another script sharing the ledger).
    """

    def __init__(self, path: os.PathLike | str, timeout: float = 60.0) -> None:
        self.path = path if str(path) == ":memory:" else Path(path)
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        try:
            if isinstance(self.path, Path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection for every thread of the run (the concurrent segmentations of a step, the
            # coordinator's threads on Dask): each call holds the lock, so that they never interleave.
            self._connection = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                               check_same_thread=False)
            self._connection.row_factory = sqlite3.Row
            self._connection.execute("PRAGMA synchronous=FULL")
            if not self._has_schema():
                # One transaction (one sync to disk) for the whole schema, not one per statement. On an
                # error the connection is closed below, which rolls it back.
                self._connection.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            self._connection.execute("SELECT COUNT(*) FROM attempts").fetchone()
        except (sqlite3.Error, OSError) as error:
            self.close()
            raise _ledger_error(self.path, error) from error

    def _has_schema(self) -> bool:
        """Whether the table and indexes of the ledger exist (a read: an existing ledger is not written)."""
        names = ", ".join("?" for _ in _SCHEMA_OBJECTS)
        found = self._connection.execute(f"SELECT COUNT(*) FROM sqlite_master WHERE name IN ({names})",
                                         _SCHEMA_OBJECTS).fetchone()[0]
        return found == len(_SCHEMA_OBJECTS)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        """The rows of a query; SQLite's errors become a :class:`LedgerError` naming the file."""
        try:
            with self._lock:
                return self._connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise _ledger_error(self.path, error) from error

    def _read_one(self, sql: str, parameters: Sequence[object] = ()) -> sqlite3.Row | None:
        """The first row of a query, or ``None``."""
        rows = self._read(sql, parameters)
        return rows[0] if rows else None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction: committed on success, rolled back on any exception (signals included).

        SQLite's errors (disk full, read-only file system, damaged file, locked for longer than the wait)
        become a :class:`LedgerError`. A ROLLBACK that fails in turn (SQLite may already have rolled back,
        e.g. after SQLITE_FULL) never hides the error that caused it.
        """
        with self._lock:  # one transaction at a time on the shared connection
            try:
                cursor = self._connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise _ledger_error(self.path, error) from error
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException as error:
                self._rollback()
                if isinstance(error, sqlite3.Error):
                    raise _ledger_error(self.path, error) from error
                raise

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not already done so; its own failure is ignored."""
        try:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    # -- writing ---------------------------------------------------------------------------------

    def start(self, time_step: datetime, stage: str, *, inputs: Iterable[os.PathLike | str] = (),
              outputs: Iterable[os.PathLike | str] = (), attempt: int | None = None) -> int:
        """Insert a ``running`` row for a new attempt and return its id, in one transaction.

        ``attempt`` is the attempt's number; by default the next one of the job (one more than its rows so far),
        counted in the same transaction as the insert.
        """
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO attempts (time_step, stage, attempt, inputs, outputs, started, outcome, host, pid)"
                f" VALUES (?, ?, {_NEXT_ATTEMPT if attempt is None else '?'}, ?, ?, ?, ?, ?, ?)",
                (format_time_step(time_step), stage, *((format_time_step(time_step), stage) if attempt is None
                                                       else (attempt,)),
                 _paths_json(inputs), _paths_json(outputs), _now(), Outcome.RUNNING.value, socket.gethostname(),
                 os.getpid()))
            return int(cursor.lastrowid)

    def update(self, row_id: int, **fields: Any) -> None:
        """Set the given fields of an attempt (``None`` leaves a field unchanged), in one transaction.

        The fields are :data:`ATTEMPT_FIELDS`: ``command``, ``inputs``, ``outputs``, ``exit_status``, ``stderr``
        (its end is kept), ``centers_file``, ``centers_before``, ``centers_after``, ``centers_live``.
        """
        columns = _columns(fields)
        if not columns:
            return
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._transaction() as cursor:
            cursor.execute(f"UPDATE attempts SET {assignments} WHERE id = ?", (*columns.values(), row_id))

    def finish(self, row_id: int, outcome: Outcome, *, reason: str | None = None, exit_status: int | None = None,
               stderr: str | None = None, **fields: Any) -> None:
        """Record the end of an attempt, in one transaction: its outcome, reason, exit status, end of stderr.

        ``fields`` are set as by :meth:`update`, in the same transaction (the facts recorded by the attempt and
        not written yet). ``exit_status`` and ``stderr``, when given, win over the same fields.
        """
        columns = _columns({**fields, **({"exit_status": exit_status} if exit_status is not None else {}),
                            **({"stderr": stderr} if stderr is not None else {})})
        columns = {"outcome": Outcome(outcome).value, "reason": reason, "ended": _now(), **columns}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._transaction() as cursor:
            cursor.execute(f"UPDATE attempts SET {assignments} WHERE id = ?", (*columns.values(), row_id))

    def record_failure(self, time_step: datetime, stage: str, reason: str, *,
                       inputs: Iterable[os.PathLike | str] = ()) -> int:
        """Insert a finished ``failed`` row for a job that could not be run (an archive outage, a failed chain)
        and return its id, in one transaction; its number is the job's next attempt."""
        now = _now()
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO attempts (time_step, stage, attempt, inputs, started, ended, outcome, reason, host, pid)"
                f" VALUES (?, ?, {_NEXT_ATTEMPT}, ?, ?, ?, ?, ?, ?, ?)",
                (format_time_step(time_step), stage, format_time_step(time_step), stage, _paths_json(inputs), now,
                 now, Outcome.FAILED.value, reason, socket.gethostname(), os.getpid()))
            return int(cursor.lastrowid)

    def record_skip(self, time_step: datetime, stage: str, reason: str, *,
                    inputs: Iterable[os.PathLike | str] = ()) -> int:
        """Insert a finished ``skipped`` row (e.g. reason "no good-quality file") and return its id."""
        now = _now()
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO attempts (time_step, stage, inputs, started, ended, outcome, reason, host, pid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (format_time_step(time_step), stage, _paths_json(inputs), now, now, Outcome.SKIPPED.value, reason,
                 socket.gethostname(), os.getpid()))
            return int(cursor.lastrowid)

    def mark_abandoned(self, stages: Iterable[str]) -> int:
        """Mark the ``running`` rows of ``stages`` as ``interrupted`` and return how many there were.

        Call it only while holding the run lock of these stages: a ``running`` row then belongs to a run
        that died without recording its outcome (SIGKILL, power loss).
        """
        stages = list(stages)
        marks = ", ".join("?" for _ in stages)
        with self._transaction() as cursor:
            cursor.execute(
                f"UPDATE attempts SET outcome = ?, reason = ?, ended = COALESCE(ended, ?)"
                f" WHERE outcome = ? AND stage IN ({marks})",
                (Outcome.INTERRUPTED.value, "the run ended without recording an outcome (killed?)", _now(),
                 Outcome.RUNNING.value, *stages))
            return cursor.rowcount

    # -- reading ---------------------------------------------------------------------------------

    def attempts(self, *, time_step: datetime | None = None, stage: str | None = None) -> list[AttemptRecord]:
        """All attempts, oldest first, optionally only those of one time step and/or stage."""
        clauses, parameters = [], []
        if time_step is not None:
            clauses.append("time_step = ?")
            parameters.append(format_time_step(time_step))
        if stage is not None:
            clauses.append("stage = ?")
            parameters.append(stage)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(f"SELECT * FROM attempts{where} ORDER BY id", parameters)
        return [AttemptRecord.from_row(row) for row in rows]

    def latest(self, time_step: datetime, stage: str) -> AttemptRecord | None:
        """The latest attempt of a job, or ``None`` when it was never attempted."""
        row = self._read_one(
            "SELECT * FROM attempts WHERE time_step = ? AND stage = ? ORDER BY id DESC LIMIT 1",
            (format_time_step(time_step), stage))
        return AttemptRecord.from_row(row) if row is not None else None

    def outcome_counts(self, stages: Iterable[str] | None = None) -> dict[str, int]:
        """Number of attempts per outcome (of the given stages only, when given)."""
        where, parameters = _stage_filter(stages)
        rows = self._read(
            f"SELECT outcome, COUNT(*) FROM attempts WHERE {where} GROUP BY outcome ORDER BY outcome", parameters)
        return {outcome: count for outcome, count in rows}

    def latest_outcome_counts(self, stages: Iterable[str] | None = None) -> dict[str, int]:
        """Number of jobs (time step and stage) per outcome of their latest attempt."""
        where, parameters = _stage_filter(stages)
        rows = self._read(
            f"SELECT outcome, COUNT(*) FROM attempts WHERE {where} AND id IN"
            " (SELECT MAX(id) FROM attempts GROUP BY time_step, stage) GROUP BY outcome ORDER BY outcome",
            parameters)
        return {outcome: count for outcome, count in rows}

    def recent_failures(self, limit: int = 10, stages: Iterable[str] | None = None) -> list[AttemptRecord]:
        """The last failed attempt of each job that has not succeeded since, newest first."""
        where, parameters = _stage_filter(stages)
        rows = self._read(
            f"SELECT * FROM attempts AS failure WHERE {where} AND outcome = ? AND NOT EXISTS"
            " (SELECT 1 FROM attempts AS later WHERE later.time_step = failure.time_step"
            "  AND later.stage = failure.stage AND later.outcome IN (?, ?) AND later.id > failure.id)"
            " ORDER BY id DESC LIMIT ?",
            (*parameters, Outcome.FAILED.value, Outcome.DONE.value, Outcome.FAILED.value, limit))
        return [AttemptRecord.from_row(row) for row in rows]

    def failed_time_steps(self, stages: Iterable[str]) -> list[datetime]:
        """Time steps with a failed job of ``stages`` and no later success of that job, oldest first."""
        stages = list(stages)
        marks = ", ".join("?" for _ in stages)
        rows = self._read(
            f"SELECT DISTINCT time_step FROM attempts AS failure WHERE outcome = ? AND stage IN ({marks})"
            " AND NOT EXISTS (SELECT 1 FROM attempts AS later WHERE later.time_step = failure.time_step"
            "  AND later.stage = failure.stage AND later.outcome = ? AND later.id > failure.id)"
            " ORDER BY time_step",
            (Outcome.FAILED.value, *stages, Outcome.DONE.value))
        return [parse_time_step(time_step) for (time_step,) in rows]

    # -- centres history ---------------------------------------------------------------------------

    def centers_head(self, centers_file: os.PathLike | str, stage: str | None = None) -> datetime | None:
        """The latest time step whose result was installed in the live centres file, or ``None``.

        With ``stage``, the attempts of that stage are looked up whatever their centres file was called: a
        ledger belongs to one configuration, whose stage has one centres history, and the absolute path of
        that file changes when the configuration's folders are moved.
        """
        key, parameter = self._centers_key(centers_file, stage)
        row = self._read_one(f"SELECT MAX(time_step) FROM attempts WHERE {key} AND centers_live = 1", (parameter,))
        return parse_time_step(row[0]) if row[0] is not None else None

    def centers_start(self, centers_file: os.PathLike | str, time_step: datetime,
                      stage: str | None = None) -> str | None:
        """The centres history recorded as the starting point of ``time_step``, or ``None`` if unknown.

        This is the content the first recorded attempt of that time step started from; failing that
        (a step never attempted), the content left by the latest successful earlier time step. ``None``
        means that no history is known before that step: the program then starts from an empty file.
        ``stage`` is as for :meth:`centers_head`.
        """
        step = format_time_step(time_step)
        key, parameter = self._centers_key(centers_file, stage)
        row = self._read_one(
            f"SELECT centers_before FROM attempts WHERE {key} AND time_step = ?"
            " AND centers_before IS NOT NULL ORDER BY id LIMIT 1", (parameter, step))
        if row is not None:
            return row[0]
        row = self._read_one(
            f"SELECT centers_after FROM attempts WHERE {key} AND time_step < ? AND outcome = ?"
            " AND centers_after IS NOT NULL ORDER BY time_step DESC, id DESC LIMIT 1",
            (parameter, step, Outcome.DONE.value))
        return row[0] if row is not None else None

    @staticmethod
    def _centers_key(centers_file: os.PathLike | str, stage: str | None) -> tuple[str, str]:
        """The WHERE clause selecting the attempts of one centres history: by stage, or by file path."""
        if stage is not None:
            return "centers_file IS NOT NULL AND stage = ?", stage
        return "centers_file = ?", str(centers_file)
