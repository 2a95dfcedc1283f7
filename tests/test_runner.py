"""Tests of the shared run framework: command line, time steps, lock, retries, ledger rows, signals, exit status."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from spoca4staff.configuration import OperationsConfig
from job import JobError, TransientJobError
from spoca4staff.ledger import Ledger, Outcome
from spoca4staff.command_line import ExitStatus, add_run_arguments, config_path
from spoca4staff.entry_point import execute, status_report
from spoca4staff.job_runner import Runner, is_transient
from spoca4staff.run_lock import LockBusy, RunLock
from spoca4staff.time_window import UsageError, parse_date, select_time_steps, time_steps

REPO_ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 20, 0, 0)
HOURS6 = timedelta(hours=6)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test")
    add_run_arguments(parser)
    return parser


def _operations(tmp_path: Path, **overrides: object) -> OperationsConfig:
    settings = {"ledger": tmp_path / "ledger.sqlite", "lock_file": tmp_path / "run.lock", "retry_attempts": 3,
                "retry_initial_delay": 2.0, "retry_max_delay": 3.0, "job_timeout": 5.0}
    settings.update(overrides)
    return OperationsConfig(**settings)


class _Sleeps(list):
    """A recording no-op sleep."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- command line and time steps -------------------------------------------------------------------------


def test_parse_date_is_utc() -> None:
    assert parse_date("2026-03-20T06:00") == datetime(2026, 3, 20, 6)
    assert parse_date("2026-03-20T06:00:00Z") == datetime(2026, 3, 20, 6)
    assert parse_date("2026-03-20T08:00:00+02:00") == datetime(2026, 3, 20, 6)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_date("yesterday")


@pytest.mark.parametrize("module, arguments", [
    ("get_staff_stats", ["x.ini", "--start-date", "{date}"]),
    ("sdo_data", ["{date}", "171", "--aia-file-pattern", "a/{{wavelength}}.fits"]),
    ("scripts.get_calibrated_aia", ["--start-date", "{date}", "--output-dir", "out"]),
    ("scripts.make_synthetic_aia", ["out", "--start", "{date}", "--end", "{date}"]),
    ("scripts.plot_stats", ["-s", "x", "y.csv", "--start-date", "{date}"]),
])
def test_every_command_line_date_is_read_by_the_one_parser(module: str, arguments: list[str], capsys) -> None:
    """Each script's date option is :func:`time_window.parse_date`: same forms accepted, same message."""
    import importlib

    loaded = importlib.import_module(module)
    parser = loaded.build_parser() if hasattr(loaded, "build_parser") else loaded._parser()
    good = parser.parse_args([item.format(date="2026-03-20T08:00+02:00") for item in arguments])
    dates = [value for value in vars(good).values() if isinstance(value, datetime)]
    assert dates and all(date.replace(tzinfo=None) == datetime(2026, 3, 20, 6) for date in dates)
    with pytest.raises(SystemExit):
        parser.parse_args([item.format(date="yesterday") for item in arguments])
    assert "'yesterday' is not an ISO 8601 date, e.g. 2026-03-20T06:00:00" in capsys.readouterr().err


def test_config_positional_or_option(tmp_path: Path) -> None:
    parser = _parser()
    assert config_path(parser, parser.parse_args(["a.ini"])) == Path("a.ini")
    assert config_path(parser, parser.parse_args(["-c", "b.ini"])) == Path("b.ini")
    assert config_path(parser, parser.parse_args(["a.ini", "--config-file", "a.ini"])) == Path("a.ini")
    for argv in ([], ["a.ini", "-c", "b.ini"]):
        with pytest.raises(SystemExit) as exit_info:
            config_path(parser, parser.parse_args(argv))
        assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["a.ini", "--interval", "0"])
    assert exit_info.value.code == 2


def test_time_steps_are_half_open() -> None:
    assert time_steps(T0, T0 + timedelta(hours=18), HOURS6) == [T0, T0 + HOURS6, T0 + 2 * HOURS6]
    assert time_steps(T0, T0, HOURS6) == []


def test_window_with_dates_and_look_back() -> None:
    parser = _parser()
    args = parser.parse_args(["x.ini", "-s", "2026-03-20T00:00", "-e", "2026-03-20T13:00", "-i", "4"])
    assert select_time_steps(args, 48, 6) == [T0, T0 + timedelta(hours=4), T0 + timedelta(hours=8),
                                              T0 + timedelta(hours=12)]
    # Without --start-date: the look-back window ending now, on the interval's grid.
    now = datetime(2026, 3, 22, 13, 17)
    steps = select_time_steps(parser.parse_args(["x.ini"]), 48, 6, now=now)
    assert steps[0] == datetime(2026, 3, 20, 18) and steps[-1] == datetime(2026, 3, 22, 12)
    assert len(steps) == 8
    steps = select_time_steps(parser.parse_args(["x.ini", "-e", "2026-03-21T00:00"]), 12, 6, now=now)
    assert steps == [datetime(2026, 3, 20, 12), datetime(2026, 3, 20, 18)]


def test_transient_classification() -> None:
    assert is_transient(TransientJobError(["p"], -9))
    assert not is_transient(JobError(["p"], 1, "error"))
    assert is_transient(OSError(errno.ESTALE, "Stale file handle"))
    assert not is_transient(OSError("Empty or corrupt FITS file"))
    assert not is_transient(ValueError("x"))


# -- lock ----------------------------------------------------------------------------------------------------


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "run.lock"
    with RunLock(path):
        assert path.read_text().strip() == str(os.getpid())
        with pytest.raises(LockBusy, match=f"pid {os.getpid()}"):
            RunLock(path).acquire()
    with RunLock(path):
        pass


def test_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from spoca4staff.run_lock import RunLock; "
         "lock = RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(600)", str(path)],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusy):
            RunLock(path).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(path):
        pass


# -- jobs ----------------------------------------------------------------------------------------------------


def test_job_done_and_already_done(tmp_path: Path) -> None:
    calls = []
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path), sleep=_Sleeps())

        def work(attempt) -> None:
            calls.append(attempt.number)
            attempt.record(command=["prog", "x"], exit_status=0)

        assert runner.job(T0, "image_stats", work, inputs=["in.fits"], outputs=["out.csv"]) is Outcome.DONE
        assert runner.job(T0, "image_stats", work, is_complete=lambda: True) is Outcome.DONE
        assert calls == [1]
        forced = Runner(ledger, _operations(tmp_path), force=True, sleep=_Sleeps())
        assert forced.job(T0, "image_stats", work, is_complete=lambda: True) is Outcome.DONE
        assert calls == [1, 1]
        records = ledger.attempts()
    assert [record.outcome for record in records] == [Outcome.DONE, Outcome.DONE]
    assert [record.attempt for record in records] == [1, 2]
    assert records[0].inputs == ["in.fits"] and records[0].outputs == ["out.csv"]
    assert records[0].command == ["prog", "x"] and records[0].exit_status == 0
    assert runner.failures == 0


def test_deterministic_failure_is_not_retried(tmp_path: Path) -> None:
    sleeps = _Sleeps()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path), sleep=sleeps)

        def work(attempt) -> None:
            raise JobError(["prog", "a"], 1, "Error : bad image", "segmentation into x")

        assert runner.job(T0, "ch_segmentation", work) is Outcome.FAILED
        (record,) = ledger.attempts()
    assert sleeps == []
    assert runner.failures == 1
    assert record.outcome is Outcome.FAILED
    assert record.exit_status == 1
    assert record.stderr_tail == "Error : bad image"
    assert record.command == ["prog", "a"]
    assert "exited with status 1" in record.reason


def test_transient_failures_are_retried_with_exponential_back_off(tmp_path: Path) -> None:
    sleeps = _Sleeps()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path, retry_attempts=4), sleep=sleeps)

        def work(attempt) -> None:
            raise TransientJobError(["prog"], -9, "", f"attempt {attempt.number}")

        assert runner.job(T0, "ar_segmentation", work) is Outcome.FAILED
        records = ledger.attempts()
        # Transient, then success: two rows, done at the end.
        numbers = []

        def flaky(attempt) -> None:
            numbers.append(attempt.number)
            if attempt.number == 1:
                raise OSError(errno.ESTALE, "Stale file handle")

        assert runner.job(T0 + HOURS6, "ar_segmentation", flaky) is Outcome.DONE
        flaky_records = ledger.attempts(time_step=T0 + HOURS6)
    assert [record.outcome for record in records] == [Outcome.FAILED] * 4
    assert [record.exit_status for record in records] == [-9] * 4
    assert all("killed by signal SIGKILL" in record.reason for record in records)
    # initial delay 2 s, doubling, capped at 3 s; then 2 s before the flaky job's retry
    assert sleeps == [2.0, 3.0, 3.0, 2.0]
    assert numbers == [1, 2]
    assert [record.outcome for record in flaky_records] == [Outcome.FAILED, Outcome.DONE]
    assert runner.failures == 1


def test_skip_is_recorded_once(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path))
        for _ in range(2):
            assert runner.skip(T0, "image_stats", "no good-quality file for 171") is Outcome.SKIPPED
        runner.skip(T0, "image_stats", "no good-quality file for 193")
        assert [record.reason for record in ledger.attempts()] == ["no good-quality file for 171",
                                                                   "no good-quality file for 193"]


# -- whole runs ----------------------------------------------------------------------------------------------


def _run(tmp_path: Path, argv: list[str], process_step, **overrides: object) -> int:
    args = _parser().parse_args(["x.ini", *argv])
    return execute(args, _operations(tmp_path, **overrides), ["image_stats"], process_step, name="test",
                   output_directories=[tmp_path / "out"], sleep=_Sleeps())


def test_run_exit_statuses_and_rerun_failed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dates = ["-s", "2026-03-20T00:00", "-e", "2026-03-21T00:00"]
    broken = {T0 + HOURS6}
    seen: list[datetime] = []

    def process_step(step: datetime, runner: Runner) -> None:
        seen.append(step)
        if step == T0 + 2 * HOURS6:
            runner.skip(step, "image_stats", "no good-quality file for 171")
            return
        if step == T0 + 3 * HOURS6:
            raise RuntimeError("a bug in the step function")

        def work(attempt) -> None:
            if step in broken:
                raise JobError(["prog"], 1, "Error : corrupt", "")

        runner.job(step, "image_stats", work)

    assert _run(tmp_path, dates, process_step) == ExitStatus.JOB_FAILED
    assert seen == [T0 + k * HOURS6 for k in range(4)]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.failed_time_steps(["image_stats"]) == [T0 + HOURS6]
    assert _run(tmp_path, ["--status"], process_step) == ExitStatus.OK
    report = capsys.readouterr().out
    assert "failed" in report and "2026-03-20T06:00:00" in report and "Error : corrupt" in report
    # The failure is fixed: --rerun-failed runs exactly that step, and then nothing is left to rerun.
    broken.clear()
    seen.clear()
    assert _run(tmp_path, ["--rerun-failed"], process_step) == ExitStatus.OK
    assert seen == [T0 + HOURS6]
    seen.clear()
    assert _run(tmp_path, ["--rerun-failed"], process_step) == ExitStatus.OK
    assert seen == []
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert "no failure waiting for a rerun" in status_report(ledger, ["image_stats"])


def test_lock_busy_run_does_nothing(tmp_path: Path) -> None:
    def process_step(step: datetime, runner: Runner) -> None:
        raise AssertionError("must not run")

    with RunLock(tmp_path / "run.lock"):
        assert _run(tmp_path, ["-s", "2026-03-20T00:00", "-e", "2026-03-21T00:00"], process_step) == \
            ExitStatus.LOCK_BUSY
    assert not (tmp_path / "ledger.sqlite").exists()


def test_sigterm_stops_the_run_and_records_interrupted(tmp_path: Path) -> None:
    scratch = tmp_path / "out" / ".partial-test"
    scratch.mkdir(parents=True)
    (scratch / "left-over.fits").write_text("half")
    seen: list[datetime] = []

    def process_step(step: datetime, runner: Runner) -> None:
        seen.append(step)

        def work(attempt) -> None:
            partial = runner.scratch_directory(tmp_path / "out") / "partial.csv"
            partial.write_text("half written")
            os.kill(os.getpid(), signal.SIGTERM)

        runner.job(step, "image_stats", work)

    previous = signal.getsignal(signal.SIGTERM)
    status = _run(tmp_path, ["-s", "2026-03-20T00:00", "-e", "2026-03-21T00:00"], process_step)
    assert signal.getsignal(signal.SIGTERM) == previous
    assert status == ExitStatus.INTERRUPTED
    assert seen == [T0]
    assert not scratch.exists()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        (record,) = ledger.attempts()
    assert record.outcome is Outcome.INTERRUPTED and record.reason == "interrupted by SIGTERM"


def test_rows_of_a_dead_run_are_marked_interrupted(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.start(T0, "image_stats")
    assert _run(tmp_path, ["-s", "2026-03-20T00:00", "-e", "2026-03-20T01:00"], lambda step, runner: None) == \
        ExitStatus.OK
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        (record,) = ledger.attempts()
    assert record.outcome is Outcome.INTERRUPTED


class _Terminal:
    """A stand-in for a terminal on stderr: records what is written, says it is a tty."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path), name="bar-test")
        assert runner.run([T0, T0 + HOURS6], lambda step, runner: None) == ExitStatus.OK
        assert "bar-test" not in capsys.readouterr().err
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        assert runner.run([T0, T0 + HOURS6], lambda step, runner: None) == ExitStatus.OK
    assert "bar-test" in terminal.text and "2/2" in terminal.text


def test_log_file_is_appended(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "run.log"
    log_file.parent.mkdir()
    log_file.write_text("earlier line\n")
    script = ("import logging, sys; from spoca4staff.command_line import setup_logging; "
              "ok = setup_logging(False, __import__('pathlib').Path(sys.argv[1])); "
              "logging.getLogger('x').info('hello'); logging.getLogger('x').debug('hidden'); sys.exit(0 if ok else 2)")
    subprocess.run([sys.executable, "-c", script, str(log_file)], check=True, cwd=REPO_ROOT)
    lines = log_file.read_text().splitlines()
    assert lines[0] == "earlier line"
    assert len(lines) == 2 and lines[1].endswith("INFO x: hello")
    result = subprocess.run([sys.executable, "-c", script, str(REPO_ROOT), str(tmp_path)], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "cannot open the log file" in result.stderr


# -- faults of issue 12 ----------------------------------------------------------------------------------------


def test_read_only_file_system_and_full_disk_are_not_transient() -> None:
    assert not is_transient(OSError(errno.EROFS, "Read-only file system", "/data/x.csv"))
    assert not is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert is_transient(OSError(errno.ESTALE, "Stale file handle"))
    assert is_transient(OSError(errno.EIO, "Input/output error"))


def test_damaged_ledger_ends_the_run_and_status_in_one_line(tmp_path: Path, caplog) -> None:
    ledger = tmp_path / "ledger.sqlite"
    ledger.write_bytes(b"\0garbage" * 1000)
    seen: list[datetime] = []
    window = ["-s", "2026-03-20T00:00", "-e", "2026-03-20T12:00"]
    assert _run(tmp_path, window, lambda step, runner: seen.append(step)) == ExitStatus.JOB_FAILED
    assert seen == []
    for args in (window, ["--status"]):
        caplog.clear()
        if args == ["--status"]:
            status = execute(_parser().parse_args(["x.ini", "--status"]), _operations(tmp_path), ["image_stats"],
                             lambda step, runner: None, name="test")
            assert status == ExitStatus.JOB_FAILED
        else:
            _run(tmp_path, args, lambda step, runner: None)
        errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
        assert errors == [f"ledger {ledger} is damaged (file is not a database): move it aside (e.g. mv {ledger} "
                          f"{ledger}.damaged) and run again to start a new ledger; the damaged file keeps the "
                          "earlier records"]
    ledger.rename(tmp_path / "ledger.sqlite.damaged")  # the recovery the message gives
    assert _run(tmp_path, window, lambda step, runner: seen.append(step)) == ExitStatus.OK
    assert seen == [T0, T0 + HOURS6]


def test_read_only_lock_file_is_one_line_and_exit_1(tmp_path: Path, small_disk, caplog) -> None:
    small_disk.read_only()
    lock = small_disk.path / "run.lock"
    status = _run(tmp_path, ["-s", "2026-03-20T00:00", "-e", "2026-03-20T12:00"], lambda step, runner: None,
                  lock_file=lock)
    assert status == ExitStatus.JOB_FAILED
    assert [record.getMessage() for record in caplog.records if record.levelname == "ERROR"] == [
        f"cannot take the lock {lock}: Read-only file system; nothing done"]


def test_start_not_before_end_is_refused(tmp_path: Path) -> None:
    args = _parser().parse_args(["x.ini", "-s", "2026-03-20T06:00", "-e", "2026-03-20T06:00"])
    with pytest.raises(UsageError, match="--start-date 2026-03-20T06:00:00 is not before --end-date"):
        select_time_steps(args, 48, 6)
    args = _parser().parse_args(["x.ini", "-s", "2030-01-01"])
    with pytest.raises(UsageError, match="is not before now"):
        select_time_steps(args, 48, 6, now=datetime(2026, 3, 20))


def test_the_module_examples_run() -> None:
    """The examples of the run modules' docstrings (the entry point's is a whole script's main) really run."""
    import doctest
    import logging

    from spoca4staff import entry_point, time_window

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # run_script sets up the logging: put pytest's back
    try:
        for module in (entry_point, time_window):
            failed, tried = doctest.testmod(module, raise_on_error=False, report=True)
            assert tried > 5 if module is entry_point else tried >= 1
            assert failed == 0, f"{failed} of the {tried} examples of {module.__name__} failed"
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


# -- ledger transactions per attempt (issue 15) ----------------------------------------------------------------


def _count_commits(ledger: Ledger) -> list[str]:
    """The COMMIT statements run on ``ledger`` from now on (each is one synced write transaction)."""
    commits: list[str] = []
    ledger._connection.set_trace_callback(lambda sql: commits.append(sql) if sql.strip() == "COMMIT" else None)
    return commits


def _program(tmp_path: Path, status: int) -> list[str]:
    """A real program that writes a centres file and some stderr, then exits with ``status``."""
    return [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('171 42.0\\n'); "
            "sys.stderr.write('classified\\n'); sys.exit(int(sys.argv[2]))", str(tmp_path / "centers.new"),
            str(status)]


def _segmentation_work(tmp_path: Path, status: int, *, checkpoint: bool, seen: dict[str, object]):
    """The work of a segmentation attempt, in the order of get_staff_stats' ``_segment``: the centres history
    it starts from, the program, its result recorded, then the live centres file replaced."""
    live = tmp_path / "centers.txt"

    def work(attempt) -> None:
        attempt.record(centers_file=live, centers_before="")
        command = _program(tmp_path, status)
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        attempt.record(command=command)
        if run.returncode:
            raise JobError(command, run.returncode, run.stderr, "segmentation")
        after = (tmp_path / "centers.new").read_text()
        result = {"exit_status": run.returncode, "stderr": run.stderr, "centers_after": after, "centers_live": True}
        if checkpoint:
            attempt.commit(**result)
        else:  # get_staff_stats before it calls commit
            attempt.record(**result)
        with sqlite3.connect(tmp_path / "ledger.sqlite") as other:  # what a crash now would leave
            seen["before the install"] = other.execute(
                "SELECT centers_before, centers_after, centers_live, command FROM attempts WHERE id = ?",
                (attempt.row_id,)).fetchone()
        os.replace(tmp_path / "centers.new", live)

    return work


@pytest.mark.parametrize("checkpoint", [False, True], ids=["record", "commit"])
def test_a_segmentation_attempt_costs_three_transactions_and_is_in_the_ledger_before_the_install(
        tmp_path: Path, checkpoint: bool) -> None:
    seen: dict[str, object] = {}
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path), sleep=_Sleeps())
        commits = _count_commits(ledger)
        work = _segmentation_work(tmp_path, 0, checkpoint=checkpoint, seen=seen)
        assert runner.job(T0, "ch_segmentation", work, inputs=["a.fits"], outputs=["map.fits"]) is Outcome.DONE
        assert len(commits) == 3  # start, the result before the install, the end (five before issue 15)
        (record,) = ledger.attempts()
    before, after, live, command = seen["before the install"]
    assert (before, after, live) == ("", "171 42.0\n", 1) and json.loads(command)[0] == sys.executable
    assert (tmp_path / "centers.txt").read_text() == "171 42.0\n"
    assert record.outcome is Outcome.DONE and record.attempt == 1 and record.exit_status == 0
    assert record.stderr_tail == "classified\n" and record.centers_live and record.inputs == ["a.fits"]


def test_a_failed_attempt_costs_two_transactions_and_keeps_every_fact(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path), sleep=_Sleeps())
        commits = _count_commits(ledger)
        work = _segmentation_work(tmp_path, 3, checkpoint=True, seen={})
        assert runner.job(T0, "ch_segmentation", work) is Outcome.FAILED
        assert len(commits) == 2  # start, end
        assert runner.fail(T0 + HOURS6, "ch_segmentation", "archive unavailable: no answer") is Outcome.FAILED
        assert len(commits) == 3  # a job that cannot run: one finished row
        assert runner.job(T0 + HOURS6, "ch_segmentation", _segmentation_work(tmp_path, 0, checkpoint=True, seen={})
                          ) is Outcome.DONE
        first, outage, rerun = ledger.attempts()
    assert first.outcome is Outcome.FAILED and first.exit_status == 3 and first.stderr_tail == "classified\n"
    assert first.command[0] == sys.executable and first.centers_before == "" and first.centers_after is None
    assert (outage.attempt, outage.outcome, outage.reason) == (1, Outcome.FAILED, "archive unavailable: no answer")
    assert outage.ended is not None and rerun.attempt == 2 and rerun.outcome is Outcome.DONE


def test_an_unknown_attempt_field_is_refused_at_once(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path), sleep=_Sleeps())
        refused: list[str] = []

        def work(attempt) -> None:
            with pytest.raises(TypeError, match="unknown attempt field.*: exit_code"):
                attempt.record(exit_code=1)
            refused.append("yes")

        assert runner.job(T0, "image_stats", work) is Outcome.DONE
    assert refused == ["yes"]


# -- jobs at once ------------------------------------------------------------------------------------------------


def test_concurrent_calls_run_at_once_and_log_in_call_order(tmp_path: Path, caplog) -> None:
    """Both calls must be running together (each waits for the other at a barrier, which a sequential run would
    never pass), the results come back in order, and the log reads as a sequential run's: all of the first call's
    lines, then the second's."""
    import logging
    import threading

    barrier = threading.Barrier(2, timeout=20)
    logger = logging.getLogger("runner")

    def call(name: str) -> str:
        logger.info("%s starts", name)
        barrier.wait()
        logger.info("%s ends", name)
        return name.upper()

    with Ledger(tmp_path / "ledger.sqlite") as ledger, caplog.at_level(logging.INFO, logger="runner"):
        runner = Runner(ledger, _operations(tmp_path))
        assert runner.concurrently(lambda: call("ch"), lambda: call("ar")) == ["CH", "AR"]
    lines = [record.getMessage() for record in caplog.records if record.name == "runner"]
    assert lines == ["ch starts", "ch ends", "ar starts", "ar ends"]


def test_interruption_of_concurrent_jobs_kills_and_records_both(tmp_path: Path) -> None:
    """SIGTERM arrives in the main thread while another thread's job runs a real program: that program is
    killed and its attempt recorded as interrupted, not failed nor retried."""
    import threading
    import time

    from job import Job
    from spoca4staff.run_lock import RunInterrupted

    started = threading.Event()

    def sleeper(attempt) -> None:
        started.set()
        Job(sys.executable, ["-c", "import time; time.sleep(60)"]).run(timeout=120)

    def interrupted() -> None:
        started.wait(20)
        time.sleep(0.3)  # the other program is running
        raise RunInterrupted("SIGTERM")

    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        runner = Runner(ledger, _operations(tmp_path, retry_attempts=3), sleep=_Sleeps())
        began = time.monotonic()
        with pytest.raises(RunInterrupted):
            runner.concurrently(lambda: runner.job(T0, "ch_segmentation", sleeper), interrupted)
        assert time.monotonic() - began < 30, "the other thread's program was not killed"
        (attempt,) = ledger.attempts(time_step=T0, stage="ch_segmentation")
        assert attempt.outcome is Outcome.INTERRUPTED and attempt.reason == "interrupted by SIGTERM"
        assert runner.failures == 0
