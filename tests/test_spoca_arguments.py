"""Tests of the command line and configuration files of the SPoCA classification programs (compat 1).

Each test runs ch_segmentation.x (or ar_segmentation.x) on a small synthetic AIA image and checks the
observable effect of the syntax: which parameter got which value (seen in the map header or the files
written), the WARN lines, the errors and the exit status.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from astropy.io import fits

CH_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "AIA.CH_segmentation.config"


def run(program: Path, *arguments: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a SPoCA program with an argument list and capture its output."""
    return subprocess.run([str(program), *map(str, arguments)], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=120)


@pytest.fixture
def image(aia_factory) -> Path:
    """A small valid AIA 193 image."""
    return aia_factory(193, size=128, name="image.fits")


@pytest.fixture
def ch(spoca_programs: dict[str, Path]) -> Path:
    """The one-channel classification program."""
    return spoca_programs["ch_segmentation"]


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The first line of stderr that is not a WARN line."""
    return next(line for line in result.stderr.splitlines() if not line.startswith("WARN: "))


def test_short_options(tmp_path: Path, ch: Path, image: Path) -> None:
    output = tmp_path / "map.fits"
    result = run(ch, "-C", CH_CONFIG, "-c", tmp_path / "c.txt", "-O", output, image)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert fits.getheader(output, 1)["CLASTYPE"] == "HFCM"
    assert (tmp_path / "c.txt").read_text().startswith("[AIA_193]\t")


def test_section_syntax_and_short_letters_per_section(tmp_path: Path, ch: Path, image: Path) -> None:
    """After --classification:, -C is classification.numberClasses, not global config."""
    output = tmp_path / "map.fits"
    result = run(ch, "--config", CH_CONFIG, "--numberPreviousCenters", "0", "--output", output,
                 "--classification:", "-C", "3", "--global:", "-u", "true", image)
    assert result.returncode == 0, result.stderr
    with fits.open(output) as hdus:
        assert len(hdus) == 1, "--global: -u true must give an uncompressed map"
        assert hdus[0].header["CNBRCLAS"] == 3
        assert hdus[0].data.max() <= 3


def test_qualified_long_and_short_names(tmp_path: Path, ch: Path, image: Path) -> None:
    output = tmp_path / "map.fits"
    result = run(ch, "--config", CH_CONFIG, "-n", "0", "--output", output, "--classification.numberClasses", "5",
                 "-classification.i", "7", image)
    assert result.returncode == 0, result.stderr
    header = fits.getheader(output, 1)
    assert (header["CNBRCLAS"], header["CMAXITER"]) == (5, 7)


@pytest.mark.parametrize(("value", "written"), [("false", False), ("NO", False), ("n", False), ("Yes", True),
                                                ("T", True)])
def test_boolean_values(tmp_path: Path, ch: Path, image: Path, value: str, written: bool) -> None:
    output = tmp_path / "map.fits"
    result = run(ch, "--config", CH_CONFIG, "--centersFile", tmp_path / "c.txt", "--output", output, "--map", value,
                 image)
    assert result.returncode == 0, result.stderr
    assert output.exists() == written


def test_bare_boolean_means_true(tmp_path: Path, ch: Path, image: Path) -> None:
    output = tmp_path / "map.fits"
    result = run(ch, "--config", CH_CONFIG, "--centersFile", tmp_path / "c.txt", "--uncompressed", "--output", output,
                 image)
    assert result.returncode == 0, result.stderr
    with fits.open(output) as hdus:
        assert len(hdus) == 1 and hdus[0].header["BITPIX"] == 32 and hdus[0].header["EXTNAME"] == "SegmentedMap"


def test_invalid_boolean(tmp_path: Path, ch: Path, image: Path) -> None:
    result = run(ch, "--config", CH_CONFIG, "--centersFile", tmp_path / "c.txt", "--output", tmp_path / "m.fits",
                 "--map", "maybe", image)
    assert result.returncode == 1
    assert "Cannot convert maybe to bool" in error_line(result)


def test_command_line_wins_over_config_with_a_warning(tmp_path: Path, ch: Path, image: Path) -> None:
    output = tmp_path / "map.fits"
    result = run(ch, "--config", CH_CONFIG, "--numberPreviousCenters", "0", "--type", "HFCM", "--output", output,
                 image)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [  # in the order of the config file
        "WARN: Argument global.type was set more than once, final value is HFCM",
        "WARN: Argument global.numberPreviousCenters was set more than once, final value is 0",
    ]


def test_repeated_option_last_value_wins(tmp_path: Path, ch: Path, image: Path) -> None:
    output = tmp_path / "map.fits"
    result = run(ch, "--config", CH_CONFIG, "-n", "0", "--output", output, "--classification.numberClasses", "5",
                 "--classification.numberClasses", "3", image)
    assert result.returncode == 0, result.stderr
    assert "WARN: Argument classification.numberClasses was set more than once, final value is 3" in result.stderr
    assert fits.getheader(output, 1)["CNBRCLAS"] == 3


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help(ch: Path, option: str) -> None:
    result = run(ch, option)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert "This Program does classification and segmentation." in lines
    assert "NUMBERCHANNELS: 1" in lines
    usage = next(line for line in lines if line.startswith("Usage: "))
    assert usage.endswith("[-option optionvalue ...]  fitsFile")
    for section in ("global parameters:", "classification parameters:", "segmentation parameters:"):
        assert section in lines
    assert "--config | -C\tdefault: " in lines
    assert "--classification.binSize | -classification.z\tdefault: (1.000000)" in lines


def test_help_of_the_two_channel_program(spoca_programs: dict[str, Path]) -> None:
    result = run(spoca_programs["ar_segmentation"], "--help")
    assert result.returncode == 0
    assert "[-option optionvalue ...]  fitsFile fitsFile" in result.stdout
    assert "--classification.binSize | -classification.z\tdefault: (1.000000,1.000000)" in result.stdout


def test_help_config_and_doxygen(ch: Path) -> None:
    config = run(ch, "--help", "config")
    assert config.returncode == 0 and "[classification]" in config.stdout
    assert run(ch, "--help", "doxygen").returncode == 0
    bad = run(ch, "--help", "bogus")
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error : Unknow help type bogus requested\n")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--bogus", "1"], "Error : Unknown parameter bogus for global section"),
    (["-x", "1"], "Error : Unknown short parameter x for global section"),
    (["--nosection:"], "Error : Unknown section nosection"),
    (["--classification.bogus", "1"], "Error : Unknown parameter bogus for classification section"),
    (["--output=x.fits"], "Error : You must specify at most 1 fitsFile"),
    (["second.fits"], "Error : You must specify at most 1 fitsFile"),
    (["--uncompressed"], "Error : You must specify at least 1 fitsFile"),
])
def test_parse_errors_print_the_help(tmp_path: Path, ch: Path, image: Path, arguments: list[str],
                                     message: str) -> None:
    """Parse errors: the message, the help and exit status 1 (compat 1.8); a value-less option takes the
    positional after it as its value, and --name=value is a positional."""
    before = set(tmp_path.iterdir())
    result = run(ch, "--config", CH_CONFIG, *arguments, image, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(message + "\n")
    assert "Usage: " in result.stderr
    assert set(tmp_path.iterdir()) == before


def test_negative_number_is_a_value(tmp_path: Path, ch: Path, image: Path) -> None:
    """-5 is not an option (a letter must follow the dash): it is the value of the option before it."""
    result = run(ch, "--config", CH_CONFIG, "-n", "0", "--output", tmp_path / "m.fits",
                 "--classification.numberClasses", "-5", image)
    assert result.returncode == 1
    assert "Cannot convert value -5 to type unsigned" in error_line(result)


def test_double_dash_ends_the_options(tmp_path: Path, ch: Path, image: Path) -> None:
    result = run(ch, "--config", CH_CONFIG, "--centersFile", tmp_path / "c.txt", "--output", tmp_path / "m.fits",
                 "--", image)
    assert result.returncode == 0, result.stderr


def write_config(path: Path, text: str) -> Path:
    """Write a configuration file and return its path."""
    path.write_text(text)
    return path


def test_config_file_syntax(tmp_path: Path, ch: Path, image: Path) -> None:
    inner = write_config(tmp_path / "inner.config", "segmentation:\n  type max ; comment\n")
    config = write_config(tmp_path / "main.config", f"""\
# comment
; other comment
type = HFCM
imageType AIA # trailing comment
imagePreprocessing = "NAR=1.2,DivExpTime,ALC,ThrMaxPer=80.0,TakeSqrt" # quoted
\tnumberPreviousCenters =   0
config = {inner}
[ classification ]
numberClasses = 3
binSize = (0.01)
global.uncompressed = 'true'
:
map = true
""")
    output = tmp_path / "map.fits"
    result = run(ch, "--config", config, "--output", output, image)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with fits.open(output) as hdus:
        header = hdus[0].header
    assert (header["CNBRCLAS"], header["CPREPROC"], header["SEGMTYPE"]) == (
        3, "NAR=1.2,DivExpTime,ALC,ThrMaxPer=80.0,TakeSqrt", "max")


def test_first_occurrence_wins_in_config_files(tmp_path: Path, ch: Path, image: Path) -> None:
    config = write_config(tmp_path / "c.config", "type = HFCM\nnumberPreviousCenters = 0\n[classification]\n"
                                                 "numberClasses = 3\nnumberClasses = 5\n")
    result = run(ch, "--config", config, "--output", tmp_path / "m.fits", "--imagePreprocessing", "NAR=1.2", image)
    assert result.returncode == 0, result.stderr
    assert "WARN: Argument classification.numberClasses was set more than once, final value is 3" in result.stderr
    assert fits.getheader(tmp_path / "m.fits", 1)["CNBRCLAS"] == 3


@pytest.mark.parametrize(("text", "message"), [
    ("centersFile =\n", "Error : Invalid line number 1 in file {config}"),
    ("type = HFCM\nbogus = 1\n", "Error : Unknown parameter bogus for global section on line 2 in file {config}"),
    ("[nosuch]\n", "Error : Unknown section nosuch on line 1"),
    ('type = "HFCM\n', "Error : Invalid line number 1 in file {config}"),
])
def test_config_file_errors(tmp_path: Path, ch: Path, image: Path, text: str, message: str) -> None:
    config = write_config(tmp_path / "bad.config", text)
    result = run(ch, "--config", config, "--output", tmp_path / "m.fits", image)
    assert result.returncode == 1
    assert result.stderr.startswith(message.format(config=config) + "\n")


def test_missing_config_file(tmp_path: Path, ch: Path, image: Path) -> None:
    result = run(ch, "--config", tmp_path / "none.config", image)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error : Cannot open file {tmp_path / 'none.config'}\n")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--type", "FCM"], "classifier type FCM is not supported"),
    (["--type", "Bogus"], "Bogus is not a known classifier!"),
    (["--segmentation.type", "closest"], "segmentation type closest is not supported"),
    (["--segmentation.type", "odd"], "odd is not a known segmentation type!"),
    (["--imagePreprocessing", "NAR=1.2,Bogus", "-n", "0"], "Unknown preprocessing step Bogus"),
    (["--numberPreviousCenters", "3"], "To use previous centers you must specify a centers file!"),
    (["--classification.numberClasses", "0", "--numberPreviousCenters", "0"],
     "You must either specify the number classes or a non empty class centers file!"),
])
def test_program_errors(tmp_path: Path, ch: Path, image: Path, arguments: list[str], message: str) -> None:
    result = run(ch, "--config", CH_CONFIG, "--output", tmp_path / "m.fits", *arguments, image)
    assert result.returncode == 1
    assert message in error_line(result)
    assert not (tmp_path / "m.fits").exists()
