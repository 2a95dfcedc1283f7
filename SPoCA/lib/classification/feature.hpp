// Feature vectors (one intensity per channel) and the vector arithmetic of the classifiers (compat 5.1).
#pragma once

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace spoca {

/// One value per channel; N is the program's number of channels.
template <std::size_t N>
using Feature = std::array<double, N>;

/// Squared distance: s = 0, then s += (a_p - b_p)^2 for each channel in order.
template <std::size_t N>
inline double distanceSquared(const Feature<N>& a, const Feature<N>& b) {
    double s = 0;
    for (std::size_t p = 0; p < N; ++p) s += (a[p] - b[p]) * (a[p] - b[p]);
    return s;
}

/// |a0| for one channel, sqrt(a0*a0 + a1*a1 + ...) otherwise.
template <std::size_t N>
inline double norm(const Feature<N>& a) {
    if constexpr (N == 1) {
        return std::fabs(a[0]);
    } else {
        double s = a[0] * a[0];
        for (std::size_t p = 1; p < N; ++p) s = s + a[p] * a[p];
        return std::sqrt(s);
    }
}

/// Sorts centres by ascending squared norm, as the original's std::sort (compat 5.1 sortB).
template <std::size_t N>
void sortCentres(std::vector<Feature<N>>& centres) {
    const Feature<N> zero{};
    std::sort(centres.begin(), centres.end(), [&](const Feature<N>& a, const Feature<N>& b) {
        return distanceSquared(a, zero) < distanceSquared(b, zero);
    });
}

/// Sorts centres and lets each eta follow its centre (compat 5.1 joint sort): each sorted centre takes the eta of
/// the first centre of the unsorted list that is exactly equal to it, even when an earlier sorted centre took
/// that one already, so two equal centres both get the eta of the first of them.
template <std::size_t N>
void sortCentresAndEta(std::vector<Feature<N>>& centres, std::vector<double>& eta) {
    std::vector<Feature<N>> sorted = centres;
    sortCentres(sorted);
    std::vector<double> sortedEta(eta.size(), 0.0);
    for (std::size_t k = 0; k < sorted.size(); ++k) {
        const auto first = std::find(centres.begin(), centres.end(), sorted[k]);
        sortedEta[k] = eta[static_cast<std::size_t>(first - centres.begin())];
    }
    centres = std::move(sorted);
    eta = std::move(sortedEta);
}

/// The convergence measure of compat 5.1: max_i |norm(B1_i) - norm(B0_i)| / norm(B0_i), DBL_MAX when some
/// old centre has a norm below DBL_EPSILON.
template <std::size_t N>
double variation(const std::vector<Feature<N>>& before, const std::vector<Feature<N>>& after) {
    double result = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
        const double old = norm(before[i]);
        if (std::fabs(old) < DBL_EPSILON) return DBL_MAX;
        const double change = std::fabs(norm(after[i]) - old) / old;
        if (change > result) result = change;
    }
    return result;
}

}  // namespace spoca
