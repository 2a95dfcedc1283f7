// Checks of input values that the original accepted and then silently computed wrong results from (issue 12).
#pragma once

#include <string>

#include "header.hpp"
#include "sun_wcs.hpp"

namespace spoca {

/// True when `text` is one finite number and nothing else (the strict reading that the numeric header reads
/// of spec 2.3, which turn text such as 'nan' into 0, do not do).
bool isFiniteNumber(const std::string& text);

/// The exposure time of an image: 1 when EXPTIME is absent (spec 2.4), else its value. Throws spoca::Error
/// naming the file when EXPTIME is not a positive finite number (0, negative, 'nan', text): every
/// DivExpTime and every intensity would be wrong.
double checkedExposureTime(const FitsHeader& header);

/// Throws spoca::Error naming the map's file when its WCS cannot place pixels on the Sun: a CD matrix,
/// DSUN_OBS or HGLT_OBS card that is not a finite number (the classification programs write 'nan' when the
/// image they read had no CD, PC or CROTA2, spec 2.4 and 7.4, which the numeric read of spec 2.3 would take
/// as 0), or a CD matrix that is not finite or not invertible. Such a map would give wrong CH statistics.
void checkUsableMapWcs(const FitsHeader& header, const SunWcs& wcs);

}  // namespace spoca
