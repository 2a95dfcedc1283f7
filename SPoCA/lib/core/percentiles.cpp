#include "core/percentiles.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

#include <immintrin.h>

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

/// Positions whose stops one mask of blockPartitionAvx2 holds.
constexpr long maskWidth = 64;

/// Bit b set where a scan stops at base[b], for b < 64: going up where !(pivot > v), going down where
/// !(v > pivot) (both true for NaN).
template <bool upward>
__attribute__((target("avx2"))) inline std::uint64_t stops(const double* base, __m256d pivot) {
    std::uint64_t mask = 0;
    for (int k = 0; k < maskWidth / 4; ++k) {
        const __m256d x = _mm256_loadu_pd(base + 4 * k);
        const __m256d stop = upward ? _mm256_cmp_pd(pivot, x, _CMP_NGT_UQ) : _mm256_cmp_pd(x, pivot, _CMP_NGT_UQ);
        mask |= static_cast<std::uint64_t>(_mm256_movemask_pd(stop)) << (4 * k);
    }
    return mask;
}

/// blockPartition with AVX2: the stops of 64 positions are found 4 at a time by vector comparisons into a bit
/// mask, then taken in scan order from it (lowest bit first going up, highest first going down). The comparisons
/// are the scalar ones, the pairs and their order the same, so the array and (ll, hh) end as blockPartition
/// leaves them. The three selections of 7.1 million values (a QS row at 4096x4096) take 37 ms instead of 49.
__attribute__((target("avx2,bmi,lzcnt"))) void blockPartitionAvx2(double* v, double pivot, long& ll, long& hh) {
    constexpr long width = maskWidth;
    const __m256d p = _mm256_set1_pd(pivot);
    long left = ll + 1;   // next position the upward scan examines
    long right = hh - 1;  // next position the downward scan examines
    std::uint64_t leftMask = 0;
    std::uint64_t rightMask = 0;
    long leftBase = 0;  // position of bit 0 of leftMask
    long rightBase = 0;  // position of bit 0 of rightMask
    long a = -1;
    long b = -1;
    while (right - left + 1 >= 2 * width) {
        if (leftMask == 0) {
            leftBase = left;
            leftMask = stops<true>(v + left, p);
            left += width;
        }
        if (rightMask == 0) {
            rightBase = right - (width - 1);
            rightMask = stops<false>(v + rightBase, p);
            right -= width;
        }
        while (leftMask != 0 && rightMask != 0) {
            a = leftBase + static_cast<long>(_tzcnt_u64(leftMask));
            leftMask = _blsr_u64(leftMask);
            const long top = 63 - static_cast<long>(_lzcnt_u64(rightMask));
            b = rightBase + top;
            rightMask ^= std::uint64_t{1} << top;
            std::swap(v[a], v[b]);
        }
    }
    if (a >= 0) {
        ll = a;
        hh = b;
    }
}

}  // namespace

namespace detail {

PartitionKernel fastestPartitionKernel() {
    __builtin_cpu_init();
    const bool avx2 =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("lzcnt");
    return avx2 ? PartitionKernel::avx2 : PartitionKernel::portable;
}

double select(double* a, std::size_t n, double p, PartitionKernel kernel) {
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
        if (kernel == PartitionKernel::avx2) {
            blockPartitionAvx2(v, pivot, ll, hh);
        } else {
            blockPartition(v, pivot, ll, hh);
        }
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

}  // namespace detail

double select(double* a, std::size_t n, double p) {
    return detail::select(a, n, p, detail::fastestPartitionKernel());
}

}  // namespace spoca
