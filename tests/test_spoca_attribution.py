"""Tests of the pixel attribution of the SPoCA classifiers (SPoCA/lib/classification/hfcm.hpp, hpcm2.hpp,
compat 5.3 and 5.9).

The classifiers' ``colour`` takes shortcuts for speed (nearest centre by midpoints, distance ratios with a
safety margin). A C++ driver compiled against the library compares it with the memberships computed
exactly as compat 5.3 says, followed by the "max" rule of compat 5.9, on random pixels and on the hard
cases: pixels on a centre, on or next to a midpoint, within the crisp distance, infinite values, ties.
It also checks that ``colourRow``, which applies the shortcuts to a whole row at a time (vectorised), gives
``colour`` of every valid pixel and 0 for every pixel with a null value.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from library_driver import compile_driver

DRIVER = r"""
#include <cfloat>
#include <cmath>
#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>
#include "classification/hfcm.hpp"
#include "classification/hpcm2.hpp"

using namespace spoca;

// Compat 5.3 + 5.9, written out without any shortcut.
template <std::size_t N>
unsigned exactFcm(const Feature<N>& x, const std::vector<Feature<N>>& B, double precision) {
    const std::size_t C = B.size();
    std::vector<double> d2(C), u(C, 0.0);
    for (std::size_t i = 0; i < C; ++i) {
        d2[i] = distanceSquared(x, B[i]);
        if (d2[i] < precision) {
            u.assign(C, 0.0);
            u[i] = 1;
            return winningColour(u.data(), C);
        }
    }
    for (std::size_t i = 0; i < C; ++i) {
        double s = 0;
        for (std::size_t k = 0; k < C; ++k) s += d2[i] / d2[k];
        u[i] = 1 / s;
    }
    return winningColour(u.data(), C);
}

template <std::size_t N>
unsigned exactPcm2(const Feature<N>& x, const std::vector<Feature<N>>& B, const std::vector<double>& eta) {
    std::vector<double> u(B.size());
    for (std::size_t i = 0; i < B.size(); ++i) {
        const double t = distanceSquared(x, B[i]) / eta[i];
        u[i] = 1 / (1 + t * t);
    }
    return winningColour(u.data(), B.size());
}

// classifier.colourRow on the rows `rows` (n pixels) against colour() pixel by pixel, 0 for a pixel with a null value.
template <std::size_t N, typename Classifier>
long rowFailures(const char* name, const Classifier& classifier, const std::array<std::vector<double>, N>& rows) {
    const std::size_t n = rows[0].size();
    std::array<const double*, N> pointers;
    for (std::size_t p = 0; p < N; ++p) pointers[p] = rows[p].data();
    std::vector<std::int32_t> out(n, 12345);
    classifier.colourRow(pointers, static_cast<int>(n), out.data());
    long failures = 0;
    for (std::size_t i = 0; i < n; ++i) {
        Feature<N> x;
        bool valid = true;
        for (std::size_t p = 0; p < N; ++p) {
            x[p] = rows[p][i];
            valid = valid && x[p] != std::numeric_limits<double>::infinity();
        }
        const auto expected = valid ? static_cast<std::int32_t>(classifier.colour(x)) : 0;
        if (out[i] != expected) {
            ++failures;
            std::printf("%s row pixel %zu: %d, colour %d\n", name, i, out[i], expected);
        }
    }
    return failures;
}

int main() {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const double inf = std::numeric_limits<double>::infinity();
    long checked = 0, failures = 0;
    for (int trial = 0; trial < 300; ++trial) {
        const double precision = trial % 10 == 0 ? 0.0 : 0.0015;
        ClassifierSettings settings{precision, 100};
        // One channel: sorted centres, some closer than the crisp distance.
        std::vector<Feature<1>> B1;
        double c = uniform(rng) * 5;
        for (int i = 0; i < 4; ++i) {
            B1.push_back({c});
            c += trial % 7 == 0 ? 0.01 : 0.05 + uniform(rng) * 5;
        }
        Hfcm<1> hfcm(2.0, settings);
        hfcm.setCentres(B1);
        const auto& S1 = hfcm.centres();
        std::vector<double> probes;
        for (int k = 0; k < 2000; ++k) probes.push_back(uniform(rng) * 30 - 5);
        for (std::size_t i = 0; i < S1.size(); ++i) {
            probes.push_back(S1[i][0]);
            probes.push_back(std::nextafter(S1[i][0], inf));
            probes.push_back(S1[i][0] + std::sqrt(0.0015));
            if (i + 1 < S1.size()) {
                const double mid = S1[i][0] + (S1[i + 1][0] - S1[i][0]) / 2;
                probes.push_back(mid);
                probes.push_back(std::nextafter(mid, inf));
                probes.push_back(std::nextafter(mid, -inf));
                probes.push_back((S1[i][0] + S1[i + 1][0]) / 2);
            }
        }
        probes.push_back(inf);
        probes.push_back(-inf);
        probes.push_back(std::nan(""));
        for (const double v : probes) {
            ++checked;
            if (hfcm.colour({v}) != exactFcm<1>({v}, S1, precision)) {
                ++failures;
                std::printf("HFCM1 %.17g -> %u, exact %u\n", v, hfcm.colour({v}), exactFcm<1>({v}, S1, precision));
            }
        }
        // The same pixels as a row (a length that is no multiple of the row kernels' chunk), nulls among them.
        std::array<std::vector<double>, 1> row1{probes};
        for (std::size_t k = 0; k < row1[0].size(); k += 97) row1[0][k] = inf;
        checked += static_cast<long>(row1[0].size());
        failures += rowFailures<1>("HFCM1", hfcm, row1);
        // Two channels: HFCM and HPCM2 with random centres and eta, including equal centres.
        std::vector<Feature<2>> B2;
        std::vector<double> eta;
        for (int i = 0; i < 4; ++i) {
            B2.push_back({uniform(rng) * 5, uniform(rng) * 5});
            eta.push_back(trial % 5 == 0 ? 1.0 : 1e-3 + uniform(rng));
        }
        if (trial % 4 == 0) B2[2] = B2[1];
        Hfcm<2> hfcm2(2.0, settings);
        hfcm2.setCentres(B2);
        Hpcm2<2> hpcm2(2.0, 2.0, settings);
        hpcm2.setCentres(B2, eta);
        std::vector<Feature<2>> pixels;
        for (int k = 0; k < 2000; ++k) pixels.push_back({uniform(rng) * 6 - 0.5, uniform(rng) * 6 - 0.5});
        for (const auto& b : hpcm2.centres()) {
            pixels.push_back(b);
            pixels.push_back({b[0] + 1e-9, b[1]});
        }
        pixels.push_back({inf, 1.0});
        pixels.push_back({1e200, 1e200});
        std::array<std::vector<double>, 2> rows2;
        for (std::size_t k = 0; k < pixels.size(); ++k) {
            rows2[0].push_back(k % 89 == 5 ? inf : pixels[k][0]);
            rows2[1].push_back(k % 83 == 7 ? inf : pixels[k][1]);
        }
        rows2[0].push_back(std::nan(""));
        rows2[1].push_back(1.0);
        checked += 2 * static_cast<long>(rows2[0].size());
        failures += rowFailures<2>("HFCM2", hfcm2, rows2);
        failures += rowFailures<2>("HPCM2", hpcm2, rows2);
        for (const auto& x : pixels) {
            checked += 2;
            if (hfcm2.colour(x) != exactFcm<2>(x, hfcm2.centres(), precision)) {
                ++failures;
                std::printf("HFCM2 %.17g %.17g\n", x[0], x[1]);
            }
            if (hpcm2.colour(x) != exactPcm2<2>(x, hpcm2.centres(), hpcm2.eta())) {
                ++failures;
                std::printf("HPCM2 %.17g %.17g\n", x[0], x[1]);
            }
        }
    }
    std::printf("checked %ld failures %ld\n", checked, failures);
    return failures == 0 ? 0 : 1;
}
"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled driver (skipped without a C++ compiler)."""
    return compile_driver(tmp_path_factory.mktemp("attribution"), DRIVER, ["classification/attribution_rows.cpp"])


def test_colour_equals_the_exact_memberships(driver: Path) -> None:
    result = subprocess.run([str(driver)], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    checked = int(result.stdout.split()[1])
    assert checked > 1_000_000
