// Selection of a percentile value in an array (spec 10.2).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "error.hpp"

namespace spoca {

/// The original's quickselect (N. Devillard's, with the pivot at the percentile index), reproduced
/// exactly, including the order it leaves the array in and its inexact results for p < 0.5; the upward
/// scan is capped at hi+1 as spec 10.2 requires. Returns a[int((n-1)*p)] after partitioning.
/// Throws spoca::Error when `a` is empty.
double select(std::vector<double>& a, double p);

namespace detail {
/// A 64-bit key whose unsigned order is the order of the doubles (-0 and +0 share the key of +0).
inline std::uint64_t orderKey(double v) {
    if (v == 0.0) v = 0.0;
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return (bits >> 63) ? ~bits : (bits | (std::uint64_t{1} << 63));
}
}  // namespace detail

/// The value of rank int((n-1)*p) (0-based, ascending) among the n values that `forEachValue` visits:
/// the value select() returns for 0.5 <= p < 1, found without copying the values. `forEachValue(f)`
/// must call f(double) once per value, in any order, the same values on every call (it is called
/// three or four times: two 16-bit radix counting passes, then one pass collecting the few candidates).
/// Throws spoca::Error when there is no value.
template <typename ForEachValue>
double rankValue(ForEachValue forEachValue, double p) {
    std::vector<std::uint64_t> counts(1u << 16, 0);
    std::uint64_t n = 0;
    forEachValue([&](double v) {
        ++counts[detail::orderKey(v) >> 48];
        ++n;
    });
    if (n == 0) throw Error("cannot take a percentile of an empty set of pixels");
    auto rank = static_cast<std::uint64_t>(static_cast<int>(static_cast<double>(n - 1) * p));
    auto findBucket = [&](std::uint64_t& remaining) {
        std::uint64_t b = 0;
        while (remaining >= counts[b]) remaining -= counts[b++];
        return b;
    };
    const std::uint64_t top = findBucket(rank);
    std::fill(counts.begin(), counts.end(), 0);
    forEachValue([&](double v) {
        const std::uint64_t key = detail::orderKey(v);
        if ((key >> 48) == top) ++counts[(key >> 32) & 0xffffu];
    });
    const std::uint64_t prefix = (top << 16) | findBucket(rank);
    std::vector<double> candidates;
    candidates.reserve(static_cast<std::size_t>(counts[prefix & 0xffffu]));
    forEachValue([&](double v) {
        if ((detail::orderKey(v) >> 32) == prefix) candidates.push_back(v);
    });
    std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(rank), candidates.end());
    return candidates[static_cast<std::size_t>(rank)];
}

}  // namespace spoca
