#include "staff/registration.hpp"

#include <cmath>

#include "core/constants.hpp"
#include "core/error.hpp"

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

Image<double> alignBilinear(const Image<double>& image, const Alignment& alignment) {
    if (image.width() < 2 || image.height() < 2) throw Error("cannot align an image smaller than 2x2 pixels");
    const AlignedView<double> view(image, alignment, HUGE_VAL);
    Image<double> aligned(image.width(), image.height());
    double* out = aligned.data();
    for (int j = 0; j < image.height(); ++j) {
        for (int i = 0; i < image.width(); ++i) *out++ = view.value(i, j, bilinearAt);
    }
    return aligned;
}

}  // namespace spoca
