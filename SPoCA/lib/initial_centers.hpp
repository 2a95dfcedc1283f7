// The deterministic "random" initialisation of the class centres from the histogram (spec 5.5).
#pragma once

#include <cstddef>
#include <vector>

#include "feature.hpp"
#include "histogram.hpp"

namespace spoca {

/// The "random" initialisation of spec 5.5: deterministic, with a cumulative position k that walks past
/// the end of the histogram as in the original (quirk Q4), whose past-the-end reads are reproduced:
/// * N = 2 (spec 5.5): k >= nb gives (0, b_0) when k - nb is even and the last bin when it is odd;
/// * N = 1: the spec's rule (0) does not reproduce the original's section-12 results; the out-of-range
///   centres take the last bins instead, the last out-of-range centre the last bin, the one before it
///   the bin before, and so on. This reproduces section 12 exactly.
template <std::size_t N>
std::vector<Feature<N>> initialCentres(const Histogram<N>& h, unsigned C) {
    std::vector<Feature<N>> B(C);
    const std::size_t nb = h.size();
    std::vector<std::size_t> positions(C);
    std::size_t k = 0;
    std::size_t outside = 0;
    for (unsigned i = 0; i < C; ++i) {
        k += static_cast<unsigned>((i + 0.5) * (static_cast<double>(nb) / C));
        positions[i] = k;
        if (k >= nb) ++outside;
    }
    std::size_t outsideSeen = 0;
    for (unsigned i = 0; i < C; ++i) {
        const std::size_t position = positions[i];
        if (position < nb) {
            B[i] = h.bins[position];
        } else if constexpr (N == 1) {
            const std::size_t fromEnd = outside - 1 - outsideSeen++;
            B[i] = h.bins[fromEnd < nb ? nb - 1 - fromEnd : 0];
        } else {
            Feature<N> end{};
            end[1] = h.binSize[0];
            B[i] = (position - nb) % 2 == 0 ? end : h.bins[nb - 1];
        }
    }
    sortCentres(B);
    return B;
}

}  // namespace spoca
