"""Tests of get_staff_stats.py: the jobs of a time step, and the faults of issue 6 injected with fake programs.

The fake SPoCA programs, their archive and ini are conftest's ``fake_pipeline`` (:class:`conftest.FakePipeline`):
what each fake does at a time step is set with ``setup.behave(ch_segmentation={"20260320_060000": "crash"})``
(``ok``, ``crash``, ``hang``, ``pause``, ``nooutput``, ``killed``). The fake segmentation behaves like the real
one with its centres file: it starts from the first line, writes the map with the history it started from in
its header (``STARTED``) and prepends its own line to the file. An end-to-end test runs the real programs on a
generated archive.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import get_staff_stats
from spoca4staff.ledger import Ledger, Outcome
from scripts.make_synthetic_aia import archive_path, make_archive, observation_time, write_aia_file

#: The first time step and the step of the fake pipeline's archive (conftest's FAKE_START and FAKE_STEP).
REPO_ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 20, 0, 0)
STEP = timedelta(hours=6)
STAGES = ("ch_segmentation", "ar_segmentation", "staff_stats")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill(pid_file: Path) -> None:
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


# -- normal runs -----------------------------------------------------------------------------------------


def test_run_makes_every_output_and_a_second_run_skips_them(fake_pipeline, capsys) -> None:
    setup = fake_pipeline()
    assert setup.run() == 0
    for step in setup.steps():
        setup.assert_complete(step)
    records = setup.attempts()
    # One attempt per job; the two segmentations of a step run at once, so their rows come in either order.
    assert sorted((record.time_step, STAGES.index(record.stage)) for record in records) == [
        (step, index) for step in setup.steps() for index in range(len(STAGES))]
    assert all(record.outcome is Outcome.DONE for record in records)
    ch = setup.attempts(T0, "ch_segmentation")[0]
    assert ch.inputs == [str(archive_path(setup.archive, observation_time(T0, 193), 193))]
    assert ch.outputs == [str(setup.ch_map(T0))]
    assert ch.command[0].endswith("ch_segmentation.x") and "--centersFile" in ch.command
    assert ch.exit_status == 0
    staff = setup.attempts(T0, "staff_stats")[0]
    # The CH map goes first to get_STAFF_stats.x.
    positionals = staff.command[staff.command.index("--output") + 2:]
    assert positionals[:2] == [str(setup.ch_map(T0)), str(setup.ar_map(T0))]
    log = capsys.readouterr().err
    assert "2026-03-20T06:00:00 ar_segmentation: done in" in log
    # Chronological history: the live file holds the steps newest first, each map started from the previous.
    centers = (setup.output / "centers" / "ch_centers.txt").read_text()
    assert centers == "step=20260320_120000\nstep=20260320_060000\nstep=20260320_000000\n"
    assert fits.getval(setup.ch_map(T0 + 2 * STEP), "STARTED", extname="SegmentedMap") == "step=20260320_060000"
    assert setup.leftovers() == []
    # Again: nothing is recomputed and nothing is added to the ledger.
    stamps = {path: path.stat().st_mtime_ns for path in setup.output.rglob("*.fits")}
    assert setup.run("--verbose") == 0
    assert "2026-03-20T12:00:00 staff_stats: already done, skipped" in capsys.readouterr().err
    assert len(setup.attempts()) == len(records)
    assert {path: path.stat().st_mtime_ns for path in setup.output.rglob("*.fits")} == stamps
    # --force recomputes one step.
    assert setup.run("-s", "2026-03-20T06:00", "-e", "2026-03-20T07:00", "--force") == 0
    assert len(setup.attempts()) == len(records) + 3
    # A map lost: it is made again, and so are the statistics that depend on it; the AR map is kept.
    setup.ch_map(T0).unlink()
    assert setup.run() == 0
    assert [(record.time_step, record.stage) for record in setup.attempts()[len(records) + 3:]] == [
        (T0, "ch_segmentation"), (T0, "staff_stats")]
    setup.assert_complete(T0)


#: What a run on a local archive without a terminal never needs: the remote archive's HTTP stack, the progress
#: bar, Dask and matplotlib (overlays). They are imported where they are used, not with the scripts.
_NOT_FOR_A_LOCAL_RUN = {"requests", "spoca4staff.remote_archive", "tqdm", "dask", "distributed",
                        "spoca4staff.backfill", "matplotlib", "spoca4staff.overlay"}


def _modules_loaded(code: str, *argv: str, cwd: Path = REPO_ROOT) -> set[str]:
    """The modules in ``sys.modules`` when a ``python -c code`` process exits (printed by an atexit handler)."""
    script = f"import atexit, sys; atexit.register(lambda: print(*sorted(sys.modules))); {code}"
    result = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=cwd,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_importing_the_scripts_leaves_out_what_a_run_may_not_need() -> None:
    loaded = _modules_loaded("import get_staff_stats, get_image_stats")
    assert {"get_staff_stats", "get_image_stats", "sdo_data", "spoca4staff.job_runner"} <= loaded
    # Nor the retries (tenacity, and the tornado it pulls in): not before a job is attempted.
    assert not loaded & (_NOT_FOR_A_LOCAL_RUN | {"tenacity", "tornado"})


def test_a_local_run_as_a_script_imports_no_http_stack_and_exits_normally(fake_pipeline) -> None:
    setup = fake_pipeline(steps=1)
    log_file = setup.root / "run.log"
    run = ("import runpy; sys.argv[0] = sys.argv[1]; del sys.argv[1]; "
           "runpy.run_path(sys.argv[0], run_name='__main__')")
    loaded = _modules_loaded(run, str(REPO_ROOT / "get_staff_stats.py"), *setup.argv("--log-file", str(log_file)),
                             cwd=setup.root)
    setup.assert_complete(T0)
    # Every job succeeded at its first attempt: the retries' tenacity (and the asyncio it imports) never loaded.
    assert not loaded & (_NOT_FOR_A_LOCAL_RUN | {"tenacity", "tornado", "asyncio"})
    # The atexit handlers ran (the modules were printed), the log file was flushed and closed.
    assert "get_staff_stats: summary: 3 done, 0 skipped, 0 failed" in log_file.read_text()


def _timed_run(setup, log: Path, *jobs: str) -> list[tuple[float, float]]:
    """Run ``setup``'s pipeline with its log in ``log``; return the (start, end) times of the fake programs of
    ``jobs`` (``stage.YYYYmmdd_HHMMSS``, whose behaviour is "timed")."""
    run = setup.spawn("--log-file", str(log))
    assert run.wait(timeout=300) == 0, run.communicate()
    times = [(setup.fakes / f"{job}.times").read_text().split() for job in jobs]
    return [(float(start), float(end)) for start, end in times]


def _run_again_on_one_core(setup) -> None:
    """Remove the outputs of ``setup``'s run and run it again, with the programs behaving normally, pinned to one
    core: every job one after the other."""
    shutil.rmtree(setup.output)
    setup.behave()
    one_core = subprocess.run([sys.executable, str(REPO_ROOT / "get_staff_stats.py"), *setup.argv()],
                              preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
                              capture_output=True, text=True, timeout=300, check=False)
    assert one_core.returncode == 0, one_core.stderr


def test_the_two_segmentations_of_a_step_run_at_once_with_the_log_in_order(fake_pipeline, tmp_path) -> None:
    """On two cores the CH and AR programs of a step run together (their run times overlap), the log still reads
    CH then AR, and the outputs are those of a run on one core, where they run one after the other."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    setup = fake_pipeline(steps=1)
    setup.behave(ch_segmentation={"20260320_000000": "timed"}, ar_segmentation={"20260320_000000": "timed"})
    log = tmp_path / "run.log"
    ch, ar = _timed_run(setup, log, "ch_segmentation.20260320_000000", "ar_segmentation.20260320_000000")
    assert ch[0] < ar[1] and ar[0] < ch[1], "the two segmentations did not overlap"
    stages = [stage for line in log.read_text().splitlines() for stage in STAGES[:2] if f" {stage}" in line]
    assert "ch_segmentation" in stages and "ar_segmentation" in stages
    assert stages == sorted(stages, key=STAGES.index), f"the CH lines first, then the AR lines: {stages}"
    maps = {path.relative_to(setup.output): path.read_bytes() for path in setup.output.rglob("*.fits")}
    centers = {path.name: path.read_text() for path in (setup.output / "centers").iterdir()}
    _run_again_on_one_core(setup)  # one segmentation after the other: the same outputs
    assert {path.relative_to(setup.output): path.read_bytes() for path in setup.output.rglob("*.fits")} == maps
    assert {path.name: path.read_text() for path in (setup.output / "centers").iterdir()} == centers


def test_the_staff_statistics_of_a_step_run_with_the_next_steps_segmentations(fake_pipeline, tmp_path) -> None:
    """On two cores the STAFF statistics of a step run with the next step's segmentations (their run times
    overlap); the log reads as a run one job after the other, and the CSVs and ledger are those of a run on one
    core."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    setup = fake_pipeline(steps=2)
    setup.behave(staff_stats={"20260320_000000": "timed"}, ch_segmentation={"20260320_060000": "timed"})
    log = tmp_path / "run.log"
    staff, ch = _timed_run(setup, log, "staff_stats.20260320_000000", "ch_segmentation.20260320_060000")
    assert staff[0] < ch[1] and ch[0] < staff[1], "the STAFF statistics did not overlap the next step"
    jobs = re.findall(r" runner: (2026-03-20T\S+ \w+): done in ", log.read_text())
    assert jobs == [f"2026-03-20T{hour}:00 {stage}" for hour in ("00:00", "06:00") for stage in STAGES], jobs
    outcomes = sorted((r.time_step, r.stage, r.outcome.value) for r in setup.attempts())
    csvs = {path.name: path.read_bytes() for path in (setup.output / "staff_stats").iterdir()}
    _run_again_on_one_core(setup)
    assert sorted((r.time_step, r.stage, r.outcome.value) for r in setup.attempts()) == outcomes
    assert {path.name: path.read_bytes() for path in (setup.output / "staff_stats").iterdir()} == csvs
    assert len(csvs) == 4


def test_missing_files_skip_only_what_needs_them(fake_pipeline) -> None:
    setup = fake_pipeline(steps=2, missing=[(T0, 211), (T0 + STEP, 171)], staff_wavelengths=(171, 193, 211))
    assert get_staff_stats.main(["--config-file", *setup.argv()]) == 0
    # No 211 at 00:00: the statistics of the other wavelengths are computed.
    for path in setup.csvs(T0, (171, 193)):
        setup.outputs.staff_csv(path)
    assert not setup.csvs(T0, (211,))[0].exists()
    staff, = setup.attempts(T0, "staff_stats")
    assert staff.outcome is Outcome.DONE and len(staff.outputs) == 2
    # No 171 at 06:00: the CH map is made all the same, not the AR map nor the statistics.
    setup.outputs.segmentation_map(setup.ch_map(T0 + STEP))
    assert not setup.ar_map(T0 + STEP).exists()
    ar, = setup.attempts(T0 + STEP, "ar_segmentation")
    staff, = setup.attempts(T0 + STEP, "staff_stats")
    assert ar.outcome is Outcome.SKIPPED and ar.reason.startswith("no good-quality file for 171 (no file matches")
    assert (staff.outcome, staff.reason) == (Outcome.SKIPPED, "missing input: no AR map")
    assert not any(path.exists() for path in setup.csvs(T0 + STEP))
    assert setup.leftovers() == []


def test_corrupt_file_in_the_archive_skips_only_its_step(fake_pipeline) -> None:
    setup = fake_pipeline()
    archive_path(setup.archive, observation_time(T0 + STEP, 193), 193).write_bytes(b"SIMPLE  = garbage" * 100)
    assert setup.run() == 0
    setup.assert_complete(T0)
    setup.assert_complete(T0 + 2 * STEP)
    for stage in ("ch_segmentation", "ar_segmentation"):
        record, = setup.attempts(T0 + STEP, stage)
        assert record.outcome is Outcome.SKIPPED
        assert record.reason.startswith("no good-quality file for 193 (AIA20260320_06")
        assert "unreadable" in record.reason
    assert not setup.ch_map(T0 + STEP).exists()


def test_configuration_error_exits_2_before_any_job(tmp_path: Path, fake_pipeline, capsys) -> None:
    setup = fake_pipeline()
    setup.write_ini({"AR_SEGMENTATION": {"executable": tmp_path / "missing.x"}})
    assert setup.run() == 2
    error = capsys.readouterr().err
    assert "[AR_SEGMENTATION] executable" in error and str(setup.ini) in error
    assert not (setup.output / "spoca4staff.ledger.sqlite").exists()


# -- injected faults ---------------------------------------------------------------------------------------


def test_crash_and_missing_output_fail_their_step_only(fake_pipeline) -> None:
    setup = fake_pipeline()
    setup.behave(ch_segmentation={"20260320_060000": "crash"}, ar_segmentation={"20260320_000000": "nooutput"})
    assert setup.run() == 1
    crash, = setup.attempts(T0 + STEP, "ch_segmentation")  # deterministic: not retried
    assert crash.outcome is Outcome.FAILED and crash.exit_status == 1
    assert "synthetic crash" in crash.stderr_tail and "exited with status 1" in crash.reason
    silent, = setup.attempts(T0, "ar_segmentation")
    assert silent.outcome is Outcome.FAILED and "was not written" in silent.reason
    assert not setup.ch_map(T0 + STEP).exists() and not setup.ar_map(T0).exists()
    setup.outputs.segmentation_map(setup.ch_map(T0))
    setup.outputs.segmentation_map(setup.ar_map(T0 + STEP))
    for step in (T0, T0 + STEP):
        staff, = setup.attempts(step, "staff_stats")
        assert staff.outcome is Outcome.SKIPPED and staff.reason.startswith("missing input")
    setup.assert_complete(T0 + 2 * STEP)
    # The failed centres runs left the live history alone.
    assert (setup.output / "centers" / "ch_centers.txt").read_text() == \
        "step=20260320_120000\nstep=20260320_000000\n"
    assert setup.leftovers() == []


def test_hanging_and_killed_programs_are_retried_then_fail(fake_pipeline) -> None:
    # 5 s: enough for the fakes that work (they import astropy) on a loaded machine, short for the one that hangs.
    setup = fake_pipeline(steps=2, operations={"job_timeout": 5})
    setup.behave(ch_segmentation={"20260320_000000": "hang"}, staff_stats={"20260320_060000": "killed"})
    try:
        assert setup.run() == 1
        hung = setup.attempts(T0, "ch_segmentation")
        assert [record.outcome for record in hung] == [Outcome.FAILED, Outcome.FAILED]
        assert all("timed out after 5 s" in record.reason for record in hung)
        assert not _alive(int((setup.fakes / "ch_segmentation.20260320_000000.pid").read_text()))
        killed = setup.attempts(T0 + STEP, "staff_stats")
        assert [record.outcome for record in killed] == [Outcome.FAILED, Outcome.FAILED]
        assert all(record.exit_status == -signal.SIGKILL for record in killed)
        assert not any(path.exists() for path in setup.csvs(T0 + STEP))
        setup.outputs.segmentation_map(setup.ar_map(T0))
        assert setup.leftovers() == []
    finally:
        _kill(setup.fakes / "ch_segmentation.20260320_000000.pid")


def test_rerun_of_an_old_failed_step_uses_its_recorded_history(fake_pipeline, capsys) -> None:
    setup = fake_pipeline()
    setup.behave(ch_segmentation={"20260320_060000": "crash"})
    assert setup.run() == 1
    live = setup.output / "centers" / "ch_centers.txt"
    assert live.read_text() == "step=20260320_120000\nstep=20260320_000000\n"
    live_before = live.read_bytes()
    assert get_staff_stats.main([str(setup.ini), "--status"]) == 0
    report = capsys.readouterr().out
    assert "2026-03-20T06:00:00  ch_segmentation" in report and "synthetic crash" in report
    setup.behave()
    assert get_staff_stats.main([str(setup.ini), "--rerun-failed"]) == 0
    assert live.read_bytes() == live_before
    setup.assert_complete(T0 + STEP)
    # The rerun started from the history the step saw the first time: the result of 00:00 only.
    assert fits.getval(setup.ch_map(T0 + STEP), "STARTED", extname="SegmentedMap") == "step=20260320_000000"
    assert fits.getval(setup.ch_map(T0 + STEP), "DEPTH", extname="SegmentedMap") == 1
    failed, rerun = setup.attempts(T0 + STEP, "ch_segmentation")
    assert failed.outcome is Outcome.FAILED and rerun.outcome is Outcome.DONE
    assert rerun.centers_before == failed.centers_before == "step=20260320_000000\n"
    assert rerun.centers_after == "step=20260320_060000\nstep=20260320_000000\n"
    assert not rerun.centers_live
    with Ledger(setup.output / "spoca4staff.ledger.sqlite") as ledger:
        assert ledger.failed_time_steps(STAGES) == []
    assert setup.leftovers() == []


def test_two_runs_at_once_and_sigterm(fake_pipeline) -> None:
    setup = fake_pipeline(steps=2)
    setup.behave(ar_segmentation={"20260320_000000": "pause"})
    marker = setup.fakes / "ar_segmentation.20260320_000000.pid"
    first = setup.spawn()
    try:
        paused_pid = setup.wait_for(marker, first)
        # The CH segmentation runs beside the paused AR one: on a slow machine it may not be done yet.
        setup.wait_until_done(T0, "ch_segmentation", first)
        second = setup.spawn()
        out, err = second.communicate(timeout=120)
        assert second.returncode == 3
        assert "another run holds the lock" in err and err.count("\n") == 1
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
        assert first.returncode == 130, err
        assert "%|" not in err, "no progress bar when stderr is not a terminal"
        assert not _alive(paused_pid)
    finally:
        first.kill()
        _kill(marker)
    interrupted = setup.attempts(T0, "ar_segmentation")[-1]
    assert interrupted.outcome is Outcome.INTERRUPTED and interrupted.reason == "interrupted by SIGTERM"
    setup.outputs.segmentation_map(setup.ch_map(T0))
    assert not setup.ar_map(T0).exists()
    assert setup.attempts(T0 + STEP) == []
    assert setup.leftovers() == []
    assert not (setup.output / "centers" / "ar_centers.txt").exists()


def test_sigkill_in_the_middle_then_restart_completes_without_duplicates(fake_pipeline) -> None:
    setup = fake_pipeline()
    setup.behave(staff_stats={"20260320_060000": "pause"})
    marker = setup.fakes / "staff_stats.20260320_060000.pid"
    first = setup.spawn()
    try:
        setup.wait_for(marker, first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        first.kill()
        _kill(marker)
    setup.behave()
    assert setup.run() == 0
    for step in setup.steps():
        setup.assert_complete(step)
    assert setup.leftovers() == []
    assert len(list((setup.output / "staff_stats").iterdir())) == 2 * len(setup.steps())
    staff = setup.attempts(T0 + STEP, "staff_stats")
    assert [record.outcome for record in staff] == [Outcome.INTERRUPTED, Outcome.DONE]
    # Each map was made once: the restart did not redo the steps already done. It redid only what was under way
    # at the kill: with two cores, the next step's segmentations run beside the paused STAFF statistics.
    for stage in ("ch_segmentation", "ar_segmentation"):
        attempts = setup.attempts(stage=stage)
        assert [record.time_step for record in attempts if record.outcome is Outcome.DONE] == setup.steps()
        assert {record.time_step for record in attempts if record.outcome is not Outcome.DONE} <= {T0 + 2 * STEP}
    assert (setup.output / "centers" / "ar_centers.txt").read_text() == \
        "step=20260320_120000\nstep=20260320_060000\nstep=20260320_000000\n"


# -- faults of issue 12 ----------------------------------------------------------------------------------------


def test_archive_outage_fails_the_jobs_and_rerun_failed_completes_them(fake_pipeline, capsys) -> None:
    setup = fake_pipeline(steps=2)
    unmounted = setup.root / "unmounted"
    setup.archive.rename(unmounted)  # the share is not mounted: its root folder is missing
    assert setup.run() == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"2026-03-20T00:00:00 ch_segmentation: failed: archive unavailable: the archive root {setup.archive} " \
           "cannot be listed (No such file or directory)" in err
    records = setup.attempts()
    assert {(record.stage, record.outcome) for record in records} == {
        ("ch_segmentation", Outcome.FAILED), ("ar_segmentation", Outcome.FAILED), ("staff_stats", Outcome.SKIPPED)}
    assert all(record.reason.startswith("archive unavailable: ") for record in records
               if record.outcome is Outcome.FAILED)
    assert get_staff_stats.main([str(setup.ini), "--status"]) == 0
    report = capsys.readouterr().out
    assert "ARCHIVE OUTAGE: 4 job(s) failed because the archive could not be read" in report
    assert not any(setup.output.rglob("*.fits")) and not (setup.output / "centers" / "ch_centers.txt").exists()
    # The share is back: the failed steps are rerun and complete.
    unmounted.rename(setup.archive)
    assert get_staff_stats.main([str(setup.ini), "--rerun-failed"]) == 0
    for step in setup.steps():
        setup.assert_complete(step)
    assert (setup.output / "centers" / "ch_centers.txt").read_text() == \
        "step=20260320_060000\nstep=20260320_000000\n"


def test_missing_day_is_no_data_and_a_window_without_any_data_is_a_warning(fake_pipeline, capsys) -> None:
    setup = fake_pipeline(steps=1)
    assert get_staff_stats.main([str(setup.ini), "-s", "2026-04-01", "-e", "2026-04-01T12:00"]) == 0
    err = capsys.readouterr().err
    assert "no data at all in the whole window (6 job(s) skipped for lack of good data, none done)" in err
    assert all(record.outcome is Outcome.SKIPPED for record in setup.attempts())
    assert "summary: 0 done, 6 skipped, 0 failed" in err


def test_damaged_existing_map_and_csv_are_made_again_and_recorded(fake_pipeline, capsys) -> None:
    setup = fake_pipeline(steps=1)
    assert setup.run() == 0
    ch_map, csv_path = setup.ch_map(T0), setup.csvs(T0)[0]
    ch_map.write_bytes(ch_map.read_bytes()[:3000])  # truncated
    csv_path.write_text(csv_path.read_text().replace("QS_ondisc", "QS_ond"))
    capsys.readouterr()
    assert setup.run() == 0
    err = capsys.readouterr().err
    assert f"existing map damaged, making it again: {ch_map}" in err
    setup.assert_complete(T0)
    assert [record.outcome for record in setup.attempts(T0, "ch_segmentation")] == [Outcome.DONE, Outcome.DONE]
    assert len(setup.attempts(T0, "staff_stats")) == 2
    # Only the CSV damaged: it alone is computed again.
    csv_path.write_text(csv_path.read_text()[:100])
    assert setup.run() == 0
    assert f"existing STAFF statistics damaged, computing them again: {csv_path}" in capsys.readouterr().err
    setup.assert_complete(T0)
    assert len(setup.attempts(T0, "staff_stats")) == 3 and len(setup.attempts(T0, "ch_segmentation")) == 2


def test_force_after_moving_the_output_folders_starts_from_the_recorded_history(fake_pipeline) -> None:
    setup = fake_pipeline()
    assert setup.run() == 0
    moved = setup.root / "moved"
    setup.output.rename(moved)
    setup.output = moved
    setup.write_ini()  # every output folder and centres file now under moved/
    live = moved / "centers" / "ch_centers.txt"
    live_before = live.read_bytes()
    assert setup.run("-s", "2026-03-20T06:00", "-e", "2026-03-20T07:00", "--force") == 0
    # 06:00 started from the history it saw the first time (the result of 00:00 only), not from the live file.
    assert fits.getval(setup.ch_map(T0 + STEP), "STARTED", extname="SegmentedMap") == "step=20260320_000000"
    assert fits.getval(setup.ar_map(T0 + STEP), "DEPTH", extname="SegmentedMap") == 1
    assert live.read_bytes() == live_before
    rerun = setup.attempts(T0 + STEP, "ch_segmentation")[-1]
    assert rerun.centers_before == "step=20260320_000000\n" and not rerun.centers_live


def test_full_disk_under_the_centres_file_fails_the_job_in_one_line(fake_pipeline, small_disk, capsys) -> None:
    setup = fake_pipeline(steps=2)
    setup.write_ini({"CH_SEGMENTATION": {"centers_file": small_disk.path / "ch_centers.txt"},
                     "AR_SEGMENTATION": {"centers_file": small_disk.path / "ar_centers.txt"}})
    assert setup.run("-e", (T0 + STEP).isoformat()) == 0
    live = small_disk.path / "ch_centers.txt"
    before = live.read_bytes()
    small_disk.fill()
    capsys.readouterr()
    assert setup.run() == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "2026-03-20T06:00:00 ch_segmentation: failed in " in err
    assert f"{live}: No space left on device" in err
    failed = setup.attempts(T0 + STEP, "ch_segmentation")
    assert [record.outcome for record in failed] == [Outcome.FAILED]  # ENOSPC is not retried
    assert live.read_bytes() == before and not setup.ch_map(T0 + STEP).exists()
    small_disk.free()
    assert get_staff_stats.main([str(setup.ini), "--rerun-failed"]) == 0
    setup.assert_complete(T0 + STEP)


def test_program_does_not_outlive_a_sigkilled_pipeline(fake_pipeline) -> None:
    setup = fake_pipeline(steps=1, operations={"job_timeout": 3600})
    setup.behave(ch_segmentation={"20260320_000000": "hang"})
    marker = setup.fakes / "ch_segmentation.20260320_000000.pid"
    pipeline = setup.spawn()
    try:
        hung = setup.wait_for(marker, pipeline)
        pipeline.send_signal(signal.SIGKILL)
        pipeline.wait(timeout=60)
        deadline = time.monotonic() + 10
        while _running(hung) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(hung), "the hung program outlived its pipeline"
    finally:
        pipeline.kill()
        _kill(marker)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is dead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


# -- the real programs ---------------------------------------------------------------------------------------


def _real_setup(tmp_path: Path, write_ini, steps: int = 2) -> tuple[Path, Path, Path]:
    """The shared ini (the real programs, overlays too) over an archive of ``steps`` steps at 512 px."""
    archive, output = tmp_path / "archive", tmp_path / "output"
    make_archive(archive, T0, T0 + steps * STEP, STEP, (171, 193), size=512, seed=3)
    ini = write_ini(tmp_path / "real.ini", {"OPERATIONS": {"retry_attempts": 1, "job_timeout": 300}, "OVERLAYS": {}},
                    archive=archive, output=output)
    return ini, archive, output


def test_end_to_end_with_the_real_programs(tmp_path: Path, spoca_programs: dict[str, Path], write_ini,
                                           staff_outputs) -> None:
    ini, archive, output = _real_setup(tmp_path, write_ini)
    argv = [str(ini), "-s", T0.isoformat(), "-e", (T0 + 2 * STEP).isoformat()]
    assert get_staff_stats.main(argv) == 0
    for step in (T0, T0 + STEP):
        name = f"{step:%Y%m%d_%H%M%S}.SegmentedMap.fits"
        ch_map, ar_map = output / "ch_maps" / name, output / "ar_maps" / name
        ch_classes = np.unique(staff_outputs.segmentation_map(ch_map))
        ar_classes = np.unique(staff_outputs.segmentation_map(ar_map))
        assert 1 in ch_classes and 3 in ar_classes
        for wavelength in (171, 193):
            image = archive_path(archive, observation_time(step, wavelength), wavelength)
            rows = staff_outputs.staff_csv(output / "staff_stats" / staff_outputs.csv_name(ch_map, ar_map, image))
            # Not swapped: active regions are brighter than coronal holes, quiet Sun in between.
            assert float(rows["AR_ondisc"]["Mean"]) > float(rows["QS_ondisc"]["Mean"]) > \
                float(rows["CH_ondisc"]["Mean"])
        for wavelength in (171, 193):
            png = output / "overlays" / f"{step:%Y%m%d_%H%M%S}_{wavelength:04d}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    centers = (output / "centers" / "ch_centers.txt").read_text().splitlines()
    assert len(centers) == 2 and all(line.startswith("[AIA_193]\t[(") for line in centers)
    with Ledger(output / "spoca4staff.ledger.sqlite") as ledger:
        records = ledger.attempts()
    assert len(records) == 6 and all(record.outcome is Outcome.DONE for record in records)


def test_real_program_error_fails_its_step_only(tmp_path: Path, spoca_programs: dict[str, Path], write_ini) -> None:
    ini, archive, output = _real_setup(tmp_path, write_ini)
    # A 193 image of good QUALITY but without WAVELNTH: the programs refuse it (exit 1 with a message).
    broken = archive_path(archive, observation_time(T0 + STEP, 193), 193)
    write_aia_file(broken, observation_time(T0 + STEP, 193), 193, size=512, seed=3, drop_keywords=("WAVELNTH",))
    argv = [str(ini), "-s", T0.isoformat(), "-e", (T0 + 2 * STEP).isoformat()]
    assert get_staff_stats.main(argv) == 1
    with Ledger(output / "spoca4staff.ledger.sqlite") as ledger:
        for stage in ("ch_segmentation", "ar_segmentation"):
            failure, = ledger.attempts(time_step=T0 + STEP, stage=stage)  # deterministic: one attempt
            assert failure.outcome is Outcome.FAILED and failure.exit_status == 1
            assert "WAVELNTH" in failure.stderr_tail
        staff, = ledger.attempts(time_step=T0 + STEP, stage="staff_stats")
        assert staff.outcome is Outcome.SKIPPED
        assert [record.outcome for record in ledger.attempts(time_step=T0)] == [Outcome.DONE] * 3
    name = f"{T0 + STEP:%Y%m%d_%H%M%S}.SegmentedMap.fits"
    assert not (output / "ch_maps" / name).exists() and not (output / "ar_maps" / name).exists()
    assert len(list((output / "staff_stats").glob("*.csv"))) == 2
    # The failed runs did not touch the live history: one line per successful step.
    assert len((output / "centers" / "ch_centers.txt").read_text().splitlines()) == 1
    assert not [path for path in output.rglob("*") if path.name.startswith(".")]
