#include "staff/heliographic.hpp"

#include <algorithm>
#include <cmath>

#include "core/constants.hpp"
#include "core/row_intervals.hpp"

namespace spoca {

namespace {

/// Largest helioprojective angle (rad) evaluated with Taylor series; the Sun spans about 0.005 rad.
constexpr double maxAngle = 0.01;
/// Pixels closer than this to the limb (delta, Mm^2), to the poles of the longitude (sqrt(x^2+w^2), Mm)
/// or to a strip edge (rad) are decided by the exact computation.
constexpr double deltaMargin = 100;
constexpr double meridianMargin = 10;
constexpr double angleMargin = 1e-4;
constexpr double latitudeMargin = 1e-6;

/// cos and sin of a small angle from their Taylor series (error below 1.5e-15 for |a| <= 0.01).
inline void smallCosSin(double a, double& c, double& s) {
    const double a2 = a * a;
    c = 1 - a2 / 2 + a2 * a2 / 24;
    s = a * (1 - a2 / 6 + a2 * a2 / 120);
}

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

CentralMeridianStrip::CentralMeridianStrip(const SunWcs& wcs, double limit)
    : projection_(wcs), limit_(limit) {
    const double l0 = projection_.l0_;
    const double d = projection_.distance_;
    const double rm = projection_.radius_;
    fast_ = std::isfinite(d) && std::isfinite(rm) && std::isfinite(projection_.cosB0_) && std::isfinite(l0) &&
            rm > 0 && d > 2 * rm && std::fabs(l0) + limit + angleMargin < pi / 2;
    keepLow_ = std::tan(-limit - l0 + angleMargin);
    keepHigh_ = std::tan(limit - l0 - angleMargin);
    rejectLow_ = std::tan(-limit - l0 - angleMargin);
    rejectHigh_ = std::tan(limit - l0 + angleMargin);
    minLatitudeSine_ = (-1 + latitudeMargin) * rm;
    arcsecond_ = pi / 648000;
    maxHeliocentricX_ = rm * std::sin(std::fabs(l0) + limit) * (1 + angleMargin) + meridianMargin;
    // Within |hx|, |hy| <= maxAngle the cheap cosines are >= c and sin(x) >= s |x|, so the bound
    // (q - Rm) cos y |sin x| of contains() is at least ((d c^2 - Rm) c s) |hx|, which is positive as d > 2 Rm:
    // a pixel with |hx| above maxHeliocentricX_ / that (with margins far above rounding) is rejected by
    // that bound, so contains() can reject it before evaluating anything else.
    const double c = 1 - maxAngle * maxAngle / 2;
    const double s = 1 - maxAngle * maxAngle / 6;
    const double slope = (d * c * c - rm) * c * s * (1 - 1e-9);
    maxAngleX_ = fast_ && slope > 0 ? maxHeliocentricX_ * (1 + 1e-6) / slope : HUGE_VAL;
}

bool CentralMeridianStrip::exact(int i, int j) const {
    const std::optional<Stonyhurst> c = projection_.at(i, j);
    return c && !(std::fabs(c->longitude) > limit_);
}

inline CentralMeridianStrip::Decision CentralMeridianStrip::decide(int i, int j) const {
    // The cheap evaluation may differ from the exact one by a few ulps anywhere: it only has to stay within the
    // margins. Every quantity is computed for every pixel (a NaN where a test before it decides), then the tests
    // pick the decision in order, as selects, so that a loop over a row vectorises.
    const HeliographicProjection& p = projection_;
    double hx;
    double hy;
    cheapAngles(i, j, hx, hy);
    const bool inBox = (std::fabs(hx) <= maxAngle) & (std::fabs(hy) <= maxAngle);
    double cosX;
    double sinX;
    double cosY;
    double sinY;
    smallCosSin(hx, cosX, sinX);
    smallCosSin(hy, cosY, sinY);
    const double d = p.distance_;
    const double q = d * cosY * cosX;
    // |heliocentric x| >= (q - Rm) cos y |sin x| since sqrt(delta) <= Rm; a visible point with
    // |longitude| <= limit has |x| <= Rm sin(limit + |l0|): beyond that bound the pixel is nulled.
    const bool beyondX = (q - p.radius_) * cosY * std::fabs(sinX) > maxHeliocentricX_;
    const double delta = q * q - d * d + p.radius_ * p.radius_;
    const double dist = q - std::sqrt(delta);
    const double x = dist * cosY * sinX;
    const double y = dist * sinY;
    const double z = d - dist * cosY * cosX;
    const bool nearUndefinedLatitude = y * p.cosB0_ + z * p.sinB0_ < minLatitudeSine_;  // near asin(a < -1)
    const double w = z * p.cosB0_ - y * p.sinB0_;
    // With w > 0, atan2(x, w) = atan(x / w) lies in (-pi/2, pi/2) and grows with x / w.
    const bool keep = (x > keepLow_ * w) & (x < keepHigh_ * w);
    const bool reject = (x < rejectLow_ * w) | (x > rejectHigh_ * w);
    // The tests in the order they decide, the first that applies winning: written from the last to the first.
    Decision decision = reject ? Decision::outside : Decision::exact;
    decision = keep ? Decision::inside : decision;
    decision = w < meridianMargin ? Decision::exact : decision;
    decision = nearUndefinedLatitude ? Decision::exact : decision;
    decision = delta < deltaMargin ? Decision::exact : decision;
    decision = delta < -deltaMargin ? Decision::outside : decision;  // the line of sight misses the Sun
    decision = beyondX ? Decision::outside : decision;
    decision = std::fabs(hx) > maxAngleX_ ? Decision::outside : decision;  // what the heliocentric x bound decides
    return inBox ? decision : Decision::exact;
}

bool CentralMeridianStrip::contains(int i, int j) const {
    return fast_ ? decided(decide(i, j), i, j) : exact(i, j);
}

__attribute__((target_clones("avx2", "default"))) void CentralMeridianStrip::decideRow(int j, int first, int end,
                                                                                      Decision* out) const {
    if (!fast_) {
        std::fill(out, out + std::max(0, end - first), Decision::exact);
        return;
    }
    for (int i = first; i < end; ++i) out[i - first] = decide(i, j);
}

bool CentralMeridianStrip::decided(Decision decision, int i, int j) const {
    return decision == Decision::exact ? exact(i, j) : decision == Decision::inside;
}

std::pair<int, int> CentralMeridianStrip::columnsToTest(int j, int first, int end) const {
    if (!fast_ || first >= end) return {first, end};
    const auto inBox = [this, j](int i) {
        double hx;
        double hy;
        cheapAngles(i, j, hx, hy);
        return std::fabs(hx) <= maxAngle && std::fabs(hy) <= maxAngle;
    };
    // Both ends in the box: so is every column between them, where contains() rejects |hx| > maxAngleX_.
    if (!inBox(first) || !inBox(end - 1)) return {first, end};
    const auto hx = [this, j](int i) {
        double x;
        double y;
        cheapAngles(i, j, x, y);
        return x;
    };
    const double bound = maxAngleX_;
    int lo;
    int hi;
    if (hx(first) <= hx(end - 1)) {  // hx grows (or stays) along the row
        lo = firstWhere(first, end, [&hx, bound](int i) { return hx(i) >= -bound; });
        hi = firstWhere(lo, end, [&hx, bound](int i) { return hx(i) > bound; });
    } else {
        lo = firstWhere(first, end, [&hx, bound](int i) { return hx(i) <= bound; });
        hi = firstWhere(lo, end, [&hx, bound](int i) { return hx(i) < -bound; });
    }
    return {lo, hi};
}

}  // namespace spoca
