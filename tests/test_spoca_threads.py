"""Tests of the SPOCA_THREADS environment variable of the SPoCA programs (SPoCA/lib/core/parallel.hpp).

SPOCA_THREADS=1 runs every program on one thread (the Dask backfill runs one program per worker); its outputs
must be byte-identical to those of a run on several threads, since the programs only split work whose result
does not depend on the split. A value that is not a positive whole number stops the program before any work.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from spoca_runs import run_spoca

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
CH_CONFIG = CONFIGS / "AIA.CH_segmentation.config"
STATS_CONFIG = CONFIGS / "AIA.get_STAFF_stats.config"


def run(program: Path, *arguments: object, threads: str) -> subprocess.CompletedProcess[str]:
    """Run a SPoCA program with an argument list and SPOCA_THREADS set to `threads`."""
    return run_spoca(program, *arguments, environment={"SPOCA_THREADS": threads})


def test_one_thread_gives_the_same_outputs_as_two(tmp_path: Path, aia_factory, spoca_pipeline) -> None:
    # 512 rows: every split of the programs (row blocks, image blocks of 128 rows, halves) has work on both threads.
    images = {w: aia_factory(w, size=512) for w in (171, 193)}
    one = spoca_pipeline(tmp_path / "one", images, {"SPOCA_THREADS": "1"})
    two = spoca_pipeline(tmp_path / "two", images, {"SPOCA_THREADS": "2"})
    assert [path.name for path in one] == [path.name for path in two]
    assert len(one) == 6
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.parametrize("value", ["0", "-2", "two", "2x"])
def test_bad_threads_value_stops_every_program(value: str, tmp_path: Path, aia_factory,
                                               spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=64)
    message = f"SPOCA_THREADS = '{value}' is not a positive whole number of threads"
    output = tmp_path / "map.fits"
    result = run(spoca_programs["ch_segmentation"], "--config", CH_CONFIG, "--centersFile", tmp_path / "ch.txt",
                 "--output", output, image, threads=value)
    assert (result.returncode, result.stderr) == (1, f"Error : {message}\n")
    assert not output.exists()
    result = run(spoca_programs["get_STAFF_stats"], "--config", STATS_CONFIG, "--output", tmp_path, output, output,
                 image, threads=value)
    assert (result.returncode, result.stderr) == (1, f"Error: {message}\n")
