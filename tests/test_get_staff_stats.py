"""Tests of get_staff_stats.py: the jobs of a time step, and the faults of issue 6 injected with fake programs.

The fake SPoCA programs are small Python scripts written into tmp_path; what each does at a time step is read
from ``behaviour.json`` beside them (``{"ch_segmentation": {"20260320_060000": "crash"}}``): ``ok``, ``crash``
(exit 1 with a message), ``hang`` and ``pause`` (sleep, after writing their pid to ``<stage>.<step>.pid``),
``nooutput`` (exit 0 without writing), ``killed`` (SIGKILL themselves). The fake segmentation behaves like the
real one with its centres file: it starts from the first line, writes the map with the history it started
from in its header (``STARTED``) and prepends its own line to the file. An end-to-end test runs the real
programs on a generated archive.
"""

from __future__ import annotations

import csv
import json
import os
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
from scripts.make_synthetic_aia import ARCHIVE_PATTERN, archive_path, make_archive, observation_time, write_aia_file
from staff_jobs import check_segmentation_map, check_staff_csv, staff_csv_name

REPO_ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 20, 0, 0)
STEP = timedelta(hours=6)
STAGES = ("ch_segmentation", "ar_segmentation", "staff_stats")

_FAKE_COMMON = r'''
import json, os, signal, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def options(argv):
    values, positionals, index = {}, [], 0
    while index < len(argv):
        if argv[index].startswith("--"):
            values[argv[index][2:]] = argv[index + 1]
            index += 2
        else:
            positionals.append(argv[index])
            index += 1
    return values, positionals


def behave(stage, step):
    table = json.loads((HERE / "behaviour.json").read_text()) if (HERE / "behaviour.json").exists() else {}
    behaviour = table.get(stage, {}).get(step, "ok")
    if behaviour in ("hang", "pause"):
        (HERE / f"{stage}.{step}.pid").write_text(str(os.getpid()))
        time.sleep(3600)
    if behaviour == "crash":
        sys.stderr.write(f"Error : synthetic crash of {stage} at {step}\n")
        sys.exit(1)
    if behaviour == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    return behaviour != "nooutput"
'''

_FAKE_SEGMENTATION = _FAKE_COMMON + r'''
from astropy.io import fits
import numpy as np

values, images = options(sys.argv[1:])
output, centers = Path(values["output"]), Path(values["centersFile"])
step = output.name[:15]
if behave(STAGE, step):
    history = centers.read_text().splitlines() if centers.exists() else []
    header = fits.Header()
    header["STARTED"] = history[0] if history else "empty"
    header["DEPTH"] = len(history)
    data = np.full((8, 8), len(history) + 1, dtype=np.int32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, header, name="SegmentedMap")]).writeto(output)
    centers.write_text("".join(f"{line}\n" for line in [f"step={step}", *history][:11]))
'''

_FAKE_STAFF = _FAKE_COMMON + r'''
values, positionals = options(sys.argv[1:])
ch_map, ar_map, images = positionals[0], positionals[1], positionals[2:]
step = Path(ch_map).name[:15]
stem = lambda path: Path(path).name.rpartition(".")[0]
if behave("staff_stats", step):
    header = ("Channel,Type,ObservationDate,MinIntensity,MaxIntensity,Mean,Median,LowerQuartile,UpperQuartile,"
              "Variance,Skewness,Kurtosis,TotalIntensity,Area_Raw,Area_AtDiskCenter,FillingFactor\n")
    for image in images:
        rows = "".join(f"AIA,{kind},2026-03-20T00:00:00.000,1,2,3,4,5,6,7,8,9,10,11,12,0.5\n"
                       for kind in ("AR_all", "CH_central_meridian", "CH_ondisc", "AR_ondisc", "QS_ondisc"))
        Path(values["output"], f"{stem(ch_map)}_and_{stem(ar_map)}_on_{stem(image)}.csv").write_text(header + rows)
'''


def _write_fake(path: Path, body: str, stage: str | None = None) -> Path:
    path.write_text(f"#!{sys.executable}\nSTAGE = {stage!r}\n{body}")
    path.chmod(0o755)
    return path


class Setup:
    """A test configuration: archive, fake programs, ini, and helpers to run the script and read results."""

    def __init__(self, root: Path, steps: int = 3, missing=(), operations: dict[str, object] | None = None,
                 staff_wavelengths: tuple[int, ...] = (171, 193)):
        self.root = root
        self.fakes = root / "fakes"
        self.fakes.mkdir()
        self.archive = root / "archive"
        self.output = root / "output"
        self.start, self.end = T0, T0 + steps * STEP
        self.staff_wavelengths = staff_wavelengths
        make_archive(self.archive, self.start, self.end, STEP, sorted({171, 193, *staff_wavelengths}), size=64,
                     seed=1, missing=missing)
        programs = {
            "ch": _write_fake(self.fakes / "ch_segmentation.x", _FAKE_SEGMENTATION, "ch_segmentation"),
            "ar": _write_fake(self.fakes / "ar_segmentation.x", _FAKE_SEGMENTATION, "ar_segmentation"),
            "staff": _write_fake(self.fakes / "get_STAFF_stats.x", _FAKE_STAFF),
        }
        spoca_config = self.fakes / "fake.config"
        spoca_config.write_text("# the fakes read no configuration\n")
        settings = {"retry_attempts": 2, "retry_initial_delay": 0, "retry_max_delay": 0, "job_timeout": 60}
        settings.update(operations or {})
        self.ini = write_ini(root / "test.ini", self.archive, self.output, programs["ch"], programs["ar"],
                             programs["staff"], {name: spoca_config for name in ("ch", "ar", "staff")}, settings,
                             staff_wavelengths=staff_wavelengths)

    def behave(self, **table: dict[str, str]) -> None:
        (self.fakes / "behaviour.json").write_text(json.dumps(table))

    def argv(self, *extra: str) -> list[str]:
        return [str(self.ini), "-s", self.start.isoformat(), "-e", self.end.isoformat(), *extra]

    def run(self, *extra: str) -> int:
        return get_staff_stats.main(self.argv(*extra))

    def spawn(self, *extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(REPO_ROOT / "get_staff_stats.py"), *self.argv(*extra)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.root)

    def steps(self) -> list[datetime]:
        steps, step = [], self.start
        while step < self.end:
            steps.append(step)
            step += STEP
        return steps

    def ch_map(self, step: datetime) -> Path:
        return self.output / "ch_maps" / f"{step:%Y%m%d_%H%M%S}.SegmentedMap.fits"

    def ar_map(self, step: datetime) -> Path:
        return self.output / "ar_maps" / f"{step:%Y%m%d_%H%M%S}.SegmentedMap.fits"

    def csvs(self, step: datetime, wavelengths: tuple[int, ...] | None = None) -> list[Path]:
        name = f"{step:%Y%m%d_%H%M%S}.SegmentedMap"
        return [self.output / "staff_stats" / f"{name}_and_{name}_on_"
                f"{archive_path(self.archive, observation_time(step, w), w).stem}.csv"
                for w in wavelengths or self.staff_wavelengths]

    def attempts(self, step: datetime | None = None, stage: str | None = None):
        with Ledger(self.output / "spoca4staff.ledger.sqlite") as ledger:
            return ledger.attempts(time_step=step, stage=stage)

    def assert_complete(self, step: datetime) -> None:
        assert check_segmentation_map(self.ch_map(step)) is None
        assert check_segmentation_map(self.ar_map(step)) is None
        for path in self.csvs(step):
            assert check_staff_csv(path) is None

    def leftovers(self) -> list[Path]:
        """Anything half-written or temporary anywhere under the output folder."""
        return [path for path in self.output.rglob("*")
                if path.name.startswith(".") or path.suffix == ".tmp" or "partial" in path.name]

    def wait_for(self, marker: Path, process: subprocess.Popen, seconds: float = 120) -> int:
        deadline = time.monotonic() + seconds
        while not marker.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{marker} never appeared: {process.communicate()}")
            time.sleep(0.05)
        time.sleep(0.1)
        return int(marker.read_text())


def write_ini(path: Path, archive: Path, output: Path, ch: Path, ar: Path, staff: Path,
              configs: dict[str, Path], operations: dict[str, object], overlays: bool = False,
              staff_wavelengths: tuple[int, ...] = (171, 193)) -> Path:
    """A pipeline ini for the tests (the keys of the team contract)."""
    lines = [
        "[SDO_DATA]", f"aia_file_pattern = {archive}/{ARCHIVE_PATTERN}", "hdu = 0", "ignore_quality_bits = 30",
        "[CH_SEGMENTATION]", f"executable = {ch}", f"config_file = {configs['ch']}",
        f"centers_file = {output}/centers/ch_centers.txt", "wavelengths = 193", f"output_directory = {output}/ch_maps",
        "[AR_SEGMENTATION]", f"executable = {ar}", f"config_file = {configs['ar']}",
        f"centers_file = {output}/centers/ar_centers.txt", "wavelengths = 171, 193",
        f"output_directory = {output}/ar_maps",
        "[STAFF_STATS]", f"executable = {staff}", f"config_file = {configs['staff']}",
        f"wavelengths = {', '.join(str(wavelength) for wavelength in staff_wavelengths)}",
        f"output_directory = {output}/staff_stats",
        "[OPERATIONS]", *(f"{key} = {value}" for key, value in operations.items()),
    ]
    if overlays:
        lines += ["[OVERLAYS]", f"output_directory = {output}/overlays"]
    path.write_text("\n".join(lines) + "\n")
    return path


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


def test_run_makes_every_output_and_a_second_run_skips_them(tmp_path: Path, capsys) -> None:
    setup = Setup(tmp_path)
    assert setup.run() == 0
    for step in setup.steps():
        setup.assert_complete(step)
    records = setup.attempts()
    assert [(record.time_step, record.stage) for record in records] == [
        (step, stage) for step in setup.steps() for stage in STAGES]
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


def test_missing_files_skip_only_what_needs_them(tmp_path: Path) -> None:
    setup = Setup(tmp_path, steps=2, missing=[(T0, 211), (T0 + STEP, 171)], staff_wavelengths=(171, 193, 211))
    assert get_staff_stats.main(["--config-file", *setup.argv()]) == 0
    # No 211 at 00:00: the statistics of the other wavelengths are computed.
    assert [check_staff_csv(path) for path in setup.csvs(T0, (171, 193))] == [None, None]
    assert not setup.csvs(T0, (211,))[0].exists()
    staff, = setup.attempts(T0, "staff_stats")
    assert staff.outcome is Outcome.DONE and len(staff.outputs) == 2
    # No 171 at 06:00: the CH map is made all the same, not the AR map nor the statistics.
    assert check_segmentation_map(setup.ch_map(T0 + STEP)) is None
    assert not setup.ar_map(T0 + STEP).exists()
    ar, = setup.attempts(T0 + STEP, "ar_segmentation")
    staff, = setup.attempts(T0 + STEP, "staff_stats")
    assert ar.outcome is Outcome.SKIPPED and ar.reason.startswith("no good-quality file for 171 (no file matches")
    assert (staff.outcome, staff.reason) == (Outcome.SKIPPED, "missing input: no AR map")
    assert not any(path.exists() for path in setup.csvs(T0 + STEP))
    assert setup.leftovers() == []


def test_corrupt_file_in_the_archive_skips_only_its_step(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
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


def test_configuration_error_exits_2_before_any_job(tmp_path: Path, capsys) -> None:
    setup = Setup(tmp_path)
    text = setup.ini.read_text().replace(str(setup.fakes / "ar_segmentation.x"), str(tmp_path / "missing.x"))
    setup.ini.write_text(text)
    assert setup.run() == 2
    error = capsys.readouterr().err
    assert "[AR_SEGMENTATION] executable" in error and str(setup.ini) in error
    assert not (setup.output / "spoca4staff.ledger.sqlite").exists()


# -- injected faults ---------------------------------------------------------------------------------------


def test_crash_and_missing_output_fail_their_step_only(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    setup.behave(ch_segmentation={"20260320_060000": "crash"}, ar_segmentation={"20260320_000000": "nooutput"})
    assert setup.run() == 1
    crash, = setup.attempts(T0 + STEP, "ch_segmentation")  # deterministic: not retried
    assert crash.outcome is Outcome.FAILED and crash.exit_status == 1
    assert "synthetic crash" in crash.stderr_tail and "exited with status 1" in crash.reason
    silent, = setup.attempts(T0, "ar_segmentation")
    assert silent.outcome is Outcome.FAILED and "was not written" in silent.reason
    assert not setup.ch_map(T0 + STEP).exists() and not setup.ar_map(T0).exists()
    assert check_segmentation_map(setup.ch_map(T0)) is None
    assert check_segmentation_map(setup.ar_map(T0 + STEP)) is None
    for step in (T0, T0 + STEP):
        staff, = setup.attempts(step, "staff_stats")
        assert staff.outcome is Outcome.SKIPPED and staff.reason.startswith("missing input")
    setup.assert_complete(T0 + 2 * STEP)
    # The failed centres runs left the live history alone.
    assert (setup.output / "centers" / "ch_centers.txt").read_text() == \
        "step=20260320_120000\nstep=20260320_000000\n"
    assert setup.leftovers() == []


def test_hanging_and_killed_programs_are_retried_then_fail(tmp_path: Path) -> None:
    # 5 s: enough for the fakes that work (they import astropy) on a loaded machine, short for the one that hangs.
    setup = Setup(tmp_path, steps=2, operations={"job_timeout": 5})
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
        assert check_segmentation_map(setup.ar_map(T0)) is None
        assert setup.leftovers() == []
    finally:
        _kill(setup.fakes / "ch_segmentation.20260320_000000.pid")


def test_rerun_of_an_old_failed_step_uses_its_recorded_history(tmp_path: Path, capsys) -> None:
    setup = Setup(tmp_path)
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


def test_two_runs_at_once_and_sigterm(tmp_path: Path) -> None:
    setup = Setup(tmp_path, steps=2)
    setup.behave(ar_segmentation={"20260320_000000": "pause"})
    marker = setup.fakes / "ar_segmentation.20260320_000000.pid"
    first = setup.spawn()
    try:
        paused_pid = setup.wait_for(marker, first)
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
    assert check_segmentation_map(setup.ch_map(T0)) is None
    assert not setup.ar_map(T0).exists()
    assert setup.attempts(T0 + STEP) == []
    assert setup.leftovers() == []
    assert not (setup.output / "centers" / "ar_centers.txt").exists()


def test_sigkill_in_the_middle_then_restart_completes_without_duplicates(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
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
    # Each segmentation ran once: the restart did not redo the steps already done.
    for stage in ("ch_segmentation", "ar_segmentation"):
        assert [record.time_step for record in setup.attempts(stage=stage)] == setup.steps()
    assert (setup.output / "centers" / "ar_centers.txt").read_text() == \
        "step=20260320_120000\nstep=20260320_060000\nstep=20260320_000000\n"


# -- faults of issue 12 ----------------------------------------------------------------------------------------


def test_archive_outage_fails_the_jobs_and_rerun_failed_completes_them(tmp_path: Path, capsys) -> None:
    setup = Setup(tmp_path, steps=2)
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


def test_missing_day_is_no_data_and_a_window_without_any_data_is_a_warning(tmp_path: Path, capsys) -> None:
    setup = Setup(tmp_path, steps=1)
    assert get_staff_stats.main([str(setup.ini), "-s", "2026-04-01", "-e", "2026-04-01T12:00"]) == 0
    err = capsys.readouterr().err
    assert "no data at all in the whole window (6 job(s) skipped for lack of good data, none done)" in err
    assert all(record.outcome is Outcome.SKIPPED for record in setup.attempts())
    assert "summary: 0 done, 6 skipped, 0 failed" in err


def test_damaged_existing_map_and_csv_are_made_again_and_recorded(tmp_path: Path, capsys) -> None:
    setup = Setup(tmp_path, steps=1)
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


def test_force_after_moving_the_output_folders_starts_from_the_recorded_history(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    assert setup.run() == 0
    moved = setup.root / "moved"
    setup.output.rename(moved)
    setup.output = moved
    setup.ini.write_text(setup.ini.read_text().replace(str(setup.root / "output"), str(moved)))
    live = moved / "centers" / "ch_centers.txt"
    live_before = live.read_bytes()
    assert setup.run("-s", "2026-03-20T06:00", "-e", "2026-03-20T07:00", "--force") == 0
    # 06:00 started from the history it saw the first time (the result of 00:00 only), not from the live file.
    assert fits.getval(setup.ch_map(T0 + STEP), "STARTED", extname="SegmentedMap") == "step=20260320_000000"
    assert fits.getval(setup.ar_map(T0 + STEP), "DEPTH", extname="SegmentedMap") == 1
    assert live.read_bytes() == live_before
    rerun = setup.attempts(T0 + STEP, "ch_segmentation")[-1]
    assert rerun.centers_before == "step=20260320_000000\n" and not rerun.centers_live


def test_full_disk_under_the_centres_file_fails_the_job_in_one_line(tmp_path: Path, small_disk, capsys) -> None:
    setup = Setup(tmp_path, steps=2)
    setup.ini.write_text(setup.ini.read_text().replace(f"{setup.output}/centers/", f"{small_disk.path}/"))
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


def test_program_does_not_outlive_a_sigkilled_pipeline(tmp_path: Path) -> None:
    setup = Setup(tmp_path, steps=1, operations={"job_timeout": 3600})
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


def _real_setup(tmp_path: Path, spoca_programs: dict[str, Path], steps: int = 2) -> tuple[Path, Path, Path]:
    configs = {name: REPO_ROOT / "configs" / f"AIA.{kind}.config" for name, kind in
               (("ch", "CH_segmentation"), ("ar", "AR_segmentation"), ("staff", "get_STAFF_stats"))}
    for path in configs.values():
        if not path.exists():
            pytest.fail(f"the SPoCA configuration {path} is missing")
    archive, output = tmp_path / "archive", tmp_path / "output"
    make_archive(archive, T0, T0 + steps * STEP, STEP, (171, 193), size=512, seed=3)
    ini = write_ini(tmp_path / "real.ini", archive, output, spoca_programs["ch_segmentation"],
                    spoca_programs["ar_segmentation"], spoca_programs["get_STAFF_stats"], configs,
                    {"retry_attempts": 1, "job_timeout": 300}, overlays=True)
    return ini, archive, output


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as stream:
        return {row["Type"]: row for row in csv.DictReader(stream)}


def test_end_to_end_with_the_real_programs(tmp_path: Path, spoca_programs: dict[str, Path]) -> None:
    ini, archive, output = _real_setup(tmp_path, spoca_programs)
    argv = [str(ini), "-s", T0.isoformat(), "-e", (T0 + 2 * STEP).isoformat()]
    assert get_staff_stats.main(argv) == 0
    for step in (T0, T0 + STEP):
        name = f"{step:%Y%m%d_%H%M%S}.SegmentedMap.fits"
        ch_map, ar_map = output / "ch_maps" / name, output / "ar_maps" / name
        assert check_segmentation_map(ch_map) is None and check_segmentation_map(ar_map) is None
        ch_classes = np.unique(fits.getdata(ch_map, extname="SegmentedMap"))
        ar_classes = np.unique(fits.getdata(ar_map, extname="SegmentedMap"))
        assert 1 in ch_classes and 3 in ar_classes
        for wavelength in (171, 193):
            image = archive_path(archive, observation_time(step, wavelength), wavelength)
            table = output / "staff_stats" / staff_csv_name(ch_map, ar_map, image)
            assert check_staff_csv(table) is None
            rows = _rows(table)
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


def test_real_program_error_fails_its_step_only(tmp_path: Path, spoca_programs: dict[str, Path]) -> None:
    ini, archive, output = _real_setup(tmp_path, spoca_programs)
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
