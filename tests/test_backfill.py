"""Tests of backfill.py: ranges run on a local Dask cluster give exactly the sequential results.

The exactness tests run the real SPoCA programs on a small generated archive, once without and once with
``--workers 2`` (a LocalCluster of two processes on 127.0.0.1), and compare every map, centres file and CSV
byte for byte; during one of the Dask runs a worker process is killed while it runs a classification. A
classification is slowed down, where a test needs it, by a wrapper that sleeps before running the real
program (the outputs do not depend on it). The failure tests use conftest's fake pipeline (``fake_pipeline``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest

import get_image_stats
import get_staff_stats
from spoca4staff.ledger import Ledger, Outcome
from scripts.make_synthetic_aia import make_archive

#: The first time step and the step of the archives (those of conftest's fake pipeline too).
T0 = datetime(2026, 3, 20, 0, 0)
STEP = timedelta(hours=6)
STEPS = 4
COMPARED = ("ch_maps", "ar_maps", "centers", "staff_stats", "image_stats")


def _slow(program: Path, folder: Path, seconds: float) -> Path:
    """A wrapper that waits, then runs ``program`` with the same arguments (in place of the wrapper)."""
    wrapper = folder / f"slow_{program.name}"
    wrapper.write_text(f'#!/bin/sh\nsleep {seconds}\nexec "{program}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


class RealRange:
    """An archive of STEPS time steps at 256 px and one output tree per run, all with the real programs."""

    def __init__(self, root: Path, programs: dict[str, Path], write_ini):
        self.root = root
        self.programs = programs
        self.write_ini = write_ini
        self.archive = root / "archive"
        make_archive(self.archive, T0, T0 + STEPS * STEP, STEP, (171, 193, 211), size=256, seed=5)

    def ini(self, name: str, ar_executable: Path | None = None, ch_executable: Path | None = None) -> Path:
        """The shared ini of the run ``name`` (outputs in ``root/name``), a program replaced by a wrapper if asked."""
        return self.write_ini(self.root / f"{name}.ini", {
            "CH_SEGMENTATION": {"executable": ch_executable or self.programs["ch_segmentation"]},
            "AR_SEGMENTATION": {"executable": ar_executable or self.programs["ar_segmentation"]},
            "OPERATIONS": {"retry_attempts": 2, "retry_initial_delay": 0, "job_timeout": 120},
            "IMAGE_STATS": {"wavelengths": (171, 193, 211)},
        }, archive=self.archive, output=self.root / name)

    @staticmethod
    def argv(ini: Path, *extra: str) -> list[str]:
        return [str(ini), "-s", T0.isoformat(), "-e", (T0 + STEPS * STEP).isoformat(), *extra]

    def outputs(self, name: str) -> dict[str, bytes]:
        """Every compared output of a run, by path relative to its tree."""
        tree = self.root / name
        files = {}
        for folder in COMPARED:
            for path in sorted((tree / folder).rglob("*")):
                if path.is_file():
                    files[str(path.relative_to(tree))] = path.read_bytes()
        return files

    def attempts(self, name: str, stage: str | None = None):
        with Ledger(self.root / name / "spoca4staff.ledger.sqlite") as ledger:
            return ledger.attempts(stage=stage)


@pytest.fixture
def real_range(tmp_path: Path, spoca_programs: dict[str, Path], write_ini) -> RealRange:
    return RealRange(tmp_path, spoca_programs, write_ini)


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the Dask worker process that runs the first ``marker`` program it sees."""

    def __init__(self, marker: str):
        super().__init__(daemon=True)
        self.marker = marker
        self.killed: list[int] = []
        self.finished = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.finished.is_set() and not self.killed:
            for process in me.children(recursive=True):
                try:
                    if any(self.marker in part for part in process.cmdline()):
                        worker = process.parent()
                        worker.send_signal(signal.SIGKILL)
                        self.killed.append(worker.pid)
                        return
                except psutil.Error:
                    continue
            time.sleep(0.05)


def test_backfill_is_byte_identical_to_the_sequential_run_with_a_worker_killed(real_range: RealRange) -> None:
    sequential = real_range.ini("sequential")
    assert get_staff_stats.main(real_range.argv(sequential)) == 0
    assert get_image_stats.main(real_range.argv(sequential)) == 0

    slow_ar = _slow(real_range.programs["ar_segmentation"], real_range.root, 1.0)
    dask = real_range.ini("dask", ar_executable=slow_ar)
    killer = WorkerKiller(slow_ar.name)
    killer.start()
    try:
        assert get_staff_stats.main(real_range.argv(dask, "--workers", "2")) == 0
    finally:
        killer.finished.set()
        killer.join()
    assert killer.killed, "no worker was killed: the fault was not injected"
    assert not psutil.pid_exists(killer.killed[0]) or psutil.Process(killer.killed[0]).status() == "zombie"
    assert get_image_stats.main(real_range.argv(dask, "--workers", "2")) == 0

    expected, got = real_range.outputs("sequential"), real_range.outputs("dask")
    assert len([name for name in expected if name.startswith("staff_stats")]) == STEPS * 2
    assert len([name for name in expected if name.startswith("image_stats")]) == STEPS * 3
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
    # One coordinator, one attempt per job: the task of the killed worker was run again by Dask, not the job.
    records = real_range.attempts("dask")
    assert len(records) == STEPS * 4 and all(record.outcome is Outcome.DONE for record in records)
    with sqlite3.connect(real_range.root / "dask" / "spoca4staff.ledger.sqlite") as connection:
        assert connection.execute("SELECT DISTINCT pid FROM attempts").fetchall() == [(os.getpid(),)]
    assert not [path for path in (real_range.root / "dask").rglob("*") if "partial" in path.name]


def _overlapping(records) -> bool:
    spans = sorted((record.started, record.ended) for record in records)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_forced_reprocessing_runs_every_step_from_its_recorded_history(real_range: RealRange, capsys) -> None:
    for name in ("sequential", "dask"):
        assert get_staff_stats.main(real_range.argv(real_range.ini(name))) == 0
    assert get_staff_stats.main(real_range.argv(real_range.ini("sequential"), "--force")) == 0
    slow_ch = _slow(real_range.programs["ch_segmentation"], real_range.root, 0.5)
    capsys.readouterr()
    assert get_staff_stats.main(real_range.argv(real_range.ini("dask", ch_executable=slow_ch),
                                                "--force", "--workers", "2")) == 0
    log = capsys.readouterr().err
    assert "ch_segmentation: every step starts from its recorded centres history: 4 step(s) in parallel" in log
    assert "ar_segmentation: every step starts from its recorded centres history" in log
    assert "dashboard http://127.0.0.1:" in log
    expected, got = real_range.outputs("sequential"), real_range.outputs("dask")
    assert sorted(got) == sorted(expected) and [name for name in expected if got[name] != expected[name]] == []
    forced = sorted(real_range.attempts("dask", "ch_segmentation")[STEPS:], key=lambda record: record.time_step)
    first = real_range.attempts("dask", "ch_segmentation")[:STEPS]
    assert len(forced) == STEPS and all(record.outcome is Outcome.DONE for record in forced)
    assert [record.centers_before for record in forced] == [record.centers_before for record in first]
    assert [record.centers_live for record in forced] == [False] * (STEPS - 1) + [True]
    assert _overlapping(forced), "the forced classifications did not run at the same time"


def test_a_failed_classification_ends_its_chain_and_a_rerun_completes_it(fake_pipeline) -> None:
    setup = fake_pipeline(steps=4)
    setup.behave(ch_segmentation={"20260320_060000": "crash"})
    assert setup.run("--workers", "2") == 1
    outcomes = {(record.time_step, record.stage): record for record in setup.attempts()}
    steps = setup.steps()
    assert outcomes[steps[0], "ch_segmentation"].outcome is Outcome.DONE
    assert "synthetic crash" in outcomes[steps[1], "ch_segmentation"].stderr_tail
    for step in steps[2:]:
        record = outcomes[step, "ch_segmentation"]
        assert record.outcome is Outcome.FAILED
        assert record.reason.startswith("not run: the ch_segmentation of 2026-03-20T06:00:00 failed")
        assert outcomes[step, "staff_stats"].reason == "missing input: no CH map"
    assert all(outcomes[step, "ar_segmentation"].outcome is Outcome.DONE for step in steps)
    assert (setup.output / "centers" / "ch_centers.txt").read_text() == "step=20260320_000000\n"
    setup.behave()
    assert get_staff_stats.main([str(setup.ini), "--rerun-failed", "--workers", "2"]) == 0
    for step in steps:
        setup.assert_complete(step)
    # The chain went on in time order: the history of a clean run.
    assert (setup.output / "centers" / "ch_centers.txt").read_text() == "".join(
        f"step={step:%Y%m%d_%H%M%S}\n" for step in reversed(steps))
    assert setup.leftovers() == []


def test_command_line_of_the_cluster_options(tmp_path: Path, capsys) -> None:
    ini = tmp_path / "any.ini"
    for extra in (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], ["--workers", "0"], ["--workers", "x"]):
        with pytest.raises(SystemExit) as exit_status:
            get_staff_stats.build_parser().parse_args([str(ini), *extra])
        assert exit_status.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert get_image_stats.build_parser().parse_args([str(ini), "--workers"]).workers == 0
    args = get_staff_stats.build_parser().parse_args([str(ini), "--scheduler", "tcp://10.0.0.5:8786"])
    assert (args.workers, args.scheduler) == (None, "tcp://10.0.0.5:8786")


def test_unreachable_scheduler_is_one_line_and_exit_1(fake_pipeline, capsys) -> None:
    import dask

    setup = fake_pipeline(steps=1)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert setup.run("--scheduler", "tcp://127.0.0.1:9") == 1
    error = capsys.readouterr().err
    assert "cannot start the Dask client on tcp://127.0.0.1:9" in error
    assert "Traceback" not in error
    assert setup.attempts() == []


def test_sigterm_stops_the_programs_on_the_workers(fake_pipeline) -> None:
    setup = fake_pipeline(steps=2)
    setup.behave(ar_segmentation={"20260320_000000": "pause"})
    marker = setup.fakes / "ar_segmentation.20260320_000000.pid"
    run = setup.spawn("--workers", "2")
    try:
        paused = setup.wait_for(marker, run, seconds=180)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=120)
        assert run.returncode == 130, err
        assert not psutil.pid_exists(paused) or psutil.Process(paused).status() == "zombie"
    finally:
        run.kill()
        if marker.exists() and psutil.pid_exists(int(marker.read_text())):
            os.kill(int(marker.read_text()), signal.SIGKILL)
    interrupted = setup.attempts(T0, "ar_segmentation")[-1]
    assert (interrupted.outcome, interrupted.reason) == (Outcome.INTERRUPTED, "interrupted by SIGTERM")
    assert not setup.ar_map(T0).exists()
    assert setup.leftovers() == []


def test_coordinator_killed_then_restart_completes_the_range(fake_pipeline) -> None:
    setup = fake_pipeline(steps=3)
    setup.behave(staff_stats={"20260320_060000": "pause"})
    marker = setup.fakes / "staff_stats.20260320_060000.pid"
    run = setup.spawn("--workers", "2")
    try:
        setup.wait_for(marker, run, seconds=180)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    finally:
        run.kill()
        if marker.exists() and psutil.pid_exists(int(marker.read_text())):
            os.kill(int(marker.read_text()), signal.SIGKILL)
    setup.behave()
    assert setup.run("--workers", "2") == 0
    for step in setup.steps():
        setup.assert_complete(step)
    assert setup.leftovers() == []
    assert [record.outcome for record in setup.attempts(T0 + STEP, "staff_stats")] == [
        Outcome.INTERRUPTED, Outcome.DONE]
    for stage in ("ch_segmentation", "ar_segmentation"):
        assert sorted(record.time_step for record in setup.attempts(stage=stage)
                      if record.outcome is Outcome.DONE) == setup.steps()
    assert (setup.output / "centers" / "ar_centers.txt").read_text() == \
        "step=20260320_120000\nstep=20260320_060000\nstep=20260320_000000\n"
