#include "core/percentiles.hpp"

#include <utility>

namespace spoca {

double select(std::vector<double>& a, double p) {
    if (a.empty()) throw Error("cannot select a percentile of an empty array");
    long lo = 0;
    long hi = static_cast<long>(a.size()) - 1;
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
        double* const v = a.data();
        while (true) {
            do ++ll; while (ll <= hi && pivot > v[ll]);  // capped at hi+1 (spec 10.2)
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
