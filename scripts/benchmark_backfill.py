"""Benchmark a backfill: one synthetic day at 4096x4096, sequentially and on a local Dask cluster.

The day has four time steps (6-hour interval) and ten AIA wavelengths, generated once into
``bench/backfill/archive`` (RICE-compressed like SDO files). Each mode runs, on a fresh output folder,
``get_staff_stats.py`` (CH and AR maps, STAFF statistics of 171 and 193) then ``get_image_stats.py`` (the ten
wavelengths), as an operator would, each in its own process; the Dask mode adds ``--workers N``. The script
prints, for each mode, the wall time of each script, the CPU time of the whole run (every child process) and
the throughput in time steps per hour, then the speed-up and whether the outputs are byte-identical.

The cost model comes from the sequential run's ledger (the duration of every job): per time step, the two
chains cost ``c_CH`` and ``c_AR`` (a classification step cannot start before the previous one ends) and the
fan-out ``f`` (STAFF statistics and image statistics, free to run anywhere once the maps exist). A step's
work is ``W = c_CH + c_AR + f``; N workers cannot do better than ``max(W / N, max(c_CH, c_AR))`` per step,
so the speed-up to expect from N workers of one core each is ``W / max(W / N, max(c_CH, c_AR))``, bounded
by the longer chain. On one machine the cores bound it too: the CPU time of the sequential run divided by
the number of cores is the shortest the machine can do the same work in. The cluster's start (a few seconds)
is paid once per run; the model leaves it out, the measured figures do not.

Run it with ``make bench-backfill`` or ``python scripts/benchmark_backfill.py [--workers 2] [--size 4096]``.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from spoca4staff.ledger import parse_timestamp

__all__ = ["RunFigures", "CostModel", "cost_model", "ensure_archive", "write_ini", "become_subreaper", "reap_orphans",
           "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
LOGGER = logging.getLogger("benchmark_backfill")
START = datetime(2026, 3, 20)
STEPS = 4
INTERVAL = timedelta(hours=6)
WAVELENGTHS = (94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500)
GENERATE = """
import sys
from datetime import timedelta
from scripts.make_synthetic_aia import make_archive
from spoca4staff.time_window import parse_date
start = parse_date(sys.argv[2])
make_archive(sys.argv[1], start, start + int(sys.argv[3]) * timedelta(hours=6), timedelta(hours=6),
             [int(w) for w in sys.argv[4].split(",")], size=int(sys.argv[5]), seed=7)
"""
#: prctl's option that makes a process the reaper of its orphaned descendants (linux/prctl.h).
_PR_SET_CHILD_SUBREAPER = 36
#: The targets of issue 14.
TARGET_SPEED_UP = 1.6


@dataclass(frozen=True)
class RunFigures:
    """One run of both scripts: wall seconds of each, CPU seconds of every child process."""

    staff_wall: float
    image_wall: float
    cpu: float
    jobs_span: float

    @property
    def jobs_per_hour(self) -> float:
        """Steps per hour over the spans of the jobs (first start to last end of each script): the rate of a
        long backfill, in which the start of the processes and of the cluster no longer counts."""
        return STEPS / self.jobs_span * 3600

    @property
    def wall(self) -> float:
        return self.staff_wall + self.image_wall

    @property
    def steps_per_hour(self) -> float:
        return STEPS / self.wall * 3600


@dataclass(frozen=True)
class CostModel:
    """Mean seconds per time step of each chain and of the fan-out, from a sequential ledger."""

    ch: float
    ar: float
    fan_out: float

    @property
    def work(self) -> float:
        return self.ch + self.ar + self.fan_out

    @property
    def chain(self) -> float:
        return max(self.ch, self.ar)

    def speed_up(self, workers: int) -> float:
        """The speed-up N workers (one core each) can give: bounded by the work shared out and the longer chain."""
        return self.work / max(self.work / workers, self.chain)


def ensure_archive(archive: Path, size: int, steps: int = STEPS,
                   wavelengths: Sequence[int] = WAVELENGTHS) -> Path:
    """The synthetic archive ``archive``: ``steps`` time steps from :data:`START`, 6 hours apart, of ``wavelengths``.

    It is generated once, in another process (this one stays free of numpy), into a ``.partial`` folder renamed
    when complete, and kept between runs; every file is then read once, so that it sits in the page cache.
    """
    if not archive.exists():
        LOGGER.info("generating the synthetic archive %s (once)", archive)
        partial = archive.with_name(archive.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-c", GENERATE, str(partial), START.isoformat(), str(steps),
                        ",".join(str(w) for w in wavelengths), str(size)], check=True, cwd=REPO_ROOT)
        partial.rename(archive)
    for path in archive.rglob("*.fits"):
        path.read_bytes()  # into the page cache, for every run alike
    return archive


def write_ini(folder: Path, archive: Path, output: Path, image_wavelengths: Sequence[int] = WAVELENGTHS) -> Path:
    """The benchmark's pipeline ini: the real programs and configs, no overlays; its ledger is beside ``output``'s
    folders (``output/spoca4staff.ledger.sqlite``), its centres files in ``output/centers``."""
    bin_folder, configs = REPO_ROOT / "SPoCA" / "bin", REPO_ROOT / "configs"
    pattern = ("{wavelength:04d}/{date.year:04d}/{date.month:02d}/{date.day:02d}/H{date.hour:02d}00/"
               "AIA{date:%Y%m%d_%H%M}??_{wavelength:04d}.fits")
    lines = [
        "[SDO_DATA]", f"aia_file_pattern = {archive}/{pattern}", "hdu = 0", "ignore_quality_bits = 30",
        "[CH_SEGMENTATION]", f"executable = {bin_folder}/ch_segmentation.x",
        f"config_file = {configs}/AIA.CH_segmentation.config", f"centers_file = {output}/centers/ch_centers.txt",
        "wavelengths = 193", f"output_directory = {output}/ch_maps",
        "[AR_SEGMENTATION]", f"executable = {bin_folder}/ar_segmentation.x",
        f"config_file = {configs}/AIA.AR_segmentation.config", f"centers_file = {output}/centers/ar_centers.txt",
        "wavelengths = 171, 193", f"output_directory = {output}/ar_maps",
        "[STAFF_STATS]", f"executable = {bin_folder}/get_STAFF_stats.x",
        f"config_file = {configs}/AIA.get_STAFF_stats.config", "wavelengths = 171, 193",
        f"output_directory = {output}/staff_stats",
        "[IMAGE_STATS]", f"wavelengths = {', '.join(str(w) for w in image_wavelengths)}",
        f"output_directory = {output}/image_stats",
        "[OPERATIONS]", "retry_attempts = 1", "job_timeout = 600",
    ]
    ini = folder / f"{output.name}.ini"
    ini.write_text("\n".join(lines) + "\n")
    return ini


def become_subreaper() -> None:
    """Make this process the reaper of its orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``), so that
    :func:`reap_orphans` counts their CPU time: a process that outlives its script by a moment (a Dask worker
    of a backfill) would otherwise be re-parented to init and left out."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans() -> float:
    """Wait for every descendant re-parented to this process and return their CPU seconds (those of the
    children they reaped included)."""
    seconds = 0.0
    while True:
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return seconds
        seconds += usage.ru_utime + usage.ru_stime


def _timed(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return its wall seconds and the CPU seconds of it and all its descendants."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{error[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime + reap_orphans()


def run_mode(folder: Path, archive: Path, name: str, extra: list[str]) -> RunFigures:
    """Both scripts over the day, on a fresh output folder ``folder/name``."""
    output = folder / name
    shutil.rmtree(output, ignore_errors=True)
    ini = write_ini(folder, archive, output)
    window = ["-s", START.isoformat(), "-e", (START + STEPS * INTERVAL).isoformat()]
    LOGGER.info("running %s", name)
    staff_wall, staff_cpu = _timed([sys.executable, "get_staff_stats.py", str(ini), *window, *extra])
    image_wall, image_cpu = _timed([sys.executable, "get_image_stats.py", str(ini), *window, *extra])
    return RunFigures(staff_wall, image_wall, staff_cpu + image_cpu, _jobs_span(output / "spoca4staff.ledger.sqlite"))


def _jobs_span(ledger: Path) -> float:
    """Seconds from the first job's start to the last job's end, for each script, summed."""
    with sqlite3.connect(ledger) as connection:
        rows = connection.execute(
            "SELECT stage = 'image_stats', MIN(started), MAX(ended) FROM attempts GROUP BY stage = 'image_stats'")
        spans = [_seconds(first, last) for _, first, last in rows]
    return sum(spans)


def _seconds(first: str, last: str) -> float:
    return (parse_timestamp(last) - parse_timestamp(first)).total_seconds()


def _median(runs: list[RunFigures]) -> RunFigures:
    """The run of median total wall time."""
    return sorted(runs, key=lambda figures: figures.wall)[len(runs) // 2]


def cost_model(ledger: Path) -> CostModel:
    """Mean job seconds per time step by stage, from the ledger of a sequential run."""
    with sqlite3.connect(ledger) as connection:
        rows = connection.execute("SELECT stage, started, ended FROM attempts WHERE outcome = 'done'").fetchall()
    seconds: dict[str, float] = {}
    for stage, started, ended in rows:
        seconds[stage] = seconds.get(stage, 0.0) + _seconds(started, ended) / STEPS
    return CostModel(seconds.get("ch_segmentation", 0.0), seconds.get("ar_segmentation", 0.0),
                     seconds.get("staff_stats", 0.0) + seconds.get("image_stats", 0.0))


def identical(first: Path, second: Path) -> bool:
    """Whether the maps, centres files and CSVs of two output folders are the same bytes."""
    def files(root: Path) -> dict[str, bytes]:
        return {str(path.relative_to(root)): path.read_bytes()
                for folder in ("ch_maps", "ar_maps", "centers", "staff_stats", "image_stats")
                for path in sorted((root / folder).rglob("*")) if path.is_file()}

    return files(first) == files(second)


def report(sequential: RunFigures, dask: RunFigures, workers: int, model: CostModel, same: bool, size: int,
           repeat: int) -> str:
    """The benchmark's table and the cost model, as text."""
    cores = os.cpu_count() or 1
    speed_up = dask.steps_per_hour / sequential.steps_per_hour
    jobs_speed_up = dask.jobs_per_hour / sequential.jobs_per_hour
    lines = [
        f"one synthetic day at {size}x{size}: {STEPS} time steps, {len(WAVELENGTHS)} wavelengths of image statistics;"
        f" {cores} cores; load average {os.getloadavg()[0]:.2f} at the end; median of {repeat} runs of each mode",
        f"{'mode':22} {'staff s':>8} {'image s':>8} {'wall s':>8} {'cpu s':>8} {'steps/hour':>11} "
        f"{'jobs s':>8} {'steps/hour in jobs':>19}",
    ]
    for name, figures in (("sequential", sequential), (f"--workers {workers}", dask)):
        lines.append(f"{name:22} {figures.staff_wall:8.1f} {figures.image_wall:8.1f} {figures.wall:8.1f} "
                     f"{figures.cpu:8.1f} {figures.steps_per_hour:11.0f} {figures.jobs_span:8.1f} "
                     f"{figures.jobs_per_hour:19.0f}")
    lines += [
        f"speed-up {speed_up:.2f}x (target {TARGET_SPEED_UP}x: {'met' if speed_up >= TARGET_SPEED_UP else 'NOT met'});"
        f" outputs byte-identical: {'yes' if same else 'NO'}",
        f"speed-up in the jobs (the start of processes and cluster left out, as in a long backfill): "
        f"{jobs_speed_up:.2f}x",
        "",
        "cost model (mean job seconds per time step, sequential ledger):",
        f"  CH chain {model.ch:.2f} s, AR chain {model.ar:.2f} s, fan-out (STAFF + image statistics) "
        f"{model.fan_out:.2f} s; work W = {model.work:.2f} s per step, longer chain {model.chain:.2f} s",
        f"  this machine's cores bound {workers} workers to {sequential.wall / (sequential.cpu / cores):.2f}x "
        f"(sequential wall / (cpu / {cores} cores))",
        "  predicted speed-up for N workers of one core each: W / max(W / N, longer chain)",
        "  " + "  ".join(f"N={n}: {model.speed_up(n):.2f}x" for n in (1, 2, 4, 8, 16, 32)),
        f"  bound for any N: {model.work / model.chain:.2f}x (the longer chain); 16 workers: "
        f"{3600 / model.work * model.speed_up(16):.0f} steps/hour",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints the table on stdout and returns 0 (1 if the outputs differ)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="image width and height in pixels (default 4096)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the Dask run (default 2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each mode, alternated; the run of median wall time is shown (default 3)")
    parser.add_argument("--folder", type=Path, default=REPO_ROOT / "bench" / "backfill",
                        help="where the archive is generated and kept, and the runs write (default bench/backfill)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    archive = ensure_archive(args.folder / f"archive-{args.size}", args.size)
    become_subreaper()
    runs: dict[str, list[RunFigures]] = {"sequential": [], "dask": []}
    for _ in range(args.repeat):  # alternated, so that both modes see the same load on a shared machine
        runs["sequential"].append(run_mode(args.folder, archive, "sequential", []))
        runs["dask"].append(run_mode(args.folder, archive, "dask", ["--workers", str(args.workers)]))
    sequential, dask = (_median(runs[name]) for name in ("sequential", "dask"))
    model = cost_model(args.folder / "sequential" / "spoca4staff.ledger.sqlite")
    same = identical(args.folder / "sequential", args.folder / "dask")
    sys.stdout.write(report(sequential, dask, args.workers, model, same, args.size, args.repeat) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
