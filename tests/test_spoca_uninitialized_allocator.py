"""Tests of the SPoCA library's buffer allocator (SPoCA/lib/core/uninitialized_allocator.hpp).

A C++ driver compiled against the library fills vectors that use the allocator: small ones (std::allocator's
memory) and ones of 32 MiB and more, which are aligned on 2 MiB and advised as huge pages. Each must hold what was
written through growth, copies and shrinking, and the large ones must be aligned; the driver runs under the
compiler's address sanitizer, so that a mismatched allocation and release, or a write past the end, fails it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from library_driver import compile_driver

DRIVER = r"""
#include <cstdint>
#include <cstdio>
#include <vector>
#include "core/uninitialized_allocator.hpp"

using Buffer = std::vector<double, spoca::UninitializedAllocator<double>>;

// Fills `b` with k * 0.5 + seed and checks it back; returns the number of wrong values.
long fillAndCheck(Buffer& b, double seed) {
    for (std::size_t k = 0; k < b.size(); ++k) b[k] = static_cast<double>(k) * 0.5 + seed;
    long wrong = 0;
    for (std::size_t k = 0; k < b.size(); ++k) wrong += b[k] != static_cast<double>(k) * 0.5 + seed;
    return wrong;
}

int main() {
    constexpr std::size_t mib = std::size_t{1} << 20;
    long wrong = 0, misaligned = 0;
    for (const std::size_t bytes : {std::size_t{1000}, 31 * mib, 32 * mib, 33 * mib + 8, 128 * mib}) {
        Buffer b(bytes / sizeof(double));
        wrong += fillAndCheck(b, 1.0);
        const bool large = bytes >= spoca::UninitializedAllocator<double>::hugeBufferBytes;
        misaligned += large && reinterpret_cast<std::uintptr_t>(b.data()) % (2 * mib) != 0;
        Buffer copy = b;                        // a second large buffer, released before b
        wrong += copy != b;
        b.resize(b.size() + 3 * mib / sizeof(double));  // growth: a new buffer, the values moved
        for (std::size_t k = 0; k < copy.size(); ++k) wrong += b[k] != copy[k];
        b.resize(b.size() / 3);
        b.shrink_to_fit();                      // from the large allocation to a small one, or a smaller large one
        wrong += fillAndCheck(b, 2.0);
    }
    std::printf("wrong %ld misaligned %ld\n", wrong, misaligned);
    return wrong == 0 && misaligned == 0 ? 0 : 1;
}
"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The driver, compiled with the address sanitizer (skipped without g++)."""
    return compile_driver(tmp_path_factory.mktemp("allocator"), DRIVER, options=["-fsanitize=address"])


def test_buffers_keep_their_values_and_large_ones_are_aligned(driver: Path) -> None:
    result = subprocess.run([str(driver)], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.split() == ["wrong", "0", "misaligned", "0"]
