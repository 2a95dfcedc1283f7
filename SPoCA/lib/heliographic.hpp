// Pixel to heliographic (Stonyhurst) coordinates, and the central-meridian strip test (spec 8.5).
#pragma once

#include <optional>

#include "sun_wcs.hpp"

namespace spoca {

/// A Stonyhurst coordinate in radians. The longitude is measured from the observer's central meridian
/// and shifted by HGLN_OBS, as in the original.
struct Stonyhurst {
    double longitude;
    double latitude;
};

/// Converts the pixels of an image to Stonyhurst coordinates with its WCS (spec 8.5): helioprojective
/// angles from the CD matrix, the line of sight intersected with the sphere of radius RSUN_REF seen
/// from DSUN_OBS, then rotated by B0.
class HeliographicProjection {
public:
    explicit HeliographicProjection(const SunWcs& wcs);

    /// The coordinate of pixel (i, j), or nothing when the line of sight misses the Sun or the
    /// latitude is NaN (spec 8.5 step 3 and 4).
    std::optional<Stonyhurst> at(int i, int j) const;

    /// Whether pixel (i, j) survives nullifyAboveLongLat(limit) (spec 8.4 step 5): its coordinate is
    /// defined and |longitude| <= limit (radians); the latitude limit of 360 degrees never applies.
    /// Gives exactly the answer at() implies, but first tries a cheap bound that proves the pixel
    /// lies far outside the strip, so that most pixels skip the trigonometry.
    bool withinLongitude(int i, int j, double limit) const;

private:
    /// The pixel's helioprojective angles in radians (spec 8.5 steps 1 and 2).
    void helioprojective(int i, int j, double& x, double& y) const;
    /// A lower bound of |heliocentric x| (Mm) of the pixel whose helioprojective angles are (x, y),
    /// valid for |x|, |y| < 0.5 rad.
    double heliocentricXLowerBound(double x, double y) const;

    double cx_;
    double cy_;
    double cd11_;
    double cd12_;
    double cd21_;
    double cd22_;
    double distance_;     ///< D, Mm
    double radius_;       ///< Rm, Mm
    double cosB0_;
    double sinB0_;
    double l0_;
};

}  // namespace spoca
