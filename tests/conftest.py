"""Fixtures shared by the whole test suite.

- ``repo_root``: the repository root (Path).
- ``shared_data``: ``../shared/data`` beside the repository, holding the real AIA 171 sample; the test is
  skipped when that folder is absent (a plain clone has no ``../shared``).
- ``spoca_programs``: builds the three SPoCA programs once per session with their makefiles and returns
  ``{"ch_segmentation": Path, "ar_segmentation": Path, "get_STAFF_stats": Path}``; a failed build fails the
  test with make's whole output.
- ``spoca_pipeline``: runs the three SPoCA programs on a 171/193 pair as the pipeline does, with extra environment
  variables, and returns their outputs (maps, centres files, CSVs) for byte comparisons between two runs.
- ``aia_factory``: writes synthetic AIA files (scripts/make_synthetic_aia.py) under the test's tmp_path.
- ``sunpy_aia_171``: sunpy's real 128x128 AIA 171 level-1 test file (float64, uncompressed).
- ``small_disk``: a 1 MiB tmpfs mounted for the test (root only, skipped where mounting is not possible), to
  fill up (ENOSPC) or remount read-only (EROFS) while the real code writes to it.
- ``corrupt_tiles``: damages the compressed tiles of a RICE-compressed FITS file in place (headers and size
  unchanged, so only decompressing the data shows it).
- ``write_ini``: the one writer of pipeline inis: the defaults the tests share (see :func:`default_sections`),
  and each test states only the values it changes; or a hand-written ini text, written as it is.
- ``fake_pipeline``: an archive, fake SPoCA programs and an ini for get_staff_stats.py (see :class:`FakePipeline`).
- ``staff_outputs``: the names and formats of the pipeline's outputs, written out from the contract and checked by
  reading the files with astropy and csv (see :class:`StaffOutputs`), never with the code under test.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from spoca_runs import run_spoca_pipeline
from scripts.make_synthetic_aia import ARCHIVE_PATTERN, archive_path, make_archive, observation_time, write_aia_file

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
def spoca_pipeline(spoca_programs: dict[str, Path]) -> Callable[..., list[Path]]:
    """``spoca_pipeline(folder, images, environment=None)``: :func:`spoca_runs.run_spoca_pipeline` with the
    session's programs."""
    return partial(run_spoca_pipeline, programs=spoca_programs)


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


@pytest.fixture
def two_quality_hdus(tmp_path: Path) -> Path:
    """A FITS file with QUALITY = 4 in its (data-less) primary HDU and QUALITY = 8 in its image extension."""
    path = tmp_path / "two.fits"
    primary = fits.PrimaryHDU()
    primary.header["QUALITY"] = 4
    extension = fits.ImageHDU(data=[[1, 2], [3, 4]])
    extension.header["QUALITY"] = 8
    fits.HDUList([primary, extension]).writeto(path)
    return path


def _corrupt_tiles(path: Path, hdu: int = 1) -> Path:
    """Overwrite the heap of compressed HDU ``hdu`` of ``path`` (its tiles) with noise, keeping every header."""
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


# -- pipeline inis ---------------------------------------------------------------------------------------------

#: The sections each entry script needs; the other sections are written only when a test names them.
SCRIPT_SECTIONS = {
    "get_staff_stats": ("SDO_DATA", "CH_SEGMENTATION", "AR_SEGMENTATION", "STAFF_STATS"),
    "get_image_stats": ("SDO_DATA", "IMAGE_STATS"),
}

#: Changes to the default sections: ``{section: {key: value}}``; a value ``None`` drops the key, a section
#: ``None`` drops the section.
Sections = Mapping[str, Mapping[str, object] | None]


def default_sections(archive: Path, output: Path) -> dict[str, dict[str, object]]:
    """The ini the tests share, section by section, in file order: the synthetic archive ``archive`` (laid out by
    scripts/make_synthetic_aia.py), the programs of SPoCA/bin, the SPoCA configs of configs/, and every output
    folder under ``output`` (the ledger and the lock file are not given: they default to ``output``)."""
    programs, configs = REPO_ROOT / "SPoCA" / "bin", REPO_ROOT / "configs"
    return {
        "SDO_DATA": {"aia_file_pattern": f"{archive}/{ARCHIVE_PATTERN}", "hdu": 0, "ignore_quality_bits": 30},
        "CH_SEGMENTATION": {"executable": programs / "ch_segmentation.x",
                            "config_file": configs / "AIA.CH_segmentation.config",
                            "centers_file": output / "centers" / "ch_centers.txt", "wavelengths": 193,
                            "output_directory": output / "ch_maps"},
        "AR_SEGMENTATION": {"executable": programs / "ar_segmentation.x",
                            "config_file": configs / "AIA.AR_segmentation.config",
                            "centers_file": output / "centers" / "ar_centers.txt", "wavelengths": (171, 193),
                            "output_directory": output / "ar_maps"},
        "STAFF_STATS": {"executable": programs / "get_STAFF_stats.x",
                        "config_file": configs / "AIA.get_STAFF_stats.config", "wavelengths": (171, 193),
                        "output_directory": output / "staff_stats"},
        "IMAGE_STATS": {"wavelengths": (171, 193), "output_directory": output / "image_stats"},
        "OPERATIONS": {},
        "OVERLAYS": {"output_directory": output / "overlays"},
    }


def merge_sections(*layers: Sections) -> dict[str, dict[str, object] | None]:
    """``layers`` applied one over the other, key by key (a later ``None`` section drops the section)."""
    merged: dict[str, dict[str, object] | None] = {}
    for layer in layers:
        for section, values in layer.items():
            if values is None:
                merged[section] = None
            else:
                merged[section] = {**(merged.get(section) or {}), **values}
    return merged


def _ini_value(value: object) -> str:
    """A value as the ini writes it: lists as ``171, 193``, anything else as ``str``."""
    if isinstance(value, tuple | list):
        return ", ".join(str(item) for item in value)
    return str(value)


def write_pipeline_ini(path: Path, sections: Sections | str | None = None, *, script: str = "get_staff_stats",
                       archive: Path, output: Path) -> Path:
    """Write the ini ``path`` and return it.

    ``sections`` changes the :func:`default_sections` of ``archive`` and ``output``; the sections written are
    those ``script`` needs (:data:`SCRIPT_SECTIONS`) and those ``sections`` names, in the defaults' order. A
    string is a hand-written ini, written as it is.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(sections, str):
        path.write_text(sections, encoding="utf-8")
        return path
    changes = sections or {}
    defaults = default_sections(archive, output)
    names = [*dict.fromkeys([*SCRIPT_SECTIONS[script], *changes])]
    names.sort(key=lambda name: list(defaults).index(name) if name in defaults else len(defaults))
    merged = merge_sections({name: defaults.get(name, {}) for name in names}, changes)
    lines = []
    for name, values in merged.items():
        if values is not None:
            lines += [f"[{name}]", *(f"{key} = {_ini_value(value)}" for key, value in values.items()
                                     if value is not None)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def write_ini(tmp_path: Path) -> Callable[..., Path]:
    """``write_ini(path, sections=None, *, script="get_staff_stats", archive=tmp_path / "archive",
    output=tmp_path / "output") -> path``: see :func:`write_pipeline_ini`. For example
    ``write_ini(tmp_path / "test.ini", {"OPERATIONS": {"retry_attempts": 1}})``."""

    def writer(path: Path, sections: Sections | str | None = None, *, script: str = "get_staff_stats",
               archive: Path | None = None, output: Path | None = None) -> Path:
        return write_pipeline_ini(path, sections, script=script, archive=archive or tmp_path / "archive",
                                  output=output or tmp_path / "output")

    return writer


# -- the pipeline's outputs, from the contract ---------------------------------------------------------------

#: The header of a STAFF CSV (compat 8.8).
STAFF_CSV_HEADER = ("Channel", "Type", "ObservationDate", "MinIntensity", "MaxIntensity", "Mean", "Median",
                    "LowerQuartile", "UpperQuartile", "Variance", "Skewness", "Kurtosis", "TotalIntensity",
                    "Area_Raw", "Area_AtDiskCenter", "FillingFactor")
#: The types of its five rows, in file order (compat 8.8).
STAFF_CSV_TYPES = ("AR_all", "CH_central_meridian", "CH_ondisc", "AR_ondisc", "QS_ondisc")


class StaffOutputs:
    """The names and formats of get_staff_stats.py's outputs, written out from the contract; the checks read the
    files with astropy and csv and fail the test (``AssertionError``) on the first problem."""

    @staticmethod
    def map_name(step: datetime) -> str:
        """The map of a time step: ``YYYYmmdd_HHMMSS.SegmentedMap.fits`` (the pipeline's ``--output``, compat 1)."""
        return f"{step:%Y%m%d_%H%M%S}.SegmentedMap.fits"

    @staticmethod
    def csv_name(ch_map: Path | str, ar_map: Path | str, image: Path | str) -> str:
        """The STAFF CSV of ``image`` (compat 8.2): ``S(CH map)_and_S(AR map)_on_S(image).csv``, where ``S`` is the
        base name less its last suffix (``/x/20110319_105400.SegmentedMap.fits`` gives
        ``20110319_105400.SegmentedMap``)."""
        return f"{Path(ch_map).stem}_and_{Path(ar_map).stem}_on_{Path(image).stem}.csv"

    @staticmethod
    def segmentation_map(path: Path) -> np.ndarray:
        """The image of the map ``path``, checked: an HDU named SegmentedMap holding a 2-D integer image."""
        with fits.open(path) as hdus:
            names = [hdu.name for hdu in hdus]  # EXTNAME is case-insensitive (FITS 4.4.2.6)
            assert "SEGMENTEDMAP" in (name.upper() for name in names), f"{path}: no SegmentedMap HDU (HDUs: {names})"
            data = hdus["SegmentedMap"].data
            assert data is not None and data.ndim == 2, f"{path}: the SegmentedMap HDU is not a 2-D image"
            assert np.issubdtype(data.dtype, np.integer), f"{path}: the SegmentedMap image is {data.dtype}"
            return np.array(data)

    @staticmethod
    def staff_csv(path: Path) -> dict[str, dict[str, str]]:
        """The rows of the STAFF CSV ``path`` by type, checked: the header and the five rows of 16 fields whose
        types are, in order, :data:`STAFF_CSV_TYPES` (compat 8.8)."""
        with path.open(newline="", encoding="utf-8") as stream:
            header, *rows = list(csv.reader(stream))
        assert tuple(header) == STAFF_CSV_HEADER, f"{path}: header {header}"
        assert tuple(row[1] if len(row) > 1 else "" for row in rows) == STAFF_CSV_TYPES, f"{path}: rows {rows}"
        assert all(len(row) == len(STAFF_CSV_HEADER) for row in rows), f"{path}: a row without 16 fields"
        return {row[1]: dict(zip(STAFF_CSV_HEADER, row, strict=True)) for row in rows}


@pytest.fixture(scope="session")
def staff_outputs() -> type[StaffOutputs]:
    """The expected names and the checks of the pipeline's outputs (see :class:`StaffOutputs`)."""
    return StaffOutputs


# -- get_staff_stats.py with fake SPoCA programs ---------------------------------------------------------------

#: The first time step and the step of :class:`FakePipeline`'s archive.
FAKE_START = datetime(2026, 3, 20, 0, 0)
FAKE_STEP = timedelta(hours=6)

_FAKE_COMMON = r"""
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
    if behaviour == "timed":
        started = time.time()
        time.sleep(1.5)
        (HERE / f"{stage}.{step}.times").write_text(f"{started} {time.time()}")
    return behaviour != "nooutput"
"""

_FAKE_SEGMENTATION = _FAKE_COMMON + r"""
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
"""

_FAKE_STAFF = _FAKE_COMMON + r"""
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
"""


def _write_fake(path: Path, body: str, stage: str | None = None) -> Path:
    path.write_text(f"#!{sys.executable}\nSTAGE = {stage!r}\n{body}")
    path.chmod(0o755)
    return path


class FakePipeline:
    """get_staff_stats.py on a generated archive with fake SPoCA programs, and helpers to run it and read results.

    The fake programs are small Python scripts in ``root/fakes``; what each does at a time step is read from
    ``behaviour.json`` beside them (see :meth:`behave`): ``ok``, ``crash`` (exit 1 with a message), ``hang`` and
    ``pause`` (sleep, after writing their pid to ``<stage>.<step>.pid``), ``nooutput`` (exit 0 without writing),
    ``killed`` (SIGKILL themselves), ``timed`` (run 1.5 s and write when, as ``start end`` epoch seconds, to
    ``<stage>.<step>.times``). The fake segmentation behaves like the real one with its centres file: it
    starts from the first line, writes the map with the history it started from in its header (``STARTED``,
    ``DEPTH``) and prepends its own line to the file. The archive holds ``steps`` steps of :data:`FAKE_STEP` from
    :data:`FAKE_START`; the ini (``root/test.ini``) is the shared one (:func:`default_sections`) with the fakes.
    """

    #: The expected names and the checks of the outputs.
    outputs = StaffOutputs

    def __init__(self, root: Path, steps: int = 3, missing=(), operations: dict[str, object] | None = None,
                 staff_wavelengths: tuple[int, ...] = (171, 193)):
        self.root = root
        self.fakes = root / "fakes"
        self.fakes.mkdir()
        self.archive = root / "archive"
        self.output = root / "output"
        self.start, self.end = FAKE_START, FAKE_START + steps * FAKE_STEP
        self.staff_wavelengths = staff_wavelengths
        make_archive(self.archive, self.start, self.end, FAKE_STEP, sorted({171, 193, *staff_wavelengths}), size=64,
                     seed=1, missing=missing)
        spoca_config = self.fakes / "fake.config"
        spoca_config.write_text("# the fakes read no configuration\n")
        fakes = {
            "CH_SEGMENTATION": _write_fake(self.fakes / "ch_segmentation.x", _FAKE_SEGMENTATION, "ch_segmentation"),
            "AR_SEGMENTATION": _write_fake(self.fakes / "ar_segmentation.x", _FAKE_SEGMENTATION, "ar_segmentation"),
            "STAFF_STATS": _write_fake(self.fakes / "get_STAFF_stats.x", _FAKE_STAFF),
        }
        settings = {"retry_attempts": 2, "retry_initial_delay": 0, "retry_max_delay": 0, "job_timeout": 60}
        self.sections: Sections = merge_sections(
            {section: {"executable": program, "config_file": spoca_config} for section, program in fakes.items()},
            {"STAFF_STATS": {"wavelengths": staff_wavelengths}, "OPERATIONS": {**settings, **(operations or {})}})
        self.ini = self.root / "test.ini"
        self.write_ini()

    def write_ini(self, changes: Sections | None = None) -> Path:
        """(Re)write the ini from the current :attr:`archive` and :attr:`output`, with ``changes`` if any."""
        return write_pipeline_ini(self.ini, merge_sections(self.sections, changes or {}), archive=self.archive,
                                  output=self.output)

    def behave(self, **table: dict[str, str]) -> None:
        """What the fakes do: ``behave(ch_segmentation={"20260320_060000": "crash"})``; no argument: all ok."""
        (self.fakes / "behaviour.json").write_text(json.dumps(table))

    def argv(self, *extra: str) -> list[str]:
        return [str(self.ini), "-s", self.start.isoformat(), "-e", self.end.isoformat(), *extra]

    def run(self, *extra: str) -> int:
        import get_staff_stats

        return get_staff_stats.main(self.argv(*extra))

    def spawn(self, *extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(REPO_ROOT / "get_staff_stats.py"), *self.argv(*extra)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.root)

    def steps(self) -> list[datetime]:
        steps, step = [], self.start
        while step < self.end:
            steps.append(step)
            step += FAKE_STEP
        return steps

    def ch_map(self, step: datetime) -> Path:
        return self.output / "ch_maps" / StaffOutputs.map_name(step)

    def ar_map(self, step: datetime) -> Path:
        return self.output / "ar_maps" / StaffOutputs.map_name(step)

    def csvs(self, step: datetime, wavelengths: tuple[int, ...] | None = None) -> list[Path]:
        return [self.output / "staff_stats" / StaffOutputs.csv_name(
                    self.ch_map(step), self.ar_map(step), archive_path(self.archive, observation_time(step, w), w))
                for w in wavelengths or self.staff_wavelengths]

    def attempts(self, step: datetime | None = None, stage: str | None = None):
        from spoca4staff.ledger import Ledger

        with Ledger(self.output / "spoca4staff.ledger.sqlite") as ledger:
            return ledger.attempts(time_step=step, stage=stage)

    def assert_complete(self, step: datetime) -> None:
        """Both maps and every STAFF CSV of ``step`` are there and valid."""
        StaffOutputs.segmentation_map(self.ch_map(step))
        StaffOutputs.segmentation_map(self.ar_map(step))
        for path in self.csvs(step):
            StaffOutputs.staff_csv(path)

    def leftovers(self) -> list[Path]:
        """Anything half-written or temporary anywhere under the output folder."""
        return [path for path in self.output.rglob("*")
                if path.name.startswith(".") or path.suffix == ".tmp" or "partial" in path.name]

    def wait_for(self, marker: Path, process: subprocess.Popen, seconds: float = 120) -> int:
        """The pid a paused or hung fake wrote to ``marker``, once it did (``process`` is the pipeline)."""
        deadline = time.monotonic() + seconds
        while not marker.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{marker} never appeared: {process.communicate()}")
            time.sleep(0.05)
        time.sleep(0.1)
        return int(marker.read_text())

    def wait_until_done(self, step: datetime, stage: str, process: subprocess.Popen, seconds: float = 120) -> None:
        """Return once the ledger records ``stage`` of ``step`` done (``process`` is the pipeline running it)."""
        from spoca4staff.ledger import Outcome

        deadline = time.monotonic() + seconds
        while not any(record.outcome is Outcome.DONE for record in self.attempts(step, stage)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{stage} of {step} never done: {process.communicate()}")
            time.sleep(0.05)


@pytest.fixture
def fake_pipeline(tmp_path: Path) -> Callable[..., FakePipeline]:
    """``fake_pipeline(steps=3, missing=(), operations=None, staff_wavelengths=(171, 193))``: a
    :class:`FakePipeline` under tmp_path (one per test)."""
    return partial(FakePipeline, tmp_path)
