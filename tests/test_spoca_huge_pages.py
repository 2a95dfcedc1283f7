"""The large buffers of the SPoCA programs are backed by transparent huge pages (SPoCA/lib/core/huge_pages.hpp): an
image of 16 MB is a THP-eligible mapping where the kernel gives huge pages on request (the "madvise" setting,
Debian's default), a small one is left alone, and the pixels are those of an ordinary allocation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from library_driver import compile_driver

#: Makes an Image<double> of the given size, then prints the THPeligible flag of the mapping holding its middle pixel
#: (smaps) and whether every pixel holds the fill value.
DRIVER = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/image.hpp"

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    const int width = std::atoi(argv[1]);
    const int height = std::atoi(argv[2]);
    const spoca::Image<double> image(width, height, 2.5);
    bool filled = true;
    for (const double v : image.pixels()) filled = filled && v == 2.5;
    // The middle of the pixels: the head of the first page is not advised (only whole pages are), a mapping of its own.
    const auto address = reinterpret_cast<std::uintptr_t>(image.data() + image.size() / 2);
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    bool inside = false;
    int eligible = -1;
    while (std::getline(smaps, line)) {
        unsigned long long low = 0, high = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx", &low, &high) == 2) {  // a mapping's first line
            inside = low <= address && address < high;
        } else if (inside && line.rfind("THPeligible:", 0) == 0) {
            eligible = std::atoi(line.c_str() + 12);
        }
    }
    std::printf("%d %d\n", eligible, filled ? 1 : 0);
    return 0;
}
"""

THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@pytest.fixture(scope="module")
def image_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_driver(tmp_path_factory.mktemp("huge_pages"), DRIVER)


def _run(driver: Path, width: int, height: int) -> tuple[int, int]:
    result = subprocess.run([str(driver), str(width), str(height)], capture_output=True, text=True, check=True,
                            timeout=60)
    eligible, filled = map(int, result.stdout.split())
    return eligible, filled


@pytest.mark.skipif(not THP_SETTING.exists() or "[madvise]" not in THP_SETTING.read_text(),
                    reason="the kernel's transparent huge pages are not set to 'madvise'")
def test_a_large_image_asks_for_huge_pages_and_a_small_one_does_not(image_driver: Path) -> None:
    assert _run(image_driver, 4096, 512) == (1, 1)  # 16 MB: advised
    assert _run(image_driver, 512, 512) == (0, 1)   # 2 MB: below hugePageWorthBytes, an ordinary mapping


def test_the_pixels_are_filled_whatever_the_kernel_does(image_driver: Path) -> None:
    assert _run(image_driver, 4096, 300)[1] == 1
    assert _run(image_driver, 7, 3)[1] == 1
