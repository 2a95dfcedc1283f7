"""Tests of the package's start-up rule: one OpenBLAS thread in the entry modules, unless the environment says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Imports the module, then prints how many threads the process has and the OpenBLAS setting it ran with.
_PROBE = (
    "import importlib, os, sys; importlib.import_module(sys.argv[1]); "
    "print(len(os.listdir('/proc/self/task')), os.environ.get('OPENBLAS_NUM_THREADS'))"
)


def _threads_after_import(repo_root: Path, module: str, blas_threads: str | None) -> tuple[int, str]:
    environment = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    if blas_threads is not None:
        environment["OPENBLAS_NUM_THREADS"] = blas_threads
    result = subprocess.run([sys.executable, "-c", _PROBE, module], cwd=repo_root, env=environment,
                            capture_output=True, text=True, check=True, timeout=60)
    threads, setting = result.stdout.split()
    return int(threads), setting


@pytest.mark.parametrize("module", ["get_image_stats", "get_staff_stats", "sdo_data", "staff_jobs"])
def test_entry_modules_load_numpy_with_a_single_blas_thread(repo_root: Path, module: str) -> None:
    assert _threads_after_import(repo_root, module, None) == (1, "1")  # no OpenBLAS server thread spinning


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS starts no second thread on one core")
def test_an_operators_blas_setting_is_kept(repo_root: Path) -> None:
    threads, setting = _threads_after_import(repo_root, "get_image_stats", "2")
    assert setting == "2"
    assert threads == 2  # the main thread and OpenBLAS's second one


#: Imports the module and prints the astropy modules the process then holds.
_ASTROPY_PROBE = (
    "import importlib, sys; importlib.import_module(sys.argv[1]); "
    "print(' '.join(name for name in sys.modules if name.split('.')[0] == 'astropy'))"
)


@pytest.mark.parametrize("module", ["get_image_stats", "get_staff_stats", "job", "sdo_data", "staff_jobs"])
def test_entry_modules_start_without_astropy(repo_root: Path, module: str) -> None:
    """astropy.io.fits takes 0.25 s to import, paid at each script start: the hot path reads headers and checksums
    with spoca4staff.fits_hdus, and only the readers of files the SPoCA decoder does not take import astropy."""
    result = subprocess.run([sys.executable, "-c", _ASTROPY_PROBE, module], cwd=repo_root, capture_output=True,
                            text=True, check=True, timeout=60)
    assert result.stdout.split() == []
