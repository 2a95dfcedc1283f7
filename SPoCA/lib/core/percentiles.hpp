// Selection of a percentile value in an array (compat 10.2).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace spoca {

/// The original's quickselect (N. Devillard's, with the pivot at the percentile index), reproduced
/// exactly, including the order it leaves the array in and its inexact results for p < 0.5; the upward
/// scan is capped at hi+1 as compat 10.2 requires. Returns a[int((n-1)*p)] after partitioning.
/// Throws spoca::Error when `a` is empty.
double select(double* a, std::size_t n, double p);
inline double select(std::vector<double>& a, double p) { return select(a.data(), a.size(), p); }

namespace detail {

/// How select() finds the positions where its partition scans stop: one comparison at a time (any x86-64), or
/// four (AVX2, BMI1 and LZCNT). Both make the same swaps.
enum class PartitionKernel { portable, avx2 };

/// The AVX2 kernel where this processor has its instructions, else the portable one.
PartitionKernel fastestPartitionKernel();

/// select() with the given kernel (the tests run both); `avx2` only where fastestPartitionKernel() says so.
double select(double* a, std::size_t n, double p, PartitionKernel kernel);

/// A 64-bit key whose unsigned order is the order of the doubles (-0 and +0 share the key of +0).
inline std::uint64_t orderKey(double v) {
    if (v == 0.0) v = 0.0;
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return (bits >> 63) ? ~bits : (bits | (std::uint64_t{1} << 63));
}
}  // namespace detail

/// The value of rank int((n-1)*p) (0-based, ascending) among the values visited: the value select()
/// returns for 0.5 <= p < 1, found without copying the values. The values are split into `parts` visited
/// in parallel: `visit(part, f)` must call f(double) once per value of that part, the same values on
/// every call. A first pass counts the top 16 bits of an order-preserving key of the values (exact
/// integer counts). When at most maxDirectCandidates values share the rank's top 16 bits, a second pass
/// collects them; otherwise a second pass counts their next 16 bits and a third collects the few values
/// sharing the rank's top 32 bits. std::nth_element picks the value among the collected ones.
/// Throws spoca::Error when there is no value.
template <typename Visit>
double rankValue(unsigned parts, Visit visit, double p) {
    constexpr std::uint64_t maxDirectCandidates = std::uint64_t{1} << 18;  // 2 MiB of doubles
    parts = std::max(1u, parts);
    std::vector<std::vector<std::uint64_t>> counts(parts);
    // Counts, over all parts, of bucket(key) for the keys that pass `keep`.
    auto count = [&](auto keep, auto bucket) {
        runTasks(parts, [&](unsigned part) {
            std::vector<std::uint64_t>& c = counts[part];
            c.assign(std::size_t{1} << 16, 0);
            visit(part, [&](double v) {
                const std::uint64_t key = detail::orderKey(v);
                if (keep(key)) ++c[bucket(key)];
            });
        });
        for (unsigned part = 1; part < parts; ++part) {
            for (std::size_t b = 0; b < counts[0].size(); ++b) counts[0][b] += counts[part][b];
        }
        return counts[0];
    };
    auto locate = [](const std::vector<std::uint64_t>& total, std::uint64_t& rank) {
        std::uint64_t b = 0;
        while (rank >= total[b]) rank -= total[b++];
        return b;
    };
    const std::vector<std::uint64_t> top = count([](std::uint64_t) { return true; },
                                                 [](std::uint64_t key) { return key >> 48; });
    std::uint64_t n = 0;
    for (const std::uint64_t c : top) n += c;
    if (n == 0) throw Error("cannot take a percentile of an empty set of pixels");
    auto rank = static_cast<std::uint64_t>(static_cast<int>(static_cast<double>(n - 1) * p));
    const std::uint64_t high = locate(top, rank);
    std::vector<std::vector<double>> candidates(parts);
    if (top[high] <= maxDirectCandidates) {
        // Few enough values share the top 16 bits of the rank's key: select among them directly.
        runTasks(parts, [&](unsigned part) {
            std::vector<double>& found = candidates[part];
            visit(part, [&found, high](double v) {
                if ((detail::orderKey(v) >> 48) == high) found.push_back(v);
            });
        });
    } else {
        const std::vector<std::uint64_t> next = count([high](std::uint64_t key) { return (key >> 48) == high; },
                                                      [](std::uint64_t key) { return (key >> 32) & 0xffffu; });
        const std::uint64_t prefix = (high << 16) | locate(next, rank);
        runTasks(parts, [&](unsigned part) {
            std::vector<double>& found = candidates[part];
            visit(part, [&found, prefix](double v) {
                if ((detail::orderKey(v) >> 32) == prefix) found.push_back(v);
            });
        });
    }
    for (unsigned part = 1; part < parts; ++part) {
        candidates[0].insert(candidates[0].end(), candidates[part].begin(), candidates[part].end());
    }
    std::vector<double>& all = candidates[0];
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(rank), all.end());
    return all[static_cast<std::size_t>(rank)];
}

}  // namespace spoca
