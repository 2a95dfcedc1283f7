"""Tests of how the SPoCA programs write their outputs (SPoCA/lib/core/temporary_file.*,
classification/segmentation_map_writer.*, the CSVs of get_STAFF_stats.x): never an exit status 0 with an
incomplete output (issue 12), FITS checksums in the maps that can be verified without decompressing them
(issue 15), and maps whose rows are Rice-compressed on the producing threads byte-identical to those cfitsio
compresses itself (issue 15).

The disk-full cases write to a small tmpfs mounted for the test (root only; skipped where mounting is not
permitted) whose free space is first filled up, so that the real programs meet ENOSPC on their real writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from library_driver import CORE_LIBRARY_SOURCES, compile_driver

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
CH_CONFIG = CONFIGS / "AIA.CH_segmentation.config"
AR_CONFIG = CONFIGS / "AIA.AR_segmentation.config"
STATS_CONFIG = CONFIGS / "AIA.get_STAFF_stats.config"
#: Free space left on the small disk: far less than a map or two CSVs need, more than a file's metadata.
FREE_BYTES = 2048


def run(program: Path, *arguments: object) -> subprocess.CompletedProcess[str]:
    """Run a SPoCA program with an argument list and capture its output."""
    return subprocess.run([str(program), *map(str, arguments)], capture_output=True, text=True, check=False,
                          timeout=120)


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of stderr other than the spec's WARN lines about repeated parameters."""
    return [line for line in result.stderr.splitlines() if not line.startswith("WARN: ")]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 256 KiB tmpfs with only FREE_BYTES left; unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "small_disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        statistics = os.statvfs(folder)
        free = statistics.f_bavail * statistics.f_frsize
        (folder / "filler").write_bytes(bytes(max(0, free - FREE_BYTES)))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


def test_map_on_a_full_disk_fails_and_leaves_nothing(full_disk: Path, tmp_path: Path, aia_factory,
                                                     spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=256)
    centers = tmp_path / "ch_centers.txt"
    centers.write_text("[AIA_193]\t[(6.000000),(10.300000),(14.600000),(15.700000)]\n")
    before = centers.read_text()
    output = full_disk / "map.fits"
    result = run(spoca_programs["ch_segmentation"], "--config", CH_CONFIG, "--centersFile", centers,
                 "--output", output, image)
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error : {output}: ") and "cannot" in lines[0]
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"], "no map and no temporary file may be left"
    assert centers.read_text() == before, "a run whose map failed must not advance the centres history"


def test_two_channel_map_on_a_full_disk_fails(full_disk: Path, tmp_path: Path, aia_factory,
                                              spoca_programs: dict[str, Path]) -> None:
    images = [aia_factory(w, size=256) for w in (171, 193)]
    output = full_disk / "ar_map.fits"
    result = run(spoca_programs["ar_segmentation"], "--config", AR_CONFIG, "--centersFile",
                 tmp_path / "ar_centers.txt", "--output", output, *images)
    assert result.returncode == 1, result.stderr
    assert len(error_lines(result)) == 1 and str(output) in result.stderr
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]
    assert not (tmp_path / "ar_centers.txt").exists()


def test_centres_file_on_a_full_disk_gives_exit_status_1(full_disk: Path, tmp_path: Path, aia_factory,
                                                         spoca_programs: dict[str, Path]) -> None:
    """Issue 12 (quirk Q10 only reported it): the map is complete, but the history could not be kept."""
    image = aia_factory(193, size=256)
    centers = full_disk / "ch_centers.txt"
    output = tmp_path / "map.fits"
    result = run(spoca_programs["ch_segmentation"], "--config", CH_CONFIG, "--centersFile", centers,
                 "--output", output, image)
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"Error : {centers}: cannot "), result.stderr
    assert [p.name for p in full_disk.iterdir() if p.name != "filler"] in ([], ["ch_centers.txt"])
    assert not centers.exists() or centers.read_text() == ""


def test_csvs_on_a_full_disk_fail_each_image_and_leave_nothing(full_disk: Path, tmp_path: Path, aia_factory,
                                                               spoca_programs: dict[str, Path]) -> None:
    images = [aia_factory(w, size=128) for w in (171, 193)]
    ch_map, ar_map = tmp_path / "ch.fits", tmp_path / "ar.fits"
    assert run(spoca_programs["ch_segmentation"], "--config", CH_CONFIG, "--output", ch_map, "-n", "0",
               images[1]).returncode == 0
    assert run(spoca_programs["ar_segmentation"], "--config", AR_CONFIG, "--output", ar_map, "-n", "0",
               *images).returncode == 0
    result = run(spoca_programs["get_STAFF_stats"], "--config", STATS_CONFIG, "--output", full_disk, ch_map, ar_map,
                 *images)
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 2, result.stderr
    for line, image in zip(lines, images, strict=True):
        assert line.startswith(f"Error: {full_disk}/ch_and_ar_on_{image.stem}.csv: cannot "), line
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def verify_checksums(path: Path) -> list[str]:
    """The warnings astropy gives when it verifies the checksums of every HDU on the raw (compressed) data."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(path, checksum=True, disable_image_compression=True) as hdus:
            for hdu in hdus:
                assert "CHECKSUM" in hdu.header and "DATASUM" in hdu.header, (path, hdu.name)
                hdu.data  # noqa: B018 - the data checksum is verified when the data are read
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("program", ["ch_segmentation", "ch_segmentation uncompressed", "ar_segmentation"])
def test_maps_carry_checksums_that_astropy_verifies(program: str, tmp_path: Path, aia_factory,
                                                    spoca_programs: dict[str, Path]) -> None:
    images = [aia_factory(w, size=128) for w in (171, 193)]
    output = tmp_path / "map.fits"
    name, *flags = program.split()
    config = CH_CONFIG if name == "ch_segmentation" else AR_CONFIG
    extra = ["--uncompressed", "true"] if flags else []
    inputs = images[1:] if name == "ch_segmentation" else images
    result = run(spoca_programs[name], "--config", config, "--output", output, "-n", "0", *extra, *inputs)
    assert result.returncode == 0, result.stderr
    assert verify_checksums(output) == []
    with fits.open(output, disable_image_compression=True) as hdus:
        assert len(hdus) == (1 if flags else 2)
        location = hdus.fileinfo(len(hdus) - 1)["datLoc"]
    # The checksums are real: one changed byte of the (compressed) data is detected.
    data = bytearray(output.read_bytes())
    data[location + 100] ^= 0x5A
    damaged = tmp_path / f"damaged-{uuid.uuid4().hex}.fits"
    damaged.write_bytes(bytes(data))
    assert any("verification failed" in message for message in verify_checksums(damaged))


@pytest.mark.parametrize("program", ["ch_segmentation", "ar_segmentation"])
def test_maps_of_two_runs_on_the_same_inputs_are_byte_identical(program: str, tmp_path: Path, aia_factory,
                                                                spoca_programs: dict[str, Path]) -> None:
    # Reruns, reprocessing and parallel backfills compare maps by their bytes: nothing in a map may depend on
    # when it was written (cfitsio's own checksum routine would stamp the date into the checksum comments).
    images = [aia_factory(w, size=128) for w in (171, 193)]
    inputs = images[1:] if program == "ch_segmentation" else images
    config = CH_CONFIG if program == "ch_segmentation" else AR_CONFIG
    maps = [tmp_path / "first.fits", tmp_path / "second.fits"]
    for output in maps:
        result = run(spoca_programs[program], "--config", config, "--output", output, "-n", "0", *inputs)
        assert result.returncode == 0, result.stderr
        time.sleep(1.1)  # a different second on the clock
    assert maps[0].read_bytes() == maps[1].read_bytes()
    assert verify_checksums(maps[0]) == []


# -- the map writer's Rice compression on the producing threads (issue 15) ------------------------------------

MAP_WRITER_DRIVER = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include "classification/segmentation_map_writer.hpp"
#include "core/error.hpp"

// driver PATH WHERE WIDTH HEIGHT PATTERN COMPRESSED: writes a map of the pattern; WHERE 0 compresses the row
// tiles on the producing threads, 1 inside cfitsio's fits_write_img.
int main(int argc, char** argv) {
    if (argc != 7) return 2;
    const std::string pattern = argv[5];
    const int width = std::atoi(argv[3]);
    auto value = [&](long long i, long long j) -> std::int32_t {
        if (pattern == "classes") return static_cast<std::int32_t>(((i * 7 + j * 13) / 5 + (i * j) % 3) % 5);
        if (pattern == "extreme") {
            return static_cast<std::int32_t>((i + j) % 2 ? 2147483647 : -2147483647 - 1 + (i * j) % 1000);
        }
        return 0;
    };
    try {
        const bool compressed = argv[6][0] == '1';
        spoca::writeSegmentationMap(argv[1], width, std::atoi(argv[4]), {{"CLASSES", "5", "test"}}, compressed,
            [&](int first, int end, std::int32_t* out) {
                for (int j = first; j < end; ++j) {
                    for (int i = 0; i < width; ++i) out[static_cast<std::size_t>(j - first) * width + i] = value(i, j);
                }
            },
            argv[2][0] == '0' ? spoca::RiceTiles::onWorkerThreads : spoca::RiceTiles::insideCfitsio);
    } catch (const spoca::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def map_writer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled map-writer driver (skipped without a C++ compiler)."""
    sources = [*CORE_LIBRARY_SOURCES, "classification/segmentation_map_writer.cpp"]
    return compile_driver(tmp_path_factory.mktemp("map_writer"), MAP_WRITER_DRIVER, sources, options=["-lcfitsio"])


def expected_pattern(pattern: str, width: int, height: int) -> np.ndarray:
    """The driver's pattern, computed with numpy."""
    j, i = np.mgrid[0:height, 0:width].astype(np.int64)
    if pattern == "classes":
        return (((i * 7 + j * 13) // 5 + (i * j) % 3) % 5).astype(np.int32)
    if pattern == "extreme":
        return np.where((i + j) % 2 == 1, 2**31 - 1, -2**31 + (i * j) % 1000).astype(np.int32)
    return np.zeros((height, width), np.int32)


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize(("width", "height", "pattern"), [
    (1000, 1500, "classes"),   # three blocks of 524 rows, the last one short
    (33, 7, "extreme"),        # rows that are no multiple of the Rice block of 32 pixels
    (1, 1, "constant"),
    (257, 2041, "constant"),
])
def test_rice_rows_compressed_on_the_threads_give_cfitsios_bytes(map_writer: Path, tmp_path: Path, threads: str,
                                                                 width: int, height: int, pattern: str) -> None:
    environment = {**os.environ, "SPOCA_THREADS": threads}
    paths = {}
    for where in ("0", "1"):
        paths[where] = tmp_path / f"map_{where}.fits"
        subprocess.run([str(map_writer), str(paths[where]), where, str(width), str(height), pattern, "1"],
                       env=environment, check=True, timeout=120)
    assert paths["0"].read_bytes() == paths["1"].read_bytes()
    assert verify_checksums(paths["0"]) == []
    with fits.open(paths["0"], disable_image_compression=True) as hdus:
        assert (hdus[1].header["ZCMPTYPE"], hdus[1].header["ZTILE1"], hdus[1].header["ZTILE2"]) == ("RICE_1", width, 1)
    with fits.open(paths["0"]) as hdus:
        np.testing.assert_array_equal(hdus[1].data, expected_pattern(pattern, width, height))


def test_uncompressed_map_writer_writes_the_pixels(map_writer: Path, tmp_path: Path) -> None:
    path = tmp_path / "plain.fits"
    subprocess.run([str(map_writer), str(path), "0", "1000", "1500", "classes", "0"], check=True, timeout=120)
    with fits.open(path) as hdus:
        assert len(hdus) == 1
        np.testing.assert_array_equal(hdus[0].data, expected_pattern("classes", 1000, 1500))
