// Aligning ("registering") an image or a map onto the solar WCS of a reference (compat 9).
#pragma once

#include <array>
#include <cstddef>
#include <utility>

#include "core/image.hpp"
#include "core/sun_wcs.hpp"

namespace spoca {

/// The roll angle in degrees from the CD matrix, as the original computes it (compat 9, quirk Q13):
/// +-acos(CD1_1 / CDELT2) * 180 / pi, negative unless CD2_1 / CDELT1 > 0 (so a zero roll gives -0).
double crota2FromCd(const std::array<double, 4>& cd, double cdelt1, double cdelt2);

/// The CD matrix (CD1_1, CD1_2, CD2_1, CD2_2) of a roll angle in degrees and the pixel scales (compat 9).
std::array<double, 4> cdFromCrota2(double crota2Degrees, double cdelt1, double cdelt2);

/// Position, inside an image of width x height pixels, from which an interpolator reads: the single
/// precision coordinate clamp of compat 9 and the split into integer and fractional parts.
struct SamplePosition {
    int ix;
    int iy;
    float dx;
    float dy;
};

/// Clamps (x, y) to [0, W - 1.001] x [0, H - 1.001] in single precision and splits it (compat 9).
inline SamplePosition clampSamplePosition(float x, float y, float maxX, float maxY) {
    x = x < 0.0f ? 0.0f : (maxX < x ? maxX : x);
    y = y < 0.0f ? 0.0f : (maxY < y ? maxY : y);
    const int ix = static_cast<int>(x);
    const int iy = static_cast<int>(y);
    return {ix, iy, x - static_cast<float>(ix), y - static_cast<float>(iy)};
}

/// The transformation that registers an image A onto a reference Rf (compat 9): the rotation theta,
/// the translation t, the scale s and A's centre c, with the resampling coefficients ca and sa.
class Alignment {
public:
    /// The alignment of `image` (A) onto `reference` (Rf).
    Alignment(const SunWcs& image, const SunWcs& reference);

    double scale() const { return scale_; }

    /// The source position (xo, yo) in A for the output pixel (i, j). Returns false when it falls
    /// outside [0, W) x [0, H), where the output pixel is null; always false when s == 0.
    bool sourcePosition(int i, int j, int width, int height, double& xo, double& yo) const {
        if (scale_ == 0.0) return false;
        map(i, j, xo, yo);
        return 0.0 <= xo && xo < width && 0.0 <= yo && yo < height;
    }

    /// The position (xo, yo) in A that the output pixel (i, j) comes from, inside A or not.
    void map(int i, int j, double& xo, double& yo) const {
        const double rx = offsetX_ + i;
        const double ry = offsetY_ + j;
        xo = (rx * ca_ - ry * sa_) + centerX_;
        yo = (rx * sa_ + ry * ca_) + centerY_;
    }

    /// A's WCS after the alignment: centre c + t, R * |s|, CDELTs / s, CROTA2 and CD updated (compat 9).
    SunWcs alignedWcs(const SunWcs& image) const;

private:
    double theta_;
    double translationX_;
    double translationY_;
    double scale_;
    double centerX_;
    double centerY_;
    double offsetX_;  ///< -c.x - t.x
    double offsetY_;  ///< -c.y - t.y
    double ca_;
    double sa_;
};

/// Where the interpolators read for output pixel (i, j): the clamped position of Alignment::map (compat 9), maxX
/// and maxY being W - 1.001 and H - 1.001 in single precision.
inline SamplePosition samplePosition(const Alignment& alignment, int i, int j, float maxX, float maxY) {
    double xo;
    double yo;
    alignment.map(i, j, xo, yo);
    return clampSamplePosition(static_cast<float>(xo), static_cast<float>(yo), maxX, maxY);
}

/// samplePosition() of the output pixels [first, end) of row j, into out[first, end): the same operations, four
/// pixels at a time with AVX2 where the processor has it (two with SSE2), so the same positions.
void samplePositions(const Alignment& alignment, int j, int first, int end, float maxX, float maxY,
                     SamplePosition* out);

/// Bilinear interpolation of an intensity image at (x, y), weights in double (compat 9). Null (+inf)
/// neighbours propagate as +inf, or NaN through a zero weight, exactly as in the original (quirk Q12).
inline double bilinearAt(const double* pixels, std::size_t width, const SamplePosition& p) {
    const double dx = p.dx;
    const double dy = p.dy;
    const double cdx = 1.0 - dx;
    const double cdy = 1.0 - dy;
    const double* row = pixels + static_cast<std::size_t>(p.iy) * width + static_cast<std::size_t>(p.ix);
    const double* next = row + width;
    return cdx * cdy * row[0] + dx * cdy * row[1] + cdx * dy * next[0] + dx * dy * next[1];
}

/// Majority interpolation of a map at (x, y), weights in float (compat 9): equal colours pool their
/// weights into the first of them, and the colour with the strictly largest weight wins (first on ties).
/// `row` and `next` are rows p.iy and p.iy + 1 of the map (p.iy itself is not used).
template <typename T>
T majorityAt(const T* row, const T* next, const SamplePosition& p) {
    const float cdx = 1.0f - p.dx;
    const float cdy = 1.0f - p.dy;
    row += p.ix;
    next += p.ix;
    // At a pixel's own position (dx = dy = 0, e.g. maps on the same grid) the weights are (1, 0, 0, 0): however
    // the colours pool, the first one keeps the largest weight and wins.
    if (p.dx == 0.0f && p.dy == 0.0f) return row[0];
    const T colors[4] = {row[0], row[1], next[0], next[1]};
    if (colors[0] == colors[1] && colors[0] == colors[2] && colors[0] == colors[3]) return colors[0];  // pooled
    float weights[4] = {cdx * cdy, p.dx * cdy, cdx * p.dy, p.dx * p.dy};
    for (int a = 0; a < 3; ++a) {
        for (int b = a + 1; b < 4; ++b) {
            if (colors[a] == colors[b]) {
                weights[a] += weights[b];
                weights[b] = 0.0f;
            }
        }
    }
    int best = 0;
    for (int k = 1; k < 4; ++k) {
        if (weights[k] > weights[best]) best = k;
    }
    return colors[best];
}

/// The columns of [first, end) on output row j whose source position falls inside the width x height image
/// (Alignment::sourcePosition is true): an interval, since xo and yo are monotone along the row (every operation
/// of Alignment::map rounds monotonically); found by bisection (core/row_intervals.hpp). Empty when s == 0.
std::pair<int, int> sourceColumns(const Alignment& alignment, int j, int width, int height, int first, int end);

/// The source rows [first, end) that aligning the output rows [firstRow, endRow) of an image of width x height
/// pixels reads (both interpolators read rows iy and iy + 1). The map is affine, so the rows it reaches lie
/// between those of the block's corners; rounding to float and the clamp move a position by far less than the
/// margin of two rows. Empty when no pixel is read (s == 0 or NaN parameters), all rows for infinite ones.
std::pair<int, int> sourceRowRange(const Alignment& alignment, int width, int height, int firstRow, int endRow);

/// Evaluates an aligned image pixel by pixel without materialising it: value(i, j) is what the
/// original's registered image holds at (i, j). `Interpolate` is called with (pixels, width, position).
template <typename T>
class AlignedView {
public:
    AlignedView(const Image<T>& source, const Alignment& alignment, T nullValue)
        : source_(source),
          alignment_(alignment),
          nullValue_(nullValue),
          maxX_(static_cast<float>(source.width() - 1.001)),
          maxY_(static_cast<float>(source.height() - 1.001)) {}

    template <typename Interpolate>
    T value(int i, int j, Interpolate interpolate) const {
        double xo;
        double yo;
        if (!alignment_.sourcePosition(i, j, source_.width(), source_.height(), xo, yo)) return nullValue_;
        const SamplePosition p =
            clampSamplePosition(static_cast<float>(xo), static_cast<float>(yo), maxX_, maxY_);
        return interpolate(source_.data(), static_cast<std::size_t>(source_.width()), p);
    }

private:
    const Image<T>& source_;
    const Alignment& alignment_;
    T nullValue_;
    float maxX_;
    float maxY_;
};

/// The image A bilinearly registered onto its own grid (compat 9); null is +infinity.
/// Throws spoca::Error when the image is smaller than 2 x 2 pixels.
Image<double> alignBilinear(const Image<double>& image, const Alignment& alignment);

}  // namespace spoca
