// The classifiers' fast attribution rules (hfcm.hpp, hpcm2.hpp) applied to a whole row of pixels at a time, as
// loops the compiler vectorises. A pixel the fast rule cannot decide is left to the classifier's colour().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "classification/feature.hpp"

namespace spoca {

/// Marks a valid pixel that the row's fast rule left undecided (its colour is then computed one pixel at a time).
constexpr std::int32_t undecidedColour = -1;

/// For each pixel i of a row of `channels` channels (`rows[p][i]`): 0 when a value is null (+infinity, the pixel
/// is not valid, compat 4.4), else undecidedColour.
void validityRow(const double* const* rows, std::size_t channels, int width, std::int32_t* out);

/// Hfcm<1>'s one-channel nearest-centre rule (hfcm.hpp, colour()): for each pixel v of `row`, 0 when v is null,
/// else k + 1 when the candidate k given by the C - 1 `midpoints` is decided (its squared distance to padded[k + 1]
/// is finite, positive and below those to padded[k] and padded[k + 2] by a relative margin of 1e-9), else
/// undecidedColour. `padded` holds -infinity, the C sorted centres, +infinity.
void midpointColoursRow(const double* row, int width, const double* midpoints, const double* padded, std::size_t C,
                        std::int32_t* out);

/// Hpcm2<N>'s rule for m = 2 (hpcm2.hpp, colour()): for each pixel x (`rows[p][i]`, `channels` channels), 0 when
/// a value is null, else best + 1 where t_c = |x - B_c|^2 * inverseEta[c] is smallest, when every t_c is finite and
/// the second smallest exceeds it by the margins of colour(), else undecidedColour. `centres` holds the C centres
/// one after the other (`channels` values each).
void pcm2ColoursRow(const double* const* rows, std::size_t channels, int width, const double* centres,
                    const double* inverseEta, std::size_t C, std::int32_t* out);

/// Replaces each undecidedColour of `out` by classifier.colour(x) of its pixel x (`rows[p][i]`).
template <std::size_t N, typename Classifier>
void resolveUndecided(const Classifier& classifier, const std::array<const double*, N>& rows, int width,
                      std::int32_t* out) {
    for (int i = 0; i < width; ++i) {
        if (out[i] != undecidedColour) continue;
        Feature<N> x;
        for (std::size_t p = 0; p < N; ++p) x[p] = rows[p][i];
        out[i] = static_cast<std::int32_t>(classifier.colour(x));
    }
}

}  // namespace spoca
