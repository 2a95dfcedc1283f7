// Pixel to heliographic (Stonyhurst) coordinates, and the central-meridian strip test (compat 8.5).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "core/constants.hpp"
#include "core/sun_wcs.hpp"

namespace spoca {

/// A Stonyhurst coordinate in radians. The longitude is measured from the observer's central meridian
/// and shifted by HGLN_OBS, as in the original.
struct Stonyhurst {
    double longitude;
    double latitude;
};

/// Converts the pixels of an image to Stonyhurst coordinates with its WCS (compat 8.5): helioprojective
/// angles from the CD matrix, the line of sight intersected with the sphere of radius RSUN_REF seen
/// from DSUN_OBS, then rotated by B0.
class HeliographicProjection {
public:
    explicit HeliographicProjection(const SunWcs& wcs);

    /// The coordinate of pixel (i, j), or nothing when the line of sight misses the Sun or the
    /// latitude is NaN (compat 8.5 steps 3 and 4).
    std::optional<Stonyhurst> at(int i, int j) const;

    /// The pixel's helioprojective angles in radians (compat 8.5 steps 1 and 2).
    void helioprojective(int i, int j, double& x, double& y) const {
        const double rx = i - cx_;
        const double ry = j - cy_;
        x = (rx * cd11_ + ry * cd12_) * pi / 648000;
        y = (rx * cd21_ + ry * cd22_) * pi / 648000;
    }

private:
    friend class CentralMeridianStrip;
    double cx_;
    double cy_;
    double cd11_;
    double cd12_;
    double cd21_;
    double cd22_;
    double distance_;  ///< D, Mm
    double radius_;    ///< Rm, Mm
    double cosB0_;
    double sinB0_;
    double l0_;
};

/// The test of nullifyAboveLongLat (compat 8.4 step 5): a pixel is kept when its Stonyhurst coordinate
/// is defined and |longitude| <= limit; the latitude limit of 360 degrees never applies.
///
/// contains() gives exactly the answer of HeliographicProjection::at(), but decides most pixels from a
/// cheap evaluation of the same formulas (Taylor series for the small helioprojective angles, no other
/// transcendental call), first rejecting the pixels whose heliocentric x is too large for the strip.
/// The cheap evaluation differs from the exact one by less than 1e-3 Mm^2 on delta, hence by less than
/// 1e-5 rad on the longitude where delta > 100 Mm^2 and w > 10 Mm: far inside the margins used (100 Mm^2,
/// 10 Mm, 1e-4 rad). A pixel within a margin of a decision boundary (the limb, an undefined latitude, the
/// strip edges) is decided by the exact computation.
class CentralMeridianStrip {
public:
    CentralMeridianStrip(const SunWcs& wcs, double limit);

    bool contains(int i, int j) const;

    /// What the cheap evaluation of contains() decides for a pixel: outside the strip, inside, or that the exact
    /// computation must decide.
    enum class Decision : std::uint8_t { outside, inside, exact };
    /// The decisions of the pixels [first, end) of row j into out[0, end - first): the same evaluation as
    /// contains(), a row at a time in a loop the compiler vectorises (with AVX2 where the processor has it).
    void decideRow(int j, int first, int end, Decision* out) const;
    /// contains(i, j) for the pixel whose decideRow() decision is `decision`.
    bool decided(Decision decision, int i, int j) const;

    /// The columns [lo, hi) of row j, within [first, end), that contains() must be asked about: it is false for
    /// every other column of [first, end). Along a row the cheap helioprojective angles of contains() are
    /// monotone in the column (each operation rounds monotonically), so the columns where both lie within the
    /// small-angle box, and those where |hx| is at most maxAngleX_, are intervals, found by bisection with the
    /// very tests contains() makes. When [first, end) does not lie wholly in the box, all of it is returned.
    std::pair<int, int> columnsToTest(int j, int first, int end) const;

private:
    bool exact(int i, int j) const;
    Decision decide(int i, int j) const;
    /// The helioprojective angles (rad) of the cheap evaluation of contains().
    void cheapAngles(int i, int j, double& hx, double& hy) const {
        const HeliographicProjection& p = projection_;
        const double rx = i - p.cx_;
        const double ry = j - p.cy_;
        hx = (rx * p.cd11_ + ry * p.cd12_) * arcsecond_;
        hy = (rx * p.cd21_ + ry * p.cd22_) * arcsecond_;
    }

    HeliographicProjection projection_;
    double limit_;
    bool fast_;          ///< whether the cheap evaluation applies to this WCS at all
    double keepLow_;     ///< tan(-limit - l0 + margin): x/w above it and below keepHigh_ is kept
    double keepHigh_;    ///< tan(limit - l0 - margin)
    double rejectLow_;   ///< tan(-limit - l0 - margin): x/w below it is nulled
    double rejectHigh_;  ///< tan(limit - l0 + margin): x/w above it is nulled
    double minLatitudeSine_;  ///< (-1 + margin) * Rm: below it, asin may be undefined
    double arcsecond_;        ///< pi / 648000, one arcsecond in radians
    double maxHeliocentricX_; ///< above Rm sin(limit + |l0|) with a margin: |x| beyond it is outside
    double maxAngleX_;        ///< |hx| above it (and |hx|, |hy| <= maxAngle) is beyond maxHeliocentricX_
};

}  // namespace spoca
