#include "heliographic.hpp"

#include <cmath>

namespace spoca {

namespace {
constexpr double pi = 3.14159265358979323846;
/// Relative margin of the cheap rejection bound: far above the rounding errors of the exact
/// computation (below 1e-12 relative), far below the width of the strip.
constexpr double rejectionMargin = 1e-6;
}  // namespace

HeliographicProjection::HeliographicProjection(const SunWcs& wcs)
    : cx_(wcs.centerX),
      cy_(wcs.centerY),
      cd11_(wcs.cd[0]),
      cd12_(wcs.cd[1]),
      cd21_(wcs.cd[2]),
      cd22_(wcs.cd[3]),
      distance_(wcs.distanceSunMm),
      radius_(wcs.sunRadiusMm),
      cosB0_(std::cos(wcs.b0)),
      sinB0_(std::sin(wcs.b0)),
      l0_(wcs.l0) {}

void HeliographicProjection::helioprojective(int i, int j, double& x, double& y) const {
    const double rx = i - cx_;
    const double ry = j - cy_;
    x = (rx * cd11_ + ry * cd12_) * pi / 648000;
    y = (rx * cd21_ + ry * cd22_) * pi / 648000;
}

std::optional<Stonyhurst> HeliographicProjection::at(int i, int j) const {
    double hx;
    double hy;
    helioprojective(i, j, hx, hy);
    const double cosX = std::cos(hx);
    const double cosY = std::cos(hy);
    const double q = distance_ * cosY * cosX;
    const double delta = q * q - distance_ * distance_ + radius_ * radius_;
    if (!(delta >= 0)) return std::nullopt;
    const double dist = q - std::sqrt(delta);
    const double x = dist * cosY * std::sin(hx);
    const double y = dist * std::sin(hy);
    const double z = distance_ - dist * cosY * cosX;
    const double a = (y * cosB0_ + z * sinB0_) / radius_;
    const double latitude = a < 1 ? std::asin(a) : pi / 2;
    if (std::isnan(latitude)) return std::nullopt;
    const double longitude = std::atan2(x, z * cosB0_ - y * sinB0_) + l0_;
    return Stonyhurst{longitude, latitude};
}

double HeliographicProjection::heliocentricXLowerBound(double x, double y) const {
    // For |x|, |y| < 0.5: cos y >= 1 - y^2/2 > 0 and |sin x| >= |x| - |x|^3/6 >= 0. The distance to the
    // visible point is q - sqrt(delta) >= D cos y cos x - Rm, and |heliocentric x| = dist cos y |sin x|.
    const double cosYLow = 1 - y * y / 2;
    const double cosXLow = 1 - x * x / 2;
    const double ax = std::fabs(x);
    const double sinXLow = ax - ax * ax * ax / 6;
    const double distLow = distance_ * cosYLow * cosXLow - radius_;
    return distLow * cosYLow * sinXLow;
}

bool HeliographicProjection::withinLongitude(int i, int j, double limit) const {
    // A visible point at Stonyhurst longitude l (before the HGLN_OBS shift) and latitude b has
    // heliocentric x = Rm cos b sin l, so |l + l0| <= limit implies |x| <= Rm sin(limit + |l0|).
    // When a lower bound of |x| exceeds that by a safe margin the pixel is certainly nulled.
    const double reach = limit + std::fabs(l0_);
    const bool boundUsable = std::isfinite(distance_) && std::isfinite(radius_) && std::isfinite(cosB0_) &&
                             std::isfinite(l0_) && distance_ > 2 * radius_ && radius_ > 0 && reach < pi / 2;
    if (boundUsable) {
        double hx;
        double hy;
        helioprojective(i, j, hx, hy);
        if (std::fabs(hx) < 0.5 && std::fabs(hy) < 0.5) {
            const double maxX = radius_ * std::sin(reach);
            if (heliocentricXLowerBound(hx, hy) > maxX * (1 + rejectionMargin) + radius_ * rejectionMargin) {
                return false;
            }
        }
    }
    const std::optional<Stonyhurst> c = at(i, j);
    return c && !(std::fabs(c->longitude) > limit);
}

}  // namespace spoca
