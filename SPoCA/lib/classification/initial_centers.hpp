// The deterministic "random" initialisation of the class centres from the histogram (compat 5.5).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "classification/feature.hpp"
#include "classification/histogram.hpp"
#include "classification/red_black_tree.hpp"
#include "core/error.hpp"

namespace spoca {

/// The length L (2 or 3) of the cycle that the original's walk repeats past the end of its bins (compat 5.5,
/// quirk Q4): 3 when, in the red-black tree of the bins inserted in their first-occurrence order, the node of
/// the largest bin has a left child, otherwise 2. The tree is simulated on the bins' ranks in sorted order.
template <std::size_t N>
unsigned pastTheEndCycle(const Histogram<N>& h) {
    if (h.firstScan.size() != h.size()) throw Error("the histogram was built without its first-occurrence order");
    std::vector<std::uint64_t> ranks(h.size());
    std::iota(ranks.begin(), ranks.end(), std::uint64_t{0});
    std::sort(ranks.begin(), ranks.end(),
              [&](std::uint64_t a, std::uint64_t b) { return h.firstScan[a] < h.firstScan[b]; });
    return largestHasLeftChild(ranks) ? 3 : 2;
}

/// The "random" initialisation of compat 5.5: deterministic, with a cumulative position k that walks past the
/// end of the sorted bins as the original does. Past the end (k >= nb) the walk repeats a cycle of length L
/// (pastTheEndCycle): with r = (k - nb) mod L, r = 0 gives the end vector ((0) for one channel, (0, b_0) for
/// two), r = 1 with L = 3 the second-largest bin, otherwise the largest bin. The centres are then sorted.
template <std::size_t N>
std::vector<Feature<N>> initialCentres(const Histogram<N>& h, unsigned C) {
    const std::size_t nb = h.size();
    std::vector<Feature<N>> B(C);
    unsigned cycle = 0;  // computed on the first position past the end
    std::size_t k = 0;
    for (unsigned i = 0; i < C; ++i) {
        k += static_cast<unsigned>((i + 0.5) * (static_cast<double>(nb) / C));
        if (k < nb) {
            B[i] = h.bins[k];
            continue;
        }
        if (cycle == 0) cycle = pastTheEndCycle(h);
        const std::size_t r = (k - nb) % cycle;
        if (r == 0) {
            Feature<N> end{};  // the original reads a subnormal here, equivalent to 0 in every use (compat 5.5)
            if constexpr (N > 1) end[1] = h.binSize[0];
            B[i] = end;
        } else if (r == 1 && cycle == 3) {
            B[i] = h.bins[nb - 2];
        } else {
            B[i] = h.bins[nb - 1];
        }
    }
    sortCentres(B);
    return B;
}

}  // namespace spoca
