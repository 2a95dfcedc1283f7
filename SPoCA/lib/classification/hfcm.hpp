// HFCM: fuzzy C-means on the histogram of feature vectors (compat 5.6), and its pixel attribution.
#pragma once

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "classification/attribution_rows.hpp"
#include "classification/feature.hpp"
#include "classification/histogram.hpp"
#include "classification/memberships.hpp"

namespace spoca {

/// Settings shared by the classifiers.
struct ClassifierSettings {
    double precision = 0.0015;       ///< stopping criterion and FCM crisp threshold
    unsigned maxIterations = 100;
};

/// Runs the FCM iterations on the histogram from the centres B (compat 5.6 step 1) and returns the last
/// memberships. B holds the final, unsorted centres.
template <std::size_t N>
void runFcmIterations(const Histogram<N>& h, std::vector<Feature<N>>& B, double m, const ClassifierSettings& s) {
    std::vector<Feature<N>> previous = B;
    double change = DBL_MAX;
    for (unsigned iteration = 0; iteration < s.maxIterations && change > s.precision; ++iteration) {
        const Memberships U = fcmMemberships(h, B, m, s.precision);
        B = updateCentres(h, U, B.size(), m);
        change = variation(previous, B);
        previous = B;
    }
}

/// The HFCM classifier: fuzzifier m, centres B.
template <std::size_t N>
class Hfcm {
public:
    Hfcm(double fuzzifier, ClassifierSettings settings) : m_(fuzzifier), settings_(settings) {}

    /// Classifies the histogram starting from `initial` (compat 5.6 steps 1-2); centres() is then sorted.
    void classify(const Histogram<N>& h, std::vector<Feature<N>> initial) {
        centres_ = std::move(initial);
        runFcmIterations(h, centres_, m_, settings_);
        sortCentres(centres_);
        prepareAttribution();
    }

    const std::vector<Feature<N>>& centres() const { return centres_; }
    /// Replaces the centres (by the medians of the centres file history) and sorts them for the attribution.
    void setCentres(std::vector<Feature<N>> centres) {
        centres_ = std::move(centres);
        sortCentres(centres_);
        prepareAttribution();
    }
    double fuzzifier() const { return m_; }

    /// The map colour of a pixel: 1 + the class of largest FCM membership (compat 5.9), 0 if none.
    std::uint32_t colour(const Feature<N>& x) const {
        const std::size_t C = centres_.size();
        if constexpr (N == 1) {
            if (midpoints_) {
                // One channel, sorted centres far apart: the candidate is found by the midpoints between
                // centres; it is the answer when its squared distance is below both neighbours' by a
                // relative margin far above rounding (farther centres are farther still; the crisp rule
                // can only pick it, as no other centre is within sqrt(precision)).
                const double v = x[0];
                std::size_t k = 0;
                for (std::size_t i = 0; i + 1 < C; ++i) k += v > midpoint_[i];
                // padded_[k + 1] is centre k; the pads are -inf and +inf, at an infinite distance.
                const double dk = (v - padded_[k + 1]) * (v - padded_[k + 1]);
                const double left = (v - padded_[k]) * (v - padded_[k]);
                const double right = (v - padded_[k + 2]) * (v - padded_[k + 2]);
                if (dk > 0 && dk <= DBL_MAX && std::min(left, right) > dk * (1 + 1e-9)) {
                    return static_cast<std::uint32_t>(k + 1);
                }
            }
        }
        double d2[maxClasses];
        double u[maxClasses];
        if (m_ == 2 && C > 0 && C <= maxClasses) {
            // Fast path: with m = 2 the memberships order the classes like their distances. When the
            // nearest centre is nearer than the second by a relative margin far above rounding (1e-9),
            // it is the class the exact memberships give; otherwise compute them exactly. Written without
            // data-dependent branches, which cost more than the arithmetic on noisy images.
            d2[0] = distanceSquared(x, centres_[0]);
            bool crisp = d2[0] < settings_.precision;
            bool finite = d2[0] <= DBL_MAX;
            for (std::size_t i = 1; i < C; ++i) {
                d2[i] = distanceSquared(x, centres_[i]);
                crisp |= d2[i] < settings_.precision;
                finite &= d2[i] <= DBL_MAX;
            }
            if (crisp) {
                for (std::size_t i = 0;; ++i) {
                    if (d2[i] < settings_.precision) return static_cast<std::uint32_t>(i + 1);
                }
            }
            double nearest = d2[0], second = DBL_MAX;
            std::size_t best = 0;
            for (std::size_t i = 1; i < C; ++i) {
                best += (i - best) * static_cast<std::size_t>(d2[i] < nearest);
                second = std::min(second, std::max(nearest, d2[i]));
                nearest = std::min(nearest, d2[i]);
            }
            if (finite && nearest > 0 && second > nearest * (1 + 1e-9)) return static_cast<std::uint32_t>(best + 1);
        }
        if (C <= maxClasses) {
            fcmMembership(x, centres_, m_, settings_.precision, u, d2);
            return winningColour(u, C);
        }
        std::vector<double> du(C), uu(C);
        fcmMembership(x, centres_, m_, settings_.precision, uu.data(), du.data());
        return winningColour(uu.data(), C);
    }

    /// The colours of a row (`rows[p]`: channel p, `width` pixels): colour(x) of each valid pixel, 0 elsewhere.
    /// The one-channel midpoint rule runs on the whole row first (vectorised); colour() decides the rest.
    void colourRow(const std::array<const double*, N>& rows, int width, std::int32_t* out) const {
        if (N == 1 && midpoints_) {
            midpointColoursRow(rows[0], width, midpoint_.data(), padded_.data(), centres_.size(), out);
        } else {
            validityRow(rows.data(), N, width, out);
        }
        resolveUndecided<N>(*this, rows, width, out);
    }

private:
    static constexpr std::size_t maxClasses = 16;

    /// Enables the one-channel fast path of colour() when m = 2 and consecutive sorted centres are more
    /// than 2*sqrt(precision) apart (then at most one centre is within the crisp distance).
    void prepareAttribution() {
        midpoints_ = false;
        if constexpr (N == 1) {
            const std::size_t C = centres_.size();
            if (m_ != 2 || C == 0 || C > maxClasses || !(settings_.precision >= 0)) return;
            const double gap = 2 * std::sqrt(settings_.precision) * (1 + 1e-6);
            padded_[0] = -std::numeric_limits<double>::infinity();
            padded_[C + 1] = std::numeric_limits<double>::infinity();
            for (std::size_t i = 0; i < C; ++i) padded_[i + 1] = centres_[i][0];
            for (std::size_t i = 0; i + 1 < C; ++i) {
                const double a = centres_[i][0], b = centres_[i + 1][0];
                if (!(b - a > gap) || !std::isfinite(a) || !std::isfinite(b)) return;
                midpoint_[i] = a + (b - a) / 2;
            }
            midpoints_ = true;
        }
    }

    bool midpoints_ = false;
    std::array<double, maxClasses> midpoint_{};
    std::array<double, maxClasses + 2> padded_{};
    double m_;
    ClassifierSettings settings_;
    std::vector<Feature<N>> centres_;
};

}  // namespace spoca
