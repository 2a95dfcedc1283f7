"""The original spoca4staff's contract: its ini values, its file names and its command lines.

Operators replace the original checkout by this one and keep their crontab and ini files: the shipped
``AIA.quicklook.ini`` and ``AIA.science.ini`` must carry the original's values (written out literally below),
``SdoData`` must find files with the original's patterns, and the original's documented command lines
(``-c INI -s DATE -e DATE -i 6 -v LEVEL`` and the long forms) must run, as real subprocesses, on a small
synthetic archive laid out like the original's quicklook archive.
"""

from __future__ import annotations

import configparser
import csv
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from astropy.io import fits

import get_image_stats
import get_staff_stats
from spoca4staff.configuration import IMAGE_STATS_SECTIONS, load_configuration
from spoca4staff.ledger import Ledger, Outcome
from spoca4staff.command_line import normalise_verbose_arguments
from scripts.make_synthetic_aia import QUICKLOOK_QUALITY, observation_time, write_aia_file
from sdo_data import SdoData

REPO_ROOT = Path(__file__).resolve().parents[1]

_QUICKLOOK_PATTERN = (
    "/data/SDO/public/AIA_quicklook/{wavelength:04d}/{date.year:04d}/{date.month:02d}/{date.day:02d}/"
    "H{date.hour:02d}00/AIA.{date.year:04d}{date.month:02d}{date.day:02d}_{date.hour:02d}*.{wavelength:04d}.*.fits"
)
_SCIENCE_PATTERN = (
    "/data/SDO/public/AIA_HMI_1h_synoptic/aia.lev1.prepped/{wavelength:04d}/{date.year:04d}/{date.month:02d}/"
    "{date.day:02d}/AIA.{date.year:04d}{date.month:02d}{date.day:02d}_{date.hour:02d}*.{wavelength:04d}.*.fits"
)


def _original(kind: str, pattern: str, ignored: str, image_wavelengths: str) -> dict[str, dict[str, str]]:
    """The original's ini, section by section. The executables and SPoCA configs were absolute paths under
    /opt/spoca4staff in the original; ours are relative to the ini's folder (an improvement), so those four
    values are ours."""
    folder = f"/data/spoca/spoca4staff/aia_{kind}"
    return {
        "SDO_DATA": {"aia_file_pattern": pattern, "hdu": "0", "ignore_quality_bits": ignored},
        "AR_SEGMENTATION": {"executable": "../SPoCA/bin/ar_segmentation.x",
                            "config_file": "AIA.AR_segmentation.config",
                            "centers_file": f"{folder}/ar_centers.txt", "wavelengths": "171, 193",
                            "output_directory": f"{folder}/ar_segmentation_maps/"},
        "CH_SEGMENTATION": {"executable": "../SPoCA/bin/ch_segmentation.x",
                            "config_file": "AIA.CH_segmentation.config",
                            "centers_file": f"{folder}/ch_centers.txt", "wavelengths": "193",
                            "output_directory": f"{folder}/ch_segmentation_maps/"},
        "STAFF_STATS": {"executable": "../SPoCA/bin/get_STAFF_stats.x", "config_file": "AIA.get_STAFF_stats.config",
                        "wavelengths": "171, 193", "output_directory": f"{folder}/staff_stats/"},
        "IMAGE_STATS": {"wavelengths": image_wavelengths, "output_directory": f"{folder}/image_stats/", "hdu": "0"},
    }


ORIGINAL_INIS = {
    "AIA.quicklook.ini": _original("quicklook", _QUICKLOOK_PATTERN, "0, 1, 2, 3, 4, 8, 30",
                                   "94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500"),
    "AIA.science.ini": _original("science", _SCIENCE_PATTERN, "0, 1, 2, 3, 4, 8", "171, 193"),
}

#: Keys whose values are lists: compared as lists, whatever the separators.
_LIST_KEYS = {"ignore_quality_bits", "wavelengths"}


def _as_list(text: str) -> list[int]:
    return [int(item) for item in text.replace(",", " ").split()]


@pytest.mark.parametrize("name", sorted(ORIGINAL_INIS))
def test_shipped_ini_has_the_original_values_key_by_key(name):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO_ROOT / "configs" / name, encoding="utf-8")
    original = ORIGINAL_INIS[name]
    # Sections the original did not have ([OPERATIONS], [OVERLAYS]) hold no active key: every default is kept.
    assert set(parser.sections()) - {"OPERATIONS", "OVERLAYS"} == set(original)
    for section in set(parser.sections()) - set(original):
        assert parser.options(section) == [], f"[{section}] of {name} changes a default"
    for section, values in original.items():
        assert set(parser.options(section)) == set(values), f"[{section}] of {name}"
        for key, expected in values.items():
            shipped = parser[section][key]
            if key in _LIST_KEYS:
                assert _as_list(shipped) == _as_list(expected), f"[{section}] {key} of {name}"
            else:
                assert shipped == expected, f"[{section}] {key} of {name}"


@pytest.mark.parametrize(("name", "kind"), [("AIA.quicklook.ini", "quicklook"), ("AIA.science.ini", "science")])
def test_defaults_beside_the_original_output_folders(name, kind, spoca_programs):
    """The ledger and the lock default to the folder holding the original's output folders (trailing slashes
    included), and ``python -m spoca4staff.configuration`` accepts the ini."""
    config = load_configuration(REPO_ROOT / "configs" / name, IMAGE_STATS_SECTIONS)
    folder = Path(f"/data/spoca/spoca4staff/aia_{kind}")
    assert config.operations.ledger == folder / "spoca4staff.ledger.sqlite"
    assert config.operations.lock_file == folder / "spoca4staff.lock"
    assert config.operations.look_back_hours == 48 and config.operations.interval_hours == 6
    assert config.image_stats.output_directory == folder / "image_stats"
    checked = subprocess.run([sys.executable, "-m", "spoca4staff.configuration", str(REPO_ROOT / "configs" / name)],
                             capture_output=True, text=True, check=False, timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert f"output_directory=PosixPath('{folder}/ch_segmentation_maps')" in checked.stdout
    assert f"executable=PosixPath('{REPO_ROOT}/SPoCA/bin/ch_segmentation.x')" in checked.stdout


# -- the original's file names ---------------------------------------------------------------------------------

STEP = datetime(2026, 3, 20, 12, 0)


def _original_name(observation: datetime, wavelength: int, suffix: str = "image_lev1") -> str:
    return f"AIA.{observation:%Y%m%d_%H%M%S}.{wavelength:04d}.{suffix}.fits"


def _quicklook_file(root: Path, observation: datetime, wavelength: int, quality: int, **options) -> Path:
    """A file of the original's quicklook archive under ``root`` (…/WWWW/YYYY/MM/DD/H<hour>00/AIA.….fits)."""
    path = (root / f"{wavelength:04d}" / f"{observation:%Y/%m/%d}" / f"H{observation:%H}00"
            / _original_name(observation, wavelength))
    return write_aia_file(path, observation, wavelength, quality=quality, **options)


def _shipped_pattern(name: str, archive_root: str, root: Path) -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO_ROOT / "configs" / name, encoding="utf-8")
    pattern = parser["SDO_DATA"]["aia_file_pattern"]
    assert pattern.startswith(archive_root)
    return str(root) + pattern[len(archive_root):]


def test_original_quicklook_pattern_takes_the_first_good_file_of_the_hour(tmp_path):
    """``_HH*`` is any file of the hour: the first good QUALITY in sorted order, with the original's ignored bits."""
    config = load_configuration(REPO_ROOT / "configs" / "AIA.quicklook.ini", IMAGE_STATS_SECTIONS)
    pattern = _shipped_pattern("AIA.quicklook.ini", "/data/SDO/public/AIA_quicklook", tmp_path)
    sdo = SdoData(pattern, ignore_quality_bits=config.sdo_data.ignore_quality_bits, hdu=config.sdo_data.hdu)
    incomplete = QUICKLOOK_QUALITY | 0b11111 | (1 << 8)  # records missing, some missing pixels: still used
    _quicklook_file(tmp_path, STEP - timedelta(seconds=3), 193, QUICKLOOK_QUALITY, size=32)  # hour 11: not this step
    dark = _quicklook_file(tmp_path, STEP + timedelta(seconds=3), 193, QUICKLOOK_QUALITY | (1 << 16), size=32)
    chosen = _quicklook_file(tmp_path, STEP + timedelta(minutes=7, seconds=15), 193, incomplete, size=32)
    _quicklook_file(tmp_path, STEP + timedelta(minutes=7, seconds=27), 193, 0, size=32)
    end_of_hour = _quicklook_file(tmp_path, STEP + timedelta(minutes=59, seconds=50), 171, QUICKLOOK_QUALITY,
                                  size=32)
    _quicklook_file(tmp_path, STEP + timedelta(hours=6, seconds=3), 193, QUICKLOOK_QUALITY | (1 << 9), size=32)
    assert chosen.name == "AIA.20260320_120715.0193.image_lev1.fits"
    selection = sdo.get_AIA_selection(STEP, 193)
    assert selection.chosen == chosen
    assert [Path(candidate) for candidate, _ in selection.rejected] == [dark]
    assert sdo.get_AIA_file(STEP, 171) == end_of_hour
    assert sdo.get_AIA_file(STEP + timedelta(hours=6), 193) is None  # bit 9 is not ignored
    assert sdo.get_AIA_file(STEP - timedelta(hours=1), 171) is None


def test_original_science_pattern(tmp_path):
    config = load_configuration(REPO_ROOT / "configs" / "AIA.science.ini", IMAGE_STATS_SECTIONS)
    pattern = _shipped_pattern("AIA.science.ini", "/data/SDO/public/AIA_HMI_1h_synoptic", tmp_path)
    sdo = SdoData(pattern, ignore_quality_bits=config.sdo_data.ignore_quality_bits, hdu=config.sdo_data.hdu)
    folder = tmp_path / "aia.lev1.prepped" / "0193" / "2026" / "03" / "20"
    quicklook = write_aia_file(folder / _original_name(STEP, 193, "lev15"), STEP, 193, size=32,
                               quality=QUICKLOOK_QUALITY)
    good = write_aia_file(folder / _original_name(STEP + timedelta(seconds=30), 193, "lev15"), STEP, 193, size=32,
                          quality=1 << 3)
    selection = sdo.get_AIA_selection(STEP, 193)
    assert selection.chosen == good  # bit 30 is not ignored for science data; bit 3 is
    assert [Path(candidate) for candidate, _ in selection.rejected] == [quicklook]


# -- the original's command lines ----------------------------------------------------------------------------

T0 = datetime(2026, 3, 20)
SIZE = 256


@pytest.fixture(scope="module")
def original_archive(tmp_path_factory) -> Path:
    """Two 6-hour steps of 171, 193 and 4500 in the original's quicklook layout and names. The files have the
    quicklook bit and a missing flat-field record (bit 0), which the original ignores."""
    root = tmp_path_factory.mktemp("original") / "AIA_quicklook"
    for step in (T0, T0 + timedelta(hours=6)):
        for wavelength in (171, 193, 4500):
            _quicklook_file(root, observation_time(step, wavelength), wavelength, QUICKLOOK_QUALITY | 1, size=SIZE,
                            seed=4, rotation_epoch=T0)
    return root


@pytest.fixture
def original_ini(original_archive, tmp_path, spoca_programs, write_ini) -> tuple[Path, Path]:
    """The shipped AIA.quicklook.ini with only its roots moved: the archive to the synthetic one, the outputs under
    tmp_path, and the programs and SPoCA configs to this checkout's."""
    text = (REPO_ROOT / "configs" / "AIA.quicklook.ini").read_text()
    output = tmp_path / "aia_quicklook"
    for old, new in (("/data/SDO/public/AIA_quicklook", str(original_archive)),
                     ("/data/spoca/spoca4staff/aia_quicklook", str(output)),
                     ("= ../SPoCA/bin/", f"= {REPO_ROOT}/SPoCA/bin/"),
                     ("config_file = AIA.", f"config_file = {REPO_ROOT}/configs/AIA.")):
        assert old in text
        text = text.replace(old, new)
    return write_ini(tmp_path / "AIA.quicklook.ini", text), output  # the shipped text, on purpose


def _run(script: str, *arguments: str) -> subprocess.CompletedProcess:
    """The script as a crontab runs it, in a local time zone far from UTC (naive dates must still be UTC)."""
    environment = dict(os.environ, TZ="America/New_York")
    return subprocess.run([sys.executable, str(REPO_ROOT / script), *arguments], capture_output=True, text=True,
                          check=False, timeout=300, env=environment)


def _levels(log: str) -> set[str]:
    """The levels of the log lines (``<time>Z LEVEL name: message``)."""
    return {line.split()[1] for line in log.splitlines() if line[:4].isdigit() and len(line.split()) > 1}


def _image(archive: Path, step: datetime, wavelength: int) -> Path:
    observation = observation_time(step, wavelength)
    return (archive / f"{wavelength:04d}" / f"{observation:%Y/%m/%d}" / f"H{observation:%H}00"
            / _original_name(observation, wavelength))


def test_get_staff_stats_original_command_lines(original_ini, original_archive, staff_outputs):
    ini, output = original_ini
    short = _run("get_staff_stats.py", "-c", str(ini), "-s", "2026-03-20", "-e", "2026-03-20T12:00:00", "-i", "6",
                 "-v", "INFO")
    assert short.returncode == 0, short.stderr
    assert _levels(short.stderr) == {"INFO"}
    for step in (T0, T0 + timedelta(hours=6)):  # 00:00 and 06:00 UTC, whatever the local time zone
        name = f"{step:%Y%m%d_%H%M%S}.SegmentedMap.fits"
        ch_map, ar_map = output / "ch_segmentation_maps" / name, output / "ar_segmentation_maps" / name
        staff_outputs.segmentation_map(ch_map)
        staff_outputs.segmentation_map(ar_map)
        for wavelength in (171, 193):
            image = _image(original_archive, step, wavelength)
            # The original's name: <CH map stem>_and_<AR map stem>_on_<image stem>.csv (compat 8.2), written out.
            staff_outputs.staff_csv(output / "staff_stats" / f"{step:%Y%m%d_%H%M%S}.SegmentedMap_and_"
                                    f"{step:%Y%m%d_%H%M%S}.SegmentedMap_on_{image.name[:-len('.fits')]}.csv")
    assert len((output / "ch_centers.txt").read_text().splitlines()) == 2
    assert len((output / "ar_centers.txt").read_text().splitlines()) == 2
    with Ledger(output / "spoca4staff.ledger.sqlite") as ledger:
        assert [record.outcome for record in ledger.attempts()] == [Outcome.DONE] * 6

    # The long forms, at DEBUG: everything is already done, which is said at debug level only.
    long = _run("get_staff_stats.py", "--config-file", str(ini), "--start-date", "2026-03-20T00:00:00",
                "--end-date", "2026-03-20T12:00:00", "--interval", "6", "--verbose", "DEBUG")
    assert long.returncode == 0, long.stderr
    assert "2026-03-20T06:00:00 staff_stats: already done, skipped" in long.stderr
    assert "DEBUG" in _levels(long.stderr)

    # ERROR: errors only. A run that only skips done work logs nothing at all.
    quiet = _run("get_staff_stats.py", "-c", str(ini), "-s", "2026-03-20", "-e", "2026-03-20T12:00:00", "-i", "6",
                 "-v", "ERROR")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_get_image_stats_original_command_lines(original_ini, original_archive, write_ini):
    ini, output = original_ini
    long = _run("get_image_stats.py", "--config-file", str(ini), "--start-date", "2026-03-20",
                "--end-date", "2026-03-20T12:00", "--interval", "6", "--verbose", "INFO")
    assert long.returncode == 0, long.stderr
    assert _levels(long.stderr) == {"INFO"}
    written = sorted(path.name for path in (output / "image_stats").iterdir())
    images = [_image(original_archive, step, wavelength) for step in (T0, T0 + timedelta(hours=6))
              for wavelength in (171, 193, 4500)]
    # The original's names: the image name with its last suffix .fits replaced by .csv.
    assert written == sorted(image.name[:-len(".fits")] + ".csv" for image in images)
    for image in images:
        with (output / "image_stats" / (image.name[:-len(".fits")] + ".csv")).open(newline="") as stream:
            row, = csv.DictReader(stream)
        assert row["DATE_OBS"] == fits.getval(image, "T_OBS", 1)
        assert row["WAVELENGTH"] == str(fits.getval(image, "WAVELNTH", 1))

    # ERROR logs errors only: a 193 image without EXPTIME fails its step (exit status 1); the information lines
    # (and the warning naming the file) are not shown, the error is.
    broken_archive = output.parent / "broken_archive"
    for wavelength, drop in ((171, ()), (193, ("EXPTIME",))):
        _quicklook_file(broken_archive, observation_time(T0, wavelength), wavelength, QUICKLOOK_QUALITY, size=64,
                        drop_keywords=drop)
    broken_text = ini.read_text().replace(str(original_archive), str(broken_archive))
    broken_text = broken_text.replace(str(output), str(output.parent / "broken_output"))
    broken_ini = write_ini(ini.with_name("broken.ini"), broken_text)
    errors = _run("get_image_stats.py", "-c", str(broken_ini), "-s", "2026-03-20", "-e", "2026-03-20T06:00",
                  "-i", "6", "-v", "ERROR")
    assert errors.returncode == 1
    assert _levels(errors.stderr) == {"ERROR"}
    assert "keyword EXPTIME missing" in errors.stderr
    assert len(list((output.parent / "broken_output" / "image_stats").iterdir())) == 1  # the 171 one


def test_new_forms_keep_working(original_ini, original_archive):
    """The positional ini, a bare -v (before or after the ini) for DEBUG, and the look-back window without -s."""
    ini, output = original_ini
    bare = _run("get_image_stats.py", "-v", str(ini), "-s", "2026-03-20T06:00:00Z", "-e", "2026-03-20T12:00")
    assert bare.returncode == 0, bare.stderr
    assert "DEBUG" in _levels(bare.stderr)
    assert sorted(path.name for path in (output / "image_stats").iterdir()) == sorted(
        _image(original_archive, T0 + timedelta(hours=6), wavelength).name.replace(".fits", ".csv")
        for wavelength in (171, 193, 4500))
    window = _run("get_image_stats.py", str(ini), "--end-date", "2026-03-20T12:00", "-v")
    assert window.returncode == 0, window.stderr
    assert "get_image_stats: 8 time step(s) to run from 2026-03-18T12:00:00 to 2026-03-20T06:00:00" in window.stderr
    assert "2026-03-20T06:00:00 image_stats: already done, skipped" in window.stderr
    assert len(list((output / "image_stats").iterdir())) == 6
    bad = _run("get_image_stats.py", str(ini), "--verbose=LOUD", "-s", "2026-03-20")
    assert bad.returncode == 2 and "'LOUD' is not a log level (DEBUG, INFO, ERROR)" in bad.stderr
    # A bare -v followed by something that is not a level: DEBUG, and "LOUD" is an extra argument.
    extra = _run("get_image_stats.py", str(ini), "-v", "LOUD", "-s", "2026-03-20")
    assert extra.returncode == 2 and "unrecognized arguments: LOUD" in extra.stderr


@pytest.mark.parametrize(("argv", "level", "config"), [
    (["-c", "a.ini", "-v", "DEBUG"], "DEBUG", None),
    (["--config-file", "a.ini", "--verbose", "ERROR"], "ERROR", None),
    (["-c", "a.ini", "-v", "INFO", "-s", "2026-03-20"], "INFO", None),
    (["-c", "a.ini"], "INFO", None),
    (["a.ini", "-v"], "DEBUG", "a.ini"),
    (["-v", "a.ini"], "DEBUG", "a.ini"),
    (["--verbose", "a.ini", "-s", "2026-03-20"], "DEBUG", "a.ini"),
    (["a.ini", "-v", "-s", "2026-03-20"], "DEBUG", "a.ini"),
    (["a.ini", "--verbose=error"], "ERROR", "a.ini"),
])
def test_verbose_level_or_bare_flag(argv, level, config):
    """``-v LEVEL`` as the original; a bare ``-v`` means DEBUG, even right before the positional ini."""
    for parser in (get_staff_stats.build_parser(), get_image_stats.build_parser()):
        args = parser.parse_args(normalise_verbose_arguments(argv))
        assert args.verbose == level
        assert args.config == (Path(config) if config else None)
        assert args.config_file == (None if config else Path("a.ini"))
