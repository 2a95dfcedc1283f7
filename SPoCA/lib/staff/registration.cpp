#include "staff/registration.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/constants.hpp"
#include "core/error.hpp"
#include "core/row_intervals.hpp"

namespace spoca {

double crota2FromCd(const std::array<double, 4>& cd, double cdelt1, double cdelt2) {
    const double angle = std::acos(cd[0] / cdelt2);
    if (cd[2] / cdelt1 > 0) return angle * 180 / pi;
    return -angle * 180 / pi;
}

std::array<double, 4> cdFromCrota2(double crota2Degrees, double cdelt1, double cdelt2) {
    const double s = std::sin(crota2Degrees * pi / 180);
    const double c = std::cos(crota2Degrees * pi / 180);
    const double ratio = cdelt2 / cdelt1;
    const double pc12 = -s * ratio;
    const double pc21 = s * ratio;
    return {cdelt1 * c, cdelt2 * pc12, cdelt1 * pc21, cdelt2 * c};
}

Alignment::Alignment(const SunWcs& image, const SunWcs& reference)
    : theta_(crota2FromCd(reference.cd, reference.cdelt1, reference.cdelt2) -
             crota2FromCd(image.cd, image.cdelt1, image.cdelt2)),
      translationX_(reference.centerX - image.centerX),
      translationY_(reference.centerY - image.centerY),
      scale_(image.cdelt2 / reference.cdelt2),
      centerX_(image.centerX),
      centerY_(image.centerY),
      offsetX_(-image.centerX - translationX_),
      offsetY_(-image.centerY - translationY_),
      ca_(std::cos(-theta_ * pi / 180) / scale_),
      sa_(std::sin(-theta_ * pi / 180) / scale_) {}

// The clones: one for AVX2 (4 doubles an operation), one for any x86-64, chosen at load time by the processor.
__attribute__((target_clones("avx2", "default"))) void samplePositions(const Alignment& alignment, int j, int first,
                                                                       int end, float maxX, float maxY,
                                                                       SamplePosition* out) {
    for (int i = first; i < end; ++i) out[i] = samplePosition(alignment, i, j, maxX, maxY);
}

SunWcs Alignment::alignedWcs(const SunWcs& image) const {
    SunWcs aligned = image;
    aligned.centerX = centerX_ + translationX_;
    aligned.centerY = centerY_ + translationY_;
    aligned.sunRadius = image.sunRadius * std::fabs(scale_);
    aligned.cdelt1 = image.cdelt1 / scale_;
    aligned.cdelt2 = image.cdelt2 / scale_;
    const double crota2 = crota2FromCd(image.cd, aligned.cdelt1, aligned.cdelt2) + theta_;
    aligned.cd = cdFromCrota2(crota2, aligned.cdelt1, aligned.cdelt2);
    return aligned;
}

std::pair<int, int> sourceColumns(const Alignment& alignment, int j, int width, int height, int first, int end) {
    if (alignment.scale() == 0.0) return {first, first};
    const auto x = [&alignment, j](int i) {
        double xo;
        double yo;
        alignment.map(i, j, xo, yo);
        return xo;
    };
    const auto y = [&alignment, j](int i) {
        double xo;
        double yo;
        alignment.map(i, j, xo, yo);
        return yo;
    };
    const double w = width;
    const double h = height;
    std::pair<int, int> columns = monotoneColumns(first, end, [&x](int i) { return 0.0 <= x(i); });
    columns = intersectColumns(columns, monotoneColumns(first, end, [&x, w](int i) { return x(i) < w; }));
    columns = intersectColumns(columns, monotoneColumns(first, end, [&y](int i) { return 0.0 <= y(i); }));
    return intersectColumns(columns, monotoneColumns(first, end, [&y, h](int i) { return y(i) < h; }));
}

std::pair<int, int> sourceRowRange(const Alignment& alignment, int width, int height, int firstRow, int endRow) {
    if (alignment.scale() == 0.0) return {0, 0};  // every pixel is null
    double low = std::numeric_limits<double>::infinity();
    double high = -low;
    for (const int j : {firstRow, endRow - 1}) {
        for (const int i : {0, width - 1}) {
            double xo;
            double yo;
            alignment.map(i, j, xo, yo);
            if (!std::isfinite(yo)) return {0, std::isnan(yo) ? 0 : height};  // NaN: no pixel is read; inf: all
            low = std::min(low, yo);
            high = std::max(high, yo);
        }
    }
    const double lastRow = height - 1;
    const int first = static_cast<int>(std::floor(std::clamp(low, 0.0, lastRow))) - 2;
    const int end = static_cast<int>(std::floor(std::clamp(high, 0.0, lastRow))) + 3;
    return {std::max(0, first), std::min(height, end)};
}

Image<double> alignBilinear(const Image<double>& image, const Alignment& alignment) {
    if (image.width() < 2 || image.height() < 2) throw Error("cannot align an image smaller than 2x2 pixels");
    const AlignedView<double> view(image, alignment, HUGE_VAL);
    Image<double> aligned(image.width(), image.height(), UnsetPixels{});  // every pixel written below
    double* out = aligned.data();
    for (int j = 0; j < image.height(); ++j) {
        for (int i = 0; i < image.width(); ++i) *out++ = view.value(i, j, bilinearAt);
    }
    return aligned;
}

}  // namespace spoca
