// HPCM2: possibilistic C-means (PCM2 memberships) on the histogram of feature vectors (compat 5.7), and
// its pixel attribution.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "classification/attribution_rows.hpp"
#include "classification/feature.hpp"
#include "classification/hfcm.hpp"
#include "classification/histogram.hpp"
#include "classification/memberships.hpp"
#include "core/error.hpp"

namespace spoca {

/// Limits each eta to 95 % of the eta of a darker class scaled by the centres' ratio (compat 5.7 reduceEta).
/// Sorts B and eta jointly first.
template <std::size_t N>
void reduceEta(std::vector<Feature<N>>& B, std::vector<double>& eta) {
    sortCentresAndEta(B, eta);
    for (std::size_t i = 1; i < B.size(); ++i) {
        double limit = DBL_MAX;
        for (std::size_t ii = 0; ii < i; ++ii) {
            if (eta[ii] < eta[i]) {
                double ratio = B[i][0] / B[ii][0];
                for (std::size_t p = 1; p < N; ++p) ratio = std::min(ratio, B[i][p] / B[ii][p]);
                limit = std::min(limit, eta[ii] * ratio);
            }
        }
        if (eta[i] > (95 / 100.) * limit) eta[i] = (95 / 100.) * limit;
    }
}

/// The HPCM2 classifier: FCM fuzzifier mF, PCM fuzzifier mP, centres B and eta.
template <std::size_t N>
class Hpcm2 {
public:
    Hpcm2(double fcmFuzzifier, double pcmFuzzifier, ClassifierSettings settings)
        : mF_(fcmFuzzifier), mP_(pcmFuzzifier), settings_(settings) {
        if (mP_ == 1) throw Error("Fuzzifier must not equal 1.");
    }

    /// FCMinit then the possibilistic iterations (compat 5.7); centres() and eta() are then jointly sorted.
    void classify(const Histogram<N>& h, std::vector<Feature<N>> initial) {
        B_ = std::move(initial);
        // FCMinit
        runFcmIterations(h, B_, mF_, settings_);
        sortCentres(B_);
        Memberships U = fcmMemberships(h, B_, mF_, settings_.precision);
        eta_ = computeEta(h, U, B_, mP_);
        reduceEta(B_, eta_);
        // Main loop
        const std::vector<double> startEta = eta_;
        bool recompute = true;
        std::vector<Feature<N>> previous = B_;
        double change = DBL_MAX;
        for (unsigned iteration = 0; iteration < settings_.maxIterations && change > settings_.precision; ++iteration) {
            if (recompute) {
                eta_ = computeEta(h, U, B_, mP_);
                reduceEta(B_, eta_);
                for (std::size_t i = 0; i < eta_.size(); ++i) {
                    const double ratio = startEta[i] / eta_[i];
                    if (ratio > 100 || ratio < 1. / 100) recompute = false;
                }
            }
            U = pcm2Memberships(h, B_, eta_, mP_);
            B_ = updateCentres(h, U, B_.size(), mP_);
            change = variation(previous, B_);
            if (change <= settings_.precision) {  // avoid class cannibalism
                reduceEta(B_, eta_);
                U = pcm2Memberships(h, B_, eta_, mP_);
                B_ = updateCentres(h, U, B_.size(), mP_);
            }
            previous = B_;
        }
        sortCentresAndEta(B_, eta_);
        prepareAttribution();
    }

    const std::vector<Feature<N>>& centres() const { return B_; }
    const std::vector<double>& eta() const { return eta_; }
    /// Replaces centres and eta (by the medians of the centres file history) and sorts them jointly for
    /// the attribution; eta is not reduced (quirk Q6).
    void setCentres(std::vector<Feature<N>> centres, std::vector<double> eta) {
        B_ = std::move(centres);
        eta_ = std::move(eta);
        sortCentresAndEta(B_, eta_);
        prepareAttribution();
    }
    double fcmFuzzifier() const { return mF_; }
    double pcmFuzzifier() const { return mP_; }

    /// The map colour of a pixel: 1 + the class of largest PCM2 membership (compat 5.9), 0 if none.
    std::uint32_t colour(const Feature<N>& x) const {
        const std::size_t C = B_.size();
        if (fastPath_) {
            // Fast path: u = 1/(1+t*t) with t = d2/eta orders the classes like t. When the smallest t is
            // below the second by a relative margin far above rounding, and the denominators 1+t*t differ
            // by far more than rounding too, its class is the one the exact memberships give.
            double t[maxClasses];
            bool finite = C <= maxClasses;
            for (std::size_t i = 0; i < C && finite; ++i) {
                t[i] = distanceSquared(x, B_[i]) * inverseEta_[i];
                finite &= t[i] <= DBL_MAX;
            }
            double nearest = t[0], second = DBL_MAX;
            std::size_t best = 0;
            for (std::size_t i = 1; i < C && finite; ++i) {  // without data-dependent branches
                best += (i - best) * static_cast<std::size_t>(t[i] < nearest);
                second = std::min(second, std::max(nearest, t[i]));
                nearest = std::min(nearest, t[i]);
            }
            if (finite && second > nearest * (1 + 1e-9) &&
                second * second - nearest * nearest > 1e-9 * (1 + nearest * nearest)) {
                return static_cast<std::uint32_t>(best + 1);
            }
        }
        double bestU = 0;
        std::uint32_t colour = 0;
        for (std::size_t i = 0; i < C; ++i) {
            const double u = pcm2Membership(distanceSquared(x, B_[i]), eta_[i], mP_);
            if (u > bestU) {
                bestU = u;
                colour = static_cast<std::uint32_t>(i + 1);
            }
        }
        return colour;
    }

    /// The colours of a row (`rows[p]`: channel p, `width` pixels): colour(x) of each valid pixel, 0 elsewhere.
    /// The fast rule runs on the whole row first (vectorised); colour() decides the rest.
    void colourRow(const std::array<const double*, N>& rows, int width, std::int32_t* out) const {
        if (fastPath_ && B_.size() <= maxClasses) {
            pcm2ColoursRow(rows.data(), N, width, flatCentres_.data(), inverseEta_.data(), B_.size(), out);
        } else {
            validityRow(rows.data(), N, width, out);
        }
        resolveUndecided<N>(*this, rows, width, out);
    }

private:
    static constexpr std::size_t maxClasses = 16;

    /// Caches 1/eta for the fast path of colour(), which is used only when every eta is finite and > 0.
    void prepareAttribution() {
        flatCentres_.clear();
        for (const Feature<N>& b : B_) flatCentres_.insert(flatCentres_.end(), b.begin(), b.end());
        inverseEta_.resize(eta_.size());
        fastPath_ = mP_ == 2;
        for (std::size_t i = 0; i < eta_.size(); ++i) {
            inverseEta_[i] = 1 / eta_[i];
            if (!(eta_[i] > 0 && inverseEta_[i] > 0 && inverseEta_[i] <= DBL_MAX)) fastPath_ = false;
        }
    }

    double mF_;
    double mP_;
    ClassifierSettings settings_;
    std::vector<Feature<N>> B_;
    std::vector<double> eta_;
    std::vector<double> inverseEta_;
    std::vector<double> flatCentres_;  ///< B_ one centre after the other, for pcm2ColoursRow
    bool fastPath_ = false;
};

}  // namespace spoca
