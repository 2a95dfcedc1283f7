"""Fixtures shared by the whole test suite.

- ``repo_root``: the repository root (Path).
- ``shared_data``: ``../shared/data`` beside the repository, holding the real AIA 171 sample; the test is
  skipped when that folder is absent (a plain clone has no ``../shared``).
- ``spoca_programs``: builds the three SPoCA programs once per session with their makefiles and returns
  ``{"ch_segmentation": Path, "ar_segmentation": Path, "get_STAFF_stats": Path}``; a failed build fails the
  test with make's whole output.
- ``aia_factory``: writes synthetic AIA files (scripts/make_synthetic_aia.py) under the test's tmp_path.
- ``sunpy_aia_171``: sunpy's real 128x128 AIA 171 level-1 test file (float64, uncompressed).
- ``small_disk``: a 1 MiB tmpfs mounted for the test (root only, skipped where mounting is not possible), to
  fill up (ENOSPC) or remount read-only (EROFS) while the real code writes to it.
- ``corrupt_tiles``: damages the compressed tiles of a RICE-compressed FITS file in place (headers and size
  unchanged, so only decompressing the data shows it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from astropy.io import fits

from scripts.make_synthetic_aia import write_aia_file

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The programs built by ``make -C SPoCA -f <program>.mk`` into SPoCA/bin/<program>.x.
SPOCA_PROGRAMS = ("ch_segmentation", "ar_segmentation", "get_STAFF_stats")
#: Default observation time of the files written by ``aia_factory``.
DEFAULT_OBSERVATION = datetime(2026, 3, 20, 0, 0, 9)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real sample data); skips the test when it is not there."""
    folder = REPO_ROOT.parent / "shared" / "data"
    if not folder.is_dir():
        pytest.skip(f"no shared sample data in {folder}")
    return folder


@pytest.fixture(scope="session")
def spoca_programs() -> dict[str, Path]:
    """Build the three SPoCA programs (once per session) and return their paths by program name."""
    programs: dict[str, Path] = {}
    for program in SPOCA_PROGRAMS:
        command = ["make", "-j2", "--no-print-directory", "-C", str(REPO_ROOT / "SPoCA"), "-f", f"{program}.mk"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        executable = REPO_ROOT / "SPoCA" / "bin" / f"{program}.x"
        if result.returncode != 0 or not executable.is_file():
            pytest.fail(f"building {program} failed ({' '.join(command)}, exit status {result.returncode}):\n"
                        f"{result.stdout}\n{result.stderr}", pytrace=False)
        programs[program] = executable
    return programs


@pytest.fixture
def aia_factory(tmp_path: Path) -> Callable[..., Path]:
    """A function writing one synthetic AIA file under tmp_path and returning its path.

    ``aia_factory(wavelength=193, date=DEFAULT_OBSERVATION, *, name=None, **options)``: ``name`` is the
    file name or a path relative to tmp_path (default: the quicklook name ``AIAYYYYmmdd_HHMMSS_WWWW.fits``);
    ``options`` go to :func:`scripts.make_synthetic_aia.write_aia_file` (size, seed, quality, data_format,
    invalid_blocks, header_overrides, drop_keywords, masks, ...). The size defaults to 256 to keep tests fast.
    """

    def factory(wavelength: int = 193, date: datetime | str = DEFAULT_OBSERVATION, *, name: str | None = None,
                **options: object) -> Path:
        when = datetime.fromisoformat(date) if isinstance(date, str) else date
        relative = name or f"AIA{when:%Y%m%d_%H%M%S}_{wavelength:04d}.fits"
        options.setdefault("size", 256)
        return write_aia_file(tmp_path / relative, when, wavelength, **options)

    return factory


@pytest.fixture(scope="session")
def sunpy_aia_171() -> Path:
    """sunpy's real 128x128 AIA 171 level-1 test file."""
    from sunpy.data.test import get_test_filepath

    return Path(get_test_filepath("aia_171_level1.fits"))


@pytest.fixture
def umask() -> int:
    """The process's file-creation mask: outputs must get the usual permissions, 0666 less it (not 0600)."""
    mask = os.umask(0o022)  # the mask can only be read by setting it
    os.umask(mask)
    return mask


def _corrupt_tiles(path: Path, hdu: int = 1) -> Path:
    """Overwrite the heap of compressed HDU ``hdu`` of ``path`` (its tiles) with noise, keeping every header."""
    import numpy as np

    with fits.open(path, disable_image_compression=True) as hdus:  # the binary table of the tiles, as stored
        header = hdus[hdu].header
        data_start = hdus.fileinfo(hdu)["datLoc"]
    heap_start = data_start + int(header["NAXIS1"]) * int(header["NAXIS2"])
    heap_end = heap_start + int(header["PCOUNT"])
    content = bytearray(path.read_bytes())
    noise = np.random.default_rng(0).integers(0, 256, heap_end - heap_start, dtype=np.uint8)
    content[heap_start:heap_end] = noise.tobytes()
    path.write_bytes(bytes(content))
    return path


@pytest.fixture
def corrupt_tiles() -> Callable[..., Path]:
    """``corrupt_tiles(path, hdu=1)``: the compressed tiles of ``path`` damaged in place (see the module notes)."""
    return _corrupt_tiles


class SmallDisk:
    """A small tmpfs mounted at ``path``: :meth:`fill` fills it up, :meth:`free` frees it, :meth:`read_only`."""

    def __init__(self, path: Path):
        self.path = path
        self.filler = path / ".filler"

    def fill(self) -> None:
        """Write zeros until the file system is full (every later write fails with ENOSPC)."""
        with open(self.filler, "ab", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError:
                pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def read_only(self, read_only: bool = True) -> None:
        """Remount read-only (EROFS for every write), or read-write again."""
        subprocess.run(["mount", "-o", f"remount,{'ro' if read_only else 'rw'}", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs at ``tmp_path / "disk"`` (see :class:`SmallDisk`); the test is skipped if it cannot be mounted."""
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (and a system that allows it)")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
