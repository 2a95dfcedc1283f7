"""Compiling a small C++ test driver against the SPoCA library (SPoCA/lib), shared by the library tests.

Not a test file: the test files import it, as ``tests/`` is on ``sys.path`` under pytest's default
``prepend`` import mode.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["CORE_LIBRARY_SOURCES", "LIB", "compile_driver"]

#: The library's folder: drivers include its headers by their path under it (``"core/percentiles.hpp"``) and
#: link the sources they need from it.
LIB = Path(__file__).resolve().parents[1] / "SPoCA" / "lib"


def _makefile_sources(variable: str) -> list[str]:
    """The files a variable of SPoCA/common.mk lists, relative to LIB (``core/error.cpp``)."""
    text = (LIB.parent / "common.mk").read_text().replace("\\\n", " ")
    match = re.search(rf"^{variable}\s*=(.*)$", text, flags=re.MULTILINE)
    if match is None:
        raise LookupError(f"SPoCA/common.mk sets no {variable}")
    return [name.removeprefix("lib/") for name in match.group(1).split()]


#: The library files every program links (CORE_LIB_SOURCES of SPoCA/common.mk), for a driver that needs many.
CORE_LIBRARY_SOURCES = _makefile_sources("CORE_LIB_SOURCES")

#: The flags of SPoCA/common.mk, with warnings as errors.
FLAGS = ("-std=c++17", "-O3", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-fno-math-errno",
         "-fno-trapping-math", "-pthread")


def compile_driver(folder: Path, source: str, library_sources: Sequence[str] = (),
                   options: Sequence[str] = ()) -> Path:
    """Compile `source` with the library's flags into ``folder/driver`` and return that executable.

    Parameters
    ----------
    folder : Path
        An empty folder for the source and the executable.
    source : str
        The driver's C++ text.
    library_sources : sequence of str
        The library files to compile with it, e.g. ``["core/percentiles.cpp"]`` (header-only parts need none).
    options : sequence of str
        Compiler and linker options after the sources: ``["-lcfitsio"]`` for a driver that links the FITS
        readers, ``["-fsanitize=address"]`` for one run under the address sanitizer.

    The calling test is skipped when no g++ is installed; a failed compilation raises CalledProcessError.
    """
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++")
    driver_source = folder / "driver.cpp"
    driver_source.write_text(source)
    executable = folder / "driver"
    subprocess.run([compiler, *FLAGS, f"-I{LIB}", str(driver_source), *(str(LIB / name) for name in library_sources),
                    *options, "-o", str(executable)], check=True)
    return executable
