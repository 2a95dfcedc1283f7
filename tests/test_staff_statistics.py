"""Tests of get_STAFF_stats.x (SPoCA/programs/get_STAFF_stats.cpp, compat 8).

Every CSV the program writes is compared byte for byte with the CSV of an independent Python
transcription of the spec (alignment of section 9, heliographic coordinates of 8.5, statistics of 8.7,
the quickselect of 10.2 and the text of 8.8), run on segmentation maps and images written here with
astropy and scripts/make_synthetic_aia.py. The section-12 test reproduces the original's CSVs on the shared
real sample (skipped when ../shared is absent).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from scripts.make_synthetic_aia import mask_paths
from section12_reference import SECTION12_CSV
from spoca_reference import quickselect

REPO_ROOT = Path(__file__).resolve().parents[1]
STATS_CONFIG = REPO_ROOT / "configs" / "AIA.get_STAFF_stats.config"
SUN_RADIUS_MM = 695.508
ROW_TYPES = ("AR_all", "CH_central_meridian", "CH_ondisc", "AR_ondisc", "QS_ondisc")
CSV_HEADER = ("Channel,Type,ObservationDate,MinIntensity,MaxIntensity,Mean,Median,LowerQuartile,UpperQuartile,"
              "Variance,Skewness,Kurtosis,TotalIntensity,Area_Raw,Area_AtDiskCenter,FillingFactor\n")
NAN = float("nan")


# ------------------------------------------------------------------------------------- the reference model


@dataclass(frozen=True)
class Wcs:
    """The solar WCS of compat 2.4 / 8.3: centre and radius in pixels, angles in radians, distances in Mm."""

    cx: float
    cy: float
    radius: float
    cdelt1: float
    cdelt2: float
    cd: tuple[float, float, float, float]
    b0: float
    l0: float
    distance: float
    sun_radius_mm: float


def header_wcs(header: fits.Header) -> Wcs:
    """Compat 2.4: the WCS values the programs read from a header."""
    cdelt1, cdelt2 = float(header["CDELT1"]), float(header["CDELT2"])
    if all(k in header for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2")):
        cd = tuple(float(header[k]) for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"))
    elif "CROTA2" in header:
        cd = cd_from_crota2(float(header["CROTA2"]), cdelt1, cdelt2)
    else:
        cd = (NAN, NAN, NAN, NAN)
    b0_key = next((k for k in ("HGLT_OBS", "CRLT_OBS", "SOLAR_B0") if k in header), None)
    return Wcs(
        cx=float(header["CRPIX1"]) - 1, cy=float(header["CRPIX2"]) - 1,
        radius=float(header["RSUN_OBS"]) / cdelt1 if "RSUN_OBS" in header else float(header["R_SUN"]),
        cdelt1=cdelt1, cdelt2=cdelt2, cd=cd,
        b0=float(header[b0_key]) * math.pi / 180 if b0_key else NAN,
        l0=float(header["HGLN_OBS"]) * math.pi / 180 if "HGLN_OBS" in header else 0.0,
        distance=float(header["DSUN_OBS"]) / 1e6 if "DSUN_OBS" in header else NAN,
        sun_radius_mm=float(header["RSUN_REF"]) / 1e6 if "RSUN_REF" in header else 695.508,
    )


def cd_from_crota2(theta: float, cdelt1: float, cdelt2: float) -> tuple[float, float, float, float]:
    """Compat 9, CD from CROTA2."""
    s, c = math.sin(theta * math.pi / 180), math.cos(theta * math.pi / 180)
    ratio = cdelt2 / cdelt1
    return (cdelt1 * c, cdelt2 * (-s * ratio), cdelt1 * (s * ratio), cdelt2 * c)


def crota2(wcs: Wcs) -> float:
    """Compat 9, CROTA2 from CD (with CDELT2 in the acos, quirk Q13); nan when acos is undefined."""
    ratio = wcs.cd[0] / wcs.cdelt2
    angle = math.acos(ratio) if -1 <= ratio <= 1 else NAN
    return angle * 180 / math.pi if wcs.cd[2] / wcs.cdelt1 > 0 else -angle * 180 / math.pi


def image_hdu(hdus: fits.HDUList) -> fits.ImageHDU | fits.PrimaryHDU | fits.CompImageHDU:
    """The HDU cfitsio's fits_open_image selects: the primary if it has data, else the first image extension."""
    return hdus[0] if hdus[0].header.get("NAXIS", 0) > 0 else hdus[1]


def read_image(path: Path) -> tuple[np.ndarray, fits.Header]:
    """Compat 2.2: pixels as float64 scaled by BSCALE/BZERO, with BLANK and NaN pixels set to +inf."""
    with fits.open(path, do_not_scale_image_data=True) as hdus:
        hdu = image_hdu(hdus)
        header = hdu.header.copy()
        raw = np.asarray(hdu.data)
        pixels = raw.astype(np.float64) * float(header.get("BSCALE", 1.0)) + float(header.get("BZERO", 0.0))
        if "BLANK" in header and raw.dtype.kind == "i":
            pixels[raw == int(header["BLANK"])] = np.inf
    pixels[np.isnan(pixels)] = np.inf
    return pixels, header


def read_map(path: Path) -> tuple[np.ndarray, Wcs]:
    """A segmentation map as int64 class numbers with its WCS."""
    with fits.open(path) as hdus:
        hdu = image_hdu(hdus)
        return np.asarray(hdu.data).astype(np.int64), header_wcs(hdu.header)


@dataclass(frozen=True)
class Alignment:
    """Compat 9: the parameters that register an image with WCS `a` onto a reference with WCS `ref`."""

    a: Wcs
    ref: Wcs

    @property
    def theta(self) -> float:
        return crota2(self.ref) - crota2(self.a)

    @property
    def scale(self) -> float:
        return self.a.cdelt2 / self.ref.cdelt2

    def source(self, i: int, j: int, width: int, height: int) -> tuple[float, float] | None:
        """The position read for output pixel (i, j), or None outside the image."""
        s = self.scale
        if s == 0:
            return None
        tx, ty = self.ref.cx - self.a.cx, self.ref.cy - self.a.cy
        ca = math.cos(-self.theta * math.pi / 180) / s
        sa = math.sin(-self.theta * math.pi / 180) / s
        rx = (-self.a.cx - tx) + i
        ry = (-self.a.cy - ty) + j
        xo = (rx * ca - ry * sa) + self.a.cx
        yo = (rx * sa + ry * ca) + self.a.cy
        return (xo, yo) if 0 <= xo < width and 0 <= yo < height else None

    def aligned_wcs(self) -> Wcs:
        """The WCS of the aligned image (only the centre and the radius are used)."""
        s = self.scale
        return replace(self.a, cx=self.a.cx + (self.ref.cx - self.a.cx), cy=self.a.cy + (self.ref.cy - self.a.cy),
                       radius=self.a.radius * abs(s))


def clamp(xo: float, yo: float, width: int, height: int) -> tuple[int, int, np.float32, np.float32]:
    """Compat 9: the single-precision coordinate clamp and split."""
    position = []
    for value, size in ((xo, width), (yo, height)):
        v = np.float32(value)
        v = np.float32(0) if v < 0 else min(np.float32(size - 1.001), v)
        position.append((int(v), v - np.float32(int(v))))
    (ix, dx), (iy, dy) = position
    return ix, iy, dx, dy


def bilinear(pixels: np.ndarray, ix: int, iy: int, dx32: np.float32, dy32: np.float32) -> float:
    """Compat 9: bilinear interpolation with double weights (0 * inf gives nan)."""
    dx, dy = float(dx32), float(dy32)
    cdx, cdy = 1.0 - dx, 1.0 - dy
    p = [float(v) for v in (pixels[iy, ix], pixels[iy, ix + 1], pixels[iy + 1, ix], pixels[iy + 1, ix + 1])]
    terms = [cdx * cdy * p[0], dx * cdy * p[1], cdx * dy * p[2], dx * dy * p[3]]
    return ((terms[0] + terms[1]) + terms[2]) + terms[3]


def majority(pixels: np.ndarray, ix: int, iy: int, dx: np.float32, dy: np.float32) -> int:
    """Compat 9: majority interpolation with float weights, pooled by colour, first maximum wins."""
    one = np.float32(1)
    colors = [int(pixels[iy, ix]), int(pixels[iy, ix + 1]), int(pixels[iy + 1, ix]), int(pixels[iy + 1, ix + 1])]
    weights = [(one - dx) * (one - dy), dx * (one - dy), (one - dx) * dy, dx * dy]
    for a in range(3):
        for b in range(a + 1, 4):
            if colors[a] == colors[b]:
                weights[a] = weights[a] + weights[b]
                weights[b] = np.float32(0)
    best = 0
    for k in range(1, 4):
        if weights[k] > weights[best]:
            best = k
    return colors[best]


def align(pixels: np.ndarray, alignment: Alignment, interpolate: Callable[..., float], null: float) -> np.ndarray:
    """Resample `pixels` on their own grid (compat 9)."""
    height, width = pixels.shape
    out = np.empty(pixels.shape, dtype=np.float64 if null == np.inf else np.int64)
    for j in range(height):
        for i in range(width):
            source = alignment.source(i, j, width, height)
            out[j, i] = null if source is None else interpolate(pixels, *clamp(*source, width, height))
    return out


def beyond_disc(shape: tuple[int, int], wcs: Wcs, ratio: float = 1.0) -> np.ndarray:
    """The pixels the NAR rule of compat 3.2 nulls: (i - cx)^2 + (j - cy)^2 > ((r*r)*R)*R."""
    j, i = np.indices(shape)
    x, y = i - wcs.cx, j - wcs.cy
    return x * x + y * y > ratio * ratio * wcs.radius * wcs.radius


def stonyhurst(wcs: Wcs, i: int, j: int) -> tuple[float, float] | None:
    """Compat 8.5: (longitude, latitude) in radians of pixel (i, j), or None when undefined."""
    rx, ry = i - wcs.cx, j - wcs.cy
    hx = (rx * wcs.cd[0] + ry * wcs.cd[1]) * math.pi / 648000
    hy = (rx * wcs.cd[2] + ry * wcs.cd[3]) * math.pi / 648000
    d, rm = wcs.distance, wcs.sun_radius_mm
    q = d * math.cos(hy) * math.cos(hx)
    delta = q * q - d * d + rm * rm
    if not delta >= 0:
        return None
    dist = q - math.sqrt(delta)
    x = dist * math.cos(hy) * math.sin(hx)
    y = dist * math.sin(hy)
    z = d - dist * math.cos(hy) * math.cos(hx)
    a = (y * math.cos(wcs.b0) + z * math.sin(wcs.b0)) / rm
    latitude = (math.asin(a) if a >= -1 else NAN) if a < 1 else math.pi / 2
    if math.isnan(latitude):
        return None
    return math.atan2(x, z * math.cos(wcs.b0) - y * math.sin(wcs.b0)) + wcs.l0, latitude


def central_meridian(ch_ondisc: np.ndarray, wcs: Wcs) -> np.ndarray:
    """Compat 8.4 step 5: CH_ondisc nulled where undefined or |longitude| > 15 degrees."""
    limited = ch_ondisc.copy()
    for j, i in zip(*np.nonzero(ch_ondisc), strict=True):
        coordinate = stonyhurst(wcs, int(i), int(j))
        if coordinate is None or abs(coordinate[0]) > 15 * math.pi / 180:
            limited[j, i] = 0
    return limited


def region_row(values: list[float], pixels: list[tuple[int, int]], centre_radius: tuple[float, float, float],
               filling: float) -> list[float]:
    """Compat 8.7: the thirteen numbers of a row from its finite values (scan order) and its pixels."""
    cx, cy, radius = centre_radius
    raw = SUN_RADIUS_MM * SUN_RADIUS_MM / (radius * radius)
    area_raw = area_disk = 0.0
    for i, j in pixels:
        area_raw += raw
        dx, dy = abs(i - cx), abs(j - cy)
        sigma = radius * radius - dx * dx - dy * dy
        factor = radius / math.sqrt(sigma) if sigma > 0 else 17.0
        if factor <= 16:
            area_disk += raw * factor
    if not values:
        return [NAN] * 9 + [0.0, area_raw, area_disk, filling]
    total = 0.0
    for v in values:
        total += v
    n = len(values)
    low, high = min(values), max(values)
    median, lower, upper = quickselect(values, 0.5), quickselect(values, 0.25), quickselect(values, 0.75)
    mean = total / n
    m2 = m3 = m4 = 0.0
    for v in values:
        delta = v - mean
        delta2 = delta * delta
        m2 += delta2
        m4 += delta2 * delta2
        m3 += delta2 * delta
    skewness = math.sqrt(n) * m3 / math.sqrt(m2 * m2 * m2) if m2 > 0 else NAN
    kurtosis = n * m4 / (m2 * m2) - 3 if m2 > 0 else NAN
    return [low, high, mean, median, lower, upper, m2 / n, skewness, kurtosis, total, area_raw, area_disk, filling]


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with the negative nan of a run-time 0/0 on x86-64."""
    return numerator / denominator if denominator else -NAN


def fixed6(value: float) -> str:
    """printf("%.6f") as glibc prints it, including -nan."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:.6f}"


@dataclass
class Maps:
    """The maps of compat 8.4."""

    ar_total: np.ndarray
    ar_ondisc: np.ndarray
    ch_ondisc: np.ndarray
    ch_limited: np.ndarray
    ar_wcs: Wcs
    ch_wcs: Wcs


def setup_maps(ch_path: Path, ar_path: Path) -> Maps:
    """Compat 8.4."""
    ch, ch_wcs = read_map(ch_path)
    ar, ar_wcs = (ch, ch_wcs) if str(ar_path) == str(ch_path) else read_map(ar_path)
    if str(ar_path) != str(ch_path):
        alignment = Alignment(ar_wcs, ch_wcs)
        ar, ar_wcs = align(ar, alignment, majority, 0), alignment.aligned_wcs()
    ar_ondisc = np.where(beyond_disc(ar.shape, ar_wcs), 0, ar)
    ch_ondisc = np.where(beyond_disc(ch.shape, ch_wcs), 0, ch)
    return Maps(ar, ar_ondisc, ch_ondisc, central_meridian(ch_ondisc, ch_wcs), ar_wcs, ch_wcs)


def stats_image(image_path: Path, maps: Maps, steps: Callable[[np.ndarray, Wcs, fits.Header], np.ndarray]
                ) -> tuple[np.ndarray, fits.Header]:
    """Compat 8.6 steps 3 to 6: the image aligned onto CH_ondisc, then preprocessed."""
    pixels, header = read_image(image_path)
    alignment = Alignment(header_wcs(header), maps.ch_wcs)
    aligned = align(pixels, alignment, bilinear, np.inf)
    return steps(aligned, alignment.aligned_wcs(), header), header


def nar3_divexptime(pixels: np.ndarray, wcs: Wcs, header: fits.Header) -> np.ndarray:
    """statsPreprocessing NAR=3,DivExpTime (compat 3.2)."""
    out = np.where(beyond_disc(pixels.shape, wcs, 3.0), np.inf, pixels)
    finite = out != np.inf
    out[finite] = out[finite] / float(header.get("EXPTIME", 1.0))
    return out


def staff_csv(ch_path: Path, ar_path: Path, image_path: Path, ch_class: int, ar_class: int,
              steps: Callable[[np.ndarray, Wcs, fits.Header], np.ndarray] = nar3_divexptime) -> str:
    """The CSV get_STAFF_stats writes for one image, computed from the spec alone."""
    maps = setup_maps(ch_path, ar_path)
    image, header = stats_image(image_path, maps, steps)
    ch, ar = maps.ch_ondisc, maps.ar_ondisc
    category = np.where(ch == ch_class, 1, np.where(ar == ar_class, 2, np.where((ar != 0) | (ch != 0), 3, 0)))
    masks = [maps.ar_total == ar_class, maps.ch_limited == ch_class, category == 1, category == 2, category == 3]
    ch_frame = (maps.ch_wcs.cx, maps.ch_wcs.cy, maps.ch_wcs.radius)
    frames = [(maps.ar_wcs.cx, maps.ar_wcs.cy, maps.ar_wcs.radius)] + [ch_frame] * 4
    rows = []
    for mask, frame in zip(masks, frames, strict=True):
        j, i = np.nonzero(mask)  # scan order: rows outside, columns inside
        values = [float(v) for v in image[j, i] if math.isfinite(v)]
        rows.append((values, list(zip(i.tolist(), j.tolist(), strict=True)), frame))
    counts = [int(m.sum()) for m in masks]
    results = [region_row(values, pixels, frame, 0.0) for values, pixels, frame in rows]
    raw = [r[10] for r in results]
    disc = raw[2] + raw[3] + raw[4]
    filling = [ratio(counts[0], int((maps.ar_total != 0).sum())), ratio(counts[1], int((maps.ch_limited != 0).sum())),
               ratio(raw[2], disc), ratio(raw[3], disc), ratio(raw[4], disc)]
    channel = f"AIA_{int(float(header['WAVELNTH']))}"
    date = str(header.get("T_OBS", header.get("DATE_OBS", header.get("DATE-OBS", ""))))[:19]
    lines = [CSV_HEADER]
    for row_type, result, factor in zip(ROW_TYPES, results, filling, strict=True):
        numbers = ",".join(fixed6(v) for v in result[:12] + [factor])
        lines.append(f"{channel},{row_type},{date},{numbers}\n")
    return "".join(lines)


# -------------------------------------------------------------------------------------------- test data


MAP_KEYWORDS = ("CDELT1", "CDELT2", "CRPIX1", "CRPIX2", "DSUN_OBS", "HGLN_OBS", "HGLT_OBS", "RSUN_OBS", "RSUN_REF")


def map_header(image_header: fits.Header, *, shift: tuple[float, float] = (0.0, 0.0), roll: float = 0.0,
               extra: dict[str, object] | None = None) -> dict[str, object]:
    """The keywords of compat 7.3 a classification program writes for an image, with an optional change of the
    sun centre (pixels) and of the roll (degrees)."""
    keywords: dict[str, object] = {k: image_header[k] for k in MAP_KEYWORDS}
    keywords["CRPIX1"] = float(image_header["CRPIX1"]) + shift[0]
    keywords["CRPIX2"] = float(image_header["CRPIX2"]) + shift[1]
    cd = cd_from_crota2(float(image_header.get("CROTA2", 0.0)) + roll, float(image_header["CDELT1"]),
                        float(image_header["CDELT2"]))
    keywords.update({"CD1_1": cd[0], "CD1_2": cd[1], "CD2_1": cd[2], "CD2_2": cd[3], "CTYPE1": "HPLN-TAN",
                     "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
                     "DATE_OBS": str(image_header["T_OBS"]).rstrip("Z"), "INSTRUME": "Segmentation Map"})
    keywords.update(extra or {})
    return keywords


def write_map(path: Path, classes: np.ndarray, keywords: dict[str, object], *, extname: str = "SegmentedMap") -> Path:
    """A segmentation map as the classification programs write it: RICE int32 in HDU 1 (compat 7.2)."""
    header = fits.Header()
    for key, value in keywords.items():
        header[key] = value
    hdu = fits.CompImageHDU(data=classes.astype(np.int32), header=header, compression_type="RICE_1",
                            tile_shape=(1, classes.shape[1]))
    hdu.header["EXTNAME"] = extname
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def random_classes(shape: tuple[int, int], header: fits.Header, seed: int, forced: np.ndarray | None = None,
                   forced_class: int = 1) -> np.ndarray:
    """Classes 1 to 4 drawn at random within 1.2 R of the image's sun centre, 0 beyond; `forced` pixels get
    `forced_class`."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(1, 5, size=shape)
    if forced is not None:
        classes[forced.astype(bool)] = forced_class
    classes[beyond_disc(shape, header_wcs(header), 1.2)] = 0
    return classes


@pytest.fixture(scope="module")
def staff_program() -> Path:
    """get_STAFF_stats.x, built with its makefile."""
    command = ["make", "-j2", "--no-print-directory", "-C", str(REPO_ROOT / "SPoCA"), "-f", "get_STAFF_stats.mk"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    program = REPO_ROOT / "SPoCA" / "bin" / "get_STAFF_stats.x"
    if result.returncode != 0 or not program.is_file():
        pytest.fail(f"building get_STAFF_stats.x failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return program


def run_stats(program: Path, arguments: Sequence[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs get_STAFF_stats.x with the pipeline config and `arguments`."""
    command = [str(program), "--config", str(STATS_CONFIG), *(str(a) for a in arguments)]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, timeout=120)


@dataclass
class Scene:
    """A CH map, an AR map and two images (171 and 193) of one synthetic observation."""

    ch_map: Path
    ar_map: Path
    images: list[Path]
    headers: list[fits.Header]


def make_scene(tmp_path: Path, aia_factory: Callable[..., Path], *, ar_shift: tuple[float, float] = (1.37, -0.81),
               ar_roll: float = 0.35, size: int = 128) -> Scene:
    """A scene whose CH map has the WCS of the images and whose AR map is shifted and rolled."""
    images = [aia_factory(w, size=size, seed=11, masks=True, roll=0.2) for w in (171, 193)]
    headers = [read_image(path)[1] for path in images]
    shape = (size, size)
    ch_classes = random_classes(shape, headers[1], 1, fits.getdata(mask_paths(images[1])[1]), 1)
    ar_classes = random_classes(shape, headers[0], 2, fits.getdata(mask_paths(images[0])[0]), 3)
    ch_map = write_map(tmp_path / "ch_map.fits", ch_classes, map_header(headers[1]))
    ar_map = write_map(tmp_path / "ar_map.fits", ar_classes, map_header(headers[0], shift=ar_shift, roll=ar_roll))
    return Scene(ch_map, ar_map, images, headers)


def csv_name(ch_map: Path, ar_map: Path, image: Path) -> str:
    """The CSV name of compat 8.2 for an output directory."""
    return f"{ch_map.stem}_and_{ar_map.stem}_on_{image.stem}.csv"


# ------------------------------------------------------------------------------------------------ tests


def test_shifted_and_rolled_ar_map_gives_the_spec_statistics(staff_program: Path, tmp_path: Path,
                                                              aia_factory: Callable[..., Path]) -> None:
    scene = make_scene(tmp_path, aia_factory)
    out = tmp_path / "stats"
    out.mkdir()
    result = run_stats(staff_program, ["--output", out, scene.ch_map, scene.ar_map, *scene.images], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    for image in scene.images:
        expected = staff_csv(scene.ch_map, scene.ar_map, image, 1, 3)
        assert (out / csv_name(scene.ch_map, scene.ar_map, image)).read_text() == expected
    expected_names = sorted(csv_name(scene.ch_map, scene.ar_map, i) for i in scene.images)
    assert sorted(p.name for p in out.iterdir()) == expected_names


@pytest.mark.parametrize("ar_roll", [30.0, 180.0])
def test_strongly_rolled_ar_map_read_in_chunks(ar_roll: float, staff_program: Path, tmp_path: Path,
                                                aia_factory: Callable[..., Path]) -> None:
    """The maps are read a chunk of 64 rows at a time and the AR rows that the alignment reads slide with it: an AR
    map rolled by 30 or 180 degrees against the CH map, over several chunks a thread, must still give the spec's
    statistics (the rows each chunk reads move down, or up, by more than a chunk)."""
    scene = make_scene(tmp_path, aia_factory, ar_shift=(2.6, -1.3), ar_roll=ar_roll, size=320)
    out = tmp_path / "stats"
    out.mkdir()
    result = run_stats(staff_program, ["--output", out, scene.ch_map, scene.ar_map, *scene.images], tmp_path)
    assert result.returncode == 0, result.stderr
    for image in scene.images:
        expected = staff_csv(scene.ch_map, scene.ar_map, image, 1, 3)
        assert (out / csv_name(scene.ch_map, scene.ar_map, image)).read_text() == expected


SECTION12_ABSENT_CSV = """\
Channel,Type,ObservationDate,MinIntensity,MaxIntensity,Mean,Median,LowerQuartile,UpperQuartile,Variance,Skewness,Kurtosis,TotalIntensity,Area_Raw,Area_AtDiskCenter,FillingFactor
AIA_171,AR_all,2011-03-19T10:54:01,nan,nan,nan,nan,nan,nan,nan,nan,nan,0.000000,0.000000,0.000000,0.000000
AIA_171,CH_central_meridian,2011-03-19T10:54:01,nan,nan,nan,nan,nan,nan,nan,nan,nan,0.000000,0.000000,0.000000,0.000000
AIA_171,CH_ondisc,2011-03-19T10:54:01,nan,nan,nan,nan,nan,nan,nan,nan,nan,0.000000,0.000000,0.000000,0.000000
AIA_171,AR_ondisc,2011-03-19T10:54:01,nan,nan,nan,nan,nan,nan,nan,nan,nan,0.000000,0.000000,0.000000,0.000000
AIA_171,QS_ondisc,2011-03-19T10:54:01,28.255637,4715.503243,177.594853,149.373550,113.303854,197.695690,19719.144346,6.901039,81.928471,89992284.585776,1519693.455514,2849834.997153,1.000000
"""  # noqa: E501

#: Offsets of the WAVELNTH value "171" -> "193" change in the shared sample (compat 12): bytes 1708-1709.
WAVELNTH_OFFSET = 1708


@pytest.fixture(scope="module")
def section12_maps(tmp_path_factory: pytest.TempPathFactory, spoca_programs: dict[str, Path]) -> Path:
    """The folder where the section-12 sequence ran: ch_map2.fits, ar_map2.fits and the sample."""
    sample = REPO_ROOT.parent / "shared" / "data" / "AIA20110319_105400_0171.fits"
    if not sample.is_file():
        pytest.skip(f"no shared sample {sample}")
    folder = tmp_path_factory.mktemp("section12")
    shutil.copyfile(sample, folder / sample.name)
    content = bytearray(sample.read_bytes())
    assert content[WAVELNTH_OFFSET - 1:WAVELNTH_OFFSET + 2] == b"171"
    content[WAVELNTH_OFFSET:WAVELNTH_OFFSET + 2] = b"93"
    (folder / "relabel_0193.fits").write_bytes(bytes(content))
    configs = REPO_ROOT / "configs"
    for run in ("1", "2"):
        for program, config, centers, images in (
                ("ch_segmentation", "AIA.CH_segmentation.config", "ch_centers.txt", [sample.name]),
                ("ar_segmentation", "AIA.AR_segmentation.config", "ar_centers.txt",
                 [sample.name, "relabel_0193.fits"])):
            command = [str(spoca_programs[program]), "--config", str(configs / config), "--centersFile", centers,
                       "--output", f"{program[:2]}_map{run}.fits", *images]
            result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder, timeout=300)
            assert result.returncode == 0, result.stderr
    return folder


def test_section12_reference_csv(section12_maps: Path, staff_program: Path) -> None:
    (section12_maps / "stats").mkdir(exist_ok=True)
    result = run_stats(staff_program, ["--output", "stats", "ch_map2.fits", "ar_map2.fits",
                                       "AIA20110319_105400_0171.fits"], section12_maps)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    csv = section12_maps / "stats" / "ch_map2_and_ar_map2_on_AIA20110319_105400_0171.csv"
    assert csv.read_text() == SECTION12_CSV
    assert [p.name for p in (section12_maps / "stats").iterdir()] == [csv.name]


def test_section12_absent_classes_in_file_mode(section12_maps: Path, staff_program: Path) -> None:
    (section12_maps / "stats2").mkdir(exist_ok=True)
    result = run_stats(staff_program, ["--CHClass", "7", "--ARClass", "9", "--output", "stats2/out.csv",
                                       "ch_map2.fits", "ar_map2.fits", "AIA20110319_105400_0171.fits"],
                       section12_maps)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["WARN: Argument global.ARClass was set more than once, final value is 9",
                                          "WARN: Argument global.CHClass was set more than once, final value is 7"]
    assert (section12_maps / "stats2" / "out.csv_on_AIA20110319_105400_0171.csv").read_text() == SECTION12_ABSENT_CSV


def test_section12_matches_the_reference_model(section12_maps: Path) -> None:
    """The Python transcription of the spec itself reproduces the original's CSV (so it can judge the rest)."""
    sample = section12_maps / "AIA20110319_105400_0171.fits"
    assert staff_csv(section12_maps / "ch_map2.fits", section12_maps / "ar_map2.fits", sample, 1, 3) == SECTION12_CSV


def test_identical_wcs_alignment_mixes_the_last_column_and_row(staff_program: Path, tmp_path: Path,
                                                                 aia_factory: Callable[..., Path]) -> None:
    """Quirk Q11: with identical WCS the image is still aligned, and the clamp at W - 1.001 mixes the last
    column (and row) with the one before. The AR class covers exactly the last column and row here."""
    size = 64
    image = aia_factory(171, size=size, seed=5, data_format="float64")
    pixels, header = read_image(image)
    keywords = map_header(header)
    header_cd = {k: keywords[k] for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2")}
    image = aia_factory(171, size=size, seed=5, data_format="float64", header_overrides=header_cd,
                        drop_keywords=("CROTA2",))
    pixels, header = read_image(image)
    ch = np.ones((size, size), dtype=np.int64) * 2
    ar = np.ones((size, size), dtype=np.int64)
    ar[-1, :-1] = 3
    ar[:-1, -1] = 3
    ch_map = write_map(tmp_path / "ch.fits", ch, keywords)
    ar_map = write_map(tmp_path / "ar.fits", ar, keywords)
    result = run_stats(staff_program, ["--output", tmp_path, ch_map, ar_map, image], tmp_path)
    assert result.returncode == 0, result.stderr
    csv = (tmp_path / csv_name(ch_map, ar_map, image)).read_text()
    assert csv == staff_csv(ch_map, ar_map, image, 1, 3)
    # Independently: the AR_all values are 0.000977 p(W-2) + 0.999023 p(W-1) (float32 weights) over EXPTIME.
    dx = float(np.float32(size - 1.001) - np.float32(size - 2))
    column = (1 - dx) * pixels[:-1, -2] + dx * pixels[:-1, -1]
    row = (1 - dx) * pixels[-2, :-1] + dx * pixels[-1, :-1]
    expected_total = float(np.sum(np.concatenate([column, row]))) / float(header["EXPTIME"])
    ar_all = csv.splitlines()[1].split(",")
    assert ar_all[1] == "AR_all"
    assert float(ar_all[12]) == pytest.approx(expected_total, rel=1e-9)
    assert float(ar_all[12]) != pytest.approx(float(np.sum(pixels[:-1, -1]) + np.sum(pixels[-1, :-1]))
                                              / float(header["EXPTIME"]), rel=1e-9)


def test_empty_maps_give_nan_rows_and_negative_nan_filling_factors(staff_program: Path, tmp_path: Path,
                                                                    aia_factory: Callable[..., Path]) -> None:
    image = aia_factory(193, size=64, seed=3)
    _, header = read_image(image)
    empty = np.zeros((64, 64), dtype=np.int64)
    ch_map = write_map(tmp_path / "ch.fits", empty, map_header(header))
    ar_map = write_map(tmp_path / "ar.fits", empty, map_header(header, shift=(0.4, 0.2)))
    (tmp_path / "out").mkdir()
    result = run_stats(staff_program, ["--output", tmp_path / "out" / "run", ch_map, ar_map, image], tmp_path)
    assert result.returncode == 0, result.stderr
    csv = (tmp_path / "out" / f"run_on_{image.stem}.csv").read_text()
    lines = csv.splitlines()
    assert len(lines) == 6
    for line, row_type in zip(lines[1:], ROW_TYPES, strict=True):
        fields = line.split(",")
        assert fields[:2] == ["AIA_193", row_type]
        assert fields[3:12] == ["nan"] * 9
        assert fields[12:15] == ["0.000000"] * 3
        assert fields[15] == "-nan"
    assert csv == staff_csv(ch_map, ar_map, image, 1, 3)


def test_same_map_for_ch_and_ar(staff_program: Path, tmp_path: Path, aia_factory: Callable[..., Path]) -> None:
    scene = make_scene(tmp_path, aia_factory, size=96)
    result = run_stats(staff_program, ["--output", tmp_path, scene.ch_map, scene.ch_map, scene.images[0]], tmp_path)
    assert result.returncode == 0, result.stderr
    csv = (tmp_path / csv_name(scene.ch_map, scene.ch_map, scene.images[0])).read_text()
    assert csv == staff_csv(scene.ch_map, scene.ch_map, scene.images[0], 1, 3)


def take_sqrt(pixels: np.ndarray, wcs: Wcs, header: fits.Header) -> np.ndarray:
    """statsPreprocessing NAR=3,DivExpTime,TakeSqrt (compat 3.2): a step that needs the materialised image."""
    out = nar3_divexptime(pixels, wcs, header)
    finite = out != np.inf
    values = out[finite]
    out[finite] = np.where(values >= 0, np.sqrt(np.abs(values)), -np.sqrt(np.abs(values)))
    return out


def test_other_preprocessing_steps(staff_program: Path, tmp_path: Path, aia_factory: Callable[..., Path]) -> None:
    scene = make_scene(tmp_path, aia_factory, size=96)
    result = run_stats(staff_program, ["--statsPreprocessing", "NAR=3,DivExpTime,TakeSqrt", "--output", tmp_path,
                                       scene.ch_map, scene.ar_map, scene.images[1]], tmp_path)
    assert result.returncode == 0, result.stderr
    csv = (tmp_path / csv_name(scene.ch_map, scene.ar_map, scene.images[1])).read_text()
    assert csv == staff_csv(scene.ch_map, scene.ar_map, scene.images[1], 1, 3, take_sqrt)


def test_image_names_are_expanded_with_the_ch_map_header(staff_program: Path, tmp_path: Path,
                                                          aia_factory: Callable[..., Path]) -> None:
    scene = make_scene(tmp_path, aia_factory, size=64)
    _, header = read_image(scene.images[0])
    ch_map = write_map(tmp_path / "ch_named.fits", fits.getdata(scene.ch_map, 1),
                       map_header(header, extra={"IMAGE001": scene.images[0].name}))
    result = run_stats(staff_program, ["--output", tmp_path, ch_map, scene.ar_map, f"{tmp_path}/{{IMAGE001}}",
                                       f"{tmp_path}/{{NOKEY}}x.fits", f"{tmp_path}/{{IMAGE001"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Warning: key_name NOKEY requested in {tmp_path}/{{NOKEY}}x.fits not found in header.",
        f"Error : Could not find {tmp_path}/x.fits!",
        f"Warning: malformed string, no closing }} after position {len(str(tmp_path)) + 1} in {tmp_path}/{{IMAGE001",
        f"Error : Could not find {tmp_path}/{{IMAGE001!",
    ]
    csv = (tmp_path / csv_name(ch_map, scene.ar_map, scene.images[0])).read_text()
    assert csv == staff_csv(ch_map, scene.ar_map, scene.images[0], 1, 3)


# ----------------------------------------------------------------------------------------------- bad input


def corrupt(path: Path) -> Path:
    """A file that is not FITS."""
    path.write_bytes(b"SIMPLE  = this is not a FITS file" + bytes(3000))
    return path


def test_missing_image_is_reported_and_the_others_are_processed(staff_program: Path, tmp_path: Path,
                                                                 aia_factory: Callable[..., Path]) -> None:
    scene = make_scene(tmp_path, aia_factory, size=64)
    missing = tmp_path / "AIA_missing_0171.fits"
    unreadable = corrupt(tmp_path / "AIA_corrupt_0171.fits")
    no_wavelength = aia_factory(171, size=64, seed=11, name="nowave.fits", drop_keywords=("WAVELNTH",))
    small = aia_factory(171, size=32, seed=11, name="small.fits")
    no_exposure = aia_factory(171, size=64, seed=11, name="noexposure.fits", header_overrides={"EXPTIME": 0.0})
    arguments = ["--output", tmp_path, scene.ch_map, scene.ar_map, missing, unreadable, no_wavelength, small,
                 no_exposure, scene.images[1]]
    result = run_stats(staff_program, arguments, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 5, result.stderr
    assert lines[0] == f"Error : Could not find {missing}!"
    for line, path in zip(lines[1:], (unreadable, no_wavelength, small, no_exposure), strict=True):
        assert line.startswith("Error: ") and str(path) in line
    assert "WAVELNTH" in lines[2]
    assert "32x32" in lines[3] and "64x64" in lines[3]
    assert "EXPTIME = '0.0' is not a positive finite number" in lines[4]
    written = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert written == [csv_name(scene.ch_map, scene.ar_map, scene.images[1])]
    assert (tmp_path / written[0]).read_text() == staff_csv(scene.ch_map, scene.ar_map, scene.images[1], 1, 3)


@pytest.mark.parametrize("case", ["missing CH", "missing AR", "corrupt CH", "corrupt AR", "image as map",
                                  "AR of another size", "map without radius", "no output folder"])
def test_bad_maps_stop_the_run_with_one_line(case: str, staff_program: Path, tmp_path: Path,
                                             aia_factory: Callable[..., Path]) -> None:
    scene = make_scene(tmp_path, aia_factory, size=64)
    ch_map, ar_map, output = scene.ch_map, scene.ar_map, tmp_path
    named = scene.ch_map if "CH" in case else scene.ar_map
    if case.startswith("missing"):
        named.unlink()
    elif case.startswith("corrupt"):
        corrupt(named)
    elif case == "image as map":
        ar_map = scene.images[0]
        named = ar_map
    elif case == "AR of another size":
        named = ar_map = write_map(tmp_path / "ar_small.fits", np.ones((32, 32)), map_header(scene.headers[0]))
    elif case == "map without radius":
        keywords = map_header(scene.headers[1])
        del keywords["RSUN_OBS"]
        named = ch_map = write_map(tmp_path / "ch_noradius.fits", fits.getdata(scene.ch_map, 1), keywords)
    else:
        output = tmp_path / "nodir" / "x"
        named = Path(f"{tmp_path}/nodir/")
    result = run_stats(staff_program, ["--output", output, ch_map, ar_map, *scene.images], tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error") and str(named) in lines[0]
    assert list(tmp_path.rglob("*.csv")) == []
    assert [p for p in tmp_path.rglob("*") if ".csv." in p.name] == []


@pytest.mark.parametrize("extname", ["segmentedmap", "Classes"])
def test_map_extension_name(extname: str, staff_program: Path, tmp_path: Path,
                            aia_factory: Callable[..., Path]) -> None:
    """Compat 7.2: a map's image HDU is named 'SegmentedMap', compared regardless of case as FITS extension
    names are; another name stops the run with one line naming the file."""
    scene = make_scene(tmp_path, aia_factory, size=64)
    keywords = dict(fits.getheader(scene.ar_map, 1))
    ar_map = write_map(tmp_path / "ar_renamed.fits", fits.getdata(scene.ar_map, 1), keywords, extname=extname)
    result = run_stats(staff_program, ["--output", tmp_path, scene.ch_map, ar_map, scene.images[0]], tmp_path)
    if extname == "segmentedmap":
        assert result.returncode == 0, result.stderr
        written = tmp_path / csv_name(scene.ch_map, ar_map, scene.images[0])
        assert written.read_text() == staff_csv(scene.ch_map, ar_map, scene.images[0], 1, 3)
    else:
        assert result.returncode == 1
        message = f"Error: {ar_map}: not a segmentation map (its image HDU has no EXTNAME = 'SegmentedMap')\n"
        assert result.stderr == message
        assert list(tmp_path.glob("*.csv")) == []


def test_unwritable_csv_is_reported(staff_program: Path, tmp_path: Path, aia_factory: Callable[..., Path]) -> None:
    """Quirk Q10: the original is silent; here a CSV that cannot be written is reported, no temporary file is
    left behind, the other images are still done, and the exit status is 1 (issue 12: no silently incomplete
    output; a deliberate difference from the spec, which keeps 0)."""
    scene = make_scene(tmp_path, aia_factory, size=64)
    blocked = tmp_path / csv_name(scene.ch_map, scene.ar_map, scene.images[0])
    blocked.mkdir()  # a directory where the CSV should go: the rename fails
    result = run_stats(staff_program, ["--output", tmp_path, scene.ch_map, scene.ar_map, *scene.images], tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {blocked}: cannot ")
    assert blocked.is_dir()
    assert (tmp_path / csv_name(scene.ch_map, scene.ar_map, scene.images[1])).is_file()
    assert [p for p in tmp_path.iterdir() if ".csv." in p.name] == []


def test_class_parameters_are_required(staff_program: Path, tmp_path: Path, aia_factory: Callable[..., Path]) -> None:
    scene = make_scene(tmp_path, aia_factory, size=64)
    command = [str(staff_program), "--ARClass", "3", scene.ch_map, scene.ar_map, scene.images[0]]
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "Error: You need to specify the Coronal Hole class!\n")
    command = [str(staff_program), "--CHClass", "1", scene.ch_map, scene.ar_map, scene.images[0]]
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "Error: You need to specify the Active Region class!\n")
    assert list(tmp_path.glob("*.csv")) == []


@pytest.mark.parametrize(("data_format", "roll", "scale"),
                         [("rice_int16", 0.7, 1.0), ("int32_bscale", 12.0, 1.0), ("float32", -3.0, 1.04)])
def test_rolled_rescaled_image_with_invalid_blocks(data_format: str, roll: float, scale: float, staff_program: Path,
                                                   tmp_path: Path, aia_factory: Callable[..., Path]) -> None:
    """An image larger than one block of rows (256), rolled and rescaled against the maps, with BLANK / NaN
    blocks (quirk Q12): the rows read block by block give the values of a whole-image alignment. A changed
    RSUN_OBS makes the aligned radius differ from the CH map's by the scale: the similarity warning of 8.6."""
    size = 300
    reference = aia_factory(193, size=size, seed=21, masks=True, roll=0.0, centre_offset=(1.0, -2.0))
    _, ref_header = read_image(reference)
    image = aia_factory(171, size=size, seed=21, roll=roll, centre_offset=(-3.5, 2.25), data_format=data_format,
                        invalid_blocks=[(100, 140, 60, 90), (280, 300, 0, 300)], name="image_0171.fits",
                        header_overrides={"CDELT1": float(ref_header["CDELT1"]) * scale,
                                          "CDELT2": float(ref_header["CDELT2"]) * scale,
                                          "RSUN_OBS": float(ref_header["RSUN_OBS"]) * scale})
    classes = random_classes((size, size), ref_header, 4, fits.getdata(mask_paths(reference)[1]), 1)
    ch_map = write_map(tmp_path / "ch.fits", classes, map_header(ref_header))
    ar_map = write_map(tmp_path / "ar.fits", random_classes((size, size), ref_header, 5),
                       map_header(ref_header, shift=(-0.6, 0.3), roll=-1.5))
    result = run_stats(staff_program, ["--output", tmp_path, ch_map, ar_map, image], tmp_path)
    assert result.returncode == 0, result.stderr
    csv = (tmp_path / csv_name(ch_map, ar_map, image)).read_text()
    assert csv == staff_csv(ch_map, ar_map, image, 1, 3)
    warning = f"Warning: image {image} and the CHSegmentedMap {ch_map} are not similar: Sun radius mismatch"
    assert result.stderr.splitlines() == ([] if scale == 1.0 else [warning])


def test_half_pixel_shift_ties_go_to_the_first_colour(staff_program: Path, tmp_path: Path,
                                                      aia_factory: Callable[..., Path]) -> None:
    """An AR map shifted by exactly half a pixel: every majority interpolation weighs two colours 0.5 / 0.5,
    and the first (left) one must win (compat 9)."""
    size = 64
    image = aia_factory(171, size=size, seed=8, roll=0.0)
    _, header = read_image(image)
    keywords = map_header(header, extra={"CRPIX1": 32.5, "CRPIX2": 33.0})
    ch_map = write_map(tmp_path / "ch.fits", random_classes((size, size), header, 6), keywords)
    rng = np.random.default_rng(9)
    ar_classes = rng.integers(1, 5, size=(size, size))
    ar_map = write_map(tmp_path / "ar.fits", ar_classes, {**keywords, "CRPIX1": 32.0})
    result = run_stats(staff_program, ["--output", tmp_path, ch_map, ar_map, image], tmp_path)
    assert result.returncode == 0, result.stderr
    csv = (tmp_path / csv_name(ch_map, ar_map, image)).read_text()
    assert csv == staff_csv(ch_map, ar_map, image, 1, 3)
    # Independently of the model's interpolation code: the aligned AR map is the left neighbour of each
    # half-pixel position, null in the first column (outside); the last row is excluded, as the clamp at
    # H - 1.001 mixes it with the row below it (quirk Q11).
    maps = setup_maps(ch_map, ar_map)
    expected = np.zeros_like(ar_classes)
    expected[:, 1:] = ar_classes[:, :-1]
    assert np.array_equal(maps.ar_total[:-1], expected[:-1])


def test_image_type_unknown_and_separator(staff_program: Path, tmp_path: Path,
                                          aia_factory: Callable[..., Path]) -> None:
    """imageType Unknown reads AIA files as AIA (INSTRUME contains AIA, compat 2.5) and rejects others; the
    separator parameter separates every column (compat 8.8)."""
    scene = make_scene(tmp_path, aia_factory, size=64)
    other = aia_factory(171, size=64, seed=11, name="hmi.fits", header_overrides={"INSTRUME": "HMI_SIDE1"})
    result = run_stats(staff_program, ["--imageType", "Unknown", "--separator", ";", "--output", tmp_path,
                                       scene.ch_map, scene.ar_map, other, scene.images[0]], tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("WARN: Argument global.")]
    assert len(errors) == 1 and errors[0].startswith("Error: ") and str(other) in errors[0]
    csv = (tmp_path / csv_name(scene.ch_map, scene.ar_map, scene.images[0])).read_text()
    assert csv == staff_csv(scene.ch_map, scene.ar_map, scene.images[0], 1, 3).replace(",", ";")
