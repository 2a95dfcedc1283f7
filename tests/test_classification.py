"""Tests of the SPoCA classification programs ch_segmentation.x (1 channel) and ar_segmentation.x (2 channels).

The reference results of the original SPoCA (compat 12) are reproduced exactly on the shared real
AIA sample (skipped where ``../shared`` is absent). Synthetic images from scripts/make_synthetic_aia.py
and sunpy's real 128x128 file check the reading of every pixel format, the class ordering and the
overlap with the true regions, the centres-file history, its locking and the rejection of bad input.
Every expectation is computed independently of the programs (numpy, astropy, the spec's numbers).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from section12_reference import AR_CENTERS, CH_CENTERS, MAPS, SAMPLE, relabel

CH_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "AIA.CH_segmentation.config"
AR_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "AIA.AR_segmentation.config"
CH_MAP1_CARDS = """\
EXTNAME = 'SegmentedMap'
CBINSIZE= '(0.010000)'         / Histogram bin size
CD1_1   =                  2.4
CD1_2   =                  -0.
CD2_1   =                   0.
CD2_2   =                  2.4
CDELT1  =                  2.4
CDELT2  =                  2.4
CFUZFIER=                   2. / Classifier Fuzzifier
CHANNELS= '[AIA_171]'          / Classification Channels
CLASTYPE= 'HFCM    '           / Classifier Type
CLSCTR01= '(4.3775)'           / Classification class center 01
CLSCTR02= '(8.4226)'           / Classification class center 02
CLSCTR03= '(10.9386)'          / Classification class center 03
CLSCTR04= '(13.0951)'          / Classification class center 04
CMAXITER=                  100 / Maximum Number of Iteration
CNBRBINS=                 1086 / Histogram number of bin
CNBRCLAS=                    4 / Number Classes
CPRECIS =               0.0015 / Classifier Precision
CPREPROC= 'NAR=1.2,DivExpTime,ALC,ThrMaxPer=80.0,TakeSqrt' / Classification Imag
CRLN_OBS=           315.285065 / [deg]
CRPIX1  =                512.5
CRPIX2  =                512.5
CTYPE1  = 'HPLN-TAN'
CTYPE2  = 'HPLT-TAN'
CUNIT1  = 'arcsec  '
CUNIT2  = 'arcsec  '
DATE_OBS= '2011-03-19T10:54:01.34'
DSUN_OBS=      148940609626.98 / [m]
HGLN_OBS=                   0. / [deg]
HGLT_OBS=            -7.064078 / [deg]
IMAGE001= 'AIA20110319_105400_0171.fits'
INSTRUME= 'Segmentation Map'   / SPoCA segmentation map
RSUN_OBS=           963.879683 / [arcsec]
RSUN_REF=           696000000. / [m]
SEGMTYPE= 'max     '           / Segmentation type
TELESCOP= 'SPoCA   '           / This map was computed with SPoCA
"""


def run(program: Path, *arguments: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a SPoCA program with an argument list (never a shell) and capture its output."""
    return subprocess.run([str(program), *map(str, arguments)], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=120)


def classify(program: Path, config: Path, centers: Path, output: Path, *images: Path,
             extra: Sequence[object] = ()) -> subprocess.CompletedProcess[str]:
    """Run a classification program the way the pipeline does."""
    return run(program, "--config", config, "--centersFile", centers, "--output", output, *extra, *images)


def map_pixels(path: Path) -> np.ndarray:
    """The decompressed pixels of a map written by the classification program (HDU 1)."""
    with fits.open(path) as hdus:
        return np.asarray(hdus[1].data)


def raw_header_cards(path: Path, hdu: int) -> list[str]:
    """The 80-character cards of HDU ``hdu`` read from the bytes of the file, without a FITS library."""
    data = path.read_bytes()
    offset = 0
    for index in range(hdu + 1):
        cards = []
        while True:
            block = data[offset:offset + 2880]
            offset += 2880
            cards += [block[k:k + 80].decode("ascii") for k in range(0, 2880, 80)]
            if any(card.startswith("END ") or card.rstrip() == "END" for card in cards[-36:]):
                break
        if index == hdu:
            return cards
        header = fits.Header.fromstring("".join(cards))
        size = abs(header["BITPIX"]) // 8 * header.get("GCOUNT", 1) * (
            header.get("PCOUNT", 0) + int(np.prod([header[f"NAXIS{k}"] for k in range(1, header["NAXIS"] + 1)])))
        offset += -(-size // 2880) * 2880 if header["NAXIS"] else 0
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory, spoca_programs: dict[str, Path]) -> Path:
    """The four classification commands of compat 12, run in one folder on the shared sample."""
    sample = Path(__file__).resolve().parents[2] / "shared" / "data" / SAMPLE
    if not sample.is_file():
        pytest.skip(f"no shared sample {sample}")
    folder = tmp_path_factory.mktemp("section12")
    shutil.copyfile(sample, folder / SAMPLE)
    relabel(folder / SAMPLE, folder / "relabel_0193.fits")
    ch, ar = spoca_programs["ch_segmentation"], spoca_programs["ar_segmentation"]
    for index in (1, 2):
        result = run(ch, "--config", CH_CONFIG, "--centersFile", "ch_centers.txt", "--output", f"ch_map{index}.fits",
                     SAMPLE, cwd=folder)
        assert result.returncode == 0, result.stderr
    for index in (1, 2):
        result = run(ar, "--config", AR_CONFIG, "--centersFile", "ar_centers.txt", "--output", f"ar_map{index}.fits",
                     SAMPLE, "relabel_0193.fits", cwd=folder)
        assert result.returncode == 0, result.stderr
    return folder


def test_reference_centres_files_are_byte_identical(reference_run: Path) -> None:
    assert (reference_run / "ch_centers.txt").read_bytes() == CH_CENTERS.encode()
    assert (reference_run / "ar_centers.txt").read_bytes() == AR_CENTERS.encode()


@pytest.mark.parametrize("name", sorted(MAPS))
def test_reference_maps_are_pixel_identical(reference_run: Path, name: str) -> None:
    counts, md5, bins = MAPS[name]
    pixels = map_pixels(reference_run / f"{name}.fits")
    values, numbers = np.unique(pixels, return_counts=True)
    assert dict(zip(values.tolist(), numbers.tolist(), strict=True)) == counts
    assert hashlib.md5(pixels.astype(">i4").tobytes()).hexdigest() == md5
    assert fits.getheader(reference_run / f"{name}.fits", 1)["CNBRBINS"] == bins


def test_reference_ch_map_header_cards(reference_run: Path) -> None:
    cards = raw_header_cards(reference_run / "ch_map1.fits", 1)
    start = next(k for k, card in enumerate(cards) if card.startswith("EXTNAME"))
    expected = [line.ljust(80) for line in CH_MAP1_CARDS.splitlines()]
    assert cards[start:start + len(expected)] == expected
    assert cards[start + len(expected)].startswith("END")
    zimage = fits.Header.fromstring("".join(cards[:start]))
    assert (zimage["ZBITPIX"], zimage["ZNAXIS1"], zimage["ZNAXIS2"], zimage["ZTILE1"], zimage["ZTILE2"]) == (
        32, 1024, 1024, 1024, 1)
    assert (zimage["ZCMPTYPE"], zimage["ZNAME1"], zimage["ZVAL1"], zimage["ZNAME2"], zimage["ZVAL2"]) == (
        "RICE_1", "BLOCKSIZE", 32, "BYTEPIX", 4)
    primary = fits.getheader(reference_run / "ch_map1.fits", 0)
    assert primary["NAXIS"] == 0 and primary["BITPIX"] == 16


def test_reference_ar_map_header_values(reference_run: Path) -> None:
    ch = fits.getheader(reference_run / "ch_map1.fits", 1)
    ar = fits.getheader(reference_run / "ar_map1.fits", 1)
    assert ar["CBINSIZE"] == "(0.010000,0.010000)"
    assert [ar[f"CETA0{k}"] for k in range(1, 5)] == [0.00205423, 0.00177433, 0.00458218, 0.0126913]
    assert ar["CFCMFUZ"] == 2.0 and ar["CHANNELS"] == "[AIA_171,AIA_193]" and ar["CLASTYPE"] == "HPCM2"
    assert [ar[f"CLSCTR0{k}"] for k in range(1, 5)] == [
        "(0.6126,0.6126)", "(1.2418,1.2418)", "(3.3776,3.3776)", "(9.8493,9.8493)"]
    assert ar["CPREPROC"] == "NAR=1.2,DivExpTime,ALC,DivMedian" and ar["IMAGE002"] == "relabel_0193.fits"
    different = {"CBINSIZE", "CHANNELS", "CLASTYPE", "CNBRBINS", "CPREPROC", "IMAGE002", "CFCMFUZ"}
    for key in ch:
        if key not in different and not key.startswith(("CLSCTR", "CETA", "Z", "T", "NAXIS", "PCOUNT")):
            assert ar[key] == ch[key], key
    ar2 = fits.getheader(reference_run / "ar_map2.fits", 1)
    assert [ar2[f"CETA0{k}"] for k in range(1, 5)] == [0.00205621, 0.001774, 0.004582, 0.012691]


# ------------------------------------------------------------------------------------- synthetic data


def preprocessed_brightness(image: np.ndarray, classes: np.ndarray) -> list[float]:
    """Median raw intensity of each class 1..4 (NaN for an empty class)."""
    return [float(np.median(image[classes == k])) if np.any(classes == k) else float("nan") for k in range(1, 5)]


def image_data(path: Path) -> np.ndarray:
    """The image of an AIA file as float64, from whichever HDU holds it, NaN for BLANK pixels."""
    with fits.open(path) as hdus:
        hdu = next(h for h in hdus if h.data is not None)
        return np.asarray(hdu.data, dtype=np.float64)


@pytest.mark.parametrize("data_format", ["rice_int16", "int32_bscale", "float32", "float64"])
def test_every_pixel_format_gives_the_same_brightness_ordered_map(
        tmp_path: Path, aia_factory, spoca_programs: dict[str, Path], data_format: str) -> None:
    block = (100, 120, 100, 140)
    image = aia_factory(193, data_format=data_format, invalid_blocks=[block], masks=True)
    output = tmp_path / "map.fits"
    result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "c.txt", output, image)
    assert result.returncode == 0, result.stderr
    classes = map_pixels(output)
    assert classes.shape == (256, 256)
    assert not classes[100:120, 100:140].any(), "BLANK / NaN pixels must be class 0"
    medians = preprocessed_brightness(image_data(image), classes)
    assert medians == sorted(medians), "classes must be numbered from the darkest to the brightest"
    header = fits.getheader(image, 1 if data_format == "rice_int16" else 0)
    radius = header["RSUN_OBS"] / header["CDELT1"]
    rows, columns = np.indices(classes.shape)
    far = (columns - (header["CRPIX1"] - 1)) ** 2 + (rows - (header["CRPIX2"] - 1)) ** 2 > (1.2 * radius + 1) ** 2
    assert not classes[far].any(), "pixels beyond 1.2 solar radii must be class 0"


def test_formats_agree(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    """RICE int16 with BLANK and float64 with NaN of the same image give the same map."""
    maps = []
    for data_format in ("rice_int16", "float64"):
        image = aia_factory(193, name=f"{data_format}.fits", data_format=data_format, invalid_blocks=[(0, 30, 0, 256)])
        output = tmp_path / f"{data_format}_map.fits"
        result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / f"{data_format}.txt", output, image)
        assert result.returncode == 0, result.stderr
        maps.append(map_pixels(output))
    np.testing.assert_array_equal(maps[0], maps[1])


def overlap(mask_path: Path, classes: np.ndarray, wanted: int) -> float:
    """Fraction of the true mask's pixels that got class ``wanted``."""
    mask = fits.getdata(mask_path).astype(bool)
    return float(np.mean(classes[mask] == wanted))


def test_true_regions_fall_in_the_ch_and_ar_classes(tmp_path: Path, aia_factory,
                                                     spoca_programs: dict[str, Path]) -> None:
    i171 = aia_factory(171, size=512, masks=True)
    i193 = aia_factory(193, size=512, masks=True)
    ch_map, ar_map = tmp_path / "ch.fits", tmp_path / "ar.fits"
    assert classify(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "ch.txt", ch_map, i193).returncode == 0
    result = classify(spoca_programs["ar_segmentation"], AR_CONFIG, tmp_path / "ar.txt", ar_map, i171, i193)
    assert result.returncode == 0, result.stderr
    ch_mask = i193.with_name(i193.name.replace(".fits", ".ch_mask.fits"))
    ar_mask = i171.with_name(i171.name.replace(".fits", ".ar_mask.fits"))
    ch_classes, ar_classes = map_pixels(ch_map), map_pixels(ar_map)
    assert overlap(ch_mask, ch_classes, 1) + overlap(ch_mask, ch_classes, 2) > 0.95, "holes are in the dark classes"
    assert overlap(ch_mask, ch_classes, 1) > 0.3
    assert overlap(ar_mask, ar_classes, 3) + overlap(ar_mask, ar_classes, 4) > 0.9, \
        "active regions are in the AR class (3, the pipeline's ARClass) and their cores in 4"
    assert overlap(ar_mask, ar_classes, 4) > 0.05, "the brightest class holds the AR cores"
    assert overlap(ar_mask, ch_classes, 1) == 0


@pytest.mark.filterwarnings("ignore:Invalid 'BLANK' keyword")
def test_sunpy_real_file(tmp_path: Path, sunpy_aia_171: Path, spoca_programs: dict[str, Path]) -> None:
    """sunpy's real 128x128 float64 AIA file, read with imageType Unknown (INSTRUME = AIA_3)."""
    output = tmp_path / "map.fits"
    result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "c.txt", output, sunpy_aia_171,
                      extra=("--imageType", "Unknown"))
    assert result.returncode == 0, result.stderr
    classes = map_pixels(output)
    header = fits.getheader(sunpy_aia_171)
    assert classes.shape == (128, 128)
    medians = preprocessed_brightness(image_data(sunpy_aia_171), classes)
    assert medians == sorted(medians)
    rows, columns = np.indices(classes.shape)
    radius = header["RSUN_OBS"] / header["CDELT1"]
    distance2 = (columns - (header["CRPIX1"] - 1)) ** 2 + (rows - (header["CRPIX2"] - 1)) ** 2
    assert not classes[distance2 > (1.2 * radius) ** 2].any()
    assert classes[distance2 < radius ** 2].all()
    map_header = fits.getheader(output, 1)
    assert map_header["CHANNELS"] == "[AIA_171]" and map_header["DATE_OBS"] == "2011-02-15T00:00:01.34"


def test_directory_mode_output_name(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    i171 = aia_factory(171)
    i193 = aia_factory(193)
    maps = tmp_path / "maps"
    maps.mkdir()
    result = classify(spoca_programs["ar_segmentation"], AR_CONFIG, tmp_path / "c.txt", maps, i171, i193)
    assert result.returncode == 0, result.stderr

    def stamp(path: Path) -> str:
        text = fits.getheader(path, 1)["T_OBS"]
        return text[:19].replace("-", "").replace(":", "").replace("T", "_")

    expected = f"HPCM2.AIA_171.{stamp(i171)}.AIA_193.{stamp(i193)}.SegmentedMap.fits"
    assert [path.name for path in maps.iterdir()] == [expected]


def test_dissimilar_images_give_a_warning(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    i171 = aia_factory(171, centre_offset=(6.0, -5.0))
    i193 = aia_factory(193, centre_offset=(0.0, 0.0))
    output = tmp_path / "map.fits"
    result = classify(spoca_programs["ar_segmentation"], AR_CONFIG, tmp_path / "c.txt", output, i171, i193)
    assert result.returncode == 0, result.stderr
    assert f"Warning: image {i193} and {i171} are not similar: Sun center mismatch" in result.stderr
    assert output.is_file()


# ---------------------------------------------------------------------------------------- centres file


def centre_values(line: str) -> np.ndarray:
    """The centres of one centres-file line, as a (classes, channels) array."""
    centres = line.split("\t")[1].strip("[]")
    return np.array([[float(v) for v in c.strip("()").split(",")] for c in centres.split("),(")])


def test_history_keeps_n_plus_one_lines(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=128)
    centers = tmp_path / "c.txt"
    for run_index in range(12):
        result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, centers, tmp_path / "m.fits", image)
        assert result.returncode == 0, result.stderr
        assert len(centers.read_text().splitlines()) == min(run_index + 1, 11)
    result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, centers, tmp_path / "m.fits", image,
                      extra=("--numberPreviousCenters", 2))
    assert result.returncode == 0, result.stderr
    assert len(centers.read_text().splitlines()) == 3


def test_map_uses_the_upper_middle_median_of_the_history(tmp_path: Path, aia_factory,
                                                         spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=128)
    centers = tmp_path / "c.txt"
    assert classify(spoca_programs["ch_segmentation"], CH_CONFIG, centers, tmp_path / "m.fits", image).returncode == 0
    first = centers.read_text().splitlines()[0]
    old = [f"[AIA_193]\t[({a:.6f}),({a + 4:.6f}),({a + 8:.6f}),({a + 9:.6f})]" for a in (1.0, 2.0, 30.0)]
    centers.write_text(first + "\n" + "\n".join(old) + "\n")
    output = tmp_path / "median.fits"
    result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, centers, output, image)
    assert result.returncode == 0, result.stderr
    lines = centers.read_text().splitlines()
    assert lines[1:] == [first, *old]
    history = np.array([centre_values(line)[:, 0] for line in lines])
    expected = np.sort(history, axis=0)[len(history) // 2]  # upper middle for an even count
    header = fits.getheader(output, 1)
    assert [header[f"CLSCTR0{k}"] for k in range(1, 5)] == [f"({value:.4f})" for value in np.sort(expected)]


def test_concurrent_runs_lose_no_update(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=256)
    centers = tmp_path / "shared_centers.txt"
    command = [str(spoca_programs["ch_segmentation"]), "--config", str(CH_CONFIG), "--centersFile", str(centers)]
    processes = [subprocess.Popen([*command, "--output", str(tmp_path / f"m{k}.fits"), str(image)],
                                  stderr=subprocess.PIPE, text=True) for k in range(4)]
    for process in processes:
        _, error = process.communicate(timeout=120)
        assert process.returncode == 0, error
    assert len(centers.read_text().splitlines()) == 4
    assert sorted(path.name for path in tmp_path.iterdir() if "shared_centers" in path.name) == ["shared_centers.txt"]


# ------------------------------------------------------------------------------------------- bad input


def assert_fails(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit status 1 and exactly one line on stderr (besides the spec's WARN lines) that contains every word."""
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("WARN: ")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def good_image(aia_factory) -> Path:
    """A small valid AIA 193 image."""
    return aia_factory(193, size=128, name="good.fits")


def check_bad_input(tmp_path: Path, program: Path, images: Sequence[Path], *words: str,
                    config: Path = CH_CONFIG, extra: Sequence[object] = ()) -> None:
    """Run on bad input: one-line error, exit 1, no map and no centres file written."""
    output, centers = tmp_path / "out" / "map.fits", tmp_path / "out" / "centers.txt"
    output.parent.mkdir(exist_ok=True)
    assert_fails(classify(program, config, centers, output, *images, extra=extra), *words)
    assert not output.exists() and not centers.exists()
    assert list(output.parent.iterdir()) == []


def test_missing_file(tmp_path: Path, spoca_programs: dict[str, Path]) -> None:
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [tmp_path / "nofile.fits"], "Cannot find file",
                    "nofile.fits")


def test_not_a_fits_file(tmp_path: Path, spoca_programs: dict[str, Path]) -> None:
    text = tmp_path / "notes.fits"
    text.write_text("this is not a FITS file\n" * 200)
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [text], "notes.fits", "FITS")


def test_truncated_file(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    image = aia_factory(193, size=256)
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [image], image.name)


def test_three_dimensional_image(tmp_path: Path, good_image: Path, spoca_programs: dict[str, Path]) -> None:
    header = fits.getheader(good_image, 1)
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.ones((2, 16, 16), dtype=np.float32),
                    header=fits.Header([card for card in header.cards if not card.keyword.startswith(
                        ("NAXIS", "BITPIX", "SIMPLE", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "BLANK"))])
                    ).writeto(cube)
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [cube], "cube.fits", "not 2D")


@pytest.mark.parametrize(("dropped", "word"), [(("WAVELNTH",), "WAVELNTH"), (("CDELT1",), "CDELT"),
                                               (("RSUN_OBS", "R_SUN"), "sun radius")])
def test_header_without_mandatory_keyword(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path],
                                          dropped: tuple[str, ...], word: str) -> None:
    image = aia_factory(193, size=128, drop_keywords=dropped)
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [image], image.name, word)


def test_images_of_different_sizes(tmp_path: Path, aia_factory, spoca_programs: dict[str, Path]) -> None:
    i171 = aia_factory(171, size=128)
    i193 = aia_factory(193, size=256)
    check_bad_input(tmp_path, spoca_programs["ar_segmentation"], [i171, i193], "different sizes", i171.name,
                    config=AR_CONFIG)


def test_all_zero_image(tmp_path: Path, good_image: Path, spoca_programs: dict[str, Path]) -> None:
    with fits.open(good_image) as hdus:
        header = hdus[1].header.copy()
    zero = tmp_path / "zero.fits"
    fits.PrimaryHDU(np.zeros((128, 128), dtype=np.float32),
                    header=fits.Header([card for card in header.cards if card.keyword in (
                        "WAVELNTH", "EXPTIME", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "RSUN_OBS", "T_OBS")])
                    ).writeto(zero)
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [zero], "zero.fits", "no valid non-zero pixel")


def test_unparsable_option_value(tmp_path: Path, good_image: Path, spoca_programs: dict[str, Path]) -> None:
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [good_image], "Cannot convert value abc",
                    "numberPreviousCenters", extra=("--numberPreviousCenters", "abc"))
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [good_image], "Cannot convert value (x)",
                    "binSize", extra=("--classification.binSize", "(x)"))
    check_bad_input(tmp_path, spoca_programs["ch_segmentation"], [good_image], "binSize cannot be 0",
                    extra=("--classification.binSize", "(0)"))


@pytest.mark.parametrize("content", [
    "[AIA_171,AIA_193]\t[(0.6,0.6),(1.2,1.2),(3.3,3.3),(9.6,9.6)]\t[0.002,0.001,0.004,0.008]\n",
    "[AIA_171]\t[(4.3),(8.4),(10.9),(13.0)]\n",
    "garbage\x00\x01 not a centres file\n",
    "[AIA_193]\t[(nan),(8.4),(10.9),(13.0)]\n",
])
def test_centres_file_that_does_not_fit(tmp_path: Path, good_image: Path, spoca_programs: dict[str, Path],
                                        content: str) -> None:
    centers = tmp_path / "mism.txt"
    centers.write_text(content)
    output = tmp_path / "map.fits"
    assert_fails(classify(spoca_programs["ch_segmentation"], CH_CONFIG, centers, output, good_image), "mism.txt")
    assert centers.read_text() == content, "a rejected centres file must be left untouched"
    assert not output.exists()


def test_missing_output_folder(tmp_path: Path, good_image: Path, spoca_programs: dict[str, Path]) -> None:
    result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, tmp_path / "c.txt", tmp_path / "nodir" / "x.fits",
                      good_image)
    assert_fails(result, "nodir/", "is not a directory")
    assert not (tmp_path / "c.txt").exists()


def test_centres_file_channel_order_reorders_the_images(tmp_path: Path, aia_factory,
                                                       spoca_programs: dict[str, Path]) -> None:
    """A centres file listing AIA_193 first: features, WCS and CHANNELS follow it, IMAGE00n the command line."""
    i171 = aia_factory(171, centre_offset=(0.0, 0.0))
    i193 = aia_factory(193, centre_offset=(0.4, 0.3))
    centers = tmp_path / "c.txt"
    centers.write_text("[AIA_193,AIA_171]\t[(0.1,0.1),(1.0,1.0),(2.2,2.1),(5.0,4.3)]\t[0.1,0.1,0.1,0.1]\n")
    output = tmp_path / "map.fits"
    result = classify(spoca_programs["ar_segmentation"], AR_CONFIG, centers, output, i171, i193)
    assert result.returncode == 0, result.stderr
    header = fits.getheader(output, 1)
    assert header["CHANNELS"] == "[AIA_193,AIA_171]"
    assert (header["IMAGE001"], header["IMAGE002"]) == (i171.name, i193.name)
    assert header["CRPIX1"] == fits.getheader(i193, 1)["CRPIX1"] != fits.getheader(i171, 1)["CRPIX1"]
    lines = centers.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[AIA_193,AIA_171]\t")
    # The same classification in command-line channel order, from the mirrored initial centres, gives
    # the mirrored centres (up to the rounding of sums taken in another bin order).
    mirrored = tmp_path / "mirrored.txt"
    mirrored.write_text("[AIA_171,AIA_193]\t[(0.1,0.1),(1.0,1.0),(2.1,2.2),(4.3,5.0)]\t[0.1,0.1,0.1,0.1]\n")
    result = classify(spoca_programs["ar_segmentation"], AR_CONFIG, mirrored, tmp_path / "m2.fits", i171, i193)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(centre_values(lines[0])[:, ::-1], centre_values(mirrored.read_text()), rtol=1e-3)


def test_history_line_of_other_channels_is_dropped(tmp_path: Path, aia_factory,
                                                   spoca_programs: dict[str, Path]) -> None:
    """Quirk Q9: an error is printed, the lines from the mismatched one on are dropped, the run goes on."""
    image = aia_factory(193, size=128)
    centers = tmp_path / "c.txt"
    good = "[AIA_193]\t[(6.000000),(10.300000),(14.600000),(15.700000)]"
    centers.write_text(f"{good}\n{good}\n[AIA_171]\t[(4.3),(8.4),(10.9),(13.0)]\n{good}\n")
    result = classify(spoca_programs["ch_segmentation"], CH_CONFIG, centers, tmp_path / "m.fits", image)
    assert result.returncode == 0, result.stderr
    assert "Error : " in result.stderr and str(centers) in result.stderr
    lines = centers.read_text().splitlines()
    assert lines[1:] == [good, good]
