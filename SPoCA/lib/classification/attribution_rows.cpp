#include "classification/attribution_rows.hpp"

#include <algorithm>
#include <cfloat>
#include <limits>

namespace spoca {

namespace {

constexpr double null = std::numeric_limits<double>::infinity();

/// Pixels a row is handled in at a time: the per-pixel state of the loops over the classes stays in L1.
constexpr int chunk = 64;

}  // namespace

// Each rule is written as loops over the pixels of a chunk, class by class, with selects instead of branches, so
// that the compiler vectorises them: every pixel gets the same IEEE operations in the same order as colour() gives
// it, hence the same decision. The clones: AVX2 (four doubles an operation) where the processor has it, else SSE2.

__attribute__((target_clones("avx2", "default"))) void validityRow(const double* const* rows, std::size_t channels,
                                                                   int width, std::int32_t* out) {
    for (int i = 0; i < width; ++i) out[i] = undecidedColour;
    for (std::size_t p = 0; p < channels; ++p) {
        const double* row = rows[p];
        for (int i = 0; i < width; ++i) out[i] = row[i] == null ? 0 : out[i];
    }
}

__attribute__((target_clones("avx2", "default"))) void midpointColoursRow(const double* row, int width,
                                                                          const double* midpoints,
                                                                          const double* padded, std::size_t C,
                                                                          std::int32_t* out) {
    for (int start = 0; start < width; start += chunk) {
        const int n = std::min(chunk, width - start);
        const double* v = row + start;
        std::int64_t k[chunk];
        std::int64_t anyValid = 0;
        for (int i = 0; i < n; ++i) {
            k[i] = 0;
            anyValid |= v[i] != null;
        }
        if (!anyValid) {  // off the disc: nothing to decide
            for (int i = 0; i < n; ++i) out[start + i] = 0;
            continue;
        }
        for (std::size_t c = 0; c + 1 < C; ++c) {
            const double midpoint = midpoints[c];
            for (int i = 0; i < n; ++i) k[i] += v[i] > midpoint;
        }
        // The squared distances to padded[k], padded[k + 1] and padded[k + 2], each computed as colour() does.
        // They start as those of k = 0 (left, dk) and k = C - 1 (right), and the loop over the centres
        // padded[1 .. C] replaces each where k says.
        double left[chunk], dk[chunk], right[chunk];
        for (int i = 0; i < n; ++i) {
            left[i] = (v[i] - padded[0]) * (v[i] - padded[0]);
            dk[i] = (v[i] - padded[1]) * (v[i] - padded[1]);
            right[i] = (v[i] - padded[C + 1]) * (v[i] - padded[C + 1]);
        }
        for (std::size_t q = 1; q <= C; ++q) {
            const double centre = padded[q];
            const auto index = static_cast<std::int64_t>(q);
            for (int i = 0; i < n; ++i) {
                const double d = (v[i] - centre) * (v[i] - centre);
                left[i] = k[i] == index ? d : left[i];
                dk[i] = k[i] + 1 == index ? d : dk[i];
                right[i] = k[i] + 2 == index ? d : right[i];
            }
        }
        for (int i = 0; i < n; ++i) {
            const double nearer = std::min(left[i], right[i]);
            const bool decided = dk[i] > 0 && dk[i] <= DBL_MAX && nearer > dk[i] * (1 + 1e-9);
            const auto colour = static_cast<std::int32_t>(k[i] + 1);
            out[start + i] = v[i] == null ? 0 : decided ? colour : undecidedColour;
        }
    }
}

__attribute__((target_clones("avx2", "default"))) void pcm2ColoursRow(const double* const* rows,
                                                                      std::size_t channels, int width,
                                                                      const double* centres,
                                                                      const double* inverseEta, std::size_t C,
                                                                      std::int32_t* out) {
    for (int start = 0; start < width; start += chunk) {
        const int n = std::min(chunk, width - start);
        double nearest[chunk], second[chunk], t[chunk];
        std::int64_t best[chunk], finite[chunk], valid[chunk];
        for (int i = 0; i < n; ++i) valid[i] = rows[0][start + i] != null;
        for (std::size_t p = 1; p < channels; ++p) {
            const double* x = rows[p] + start;
            for (int i = 0; i < n; ++i) valid[i] &= x[i] != null;
        }
        std::int64_t anyValid = 0;
        for (int i = 0; i < n; ++i) anyValid |= valid[i];
        if (!anyValid) {  // off the disc: nothing to decide
            for (int i = 0; i < n; ++i) out[start + i] = 0;
            continue;
        }
        for (std::size_t c = 0; c < C; ++c) {
            // t = distanceSquared(x, B_c) * inverseEta_c: s = 0, then s += (x_p - b_p)^2 channel by channel.
            const double* x0 = rows[0] + start;
            const double b0 = centres[c * channels];
            for (int i = 0; i < n; ++i) t[i] = 0.0 + (x0[i] - b0) * (x0[i] - b0);
            for (std::size_t p = 1; p < channels; ++p) {
                const double* x = rows[p] + start;
                const double b = centres[c * channels + p];
                for (int i = 0; i < n; ++i) t[i] += (x[i] - b) * (x[i] - b);
            }
            const double inverse = inverseEta[c];
            const auto index = static_cast<std::int64_t>(c);
            if (c == 0) {
                for (int i = 0; i < n; ++i) {
                    t[i] *= inverse;
                    nearest[i] = t[i];
                    second[i] = DBL_MAX;
                    best[i] = 0;
                    finite[i] = t[i] <= DBL_MAX;
                }
                continue;
            }
            for (int i = 0; i < n; ++i) {
                const double ti = t[i] * inverse;
                finite[i] &= ti <= DBL_MAX;
                best[i] = ti < nearest[i] ? index : best[i];
                second[i] = std::min(second[i], std::max(nearest[i], ti));
                nearest[i] = std::min(nearest[i], ti);
            }
        }
        for (int i = 0; i < n; ++i) {
            const bool decided = finite[i] && second[i] > nearest[i] * (1 + 1e-9) &&
                                 second[i] * second[i] - nearest[i] * nearest[i] > 1e-9 * (1 + nearest[i] * nearest[i]);
            const auto colour = static_cast<std::int32_t>(best[i] + 1);
            out[start + i] = !valid[i] ? 0 : decided ? colour : undecidedColour;
        }
    }
}

}  // namespace spoca
