"""get_staff_stats.py from a cold start reproduces what the original pipeline writes (compat 12).

A configuration whose CH segmentation reads the 171 image and whose AR segmentation reads 171 and the
"relabelled 193" copy of the shared sample makes the pipeline run, at each time step, exactly the commands of
compat 12 (the pattern has no date in it, so every step finds the same files). Two time steps from no
centres history are then the two runs of section 12: the centres files, the maps and the STAFF CSV of the
second step must be the original's, byte for byte. The script is run with the original's command line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from section12_reference import AR_CENTERS, CH_CENTERS, MAPS, SAMPLE, SECTION12_CSV, map_summary, relabel

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def section12_configuration(tmp_path: Path, shared_data: Path, spoca_programs: dict[str, Path], write_ini) -> Path:
    """An archive of the sample (171) and its relabelled copy (193), and an ini running section 12's commands
    (with the programs of SPoCA/bin, built by ``spoca_programs``, and the SPoCA configs of configs/)."""
    sample = shared_data / SAMPLE
    if not sample.is_file():
        pytest.skip(f"no shared sample {sample}")
    archive = tmp_path / "archive"
    (archive / "0171").mkdir(parents=True)
    (archive / "0193").mkdir()
    shutil.copyfile(sample, archive / "0171" / SAMPLE)
    relabel(sample, archive / "0193" / "relabel_0193.fits")
    output = tmp_path / "output"
    # Section 12's ini: the shared one with the original's folders (trailing slashes and all), QUALITY bits and
    # wavelengths, and a pattern without a date.
    return write_ini(tmp_path / "section12.ini", {
        "SDO_DATA": {"aia_file_pattern": f"{archive}/{{wavelength:04d}}/*.fits",
                     "ignore_quality_bits": (0, 1, 2, 3, 4, 8, 30)},
        "CH_SEGMENTATION": {"centers_file": output / "ch_centers.txt", "wavelengths": 171,
                            "output_directory": f"{output}/ch_segmentation_maps/"},
        "AR_SEGMENTATION": {"centers_file": output / "ar_centers.txt",
                            "output_directory": f"{output}/ar_segmentation_maps/"},
        "STAFF_STATS": {"wavelengths": 171, "output_directory": f"{output}/staff_stats/"},
        "IMAGE_STATS": {"wavelengths": 171, "output_directory": f"{output}/image_stats/", "hdu": 0},
    }, archive=archive, output=output)


def test_a_cold_start_day_reproduces_the_original_results(section12_configuration: Path) -> None:
    output = section12_configuration.parent / "output"
    # The original's command line: -c INI -s DATE -e DATE -i HOURS; two time steps.
    result = subprocess.run([sys.executable, str(REPO_ROOT / "get_staff_stats.py"), "-c", str(section12_configuration),
                             "-s", "2011-03-19T00:00:00", "-e", "2011-03-19T12:00:00", "-i", "6"],
                            capture_output=True, text=True, check=False, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert (output / "ch_centers.txt").read_text() == CH_CENTERS
    assert (output / "ar_centers.txt").read_text() == AR_CENTERS
    for kind, folder in (("ch", "ch_segmentation_maps"), ("ar", "ar_segmentation_maps")):
        for run, step in ((1, "20110319_000000"), (2, "20110319_060000")):
            assert map_summary(output / folder / f"{step}.SegmentedMap.fits") == MAPS[f"{kind}_map{run}"], (kind, run)
    csv = output / "staff_stats" / (
        "20110319_060000.SegmentedMap_and_20110319_060000.SegmentedMap_on_AIA20110319_105400_0171.csv")
    assert csv.read_text() == SECTION12_CSV
