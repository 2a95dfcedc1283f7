// The solar world coordinate system of an image, as parsed from its header (compat 2.4 and 8.3).
#pragma once

#include <array>
#include <ctime>
#include <limits>
#include <string>

namespace spoca {

/// Everything the programs know about where the Sun is in an image and how it was observed.
/// Angles are stored in radians, distances in Mm, pixel scales in arcsec per pixel.
struct SunWcs {
    static constexpr double nan = std::numeric_limits<double>::quiet_NaN();

    double centerX = 0.0;     ///< sun centre column, CRPIX1 - 1 (0-based pixels)
    double centerY = 0.0;     ///< sun centre row, CRPIX2 - 1
    double sunRadius = 0.0;   ///< R, the solar radius in pixels
    double cdelt1 = 0.0;      ///< arcsec per pixel along columns
    double cdelt2 = 0.0;      ///< arcsec per pixel along rows
    std::array<double, 4> cd{nan, nan, nan, nan};  ///< CD1_1, CD1_2, CD2_1, CD2_2 (arcsec per pixel)
    double b0 = nan;            ///< observer heliographic latitude (HGLT_OBS), radians
    double l0 = 0.0;            ///< observer heliographic longitude (HGLN_OBS), radians
    double carringtonL0 = nan;  ///< observer Carrington longitude (CRLN_OBS), radians
    double distanceSunMm = nan; ///< DSUN_OBS / 1e6
    double sunRadiusMm = 695.508;  ///< RSUN_REF / 1e6
    std::string ctype1 = "HPLN-TAN";
    std::string ctype2 = "HPLT-TAN";
    std::string dateObs;                ///< observation date text, cut at the first Z or z
    std::time_t observationTime = 0;    ///< UTC, seconds truncated; 0 when there is no date
};

}  // namespace spoca
