"""Running the SPoCA programs from the tests: one program, or the three as the pipeline runs them.

Shared by the tests that compare two runs of the real programs byte for byte, e.g. with one thread and with two
(``SPOCA_THREADS``), or with the programs' Rice decoder and with cfitsio's (``SPOCA_RICE_DECODER``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = ["run_spoca", "run_spoca_pipeline"]

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def run_spoca(program: Path, *arguments: object, environment: Mapping[str, str | None] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """Run a SPoCA program with an argument list, ``environment`` added to this process's (a value of ``None``
    removes the variable)."""
    variables = dict(os.environ)
    for name, value in (environment or {}).items():
        if value is None:
            variables.pop(name, None)
        else:
            variables[name] = value
    return subprocess.run([str(program), *map(str, arguments)], capture_output=True, text=True, check=False,
                          timeout=300, env=variables)


def run_spoca_pipeline(folder: Path, images: Mapping[int, Path], environment: Mapping[str, str | None] | None = None,
                       *, programs: Mapping[str, Path]) -> list[Path]:
    """ch_segmentation.x on ``images[193]``, ar_segmentation.x on 171 and 193, then get_STAFF_stats.x on both maps
    and images, with the shipped configs and ``environment`` (see :func:`run_spoca`), in the new folder ``folder``.

    Asserts that each program exits 0; returns the two maps, the two centres files and the sorted CSVs.
    """
    folder.mkdir()
    ch_map, ar_map, stats = folder / "ch.fits", folder / "ar.fits", folder / "stats"
    stats.mkdir()
    runs = [
        (programs["ch_segmentation"], "--config", CONFIGS / "AIA.CH_segmentation.config",
         "--centersFile", folder / "ch.txt", "--output", ch_map, images[193]),
        (programs["ar_segmentation"], "--config", CONFIGS / "AIA.AR_segmentation.config",
         "--centersFile", folder / "ar.txt", "--output", ar_map, images[171], images[193]),
        (programs["get_STAFF_stats"], "--config", CONFIGS / "AIA.get_STAFF_stats.config",
         "--output", stats, ch_map, ar_map, images[171], images[193]),
    ]
    for program, *arguments in runs:
        result = run_spoca(program, *arguments, environment=environment)
        assert result.returncode == 0, result.stderr
    return [ch_map, ar_map, folder / "ch.txt", folder / "ar.txt", *sorted(stats.glob("*.csv"))]
