"""Tests of staff_jobs.py: the real SPoCA programs on synthetic AIA images, and fake programs that misbehave."""

from __future__ import annotations

import csv
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from job import JobError, JobTimeoutError, TransientJobError
from staff_jobs import (
    GetStaffStatsJob,
    SegmentationJob,
    check_segmentation_map,
    check_staff_csv,
    staff_csv_name,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
CH_CONFIG = CONFIGS / "AIA.CH_segmentation.config"
AR_CONFIG = CONFIGS / "AIA.AR_segmentation.config"
STAFF_CONFIG = CONFIGS / "AIA.get_STAFF_stats.config"
#: The CSV header of compat 8.8 and the row types, written out independently of the module.
STAFF_HEADER = ("Channel,Type,ObservationDate,MinIntensity,MaxIntensity,Mean,Median,LowerQuartile,UpperQuartile,"
                "Variance,Skewness,Kurtosis,TotalIntensity,Area_Raw,Area_AtDiskCenter,FillingFactor").split(",")
ROW_TYPES = ["AR_all", "CH_central_meridian", "CH_ondisc", "AR_ondisc", "QS_ondisc"]


def make_program(folder: Path, name: str, body: str) -> Path:
    """An executable Python program standing in for a SPoCA program (run without a shell)."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys, time\nfrom pathlib import Path\n"
                    f"args = sys.argv[1:]\noutput = Path(args[args.index('--output') + 1])\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def disk_geometry(image: Path) -> tuple[float, float, float]:
    header = fits.getheader(image, 1)
    return header["CRPIX1"] - 1, header["CRPIX2"] - 1, header["RSUN_OBS"] / header["CDELT1"]


def read_map(path: Path) -> np.ndarray:
    with fits.open(path) as hdus:
        return np.array(hdus["SegmentedMap"].data)


# -- command lines and names -------------------------------------------------------------------------------


def test_segmentation_command_line():
    job = SegmentationJob("bin/ar.x", "AIA.AR.config", "ar_centers.txt").job(["a171.fits", "a193.fits"], "m.fits")
    assert job.command == ["bin/ar.x", "--config", "AIA.AR.config", "--centersFile", "ar_centers.txt",
                           "--output", "m.fits", "a171.fits", "a193.fits"]


def test_staff_stats_command_line_puts_the_ch_map_first():
    job = GetStaffStatsJob("bin/staff.x", "staff.config", "stats").job("ar.fits", "ch.fits", ["a171.fits", "a193.fits"])
    assert job.command == ["bin/staff.x", "--config", "staff.config", "--output", "stats", "ch.fits", "ar.fits",
                           "a171.fits", "a193.fits"]


def test_csv_names_follow_the_spec():
    assert staff_csv_name("/x/ch_map2.fits", "ar_map2.fits", "/d/AIA20110319_105400_0171.fits") == \
        "ch_map2_and_ar_map2_on_AIA20110319_105400_0171.csv"
    assert staff_csv_name("/c/20110319_105400.SegmentedMap.fits", "/a/20110319_105400.SegmentedMap.fits", "x") == \
        "20110319_105400.SegmentedMap_and_20110319_105400.SegmentedMap_on_x.csv"


# -- the real programs ---------------------------------------------------------------------------------------


@pytest.fixture
def images(aia_factory):
    """A synthetic 171 and 193 pair of the same time step (RICE-compressed, 256x256)."""
    return {wavelength: aia_factory(wavelength, size=256, seed=11) for wavelength in (171, 193)}


def assert_plausible_map(path: Path, image: Path, classes: int = 4) -> np.ndarray:
    """Checks made with astropy: an int map of the image's shape, classes 1..4 on the disk, 0 far off it."""
    segmentation = read_map(path)
    assert segmentation.shape == fits.getdata(image).shape
    assert np.issubdtype(segmentation.dtype, np.integer)
    assert set(np.unique(segmentation)) <= set(range(classes + 1))
    cx, cy, radius = disk_geometry(image)
    rows, columns = np.indices(segmentation.shape)
    distance = np.hypot(columns - cx, rows - cy)
    assert np.all(segmentation[distance > 1.25 * radius] == 0)
    assert np.all(segmentation[distance < 0.9 * radius] > 0)
    return segmentation


def test_ch_segmentation(spoca_programs, images, tmp_path):
    job = SegmentationJob(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "ch_centers.txt")
    output = tmp_path / "20260320_000000.SegmentedMap.fits"
    result = job.execute([images[193]], output, timeout=300)
    assert result.exit_code == 0 and result.outputs == [output]
    assert result.command[-1] == str(images[193])
    assert check_segmentation_map(output) is None
    segmentation = assert_plausible_map(output, images[193])
    assert len(set(np.unique(segmentation)) - {0}) == 4
    assert (tmp_path / "ch_centers.txt").read_text().startswith("[AIA_193]")
    # A second run replaces the map (and is recognised as a new file).
    assert job.execute([images[193]], output, timeout=300).outputs == [output]


def test_map_validation_verifies_the_checksums_without_decompressing(spoca_programs, images, tmp_path):
    """Our maps carry CHECKSUM/DATASUM: one flipped byte of the compressed tiles is caught by the checksum, and a
    compressed map written without checksums (as the original suite's) is judged by decompressing it."""
    output = tmp_path / "m.SegmentedMap.fits"
    SegmentationJob(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "c.txt").execute([images[193]], output,
                                                                                             timeout=300)
    with fits.open(output, disable_image_compression=True) as hdus:
        assert "DATASUM" in hdus["SegmentedMap"].header and "CHECKSUM" in hdus["SegmentedMap"].header
        heap = hdus.fileinfo(1)["datLoc"] + hdus[1].header["NAXIS1"] * hdus[1].header["NAXIS2"]
        segmentation = fits.getdata(output, "SegmentedMap")
    content = bytearray(output.read_bytes())
    content[heap + 100] ^= 0x01
    damaged = tmp_path / "damaged.fits"
    damaged.write_bytes(bytes(content))
    assert check_segmentation_map(damaged) == f"{damaged}: the SegmentedMap HDU does not match its CHECKSUM/DATASUM " \
                                              "(damaged)"
    unsummed = tmp_path / "unsummed.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(segmentation, name="SegmentedMap")]).writeto(unsummed)
    assert check_segmentation_map(unsummed) is None
    floats = tmp_path / "floats.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(segmentation.astype(np.float32), name="SegmentedMap")]
                 ).writeto(floats)
    assert check_segmentation_map(floats) == f"{floats}: the SegmentedMap image is of type float32, not integer"


def test_ar_segmentation(spoca_programs, images, tmp_path):
    job = SegmentationJob(spoca_programs["ar_segmentation"], AR_CONFIG, tmp_path / "ar_centers.txt")
    output = tmp_path / "ar.SegmentedMap.fits"
    job.execute([images[171], images[193]], output, timeout=300)
    assert_plausible_map(output, images[171])
    assert (tmp_path / "ar_centers.txt").read_text().startswith("[AIA_171,AIA_193]")


def test_real_program_error_is_deterministic(spoca_programs, images, tmp_path):
    job = SegmentationJob(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "ch_centers.txt")
    with pytest.raises(JobError) as caught:
        job.execute([tmp_path / "nofile.fits"], tmp_path / "map.fits", timeout=300)
    assert not caught.value.transient and caught.value.exit_code == 1
    assert "Cannot find file" in caught.value.stderr and "nofile.fits" in str(caught.value)
    assert not (tmp_path / "map.fits").exists()


def write_map(path: Path, header: fits.Header, data: np.ndarray) -> Path:
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data.astype(np.int32), header, name="SegmentedMap")]
                 ).writeto(path)
    return path


def test_staff_stats_use_the_ch_map_as_ch_and_the_ar_map_as_ar(spoca_programs, images, tmp_path):
    """Hand-made maps: class 1 (CH) only in the CH map, class 3 (AR) only in the AR map. With the maps in the
    right order both the CH and the AR rows have an area; swapped, as the original pipeline did, neither has."""
    model = tmp_path / "model.fits"
    SegmentationJob(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "c.txt").execute([images[193]], model)
    with fits.open(model) as hdus:
        header = hdus["SegmentedMap"].header.copy()
    for keyword in list(header):
        if keyword.startswith(("Z", "XTENSION", "PCOUNT", "GCOUNT", "TFIELDS", "TTYPE", "TFORM", "NAXIS", "BITPIX")):
            header.remove(keyword, ignore_missing=True, remove_all=True)
    cx, cy, radius = disk_geometry(images[193])
    rows, columns = np.indices((256, 256))
    distance = np.hypot(columns - cx, rows - cy)
    on_disk = distance <= radius
    ch = np.where(on_disk, 2, 0)
    ch[on_disk & (np.hypot(columns - cx, rows - cy + 0.3 * radius) < 0.2 * radius)] = 1
    ar = np.where(on_disk, 2, 0)
    ar[on_disk & (np.hypot(columns - cx - 0.4 * radius, rows - cy) < 0.15 * radius)] = 3
    ch_map = write_map(tmp_path / "ch.SegmentedMap.fits", header, ch)
    ar_map = write_map(tmp_path / "ar.SegmentedMap.fits", header, ar)
    stats = tmp_path / "stats"
    stats.mkdir()
    result = GetStaffStatsJob(spoca_programs["get_STAFF_stats"], STAFF_CONFIG, stats).execute(
        ar_map, ch_map, [images[171], images[193]], timeout=300)
    expected = [stats / f"ch.SegmentedMap_and_ar.SegmentedMap_on_{image.stem}.csv" for image in images.values()]
    assert result.outputs == expected
    for path, wavelength in zip(expected, (171, 193), strict=True):
        with path.open(newline="") as stream:
            rows_ = list(csv.reader(stream))
        assert rows_[0] == STAFF_HEADER
        assert [row[1] for row in rows_[1:]] == ROW_TYPES
        assert all(row[0] == f"AIA_{wavelength}" for row in rows_[1:])
        area = {row[1]: float(row[STAFF_HEADER.index("Area_Raw")]) for row in rows_[1:]}
        assert area["CH_ondisc"] > 0 and area["AR_ondisc"] > 0 and area["CH_central_meridian"] > 0
        # The CH disc is larger than the AR disc: (0.2 / 0.15)^2 = 1.78 times, up to the projection.
        assert area["CH_ondisc"] > area["AR_ondisc"]
    # The original order (AR map first) finds no CH in the AR map and no AR in the CH map.
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    subprocess.run([str(spoca_programs["get_STAFF_stats"]), "--config", str(STAFF_CONFIG), "--output", str(swapped),
                    str(ar_map), str(ch_map), str(images[171])], check=True, capture_output=True, timeout=300)
    with next(swapped.iterdir()).open(newline="") as stream:
        swapped_area = {row[1]: float(row[STAFF_HEADER.index("Area_Raw")]) for row in list(csv.reader(stream))[1:]}
    assert swapped_area["CH_ondisc"] == 0 and swapped_area["AR_ondisc"] == 0


def test_script_runs_a_segmentation(spoca_programs, images, tmp_path):
    output = tmp_path / "map.fits"
    command = [sys.executable, str(REPO_ROOT / "staff_jobs.py"), "segmentation", str(spoca_programs["ch_segmentation"]),
               str(CH_CONFIG), str(tmp_path / "centers.txt"), str(output), str(images[193])]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(output)
    assert check_segmentation_map(output) is None
    command[-1] = str(tmp_path / "missing.fits")
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 1
    assert "Cannot find file" in completed.stderr


# -- programs that misbehave -----------------------------------------------------------------------------------

VALID_MAP = ("import numpy as np\nfrom astropy.io import fits\n"
             "fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((8, 8), dtype=np.int32), name='SegmentedMap')])"
             ".writeto(output, overwrite=True)")


@pytest.mark.parametrize(("body", "problem"), [
    ("pass", "m.fits was not written"),
    ("output.write_text('not FITS')", "is not a readable FITS file"),
    ("import numpy as np\nfrom astropy.io import fits\n"
     "fits.PrimaryHDU(np.ones((8, 8), dtype=np.int32)).writeto(output)", "has no SegmentedMap HDU"),
    ("import numpy as np\nfrom astropy.io import fits\n"
     "fits.ImageHDU(np.ones((8, 8), dtype=np.float32), name='SegmentedMap').writeto(output)", "not integer"),
    ("import numpy as np\nfrom astropy.io import fits\n"
     "fits.ImageHDU(np.ones(8, dtype=np.int32), name='SegmentedMap').writeto(output)", "does not hold a 2-D image"),
])
def test_segmentation_outputs_are_validated(tmp_path, body, problem):
    program = make_program(tmp_path, "fake_segmentation.x", body)
    with pytest.raises(JobError) as caught:
        SegmentationJob(program, CH_CONFIG, tmp_path / "centers.txt").execute(["a.fits"], tmp_path / "m.fits", 120)
    assert not caught.value.transient
    assert caught.value.exit_code == 0
    assert problem in str(caught.value)


def test_a_valid_map_left_from_an_earlier_run_does_not_count(tmp_path):
    writer = make_program(tmp_path, "writer.x", VALID_MAP)
    lazy = make_program(tmp_path, "lazy.x", "pass")
    output = tmp_path / "m.fits"
    SegmentationJob(writer, CH_CONFIG, tmp_path / "c.txt").execute(["a.fits"], output, timeout=120)
    assert check_segmentation_map(output) is None
    with pytest.raises(JobError, match="m.fits was not rewritten"):
        SegmentationJob(lazy, CH_CONFIG, tmp_path / "c.txt").execute(["a.fits"], output, timeout=120)


def test_a_crash_and_a_hang(tmp_path):
    crash = make_program(tmp_path, "crash.x", "sys.stderr.write('Error : boom\\n'); sys.exit(1)")
    with pytest.raises(JobError) as caught:
        SegmentationJob(crash, CH_CONFIG, tmp_path / "c.txt").execute(["a.fits"], tmp_path / "m.fits", timeout=120)
    assert not isinstance(caught.value, TransientJobError) and "Error : boom" in str(caught.value)
    hang = make_program(tmp_path, "hang.x", "time.sleep(600)")
    with pytest.raises(JobTimeoutError):
        SegmentationJob(hang, CH_CONFIG, tmp_path / "c.txt").execute(["a.fits"], tmp_path / "m.fits", timeout=2)


def fake_staff_program(folder: Path, rows: int, skip_last_image: bool = False) -> Path:
    """A get_STAFF_stats.x look-alike writing CSVs named like the real one, with ``rows`` of the five rows."""
    body = f"""
at = args.index('--output')
ch_map, ar_map, images = Path(args[at + 2]), Path(args[at + 3]), args[at + 4:]
for image in images[:-1] if {skip_last_image} else images:
    lines = [{",".join(STAFF_HEADER)!r}] + ["AIA_171," + kind + ",1" * 14 for kind in {ROW_TYPES[:rows]!r}]
    (output / f"{{ch_map.stem}}_and_{{ar_map.stem}}_on_{{Path(image).stem}}.csv").write_text("\\n".join(lines) + "\\n")
"""
    return make_program(folder, f"fake_staff_{rows}_{skip_last_image}.x", body)


def test_staff_outputs_are_validated(tmp_path):
    stats = tmp_path / "stats"
    stats.mkdir()
    images = [tmp_path / "AIA_a_0171.fits", tmp_path / "AIA_a_0193.fits"]
    good = GetStaffStatsJob(fake_staff_program(tmp_path, 5), STAFF_CONFIG, stats)
    result = good.execute(tmp_path / "ar.fits", tmp_path / "ch.fits", images, timeout=120)
    assert result.outputs == [stats / "ch_and_ar_on_AIA_a_0171.csv", stats / "ch_and_ar_on_AIA_a_0193.csv"]
    assert all(check_staff_csv(path) is None for path in result.outputs)
    with pytest.raises(JobError, match="has rows AR_all, CH_central_meridian, CH_ondisc, AR_ondisc instead of"):
        GetStaffStatsJob(fake_staff_program(tmp_path, 4), STAFF_CONFIG, stats).execute(
            tmp_path / "ar.fits", tmp_path / "ch.fits", images, timeout=120)
    with pytest.raises(JobError, match="AIA_a_0193.csv"):
        GetStaffStatsJob(fake_staff_program(tmp_path, 5, skip_last_image=True), STAFF_CONFIG, stats).execute(
            tmp_path / "ar.fits", tmp_path / "ch.fits", images, timeout=120)


def test_check_staff_csv_rejects_a_bad_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Channel,Type\n" + "".join(f"AIA_171,{t}\n" for t in ROW_TYPES))
    assert "does not start with the STAFF header" in check_staff_csv(path)
    assert "cannot be read" in check_staff_csv(tmp_path / "missing.csv")
