#include "core/percentiles.hpp"

#include <algorithm>
#include <utility>

namespace spoca {

namespace {

/// Positions examined at once by the block partition (compat 10.2 partition, same swaps).
constexpr long block = 128;

/// The Hoare partition step of select() on v[lo..hi] around pivot v[lo], from the scan state (ll, hh) =
/// (lo + 1, hi): performs the swaps of the scalar scans below for as long as the unscanned part is at least
/// two blocks long, and leaves (ll, hh) at the last pair swapped, the state the scalar loop has after that
/// swap. The scalar scans stop, going up, at each value >= pivot and, going down, at each value <= pivot, and
/// swap the k-th stop of one with the k-th of the other while the scans have not crossed: while the scanned
/// ranges are apart, the stops are those of the unswapped values, found here a block at a time without a
/// branch per value, and the pairs are disjoint, so swapping them in any order gives the same array.
void blockPartition(double* v, double pivot, long& ll, long& hh) {
    long left = ll + 1;   // next position the upward scan examines
    long right = hh - 1;  // next position the downward scan examines
    unsigned short leftStops[block];
    unsigned short rightStops[block];
    long leftCount = 0, leftNext = 0, rightCount = 0, rightNext = 0;
    while (right - left + 1 >= 2 * block) {
        if (leftNext == leftCount) {
            leftCount = leftNext = 0;
            for (long k = 0; k < block; ++k) {
                leftStops[leftCount] = static_cast<unsigned short>(k);
                leftCount += !(pivot > v[left + k]);
            }
            left += block;
        }
        if (rightNext == rightCount) {
            rightCount = rightNext = 0;
            for (long k = 0; k < block; ++k) {
                rightStops[rightCount] = static_cast<unsigned short>(k);
                rightCount += !(v[right - k] > pivot);
            }
            right -= block;
        }
        const long pairs = std::min(leftCount - leftNext, rightCount - rightNext);
        const long leftBase = left - block;
        const long rightBase = right + block;
        for (long k = 0; k < pairs; ++k) {
            const long a = leftBase + leftStops[leftNext + k];
            const long b = rightBase - rightStops[rightNext + k];
            std::swap(v[a], v[b]);
        }
        if (pairs > 0) {
            ll = leftBase + leftStops[leftNext + pairs - 1];
            hh = rightBase - rightStops[rightNext + pairs - 1];
        }
        leftNext += pairs;
        rightNext += pairs;
    }
}

}  // namespace

double select(double* a, std::size_t n, double p) {
    if (n == 0) throw Error("cannot select a percentile of an empty array");
    long lo = 0;
    long hi = static_cast<long>(n) - 1;
    const long k = static_cast<int>(static_cast<double>(hi - lo) * p);
    while (true) {
        if (hi <= lo) return a[k];
        if (hi == lo + 1) {
            if (a[lo] > a[hi]) std::swap(a[lo], a[hi]);
            return a[k];
        }
        const long mid = lo + static_cast<int>(static_cast<double>(hi - lo) * p);
        if (a[mid] > a[hi]) std::swap(a[mid], a[hi]);
        if (a[lo] > a[hi]) std::swap(a[lo], a[hi]);
        if (a[mid] > a[lo]) std::swap(a[mid], a[lo]);
        std::swap(a[mid], a[lo + 1]);
        long ll = lo + 1;
        long hh = hi;
        // a[lo], the pivot, does not move during the scans (they swap elements above lo + 1 only): held in a
        // local, it is not reloaded after every swap. The comparisons are the same, so is the result.
        const double pivot = a[lo];
        double* const v = a;
        blockPartition(v, pivot, ll, hh);
        while (true) {
            do ++ll; while (ll <= hi && pivot > v[ll]);  // capped at hi+1 (compat 10.2)
            do --hh; while (v[hh] > pivot);
            if (hh < ll) break;
            std::swap(v[ll], v[hh]);
        }
        std::swap(a[lo], a[hh]);
        if (hh <= k) lo = ll;
        if (hh >= k) hi = hh - 1;
    }
}

}  // namespace spoca
