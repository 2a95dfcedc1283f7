"""The central-meridian strip test of get_STAFF_stats (SPoCA/lib/staff/heliographic): its cheap evaluation and its
early rejections give, on every pixel, the answer of the exact projection (compat 8.4 step 5 and 8.5)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from library_driver import compile_driver

#: Reads a WCS and a grid from its arguments; prints the pixels kept by CentralMeridianStrip::contains(), those where it
#: differs from HeliographicProjection::at() with |longitude| <= limit, and those where the row-at-a-time decisions
#: (decideRow() then decided(), as get_STAFF_stats uses them) differ from it.
DRIVER = r"""
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "staff/heliographic.hpp"

int main(int argc, char** argv) {
    if (argc != 14) return 2;
    double a[14];
    for (int k = 1; k < 14; ++k) a[k] = std::strtod(argv[k], nullptr);
    const int width = static_cast<int>(a[1]);
    const int height = static_cast<int>(a[2]);
    spoca::SunWcs wcs;
    wcs.centerX = a[3];
    wcs.centerY = a[4];
    wcs.cd = {a[5], a[6], a[7], a[8]};
    wcs.distanceSunMm = a[9];
    wcs.sunRadiusMm = a[10];
    wcs.b0 = a[11];
    wcs.l0 = a[12];
    const double limit = a[13];
    const spoca::HeliographicProjection projection(wcs);
    const spoca::CentralMeridianStrip strip(wcs, limit);
    long kept = 0;
    long differ = 0;
    long rowDiffer = 0;
    std::vector<spoca::CentralMeridianStrip::Decision> decisions(static_cast<std::size_t>(width));
    for (int j = 0; j < height; ++j) {
        strip.decideRow(j, 0, width, decisions.data());
        for (int i = 0; i < width; ++i) {
            const auto c = projection.at(i, j);
            const bool exact = c && !(std::fabs(c->longitude) > limit);
            const bool fast = strip.contains(i, j);
            kept += fast;
            differ += fast != exact;
            rowDiffer += strip.decided(decisions[static_cast<std::size_t>(i)], i, j) != exact;
        }
    }
    std::printf("%ld %ld %ld\n", kept, differ, rowDiffer);
    return 0;
}
"""

AU_MM = 149597.870691
RSUN_MM = 695.7
DEG = math.pi / 180


@pytest.fixture(scope="module")
def strip_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_driver(tmp_path_factory.mktemp("heliographic"), DRIVER, ["staff/heliographic.cpp"])


def _cd(scale: float, roll_degrees: float) -> tuple[float, float, float, float]:
    c, s = math.cos(roll_degrees * DEG), math.sin(roll_degrees * DEG)
    return scale * c, -scale * s, scale * s, scale * c


def _compare(driver: Path, size: int, centre: tuple[float, float], cd: tuple[float, ...], distance: float,
             b0_degrees: float, l0_degrees: float) -> tuple[int, int]:
    arguments = [size, size, *centre, *cd, distance, RSUN_MM, b0_degrees * DEG, l0_degrees * DEG, 15 * DEG]
    result = subprocess.run([str(driver), *(repr(float(value)) for value in arguments)], capture_output=True,
                            text=True, check=True, timeout=120)
    kept, differ, row_differ = map(int, result.stdout.split())
    assert row_differ == 0, f"{row_differ} pixels decided differently a row at a time"
    return kept, differ


@pytest.mark.parametrize(("size", "scale", "roll", "b0", "l0", "centre_offset"), [
    (1024, 2.4, 0.0, 7.25, 0.0, (0.3, -0.45)),      # AIA binned to 1024, March (largest B0)
    (1024, 2.4, 180.0, -7.2, 0.0, (-2.7, 3.1)),     # rolled by 180 degrees, September
    (1024, 2.4, 0.03, 1.5, 3.0, (0.5, 0.5)),        # a small roll, observer off the Earth's meridian
    (1024, 2.4, -45.0, -4.0, -25.0, (12.0, -7.0)),  # a large roll and a far-off observer (STEREO-like)
    (700, 3.6, 0.0, 0.0, 0.0, (0.0, 0.0)),          # B0 = 0, centre on a pixel
])
def test_strip_keeps_exactly_the_pixels_of_the_exact_projection(strip_driver: Path, size: int, scale: float,
                                                                 roll: float, b0: float, l0: float,
                                                                 centre_offset: tuple[float, float]) -> None:
    centre = (size / 2 - 0.5 + centre_offset[0], size / 2 - 0.5 + centre_offset[1])
    kept, differ = _compare(strip_driver, size, centre, _cd(scale, roll), AU_MM, b0, l0)
    disc_pixels = math.pi * (959.6 / scale) ** 2
    assert differ == 0
    assert 0.1 * disc_pixels < kept < 0.4 * disc_pixels  # a strip of 30 degrees of longitude: about a quarter


def test_strip_near_the_sun_and_beyond_the_cheap_evaluation(strip_driver: Path) -> None:
    # Seen from 3 solar radii the disc spans about 0.34 rad: most pixels are decided by the exact computation.
    kept, differ = _compare(strip_driver, 400, (199.5, 199.5), _cd(400.0, 10.0), 3 * RSUN_MM, 5.0, 2.0)
    assert differ == 0
    assert kept > 0
    # An observer 80 degrees off: the cheap evaluation does not apply to the WCS at all.
    kept, differ = _compare(strip_driver, 512, (255.5, 255.5), _cd(4.8, 0.0), AU_MM, 0.0, 80.0)
    assert differ == 0
