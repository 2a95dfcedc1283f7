"""Tests of the SQLite job ledger: rows, queries for --status / --rerun-failed, centres history, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from spoca4staff.ledger import STDERR_TAIL_CHARS, Ledger, LedgerError, Outcome

REPO_ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 20, 0, 0)
T1 = T0 + timedelta(hours=6)
T2 = T0 + timedelta(hours=12)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(tmp_path / "sub" / "ledger.sqlite") as opened:
        yield opened


def test_attempt_row_holds_everything_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        row = ledger.start(T0, "ch_segmentation", inputs=[Path("/a/193.fits")], outputs=["/m/map.fits"])
        ledger.update(row, command=["prog", "--config", "x"], exit_status=None)
        ledger.finish(row, Outcome.FAILED, reason="prog exited with status 1", exit_status=1,
                      stderr="x" * (STDERR_TAIL_CHARS + 10) + "END")
    with Ledger(path) as ledger:
        (record,) = ledger.attempts()
    assert record.time_step == T0
    assert record.stage == "ch_segmentation"
    assert record.inputs == ["/a/193.fits"]
    assert record.outputs == ["/m/map.fits"]
    assert record.command == ["prog", "--config", "x"]
    assert record.outcome is Outcome.FAILED
    assert record.reason == "prog exited with status 1"
    assert record.exit_status == 1
    assert len(record.stderr_tail) == STDERR_TAIL_CHARS
    assert record.stderr_tail.endswith("END")
    assert record.started <= record.ended
    assert record.attempt == 1


def test_skip_rows_and_counts(ledger: Ledger) -> None:
    ledger.record_skip(T0, "ar_segmentation", "no good-quality file for 171")
    row = ledger.start(T0, "ch_segmentation")
    ledger.finish(row, Outcome.FAILED, reason="boom")
    row = ledger.start(T0, "ch_segmentation", attempt=2)
    ledger.finish(row, Outcome.DONE)
    ledger.start(T1, "image_stats")
    assert ledger.outcome_counts() == {"done": 1, "failed": 1, "skipped": 1, "running": 1}
    assert ledger.latest_outcome_counts() == {"done": 1, "skipped": 1, "running": 1}
    assert ledger.outcome_counts(["image_stats"]) == {"running": 1}
    skipped = ledger.latest(T0, "ar_segmentation")
    assert skipped.outcome is Outcome.SKIPPED and skipped.reason == "no good-quality file for 171"
    assert ledger.latest(T2, "ar_segmentation") is None


def test_mark_abandoned_touches_only_running_rows_of_the_given_stages(ledger: Ledger) -> None:
    mine = ledger.start(T0, "ch_segmentation")
    other = ledger.start(T0, "image_stats")
    finished = ledger.start(T1, "ch_segmentation")
    ledger.finish(finished, Outcome.DONE)
    assert ledger.mark_abandoned(["ch_segmentation", "ar_segmentation"]) == 1
    outcomes = {record.id: record.outcome for record in ledger.attempts()}
    assert outcomes == {mine: Outcome.INTERRUPTED, other: Outcome.RUNNING, finished: Outcome.DONE}


def _attempt(ledger: Ledger, step: datetime, stage: str, outcome: Outcome, reason: str | None = None) -> None:
    ledger.finish(ledger.start(step, stage), outcome, reason=reason)


def test_failed_time_steps_are_those_without_a_later_success_oldest_first(ledger: Ledger) -> None:
    _attempt(ledger, T2, "ar_segmentation", Outcome.FAILED, "late failure")
    _attempt(ledger, T1, "ch_segmentation", Outcome.FAILED, "fixed since")
    _attempt(ledger, T1, "ch_segmentation", Outcome.DONE)
    _attempt(ledger, T0, "staff_stats", Outcome.DONE)
    _attempt(ledger, T0, "staff_stats", Outcome.FAILED, "failed after a success")
    _attempt(ledger, T0, "image_stats", Outcome.FAILED, "other script")
    stages = ["ch_segmentation", "ar_segmentation", "staff_stats"]
    assert ledger.failed_time_steps(stages) == [T0, T2]
    assert ledger.failed_time_steps(["image_stats"]) == [T0]
    failures = ledger.recent_failures(10, stages)
    assert [failure.reason for failure in failures] == ["failed after a success", "late failure"]
    assert len(ledger.recent_failures(1, stages)) == 1
    # A job failing again is listed once, with its last failure.
    _attempt(ledger, T2, "ar_segmentation", Outcome.FAILED, "retried, failed again")
    failures = ledger.recent_failures(10, stages)
    assert [failure.reason for failure in failures] == ["retried, failed again", "failed after a success"]


def test_centres_history_head_and_start(ledger: Ledger) -> None:
    live = "/x/ch_centers.txt"
    assert ledger.centers_head(live) is None
    assert ledger.centers_start(live, T0) is None
    for step, before, after in ((T0, "", "A\n"), (T2, "A\n", "C\nA\n")):
        row = ledger.start(step, "ch_segmentation")
        ledger.update(row, centers_file=live, centers_before=before, centers_after=after, centers_live=True)
        ledger.finish(row, Outcome.DONE)
    assert ledger.centers_head(live) == T2
    assert ledger.centers_head("/other/centers.txt") is None
    assert ledger.centers_start(live, T2) == "A\n"
    # T1 was never attempted: it starts from what the latest earlier successful step left.
    assert ledger.centers_start(live, T1) == "A\n"
    # A recorded attempt of T1 fixes its starting point for good.
    row = ledger.start(T1, "ch_segmentation")
    ledger.update(row, centers_file=live, centers_before="A\n")
    ledger.finish(row, Outcome.FAILED, reason="x")
    assert ledger.centers_start(live, T1) == "A\n"
    assert ledger.centers_head(live) == T2


_WRITER = """
import sys
from datetime import datetime
from spoca4staff.ledger import Ledger, Outcome
ledger = Ledger(sys.argv[1])
while True:
    row = ledger.start(datetime(2026, 3, 20), "ch_segmentation", inputs=["a"] * 50)
    ledger.update(row, command=["prog"] * 50, stderr="e" * 3000)
    ledger.finish(row, Outcome.DONE, exit_status=0)
"""


def test_sigkill_during_writes_never_corrupts_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        count = 0
        while count < 20 and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.05)
            if path.exists():
                try:
                    with sqlite3.connect(path, timeout=5) as connection:
                        count = connection.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
                except sqlite3.OperationalError:
                    count = 0
        assert count >= 20, "the writer did not start writing"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Ledger(path) as ledger:
        records = ledger.attempts()
        assert len(records) >= 20
        # Every row is whole: either finished, or still "running" with all its fields of the start.
        for record in records:
            assert record.inputs == ["a"] * 50
            assert record.outcome in (Outcome.DONE, Outcome.RUNNING)
        assert sum(record.outcome is Outcome.RUNNING for record in records) <= 1
        assert ledger.mark_abandoned(["ch_segmentation"]) <= 1


# -- faults of issue 12 ----------------------------------------------------------------------------------------


def test_damaged_or_truncated_ledger_says_how_to_recover(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError) as caught:
        Ledger(garbage)
    assert str(caught.value) == (
        f"ledger {garbage} is damaged (file is not a database): move it aside (e.g. mv {garbage} {garbage}.damaged) "
        "and run again to start a new ledger; the damaged file keeps the earlier records")
    truncated = tmp_path / "truncated.sqlite"
    with Ledger(truncated) as ledger:
        for hour in range(200):
            ledger.record_skip(T0 + timedelta(hours=hour), "image_stats", "x" * 200)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with pytest.raises(LedgerError, match=rf"^ledger {truncated} is damaged \(database disk image is malformed\): "
                                          "move it aside"):
        with Ledger(truncated) as ledger:
            ledger.attempts()


def test_ledger_locked_longer_than_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LedgerError) as caught, Ledger(path, timeout=0.2) as ledger:
            ledger.record_skip(T0, "image_stats", "no data")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(caught.value).startswith(f"ledger {path} is locked by another process (database is locked)")


class _FullDisk:
    """A connection whose INSERTs fail with SQLITE_FULL, after which SQLite has already rolled back (so that
    an explicit ROLLBACK fails in turn, as it does for real)."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection
        self.in_transaction = False

    def cursor(self) -> _FullDisk:
        return self

    def execute(self, sql: str, *parameters: object):
        if sql.startswith("INSERT"):
            self.connection.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        if sql == "ROLLBACK":
            raise sqlite3.OperationalError("cannot rollback - no transaction is active")
        return self.connection.execute(sql, *parameters)


def test_sqlite_error_is_not_masked_by_a_failing_rollback(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        real = ledger._connection
        ledger._connection = _FullDisk(real)
        try:
            with pytest.raises(LedgerError, match=r"ledger .*ledger.sqlite: database or disk is full$"):
                ledger.record_skip(T0, "image_stats", "no data")
        finally:
            ledger._connection = real
        assert ledger.attempts() == []


def test_start_numbers_the_attempts_of_each_job_and_finish_writes_the_gathered_facts(ledger: Ledger) -> None:
    ledger.record_skip(T0, "ch_segmentation", "no good-quality file for 193")
    first = ledger.start(T0, "ch_segmentation")
    ledger.finish(first, Outcome.FAILED, reason="boom", exit_status=1, command=["prog", "a"], stderr="e" * 5,
                  centers_file="/c/centers.txt", centers_before="A\n")
    failed = ledger.record_failure(T0, "ch_segmentation", "archive unavailable: timeout", inputs=["a.fits"])
    other = ledger.start(T1, "ch_segmentation")
    numbers = {record.id: record.attempt for record in ledger.attempts()}
    assert (numbers[first], numbers[failed], numbers[other]) == (2, 3, 1)
    record = ledger.latest(T0, "ch_segmentation")
    assert (record.outcome, record.reason, record.inputs) == (Outcome.FAILED, "archive unavailable: timeout",
                                                              ["a.fits"])
    (finished,) = [record for record in ledger.attempts() if record.id == first]
    assert finished.command == ["prog", "a"] and finished.exit_status == 1 and finished.stderr_tail == "eeeee"
    assert (finished.centers_file, finished.centers_before, finished.ended is not None) == (
        "/c/centers.txt", "A\n", True)
    with pytest.raises(TypeError, match="unknown attempt field.*: exit_code"):
        ledger.update(other, exit_code=3)
