// The columns of an image row where a test holds, found by bisection when the test is known to hold on an interval.
//
// The programs' per-pixel tests (within a radius of a centre, inside an image, within a band) compare a value that
// is computed from the column by a chain of IEEE operations, each rounding monotonically: along a row that value is
// monotone in the column, so the columns where such a test holds form an interval. Bisection with the test itself
// then finds exactly the columns a pixel-by-pixel evaluation would, with a few evaluations per row.
#pragma once

#include <algorithm>
#include <utility>

namespace spoca {

/// The first column of [first, end) where `test`, false then true along the range, holds (end when nowhere).
template <typename Test>
int firstWhere(int first, int end, Test test) {
    while (first < end) {
        const int mid = first + (end - first) / 2;
        if (test(mid)) {
            end = mid;
        } else {
            first = mid + 1;
        }
    }
    return first;
}

/// The columns [lo, hi) of [first, end) where `test` holds, for a test whose value along the range changes at
/// most once (true then false, or false then true, or constant): a comparison of a monotone value with a bound.
template <typename Test>
std::pair<int, int> monotoneColumns(int first, int end, Test test) {
    if (first >= end) return {first, first};
    const bool atFirst = test(first);
    if (atFirst == test(end - 1)) return atFirst ? std::pair{first, end} : std::pair{first, first};
    const int change = firstWhere(first + 1, end, [&test, atFirst](int i) { return test(i) != atFirst; });
    return atFirst ? std::pair{first, change} : std::pair{change, end};
}

/// The columns of [first, end) on row j that are not beyond a radius of (cx, cy), the test being
/// x * x + y * y > threshold with x = i - cx and y = j - cy (threshold: the squared radius, computed as the caller's
/// test computes it). They are an interval: x * x + y * y falls while i - cx < 0 and rises after.
inline std::pair<int, int> columnsWithinRadius(double cx, double cy, double threshold, int j, int first, int end) {
    const auto beyond = [cx, cy, threshold, j](int i) {
        const double x = i - cx;
        const double y = j - cy;
        return x * x + y * y > threshold;
    };
    const int split = firstWhere(first, end, [cx](int i) { return i - cx >= 0; });
    const int lo = firstWhere(first, split, [&beyond](int i) { return !beyond(i); });
    const int hi = firstWhere(split, end, beyond);
    return {lo, hi};
}

/// The intersection of two intervals of columns (empty, at the first's start, when they do not meet).
inline std::pair<int, int> intersectColumns(std::pair<int, int> a, std::pair<int, int> b) {
    const int lo = std::max(a.first, b.first);
    const int hi = std::min(a.second, b.second);
    return lo < hi ? std::pair{lo, hi} : std::pair{a.first, a.first};
}

}  // namespace spoca
