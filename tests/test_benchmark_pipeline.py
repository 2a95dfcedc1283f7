"""Tests of scripts/benchmark_pipeline.py: the union of program intervals, and the parsing of job.py's log lines."""

from __future__ import annotations

import logging
import stat
import sys

import pytest

from job import Job
from scripts.benchmark_pipeline import ProgramRun, ScriptRun, parse_program_runs, union_seconds


@pytest.mark.parametrize(("intervals", "expected"), [
    ([], 0.0),
    ([(1.0, 3.0)], 2.0),
    ([(0.0, 1.0), (2.0, 4.0)], 3.0),                  # disjoint: the sum
    ([(0.0, 2.0), (1.0, 3.0)], 3.0),                  # overlapping (CH and AR at once): counted once
    ([(0.0, 10.0), (2.0, 3.0), (4.0, 5.0)], 10.0),    # contained
    ([(5.0, 6.0), (0.0, 2.0), (1.0, 3.0)], 4.0),      # unsorted
    ([(0.0, 1.0), (1.0, 2.0)], 2.0),                  # touching
])
def test_union_seconds(intervals, expected):
    assert union_seconds(intervals) == pytest.approx(expected)


def test_overhead_of_a_script_with_concurrent_programs():
    # Script from 100 to 120; CH 102-107 and AR 103-110 at once, then STAFF 112-114: programs ran 10 s.
    programs = (ProgramRun("ch_segmentation.x", 0, 102.0, 107.0), ProgramRun("ar_segmentation.x", 0, 103.0, 110.0),
                ProgramRun("get_STAFF_stats.x", 0, 112.0, 114.0))
    run = ScriptRun(100.0, 120.0, programs)
    assert run.wall == pytest.approx(20.0)
    assert run.in_programs == pytest.approx(10.0)
    assert run.overhead == pytest.approx(10.0)
    assert run.before_first == pytest.approx(2.0)
    assert run.after_last == pytest.approx(6.0)
    assert ScriptRun(0.0, 3.0).overhead == pytest.approx(3.0)


def test_the_lines_logged_by_a_real_job_are_parsed(tmp_path, caplog):
    program = tmp_path / "short.x"
    program.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(0.1)\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s")  # the scripts' log format
    with caplog.at_level("DEBUG", logger="job"):
        first, second = Job(program).execute(timeout=60), Job(program).execute(timeout=60)
    runs = parse_program_runs(formatter.format(record) + "\n" for record in caplog.records)
    assert [(run.program, run.exit_status) for run in runs] == [("short.x", 0), ("short.x", 0)]
    assert [run.seconds for run in runs] == pytest.approx([first.seconds, second.seconds], abs=1e-5)
    assert runs[0].end <= runs[1].start
    assert parse_program_runs(["2026-03-20T00:00:00Z DEBUG job: running short.x"]) == []
