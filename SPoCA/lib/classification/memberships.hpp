// FCM and PCM2 memberships, the histogram centre and eta updates, and the winning class of a pixel
// (compat 5.3 and 5.9).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "classification/feature.hpp"
#include "classification/histogram.hpp"
#include "core/parallel.hpp"

namespace spoca {

/// Memberships of every bin to every class: u[bin * C + class].
using Memberships = std::vector<double>;

/// Calls work(first, end) on blocks covering [0, count): on two or more threads for large counts. Only
/// for independent items (each bin's memberships depend on that bin alone).
template <typename Work>
void forEachBlock(std::size_t count, Work work) {
    const unsigned tasks = count < 4096 ? 1u : defaultThreads();
    const std::size_t block = (count + tasks - 1) / tasks;
    runTasks(tasks, [&](unsigned t) {
        const std::size_t first = t * block;
        if (first < count) work(first, std::min(count, first + block));
    });
}

/// FCM memberships of x to the centres B, written to u[0..C) (compat 5.3, with the crisp rule: the first
/// class at squared distance below `precision` gets 1, the others 0).
template <std::size_t N>
void fcmMembership(const Feature<N>& x, const std::vector<Feature<N>>& B, double m, double precision, double* u,
                   double* d2) {
    const std::size_t C = B.size();
    for (std::size_t i = 0; i < C; ++i) {
        d2[i] = distanceSquared(x, B[i]);
        if (d2[i] < precision) {
            for (std::size_t k = 0; k < C; ++k) u[k] = 0;
            u[i] = 1;
            return;
        }
    }
    const double exponent = 1. / (m - 1);
    for (std::size_t i = 0; i < C; ++i) {
        double s = 0;
        for (std::size_t k = 0; k < C; ++k) s += m == 2 ? d2[i] / d2[k] : std::pow(d2[i] / d2[k], exponent);
        u[i] = 1 / s;
    }
}

/// PCM2 membership u_i = 1/(1 + (d2_i/eta_i)^(2/(m-1))), computed as the original does for m = 2 and 1.5.
inline double pcm2Membership(double d2, double eta, double m) {
    double t = d2 / eta;
    if (m == 2) return 1 / (1 + t * t);
    if (m == 1.5) {
        t = t * t;
        return 1 / (1 + t * t);
    }
    return 1 / (1 + std::pow(t, 2 / (m - 1)));
}

/// FCM memberships of every bin.
template <std::size_t N>
Memberships fcmMemberships(const Histogram<N>& h, const std::vector<Feature<N>>& B, double m, double precision) {
    const std::size_t C = B.size();
    Memberships U(h.size() * C);
    forEachBlock(h.size(), [&](std::size_t first, std::size_t end) {
        std::vector<double> d2(C);
        for (std::size_t b = first; b < end; ++b) fcmMembership(h.bins[b], B, m, precision, &U[b * C], d2.data());
    });
    return U;
}

/// PCM2 memberships of every bin.
template <std::size_t N>
Memberships pcm2Memberships(const Histogram<N>& h, const std::vector<Feature<N>>& B, const std::vector<double>& eta,
                            double m) {
    const std::size_t C = B.size();
    Memberships U(h.size() * C);
    forEachBlock(h.size(), [&](std::size_t first, std::size_t end) {
        for (std::size_t b = first; b < end; ++b) {
            for (std::size_t i = 0; i < C; ++i) {
                U[b * C + i] = pcm2Membership(distanceSquared(h.bins[b], B[i]), eta[i], m);
            }
        }
    });
    return U;
}

/// The weight pow(u, m)*c of a bin in the sums, (u*u)*c for m = 2.
inline double binWeight(double u, double m, double count) { return m == 2 ? (u * u) * count : std::pow(u, m) * count; }

/// The histogram centre update B_i = sum(h*w)/sum(w), sums in bin order (compat 5.3).
template <std::size_t N>
std::vector<Feature<N>> updateCentres(const Histogram<N>& h, const Memberships& U, std::size_t C, double m) {
    std::vector<Feature<N>> numerator(C, Feature<N>{});
    std::vector<double> denominator(C, 0.0);
    for (std::size_t b = 0; b < h.size(); ++b) {
        for (std::size_t i = 0; i < C; ++i) {
            const double w = binWeight(U[b * C + i], m, h.counts[b]);
            for (std::size_t p = 0; p < N; ++p) numerator[i][p] += h.bins[b][p] * w;
            denominator[i] += w;
        }
    }
    std::vector<Feature<N>> B(C);
    for (std::size_t i = 0; i < C; ++i) {
        for (std::size_t p = 0; p < N; ++p) B[i][p] = numerator[i][p] / denominator[i];
    }
    return B;
}

/// eta_i = sum(w * dist2(h, B_i)) / sum(w) over the bins (compat 5.3).
template <std::size_t N>
std::vector<double> computeEta(const Histogram<N>& h, const Memberships& U, const std::vector<Feature<N>>& B, double m) {
    const std::size_t C = B.size();
    std::vector<double> numerator(C, 0.0), denominator(C, 0.0);
    for (std::size_t b = 0; b < h.size(); ++b) {
        for (std::size_t i = 0; i < C; ++i) {
            const double w = binWeight(U[b * C + i], m, h.counts[b]);
            numerator[i] += w * distanceSquared(h.bins[b], B[i]);
            denominator[i] += w;
        }
    }
    std::vector<double> eta(C);
    for (std::size_t i = 0; i < C; ++i) eta[i] = numerator[i] / denominator[i];
    return eta;
}

/// The "max" segmentation colour: 1 + the first class with the strictly largest membership, 0 when all
/// memberships are 0 or NaN (compat 5.9).
inline std::uint32_t winningColour(const double* u, std::size_t C) {
    double best = 0;
    std::uint32_t colour = 0;
    for (std::size_t i = 0; i < C; ++i) {
        if (u[i] > best) {
            best = u[i];
            colour = static_cast<std::uint32_t>(i + 1);
        }
    }
    return colour;
}

}  // namespace spoca
