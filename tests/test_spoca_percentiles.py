"""Tests of the percentile selection of the SPoCA library (SPoCA/lib/core/percentiles.*, compat 10.2).

A small C++ driver is compiled against the library. ``select`` must reproduce the original's modified
quickselect exactly: its result and the order it leaves the array in (get_STAFF_stats' moments depend on
that order, quirk Q8). It is compared with an independent Python transcription of compat 10.2
(tests/spoca_reference.py, shared with the get_STAFF_stats tests).
Both partition kernels are run: the portable one and, where the processor has AVX2, the vector one that
``select`` uses there.
``rankValue`` (used for the medians and percentiles of whole images) must give the element of rank
int((n-1)p) of the sorted values for 0.5 <= p < 1.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from library_driver import compile_driver
from spoca_reference import quickselect

DRIVER = r"""
#include <cstdio>
#include <vector>
#include "core/percentiles.hpp"

// Reads: mode p n values...; mode 0 = select (prints the result then the array), 1 = rankValue, 2 = select with
// the portable partition kernel, 3 = with the AVX2 one (prints "unsupported" where the processor lacks it).
int main() {
    int mode = 0;
    double p = 0;
    std::size_t n = 0;
    while (std::scanf("%d %lf %zu", &mode, &p, &n) == 3) {
        std::vector<double> a(n);
        for (auto& v : a) {
            if (std::scanf("%lf", &v) != 1) return 2;
        }
        using spoca::detail::PartitionKernel;
        if (mode == 3 && spoca::detail::fastestPartitionKernel() != PartitionKernel::avx2) {
            std::printf("unsupported\n");
            continue;
        }
        if (mode != 1) {
            const double r = mode == 0   ? spoca::select(a, p)
                             : mode == 2 ? spoca::detail::select(a.data(), a.size(), p, PartitionKernel::portable)
                                         : spoca::detail::select(a.data(), a.size(), p, PartitionKernel::avx2);
            std::printf("%.17g", r);
            for (const double v : a) std::printf(" %.17g", v);
        } else {
            const double r = spoca::rankValue(2, [&](unsigned part, auto&& f) {
                for (std::size_t k = part; k < a.size(); k += 2) f(a[k]);
            }, p);
            std::printf("%.17g", r);
        }
        std::printf("\n");
    }
    return 0;
}
"""


def reference_select(values: list[float], p: float) -> tuple[float, list[float]]:
    """Compat 10.2, transcribed step by step: the result and the array it leaves."""
    a = list(values)
    return quickselect(a, p), a


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled driver (skipped without a C++ compiler)."""
    return compile_driver(tmp_path_factory.mktemp("selection"), DRIVER, ["core/percentiles.cpp"])


def run_driver(driver: Path, cases: list[tuple[int, float, list[float]]]) -> list[list[float]]:
    """Run the driver on several cases and return one list of numbers per case."""
    text = "".join(f"{mode} {p!r} {len(values)} {' '.join(map(repr, values))}\n" for mode, p, values in cases)
    result = subprocess.run([str(driver)], input=text, capture_output=True, text=True, check=True)
    if "unsupported" in result.stdout:
        pytest.skip("this processor has no AVX2: select() uses the portable kernel only")
    return [[float(v) for v in line.split()] for line in result.stdout.splitlines()]


#: The driver's modes for select(): as the programs call it, and each partition kernel.
SELECT_MODES = {"fastest": 0, "portable": 2, "avx2": 3}


def random_cases(seed: int, count: int) -> list[list[float]]:
    """Small arrays with many ties, where the p < 0.5 pivot degenerates (compat 10.2)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, rng.integers(1, 8), size=rng.integers(1, 30)).astype(float).tolist()
            for _ in range(count)]


@pytest.mark.parametrize("kernel", SELECT_MODES)
@pytest.mark.parametrize("p", [0.25, 0.5, 0.75, 0.8])
def test_select_matches_the_spec_exactly(driver: Path, p: float, kernel: str) -> None:
    cases = random_cases(int(p * 100), 400)
    outputs = run_driver(driver, [(SELECT_MODES[kernel], p, values) for values in cases])
    for values, output in zip(cases, outputs, strict=True):
        expected, permuted = reference_select(values, p)
        assert output[0] == expected
        assert output[1:] == permuted


def long_cases(seed: int) -> list[list[float]]:
    """Arrays long enough for the partition to work a block of values at a time (from 128 values): many
    ties, distinct values, sorted and reversed, and sizes just around the block bounds."""
    rng = np.random.default_rng(seed)
    cases = []
    for n in (129, 130, 131, 256, 257, 511, 1000, 4099):
        cases.append(rng.integers(0, 4, size=n).astype(float).tolist())
        cases.append(rng.normal(0.0, 1.0, size=n).tolist())
        cases.append(sorted(rng.integers(0, 50, size=n).astype(float).tolist()))
        cases.append(sorted(rng.normal(0.0, 1.0, size=n).tolist(), reverse=True))
    return cases


@pytest.mark.parametrize("kernel", SELECT_MODES)
@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
def test_select_matches_the_spec_on_long_arrays(driver: Path, p: float, kernel: str) -> None:
    """The block partition must make the spec's swaps exactly: same result, same array order."""
    cases = long_cases(int(p * 100))
    outputs = run_driver(driver, [(SELECT_MODES[kernel], p, values) for values in cases])
    for values, output in zip(cases, outputs, strict=True):
        expected, permuted = reference_select(values, p)
        assert output[0] == expected
        assert output[1:] == permuted


def test_select_can_miss_the_true_quartile(driver: Path) -> None:
    """Quirk Q8: for p = 0.25 the result is sometimes not the sorted element (the spec says about 12 %)."""
    cases = random_cases(7, 400)
    outputs = run_driver(driver, [(0, 0.25, values) for values in cases])
    missed = sum(out[0] != sorted(values)[int((len(values) - 1) * 0.25)] for values, out in zip(cases, outputs,
                                                                                                 strict=True))
    assert 0 < missed < len(cases) / 2


@pytest.mark.parametrize("p", [0.5, 0.8, 0.95])
def test_rank_value_is_the_sorted_element(driver: Path, p: float) -> None:
    rng = np.random.default_rng(3)
    cases = [rng.normal(100.0, 30.0, size=n).tolist() for n in (1, 2, 3, 10, 1001, 20000)]
    cases.append([5.0] * 50 + [-0.0, 0.0, 1e-300, -1e300, 1e300])
    cases.append(rng.normal(100.0, 1e-3, size=300_000).tolist())  # one crowded bucket: the 3-pass path
    outputs = run_driver(driver, [(1, p, values) for values in cases])
    for values, output in zip(cases, outputs, strict=True):
        assert output[0] == sorted(values)[int((len(values) - 1) * p)]
