"""Tests of the annulus limb correction of the SPoCA library (SPoCA/lib/core/preprocessing.cpp, compat 3.2).

The library computes ALC with vectorised row kernels, the first pass split between threads, and the sine kept
scalar. A C++ driver compiled against the library runs ``preprocess`` on small images and prints every pixel;
the test compares each value bit for bit with an independent Python transcription of compat 3.2 (scan-order
sums, the lower median of the disc, the fraction F with its sines). The images have an off-grid centre, null
pixels, a disc that overflows the image, and a centre on the pixel grid (symmetric rows); NAR before ALC lowers
maxRadius below r4 and below r2.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from library_driver import CORE_LIBRARY_SOURCES, compile_driver

DRIVER = r"""
#include <cstdio>
#include <string>
#include "core/error.hpp"
#include "core/preprocessing.hpp"

// Reads: width height cx cy R steps, then width * height values (C99 hex floats, scan order); prints the
// preprocessed values the same way, one per line.
int main() {
    int width = 0, height = 0;
    double cx = 0, cy = 0, R = 0;
    char steps[256];
    if (std::scanf("%d %d %lf %lf %lf %255s", &width, &height, &cx, &cy, &R, steps) != 6) return 2;
    spoca::EuvImage image;
    image.pixels = spoca::Image<double>(width, height);
    for (double& v : image.pixels.pixels()) {
        if (std::scanf("%lf", &v) != 1) return 2;
    }
    image.wcs.centerX = cx;
    image.wcs.centerY = cy;
    image.wcs.sunRadius = R;
    image.path = "synthetic.fits";
    try {
        spoca::preprocess(image, steps);
    } catch (const spoca::Error& e) {
        std::printf("error %s\n", e.what());
        return 1;
    }
    for (const double v : image.pixels.pixels()) std::printf("%a\n", v);
    return 0;
}
"""

NULL = math.inf


R1, R2, R3, R4, DELTA = 70 / 100.0, 95 / 100.0, 108 / 100.0, 112 / 100.0, 2


def correction_fraction(rho: float) -> float:
    """Compat 3.2 step 5: F(rho)."""
    if rho <= R1 or rho >= R4:
        return 0.0
    if R2 <= rho <= R3:
        return 1.0
    if rho < R2:
        period, phase = -2 * (R1 - R2), ((math.pi / 2.) * (R1 + R2)) / (R1 - R2)
    else:
        period, phase = 2 * (R3 - R4), ((-math.pi / 2.) * (R3 + R4)) / (R3 - R4)
    return (math.sin(((2. * math.pi) / period) * rho + phase) + 1) / 2


def _ring_pixels(values: list[float], width: int, height: int, cx: float, cy: float):
    """(index, value, d2) of every non-null pixel, in scan order."""
    for j in range(height):
        y = j - cy
        for i in range(width):
            v = values[j * width + i]
            if v != NULL:
                x = i - cx
                yield j * width + i, v, x * x + y * y


def reference_alc(values: list[float], width: int, height: int, cx: float, cy: float, radius: float,
                  max_radius: float) -> list[float]:
    """Compat 3.2 ALC, transcribed step by step (scan order, Python floats are IEEE doubles)."""
    min_r = R1 * radius
    max_r = min(R4, max_radius) * radius
    min_r2, max_r2 = min_r * min_r, max_r * max_r
    annuli = int((max_r - min_r) / DELTA) + 2
    sums, counts, disc = [0.0] * annuli, [0.0] * annuli, []
    for _, v, d2 in _ring_pixels(values, width, height, cx, cy):
        if d2 <= min_r2:
            disc.append(v)
        elif d2 <= max_r2:
            k = int((math.sqrt(d2) - min_r) / DELTA)
            sums[k] += v
            counts[k] += 1
    median = sorted(disc)[int((len(disc) - 1) * 0.5)]
    means = [s / n if n > 0 else 0.0 for s, n in zip(sums, counts, strict=True)]
    out = list(values)
    for index, v, d2 in _ring_pixels(values, width, height, cx, cy):
        if min_r2 < d2 <= max_r2:
            distance = math.sqrt(d2)
            f = correction_fraction(distance / radius)
            k = int((distance - min_r) / DELTA)
            out[index] = (1 - f) * v + ((f * v) * median) / means[k]
    return out


def reference_nar(values: list[float], width: int, height: int, cx: float, cy: float, radius: float,
                  r: float) -> list[float]:
    """Compat 3.2 NAR=r: the pixels with (i-cx)^2 + (j-cy)^2 > ((r*r)*R)*R become null."""
    limit = ((r * r) * radius) * radius
    return [NULL if (i - cx) ** 2 + (j - cy) ** 2 > limit else values[j * width + i]
            for j in range(height) for i in range(width)]


def synthetic_image(seed: int, width: int, height: int) -> list[float]:
    """Positive values with a limb-brightened disc look, and about 3 % null pixels."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.5, 100.0, size=width * height)
    values[rng.random(width * height) < 0.03] = np.inf
    return values.tolist()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled driver (skipped without a C++ compiler)."""
    return compile_driver(tmp_path_factory.mktemp("preprocessing"), DRIVER, CORE_LIBRARY_SOURCES,
                          options=["-lcfitsio"])


def run_driver(driver: Path, values: list[float], width: int, height: int, cx: float, cy: float, radius: float,
               steps: str) -> list[float]:
    text = f"{width} {height} {cx!r} {cy!r} {radius!r} {steps}\n" + "\n".join(v.hex() for v in values) + "\n"
    result = subprocess.run([str(driver)], input=text, capture_output=True, text=True, check=True, timeout=120)
    return [float.fromhex(line) for line in result.stdout.split()]


# width, height, cx, cy, R: an off-grid centre; a disc wider than the image; a centre on the grid (rows and
# columns symmetric about it); an odd width that is no multiple of the row kernels' chunk.
GEOMETRIES = [(301, 287, 150.3, 142.7, 120.0), (256, 256, 127.5, 131.25, 150.0), (241, 241, 120.0, 120.0, 100.5)]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=["off-grid", "overflowing", "on-grid"])
@pytest.mark.parametrize("steps", ["ALC", "NAR=1.05,ALC", "NAR=0.9,ALC"])
def test_alc_matches_the_spec_bit_for_bit(driver: Path, geometry: tuple, steps: str) -> None:
    width, height, cx, cy, radius = geometry
    values = synthetic_image(width + len(steps), width, height)
    expected, max_radius = values, math.inf
    for step in steps.split(","):
        if step.startswith("NAR="):
            max_radius = float(step[4:])
            expected = reference_nar(expected, width, height, cx, cy, radius, max_radius)
        else:
            expected = reference_alc(expected, width, height, cx, cy, radius, max_radius)
    got = run_driver(driver, values, width, height, cx, cy, radius, steps)
    assert len(got) == width * height
    changed = sum(a != b for a, b in zip(values, expected, strict=True))
    assert changed > width * height // 10, "the correction changes a good share of the pixels"
    mismatches = [(k % width, k // width, a, b) for k, (a, b) in enumerate(zip(got, expected, strict=True))
                  if a != b]
    assert mismatches == [], f"{len(mismatches)} pixels differ, first (i, j, got, expected): {mismatches[:3]}"
