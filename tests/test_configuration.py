"""Tests of configuration.py: loading, path resolution, per-need validation and error messages."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from dataclasses import FrozenInstanceError
from datetime import datetime
from pathlib import Path
from textwrap import dedent

import pytest

from spoca4staff.configuration import (
    IMAGE_STATS_SECTIONS,
    STAFF_SECTIONS,
    ConfigurationError,
    load_configuration,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

#: A hand-written ini on purpose (written as it is by conftest's ``write_ini``): paths relative to its folder, the
#: list forms the original accepted (``171 193``, ``[94, 131, 171]``), and text the error cases edit.
TEMPLATE = dedent("""\
    [SDO_DATA]
    aia_file_pattern = archive/{wavelength:04d}/AIA{date:%Y%m%d_%H%M}??_{wavelength:04d}.fits
    hdu = 0
    ignore_quality_bits = 30, 31

    [CH_SEGMENTATION]
    executable = bin/ch_segmentation.x
    config_file = AIA.CH_segmentation.config
    centers_file = out/centers/ch_centers.txt
    wavelengths = 193
    output_directory = out/ch_maps

    [AR_SEGMENTATION]
    executable = bin/ar_segmentation.x
    config_file = AIA.AR_segmentation.config
    centers_file = out/centers/ar_centers.txt
    wavelengths = 171, 193
    output_directory = out/ar_maps

    [STAFF_STATS]
    executable = bin/get_STAFF_stats.x
    config_file = AIA.get_STAFF_stats.config
    wavelengths = 171 193
    output_directory = out/staff_stats

    [IMAGE_STATS]
    wavelengths = [94, 131, 171]
    output_directory = out/image_stats
    hdu = 1
    """)


@pytest.fixture
def setup(tmp_path):
    """A folder with the executables and SPoCA configs the template names; returns the ini's folder."""
    folder = tmp_path / "configs"
    (folder / "bin").mkdir(parents=True)
    for name in ("ch_segmentation.x", "ar_segmentation.x", "get_STAFF_stats.x"):
        program = folder / "bin" / name
        program.write_text("#!/bin/false\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
    for name in ("CH_segmentation", "AR_segmentation", "get_STAFF_stats"):
        (folder / f"AIA.{name}.config").write_text("type=HFCM\n")
    return folder


def replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def test_loads_typed_values_with_paths_relative_to_the_ini(setup, write_ini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the ini's folder: relative paths must not depend on it
    ini = write_ini(setup / "test.ini", TEMPLATE)
    config = load_configuration(Path("configs/test.ini"), (*STAFF_SECTIONS, "IMAGE_STATS"))
    assert config.path == ini
    sdo = config.sdo_data
    pattern = "/archive/{wavelength:04d}/AIA{date:%Y%m%d_%H%M}??_{wavelength:04d}.fits"
    assert sdo.aia_file_pattern == str(setup) + pattern
    assert sdo.hdu == 0 and sdo.ignore_quality_bits == (30, 31)
    assert sdo.hmi_file_pattern is None and sdo.quality_keyword is None and sdo.cache_directory is None
    assert config.ch_segmentation.executable == setup / "bin" / "ch_segmentation.x"
    assert config.ch_segmentation.config_file == setup / "AIA.CH_segmentation.config"
    assert config.ch_segmentation.centers_file == setup / "out" / "centers" / "ch_centers.txt"
    assert config.ch_segmentation.wavelengths == (193,)
    assert config.ar_segmentation.wavelengths == (171, 193)
    assert config.staff_stats.wavelengths == (171, 193)
    assert config.staff_stats.output_directory == setup / "out" / "staff_stats"
    assert config.image_stats.wavelengths == (94, 131, 171)
    assert config.image_stats.hdu == 1
    assert config.overlays is None
    with pytest.raises(FrozenInstanceError):
        config.sdo_data.hdu = 1


def test_operations_defaults_are_beside_the_outputs(setup, write_ini):
    config = load_configuration(write_ini(setup / "test.ini", TEMPLATE), IMAGE_STATS_SECTIONS)
    operations = config.operations
    assert operations.ledger.parent == setup / "out"
    assert operations.lock_file.parent == setup / "out"
    assert operations.ledger != operations.lock_file
    assert (operations.look_back_hours, operations.interval_hours, operations.job_timeout) == (48, 6, 900)
    assert (operations.retry_attempts, operations.retry_initial_delay, operations.retry_max_delay) == (3, 10, 300)
    # Every script run on the same ini shares the ledger, whichever sections it needs.
    assert load_configuration(setup / "test.ini", STAFF_SECTIONS).operations == operations


def test_operations_and_overlays_from_the_ini(setup, write_ini, tmp_path):
    text = TEMPLATE + dedent(f"""
        [OPERATIONS]
        ledger = state/ledger.sqlite
        lock_file = {tmp_path}/run.lock
        look_back_hours = 24
        interval_hours = 1.5
        job_timeout = 60
        retry_attempts = 5
        retry_initial_delay = 0
        retry_max_delay = 2

        [OVERLAYS]
        output_directory = /absolute/overlays
        """)
    config = load_configuration(write_ini(setup / "test.ini", text), IMAGE_STATS_SECTIONS)
    operations = config.operations
    assert operations.ledger == setup / "state" / "ledger.sqlite"
    assert operations.lock_file == tmp_path / "run.lock"
    assert (operations.look_back_hours, operations.interval_hours, operations.job_timeout) == (24, 1.5, 60)
    assert (operations.retry_attempts, operations.retry_initial_delay, operations.retry_max_delay) == (5, 0, 2)
    assert config.overlays.output_directory == Path("/absolute/overlays")


def test_remote_keys_are_optional_and_parsed(setup, write_ini):
    text = replace(TEMPLATE, "hdu = 0\n", dedent("""\
        hdu = 0
        quality_keyword = QUALLEV0
        hmi_file_pattern = /hmi/{date:%Y%m%d}.fits
        cache_directory = cache
        cache_size_limit = 2G
        http_timeout = 30
        http_retry_attempts = 4
        http_retry_initial_delay = 1.5
        http_retry_max_delay = 60
        """))
    sdo = load_configuration(write_ini(setup / "test.ini", text), ["SDO_DATA"]).sdo_data
    assert sdo.quality_keyword == "QUALLEV0"
    assert sdo.hmi_file_pattern == "/hmi/{date:%Y%m%d}.fits"
    assert sdo.cache_directory == setup / "cache"
    assert sdo.cache_size_limit == 2 * 1024**3
    assert (sdo.http_timeout, sdo.http_retry_attempts, sdo.http_retry_initial_delay, sdo.http_retry_max_delay) \
        == (30, 4, 1.5, 60)


def test_url_patterns_are_kept_as_they_are(setup, write_ini):
    url = "https://sdo.oma.be/data/aia_quicklook/{wavelength:04d}/AIA{date:%Y%m%d_%H%M}??_{wavelength:04d}.fits"
    text = replace(TEMPLATE, "archive/{wavelength:04d}/AIA{date:%Y%m%d_%H%M}??_{wavelength:04d}.fits", url)
    assert load_configuration(write_ini(setup / "test.ini", text), ["SDO_DATA"]).sdo_data.aia_file_pattern == url


def test_validation_is_per_need(setup, write_ini):
    """get_image_stats.py must work although the SPoCA programs are missing."""
    text = replace(TEMPLATE, "bin/ch_segmentation.x", "bin/not_built.x")
    text = re.sub(r"\[STAFF_STATS\][^[]*", "", text)
    config = load_configuration(write_ini(setup / "test.ini", text), IMAGE_STATS_SECTIONS)
    assert config.ch_segmentation is None and config.staff_stats is None
    assert config.image_stats is not None
    with pytest.raises(ConfigurationError, match=r"\[CH_SEGMENTATION\] executable: .*not_built.x does not exist"):
        load_configuration(setup / "test.ini", STAFF_SECTIONS)


@pytest.mark.parametrize(("old", "new", "section", "key", "problem"), [
    ("[STAFF_STATS]", "[STAFF]", "STAFF", None, "unknown section (did you mean [STAFF_STATS]?)"),
    ("hdu = 0\n", "", "SDO_DATA", "hdu", "missing key"),
    ("hdu = 0\n", "hdu = primary\n", "SDO_DATA", "hdu", "'primary' is not an integer"),
    ("hdu = 0\n", "hdu = -1\n", "SDO_DATA", "hdu", "below the minimum 0"),
    ("ignore_quality_bits = 30, 31", "ignore_quality_bits = 32", "SDO_DATA", "ignore_quality_bits", "0 to 31"),
    ("ignore_quality_bits = 30, 31", "ignore_quality_bits = thirty", "SDO_DATA", "ignore_quality_bits",
     "not a list of integers"),
    ("aia_file_pattern = archive/{wavelength:04d}", "aia_file_pattern = archive/{channel}", "SDO_DATA",
     "aia_file_pattern", "not a valid pattern"),
    ("wavelengths = 193\n", "wavelengths = 19x3\n", "CH_SEGMENTATION", "wavelengths", "not a list of integers"),
    ("wavelengths = 193\n", "wavelengths = 171, 193\n", "CH_SEGMENTATION", "wavelengths",
     "expected exactly 1 wavelength, got 2"),
    ("wavelengths = 171, 193\n", "wavelengths = 171\n", "AR_SEGMENTATION", "wavelengths",
     "expected exactly 2 wavelengths, got 1"),
    ("wavelengths = 171 193\n", "wavelengths = \n", "STAFF_STATS", "wavelengths", "empty value"),
    ("output_directory = out/ch_maps\n", "", "CH_SEGMENTATION", "output_directory", "missing key"),
    ("config_file = AIA.AR_segmentation.config", "config_file = nowhere.config", "AR_SEGMENTATION",
     "config_file", "nowhere.config does not exist"),
    ("executable = bin/get_STAFF_stats.x", "executable = bin", "STAFF_STATS", "executable", "is not a file"),
    ("[IMAGE_STATS]\nwavelengths", "[IMAGE_STATS]\nhdu = 1\nwavelengths", "IMAGE_STATS", None, "not a valid ini"),
])
def test_one_clear_error_naming_file_section_and_key(setup, write_ini, old, new, section, key, problem):
    ini = write_ini(setup / "test.ini", replace(TEMPLATE, old, new))
    with pytest.raises(ConfigurationError) as caught:
        load_configuration(ini, (*STAFF_SECTIONS, "IMAGE_STATS"))
    error = caught.value
    message = str(error)
    assert problem in message
    assert message.startswith(str(ini))
    if "not a valid ini" not in problem:
        assert (error.section, error.key) == (section, key)
        assert f"[{section}]" in message
        if key is not None:
            assert f"[{section}] {key}:" in message


def test_executable_must_be_executable(setup, write_ini):
    (setup / "bin" / "ar_segmentation.x").chmod(0o644)
    if os.access(setup / "bin" / "ar_segmentation.x", os.X_OK):
        pytest.skip("running as a user who can execute any file")
    with pytest.raises(ConfigurationError, match=r"\[AR_SEGMENTATION\] executable: .* is not executable"):
        load_configuration(write_ini(setup / "test.ini", TEMPLATE), STAFF_SECTIONS)


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("job_timeout", "0", "not a positive finite number"),
    ("look_back_hours", "two days", "'two days' is not a number"),
    ("retry_attempts", "0", "below the minimum 1"),
    ("retry_initial_delay", "-1", "not a non-negative finite number"),
    ("interval_hours", "nan", "not a positive finite number"),
])
def test_bad_operations_values(setup, write_ini, key, value, problem):
    ini = write_ini(setup / "test.ini", TEMPLATE + f"\n[OPERATIONS]\n{key} = {value}\n")
    with pytest.raises(ConfigurationError, match=rf"\[OPERATIONS\] {key}: .*{problem}"):
        load_configuration(ini, IMAGE_STATS_SECTIONS)


def test_missing_or_unreadable_ini(tmp_path):
    with pytest.raises(ConfigurationError, match=r"nothing.ini: cannot read the file"):
        load_configuration(tmp_path / "nothing.ini", IMAGE_STATS_SECTIONS)


def test_output_directories_are_created_on_demand_only(setup, write_ini):
    config = load_configuration(write_ini(setup / "test.ini", TEMPLATE), (*STAFF_SECTIONS, "IMAGE_STATS"))
    out = setup / "out"
    assert not out.exists()
    config.create_output_directories()
    for name in ("ch_maps", "ar_maps", "staff_stats", "image_stats", "centers"):
        assert (out / name).is_dir()
    config.create_output_directories()  # idempotent


def test_output_directory_that_cannot_be_created(setup, write_ini):
    (setup / "out").write_text("a file where a folder should be")
    config = load_configuration(write_ini(setup / "test.ini", TEMPLATE), IMAGE_STATS_SECTIONS)
    with pytest.raises(ConfigurationError, match=r"cannot create the output folder .*image_stats"):
        config.create_output_directories()


@pytest.mark.parametrize("name", ["AIA.quicklook.ini", "AIA.science.ini", "AIA.demo.ini"])
def test_shipped_configs_load(name):
    """The shipped inis are complete; the SPoCA sections need the built programs and SPoCA configs."""
    ini = REPO_ROOT / "configs" / name
    config = load_configuration(ini, IMAGE_STATS_SECTIONS)
    assert config.sdo_data.hdu == 0
    assert set(config.image_stats.wavelengths) >= {171, 193}
    assert "{wavelength:04d}" in config.sdo_data.aia_file_pattern
    programs = [REPO_ROOT / "SPoCA" / "bin" / f"{p}.x" for p in ("ch_segmentation", "ar_segmentation",
                                                                  "get_STAFF_stats")]
    spoca_configs = [REPO_ROOT / "configs" / f"AIA.{c}.config" for c in ("CH_segmentation", "AR_segmentation",
                                                                         "get_STAFF_stats")]
    if not all(path.exists() for path in programs + spoca_configs):
        pytest.skip("the SPoCA programs are not built or their configs are missing")
    config = load_configuration(ini, STAFF_SECTIONS)
    assert config.ch_segmentation.executable == programs[0]
    assert config.ch_segmentation.wavelengths == (193,)
    assert config.ar_segmentation.wavelengths == (171, 193)


def test_demo_config_layout():
    config = load_configuration(REPO_ROOT / "configs" / "AIA.demo.ini", IMAGE_STATS_SECTIONS)
    demo = REPO_ROOT / "demo"
    assert config.sdo_data.aia_file_pattern.startswith(str(demo / "archive") + "/")
    assert config.image_stats.output_directory == demo / "output" / "image_stats"
    assert config.image_stats.wavelengths == (94, 131, 171, 193, 211, 304, 335, 1600, 1700)
    assert config.sdo_data.ignore_quality_bits == (30,)
    assert config.overlays.output_directory == demo / "output" / "overlays"
    assert config.operations.ledger.parent == demo / "output"


def test_script_exit_status_2_on_error(setup, write_ini):
    ini = write_ini(setup / "test.ini", replace(TEMPLATE, "hdu = 0\n", "hdu = x\n"))
    completed = subprocess.run([sys.executable, "-m", "spoca4staff.configuration", str(ini)],
                               capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.strip() == f"{ini}: [SDO_DATA] hdu: 'x' is not an integer"


def test_make_sdo_data_passes_the_settings_through(setup, write_ini):
    text = replace(TEMPLATE, "hdu = 0\n", "hdu = 0\nquality_keyword = QUALLEV0\ncache_directory = cache\n"
                                          "http_timeout = 12\nhttp_retry_attempts = 2\n")
    config = load_configuration(write_ini(setup / "test.ini", text), IMAGE_STATS_SECTIONS)
    sdo_data = config.make_sdo_data()
    assert sdo_data.aia_file_pattern == config.sdo_data.aia_file_pattern
    assert tuple(sdo_data.ignore_quality_bits) == (30, 31)
    assert sdo_data.hdu == 0 and sdo_data.quality_keyword == "QUALLEV0"
    assert sdo_data.cache_directory == setup / "cache"
    assert sdo_data.http_timeout == 12 and sdo_data.http_retry_attempts == 2


def test_make_sdo_data_finds_the_good_file(setup, write_ini, aia_factory, tmp_path):
    good = aia_factory(193, name="archive/0193/AIA20260320_000009_0193.fits", size=64, quality=1 << 30)
    aia_factory(193, name="archive/0193/AIA20260320_000001_0193.fits", size=64, quality=1)
    text = replace(TEMPLATE, "archive/{wavelength:04d}", f"{tmp_path}/archive/{{wavelength:04d}}")
    sdo_data = load_configuration(write_ini(setup / "test.ini", text), ["SDO_DATA"]).make_sdo_data()
    assert sdo_data.get_AIA_file(datetime(2026, 3, 20, 0, 0), 193) == good


def test_unknown_keys_are_reported(setup, write_ini, caplog):
    text = TEMPLATE + "\n[OPERATIONS]\njob_timout = 60\n"
    with caplog.at_level("WARNING", logger="configuration"):
        ini = write_ini(setup / "test.ini", replace(text, "hdu = 1\n", "hdu = 1\nwavelenghts = 1\n"))
        config = load_configuration(ini, IMAGE_STATS_SECTIONS)
    assert config.operations.job_timeout == 900
    assert "[OPERATIONS] job_timout: unknown key" in caplog.text
    assert "[IMAGE_STATS] wavelenghts: unknown key" in caplog.text


# -- faults of issue 12 ----------------------------------------------------------------------------------------


def _check(ini: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spoca4staff.configuration", str(ini)], capture_output=True,
                          text=True, check=False, timeout=120)


def test_unknown_section_is_an_error_naming_it(setup, write_ini):
    ini = write_ini(setup / "test.ini", replace(TEMPLATE, "[CH_SEGMENTATION]", "[CH_SEGMENTATON]"))
    with pytest.raises(ConfigurationError) as caught:
        load_configuration(ini, IMAGE_STATS_SECTIONS)  # even for a script that does not need the section
    assert str(caught.value) == f"{ini}: [CH_SEGMENTATON]: unknown section (did you mean [CH_SEGMENTATION]?)"
    completed = _check(ini)
    assert completed.returncode == 2 and completed.stderr.strip() == str(caught.value)


def test_output_directory_that_is_a_file_is_a_configuration_error(setup, write_ini):
    (setup / "out").mkdir()
    (setup / "out" / "ar_maps").write_text("not a folder\n")
    ini = write_ini(setup / "test.ini", TEMPLATE)
    completed = _check(ini)
    assert completed.returncode == 2
    assert completed.stderr.strip() == \
        f"{ini}: [AR_SEGMENTATION] output_directory: {setup / 'out' / 'ar_maps'} exists and is not a folder"


def test_ini_that_is_not_utf8_is_one_line(setup, repo_root):
    ini = setup / "latin1.ini"
    ini.write_bytes(TEMPLATE.replace("hdu = 0", "# r\xe9glage\nhdu = 0").encode("latin-1"))
    completed = _check(ini)
    assert completed.returncode == 2
    position = TEMPLATE.replace("hdu = 0", "# r\xe9glage\nhdu = 0").encode("latin-1").index(b"\xe9")
    assert completed.stderr.strip() == f"{ini}: not UTF-8 text (byte 0xe9 at position {position}): save it as UTF-8"
    pipeline = subprocess.run([sys.executable, str(repo_root / "get_image_stats.py"), str(ini), "-s", "2026-03-20",
                               "-e", "2026-03-21"], capture_output=True, text=True, check=False, timeout=120)
    assert pipeline.returncode == 2 and "Traceback" not in pipeline.stderr
    assert pipeline.stderr.count("\n") == 1 and "not UTF-8 text" in pipeline.stderr


# -- the schema, stated once in the dataclasses (issue 13) -------------------------------------------------------

#: The keys of each section, as the original and the README document them.
DOCUMENTED_KEYS = {
    "SDO_DATA": ["aia_file_pattern", "cache_directory", "cache_size_limit", "hdu", "hmi_file_pattern",
                 "http_retry_attempts", "http_retry_initial_delay", "http_retry_max_delay", "http_timeout",
                 "ignore_quality_bits", "quality_keyword"],
    "CH_SEGMENTATION": ["centers_file", "config_file", "executable", "output_directory", "wavelengths"],
    "AR_SEGMENTATION": ["centers_file", "config_file", "executable", "output_directory", "wavelengths"],
    "STAFF_STATS": ["config_file", "executable", "output_directory", "wavelengths"],
    "IMAGE_STATS": ["hdu", "memory_limit", "output_directory", "wavelengths"],
    "OPERATIONS": ["interval_hours", "job_timeout", "ledger", "ledger_timeout", "lock_file", "look_back_hours",
                   "retry_attempts", "retry_initial_delay", "retry_max_delay"],
    "OVERLAYS": ["output_directory"],
}


def test_every_section_knows_its_documented_keys_and_reads_them(tmp_path, caplog):
    for name in ("prog.x",):
        (tmp_path / name).write_text("#!/bin/false\n")
        (tmp_path / name).chmod(0o755)
    (tmp_path / "spoca.config").write_text("type=HFCM\n")
    values = {"aia_file_pattern": "a/{wavelength}.fits", "hdu": "0", "ignore_quality_bits": "", "executable": "prog.x",
              "config_file": "spoca.config", "centers_file": "c.txt", "output_directory": "out",
              "wavelengths": "171"}
    sections = []
    for section, keys in DOCUMENTED_KEYS.items():
        given = {key: values[key] for key in keys if key in values}
        if section == "AR_SEGMENTATION":
            given["wavelengths"] = "171 193"
        sections.append(f"[{section}]\n" + "".join(f"{key} = {value}\n" for key, value in given.items())
                        + "typo_key = 1\n")
    ini = tmp_path / "all.ini"
    ini.write_text("\n".join(sections))
    with caplog.at_level("WARNING", logger="configuration"):
        config = load_configuration(ini, [*STAFF_SECTIONS, "IMAGE_STATS"])
    warnings = {record.getMessage().split("]")[0].split("[")[1]: record.getMessage() for record in caplog.records}
    assert set(warnings) == set(DOCUMENTED_KEYS)
    for section, keys in DOCUMENTED_KEYS.items():
        assert warnings[section] == (f"{ini}: [{section}] typo_key: unknown key, ignored "
                                     f"(known keys: {', '.join(keys)})")
    assert config.ar_segmentation.wavelengths == (171, 193) and config.ch_segmentation.wavelengths == (171,)
    assert config.sdo_data.ignore_quality_bits == () and config.image_stats.memory_limit is None
    assert config.operations.ledger == tmp_path / "spoca4staff.ledger.sqlite"  # beside the outputs: out/..
    assert config.operations.retry_attempts == 3 and config.overlays.output_directory == tmp_path / "out"
