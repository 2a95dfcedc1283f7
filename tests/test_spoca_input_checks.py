"""Fault-injection tests of the SPoCA programs' input checks (SPoCA/lib/core/input_checks.*, memory_bound.*,
centers_file.*; issue 12): inputs the original accepted and then computed wrong results from are refused with
exit status 1 and one line naming the file and the problem, and no output is left.

- an EXPTIME that is not a positive finite number, in every program;
- a segmentation map whose WCS cannot place pixels on the Sun (the 'nan' CD matrix that a classification
  program writes for an image without CD, PC or CROTA2, compat 2.4 and 7.4), in get_STAFF_stats.x;
- a centres file with a damaged line (truncated, NaN, another class count): the original dropped the line and
  every older one (compat 6.2, 6.3), changing every later map;
- an image larger than the memory bound (SPOCA_MEMORY_LIMIT_MIB), refused before its pixels are read.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from astropy.io import fits

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
CH_CONFIG = CONFIGS / "AIA.CH_segmentation.config"
AR_CONFIG = CONFIGS / "AIA.AR_segmentation.config"
STATS_CONFIG = CONFIGS / "AIA.get_STAFF_stats.config"
GOOD_CH = "[AIA_193]\t[(6.000000),(10.300000),(14.600000),(15.700000)]\n"
GOOD_AR = ("[AIA_171,AIA_193]\t[(0.6,0.6),(1.2,1.2),(3.3,3.3),(9.6,9.6)]\t[0.002,0.0017,0.0044,0.0082]\n")


def run(program: Path, *arguments: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a SPoCA program with an argument list (and optionally extra environment variables)."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([str(program), *map(str, arguments)], capture_output=True, text=True, check=False,
                          timeout=120, env=environment)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of stderr besides the spec's WARN lines, after checking the exit status 1."""
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARN: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def classify(program: Path, config: Path, output: Path, *images: Path, centers: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A classification run as the pipeline does it (without a centres file: no history)."""
    history = ["--centersFile", centers] if centers else ["-n", "0"]
    return run(program, "--config", config, *history, "--output", output, *images, env=env)


# ------------------------------------------------------------------------------------------ EXPTIME


@pytest.mark.parametrize("exptime", [0.0, -2.5, "nan", "two seconds"])
def test_classification_programs_reject_a_bad_exptime(exptime: object, tmp_path: Path, aia_factory,
                                                      spoca_programs: dict[str, Path]) -> None:
    good = aia_factory(171, size=64)
    bad = aia_factory(193, size=64, name="bad_0193.fits", header_overrides={"EXPTIME": exptime})
    for program, config, images in (("ch_segmentation", CH_CONFIG, [bad]),
                                    ("ar_segmentation", AR_CONFIG, [good, bad])):
        output = tmp_path / f"{program}.fits"
        line = one_error_line(classify(spoca_programs[program], config, output, *images))
        assert line == f"Error : {bad}: EXPTIME = '{exptime}' is not a positive finite number of seconds"
        assert not output.exists()


def test_staff_stats_rejects_a_bad_exptime_and_does_the_other_images(tmp_path: Path, aia_factory,
                                                                     spoca_programs: dict[str, Path]) -> None:
    good = aia_factory(193, size=64)
    bad = aia_factory(171, size=64, name="bad_0171.fits", header_overrides={"EXPTIME": "nan"})
    ch_map = tmp_path / "ch.fits"
    assert classify(spoca_programs["ch_segmentation"], CH_CONFIG, ch_map, good).returncode == 0
    result = run(spoca_programs["get_STAFF_stats"], "--config", STATS_CONFIG, "--output", tmp_path, ch_map, ch_map,
                 bad, good)
    assert one_error_line(result) == f"Error: {bad}: EXPTIME = 'nan' is not a positive finite number of seconds"
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [f"ch_and_ch_on_{good.stem}.csv"]


# ------------------------------------------------------------------------------------ WCS of the maps


@pytest.mark.parametrize("broken", ["CH", "AR"])
def test_map_of_an_image_without_crota2_is_refused(broken: str, tmp_path: Path, aia_factory,
                                                   spoca_programs: dict[str, Path]) -> None:
    """The classification writes the map exactly as the original does ('nan' CD cards, compat 2.4 and 7.4); the
    statistics refuse it instead of reading 'nan' as 0 and putting every pixel at the disc centre."""
    image_193 = aia_factory(193, size=64, drop_keywords=("CROTA2",) if broken == "CH" else ())
    image_171 = aia_factory(171, size=64, drop_keywords=("CROTA2",) if broken == "AR" else ())
    ch_map, ar_map = tmp_path / "ch.fits", tmp_path / "ar.fits"
    assert classify(spoca_programs["ch_segmentation"], CH_CONFIG, ch_map, image_193).returncode == 0
    assert classify(spoca_programs["ar_segmentation"], AR_CONFIG, ar_map, image_171, image_193).returncode == 0
    named = ch_map if broken == "CH" else ar_map
    assert fits.getheader(named, 1)["CD1_1"] == "nan"
    result = run(spoca_programs["get_STAFF_stats"], "--config", STATS_CONFIG, "--output", tmp_path, ch_map, ar_map,
                 image_171, image_193)
    line = one_error_line(result)
    assert line.startswith(f"Error: {named}: unusable WCS: CD1_1 = 'nan' is not a number"), line
    assert list(tmp_path.glob("*.csv")) == []


@pytest.mark.parametrize("cd", [(0.0, 0.0, 0.0, 0.0), (0.6, 0.6, 0.6, 0.6)])
def test_map_with_a_singular_cd_matrix_is_refused(cd: tuple[float, ...], tmp_path: Path, aia_factory,
                                                  spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=64)
    ch_map = tmp_path / "ch.fits"
    assert classify(spoca_programs["ch_segmentation"], CH_CONFIG, ch_map, image).returncode == 0
    with fits.open(ch_map, mode="update") as hdus:
        for key, value in zip(("CD1_1", "CD1_2", "CD2_1", "CD2_2"), cd, strict=True):
            hdus[1].header[key] = value
    ar_map = tmp_path / "ar.fits"
    assert classify(spoca_programs["ch_segmentation"], CH_CONFIG, ar_map, image).returncode == 0
    result = run(spoca_programs["get_STAFF_stats"], "--config", STATS_CONFIG, "--output", tmp_path, ar_map, ch_map,
                 image)
    assert one_error_line(result).startswith(f"Error: {ch_map}: unusable WCS: the CD matrix")
    assert list(tmp_path.glob("*.csv")) == []


# --------------------------------------------------------------------------------------- centres files


@pytest.mark.parametrize(("content", "line_number", "words"), [
    (GOOD_CH + GOOD_CH + "[AIA_193]\t[(6.000000),(10.3", 3, "damaged class centers line"),
    (GOOD_CH + "[AIA_193]\t[(6.0),(nan),(14.6),(15.7)]\n" + GOOD_CH, 2, "damaged class centers line"),
    (GOOD_CH + "\n\n[AIA_193]\t[(6.0),(1e999),(14.6),(15.7)]\n", 4, "damaged class centers line"),
    (GOOD_CH + "[AIA_193]\t[(6.0),(10.3),(14.6)]\n", 2, "3 classes, but line 1 has 4"),
    ("[AIA_193]\t[(6.0),(10.3),(14.6),(nan)]\n", 1, "damaged class centers line"),
])
def test_damaged_centres_line_stops_the_classification(content: str, line_number: int, words: str,
                                                       tmp_path: Path, aia_factory,
                                                       spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=64)
    centers = tmp_path / "ch_centers.txt"
    centers.write_text(content)
    output = tmp_path / "map.fits"
    line = one_error_line(classify(spoca_programs["ch_segmentation"], CH_CONFIG, output, image, centers=centers))
    assert line.startswith(f"Error : {centers}: line {line_number}: ") and words in line, line
    assert centers.read_text() == content, "the damaged history must be left for the operator, not rewritten"
    assert not output.exists()


def test_centres_line_without_eta_stops_the_two_channel_program(tmp_path: Path, aia_factory,
                                                                spoca_programs: dict[str, Path]) -> None:
    images = [aia_factory(w, size=64) for w in (171, 193)]
    centers = tmp_path / "ar_centers.txt"
    content = GOOD_AR + GOOD_AR.rsplit("\t", 1)[0] + "\n"
    centers.write_text(content)
    output = tmp_path / "map.fits"
    line = one_error_line(classify(spoca_programs["ar_segmentation"], AR_CONFIG, output, *images, centers=centers))
    assert line.startswith(f"Error : {centers}: line 2: damaged class centers line"), line
    assert centers.read_text() == content and not output.exists()


def test_undamaged_history_beyond_the_lines_used_is_not_read(tmp_path: Path, aia_factory,
                                                             spoca_programs: dict[str, Path]) -> None:
    """Only the numberPreviousCenters lines the history uses are checked: an older damaged line is dropped by
    the rewrite as before (it never changed a map)."""
    image = aia_factory(193, size=64)
    centers = tmp_path / "ch_centers.txt"
    centers.write_text(GOOD_CH * 2 + "[AIA_193]\t[(6.0),(nan")
    result = run(spoca_programs["ch_segmentation"], "--config", CH_CONFIG, "--centersFile", centers,
                 "--numberPreviousCenters", "2", "--output", tmp_path / "map.fits", image)
    assert result.returncode == 0, result.stderr
    assert len(centers.read_text().splitlines()) == 3 and "nan" not in centers.read_text()


# --------------------------------------------------------------------------------------- memory bound


def test_memory_bound_is_documented_in_the_help(spoca_programs: dict[str, Path]) -> None:
    for program in spoca_programs.values():
        result = run(program, "--help")
        assert result.returncode == 0
        assert "SPOCA_MEMORY_LIMIT_MIB=MiB bounds the memory" in result.stdout


def test_images_beyond_the_memory_bound_are_refused(tmp_path: Path, aia_factory,
                                                    spoca_programs: dict[str, Path]) -> None:
    images = [aia_factory(w, size=512) for w in (171, 193)]
    small = {"SPOCA_MEMORY_LIMIT_MIB": "1"}
    for program, config, inputs in (("ch_segmentation", CH_CONFIG, images[1:]),
                                    ("ar_segmentation", AR_CONFIG, images)):
        output = tmp_path / f"{program}.fits"
        line = one_error_line(classify(spoca_programs[program], config, output, *inputs, env=small))
        assert line.startswith(f"Error : {inputs[0]}: image of 512x512 pixels would need about "), line
        assert line.endswith("more than the memory bound of 1 MiB (SPOCA_MEMORY_LIMIT_MIB)")
        assert not output.exists()
        # The same run within the (default) bound succeeds.
        assert classify(spoca_programs[program], config, output, *inputs).returncode == 0
    ch_map = tmp_path / "ch_segmentation.fits"
    result = run(spoca_programs["get_STAFF_stats"], "--config", STATS_CONFIG, "--output", tmp_path, ch_map, ch_map,
                 images[1], env=small)
    assert one_error_line(result).startswith(f"Error: {ch_map}: image of 512x512 pixels would need about ")
    assert list(tmp_path.glob("*.csv")) == []


def test_header_announcing_a_huge_image_is_refused_before_allocating(tmp_path: Path, aia_factory,
                                                                     spoca_programs: dict[str, Path]) -> None:
    """A corrupt header that announces 60000x30000 pixels: refused by size, not an out-of-memory failure."""
    source = aia_factory(193, size=64, data_format="float32")
    header = fits.getheader(source)
    header["NAXIS1"], header["NAXIS2"] = 60000, 30000
    huge = tmp_path / "huge_0193.fits"
    huge.write_bytes(header.tostring().encode("ascii") + bytes(2880))
    output = tmp_path / "map.fits"
    line = one_error_line(classify(spoca_programs["ch_segmentation"], CH_CONFIG, output, huge))
    assert line.startswith(f"Error : {huge}: image of 60000x30000 pixels would need about "), line
    assert "more than the memory bound of 4096 MiB" in line
    assert not output.exists()


@pytest.mark.parametrize("value", ["0", "-5", "lots", "12MiB"])
def test_bad_memory_bound_value(value: str, tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=64)
    line = one_error_line(classify(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "map.fits", image,
                                   env={"SPOCA_MEMORY_LIMIT_MIB": value}))
    assert line == f"Error : SPOCA_MEMORY_LIMIT_MIB = '{value}' is not a positive whole number of MiB"

