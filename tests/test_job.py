"""Tests of job.py with real subprocesses: small Python programs generated in tmp_path."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from job import Job, JobError, JobResult, JobTimeoutError, TransientJobError

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_program(folder: Path, name: str, body: str) -> Path:
    """Write an executable Python program (run by the test interpreter, without a shell)."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport os, sys, time, signal, subprocess\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def process_is_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie waiting for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_command_puts_options_before_positionals(tmp_path):
    job = Job("prog", ["a.fits", Path("b.fits")], {"config": Path("x.config"), "verbose": None, "n": 3})
    assert job.command == ["prog", "--config", "x.config", "--verbose", "--n", "3", "a.fits", "b.fits"]
    assert Job("prog").command == ["prog"]


def test_arguments_reach_the_program_unchanged_without_a_shell(tmp_path):
    echo = make_program(tmp_path, "echo.py", "print('\\n'.join(sys.argv[1:]))\nsys.stderr.write('err text')")
    tricky = ["a b", "$HOME", "*", "x;rm -rf /", "'quoted'"]
    result = Job(echo, tricky, {"opt": "v w"}).execute(timeout=60)
    assert (result.exit_code, result.output, result.error) == (0, "\n".join(["--opt", "v w", *tricky]) + "\n",
                                                               "err text")


def test_a_run_is_timed_and_logged_at_debug(tmp_path, caplog):
    sleeper = make_program(tmp_path, "sleeper.py", "time.sleep(0.2)\nsys.exit(3)")
    before = time.time()
    with caplog.at_level("DEBUG", logger="job"):
        result = Job(sleeper).execute(timeout=60)
    after = time.time()
    assert result.exit_code == 3
    assert 0.2 <= result.seconds <= after - before
    lines = [record.getMessage() for record in caplog.records if "exited with status" in record.getMessage()]
    assert len(lines) == 1
    match = re.fullmatch(r"program sleeper\.py exited with status 3 after (\S+) s "
                         r"\(ran from (\S+) to (\S+), epoch seconds\)", lines[0])
    assert match, lines[0]
    seconds, start, end = (float(value) for value in match.groups())
    assert seconds == pytest.approx(result.seconds, abs=1e-3)
    assert before <= start < end <= after + 1e-6
    assert end - start == pytest.approx(result.seconds, abs=1e-5)


def test_a_result_built_by_hand_has_no_seconds():
    assert JobResult(0, "out", "err") == (0, "out", "err", 0.0)


def test_exit_status_and_message_of_a_crashing_program(tmp_path):
    crash = make_program(tmp_path, "crash.py", "sys.stderr.write('Error : Cannot find file nofile.fits\\n')\n"
                                               "sys.exit(1)")
    job = Job(crash, ["nofile.fits"])
    assert job.execute(timeout=60).exit_code == 1
    with pytest.raises(JobError) as caught:
        job.run(timeout=60, context="segmentation of step 2011-03-19T10:00")
    error = caught.value
    assert not isinstance(error, TransientJobError) and not error.transient
    assert error.exit_code == 1
    assert error.command == [str(crash), "nofile.fits"]
    assert "Cannot find file nofile.fits" in error.stderr
    message = str(error)
    assert "crash.py exited with status 1" in message
    assert "segmentation of step 2011-03-19T10:00" in message
    assert "Cannot find file nofile.fits" in message


def test_a_program_killed_by_a_signal_is_transient(tmp_path):
    killed = make_program(tmp_path, "killed.py", "os.kill(os.getpid(), signal.SIGKILL)")
    assert Job(killed).execute(timeout=60).exit_code == -signal.SIGKILL
    with pytest.raises(TransientJobError) as caught:
        Job(killed).run(timeout=60)
    assert caught.value.transient and caught.value.exit_code == -signal.SIGKILL
    assert "killed by signal SIGKILL" in str(caught.value)


def test_a_program_that_cannot_start_is_transient(tmp_path):
    with pytest.raises(TransientJobError) as caught:
        Job(tmp_path / "vanished.x").execute(timeout=60)
    assert caught.value.exit_code is None
    assert "could not start" in str(caught.value)


def test_timeout_kills_the_whole_process_group(tmp_path):
    pids = tmp_path / "pids"
    hang = make_program(tmp_path, "hang.py", f"""
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
sys.stderr.write("started\\n"); sys.stderr.flush()
time.sleep(600)""")
    with pytest.raises(JobTimeoutError) as caught:
        Job(hang).execute(timeout=5)
    error = caught.value
    assert error.transient and isinstance(error, TransientJobError)
    assert error.exit_code is None
    assert "timed out after 5 s" in str(error)
    assert "started" in error.stderr
    parent, child = (int(pid) for pid in pids.read_text().split())
    deadline = time.monotonic() + 30
    while not (process_is_gone(parent) and process_is_gone(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process_is_gone(parent)
    assert process_is_gone(child), "the grandchild survived the timeout"


def test_the_program_runs_in_its_own_session(tmp_path):
    sid = make_program(tmp_path, "sid.py", "print(os.getsid(0), os.getpgid(0), os.getpid())")
    session, group, pid = (int(value) for value in Job(sid).execute(timeout=60).output.split())
    assert session == group == pid
    assert session != os.getsid(0)


def test_interrupting_the_caller_kills_the_program(tmp_path):
    """An exception raised while waiting (as a SIGTERM handler would) kills the program's group first."""
    pids = tmp_path / "pid"
    hang = make_program(tmp_path, "hang.py", f"open({str(pids)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)")

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.alarm(4)
        with pytest.raises(Interrupted):
            Job(hang).execute(timeout=120)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    pid = int(pids.read_text())
    deadline = time.monotonic() + 30
    while not process_is_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process_is_gone(pid)


def test_script_prints_command_exit_code_output_and_error(tmp_path):
    program = make_program(tmp_path, "talk.py", "print('out', sys.argv[1]); sys.stderr.write('bad'); sys.exit(3)")
    completed = subprocess.run([sys.executable, str(REPO_ROOT / "job.py"), str(program), "--flag"],
                               capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 3
    assert f"command: {program} --flag" in completed.stdout
    assert "exit code: 3" in completed.stdout
    assert "out --flag" in completed.stdout
    assert "bad" in completed.stdout
