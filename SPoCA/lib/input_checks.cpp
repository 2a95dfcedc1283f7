#include "input_checks.hpp"

#include <cmath>
#include <cstdlib>

#include "error.hpp"

namespace spoca {

bool isFiniteNumber(const std::string& text) {
    if (text.empty()) return false;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    return end == text.c_str() + text.size() && std::isfinite(value);
}

double checkedExposureTime(const FitsHeader& header) {
    if (!header.has("EXPTIME")) return 1.0;
    const std::string text = header.text("EXPTIME");
    const double value = header.number("EXPTIME");
    if (!isFiniteNumber(text) || !(value > 0)) {
        throw Error(header.source() + ": EXPTIME = '" + text + "' is not a positive finite number of seconds");
    }
    return value;
}

void checkUsableMapWcs(const FitsHeader& header, const SunWcs& wcs) {
    const std::string& path = header.source();
    for (const char* key : {"CD1_1", "CD1_2", "CD2_1", "CD2_2", "DSUN_OBS", "HGLT_OBS"}) {
        if (header.has(key) && !isFiniteNumber(header.text(key))) {
            throw Error(path + ": unusable WCS: " + key + " = '" + header.text(key) +
                        "' is not a number (was the map made from an image without CD, PC or CROTA2?)");
        }
    }
    const auto& cd = wcs.cd;
    const double determinant = cd[0] * cd[3] - cd[1] * cd[2];
    if (!std::isfinite(determinant) || determinant == 0) {
        throw Error(path + ": unusable WCS: the CD matrix is not finite or not invertible (no usable CD, PC or "
                    "CROTA2 keywords)");
    }
    if (!std::isfinite(wcs.distanceSunMm) || !std::isfinite(wcs.b0)) {
        throw Error(path + ": unusable WCS: DSUN_OBS or the observer latitude (HGLT_OBS) is missing");
    }
}

}  // namespace spoca
