// Checks of the programs' inputs: the output location, the images' sizes and similarity, and input values that
// the original accepted and then silently computed wrong results from (issue 12).
#pragma once

#include <iosfwd>
#include <string>

#include "core/fits_header.hpp"
#include "core/sun_image.hpp"
#include "core/sun_wcs.hpp"

namespace spoca {

/// True when `text` is one finite number and nothing else (the strict reading that the numeric header reads
/// of compat 2.3, which turn text such as 'nan' into 0, do not do).
bool isFiniteNumber(const std::string& text);

/// The exposure time of an image: 1 when EXPTIME is absent (compat 2.4), else its value. Throws spoca::Error
/// naming the file when EXPTIME is not a positive finite number (0, negative, 'nan', text): every
/// DivExpTime and every intensity would be wrong.
double checkedExposureTime(const FitsHeader& header);

/// Throws spoca::Error naming the map's file when its WCS cannot place pixels on the Sun: a CD matrix,
/// DSUN_OBS or HGLT_OBS card that is not a finite number (the classification programs write 'nan' when the
/// image they read had no CD, PC or CROTA2, compat 2.4 and 7.4, which the numeric read of compat 2.3 would take
/// as 0), or a CD matrix that is not finite or not invertible. Such a map would give wrong CH statistics.
void checkUsableMapWcs(const FitsHeader& header, const SunWcs& wcs);

/// Whether the `output` parameter names an existing directory (compat 4.1 step 2, 7.1, 8.6): true when it does,
/// false when it is a file name or prefix whose folder exists (or that has no folder part). Throws spoca::Error
/// "<folder> is not a directory!" otherwise.
bool outputIsDirectory(const std::string& output);

/// Throws spoca::Error "<path>: image has no valid non-zero pixel" when every pixel of `image` is 0, null
/// (+infinity) or NaN: there would be nothing to classify.
void checkHasUsablePixel(const EuvImage& image);

/// Throws spoca::Error "images of different sizes: <a> is WxH, <b> is WxH" unless the two images have the
/// same size (compat 4.1 step 3).
void checkSameSize(const EuvImage& a, const EuvImage& b);

/// Throws spoca::Error "<path>: the image is WxH pixels but the maps are WxH" unless an image of
/// `width` x `height` pixels has the maps' size (get_STAFF_stats, compat 8.6 step 3).
void checkImageFitsMaps(const std::string& path, int width, int height, int mapsWidth, int mapsHeight);

/// Writes "Warning: image <path> and <reference> are not similar: <problem>" on `err` when the WCS `a` and `b`
/// of the image and of the reference (in the order the caller's spec step compares them: the ratio of radii
/// is not symmetric) are not similar, problem being similarityProblem(a, b) (compat 4.2); `reference` names the
/// reference, e.g. its path. Returns the problem ("" when they are similar: nothing is written).
std::string warnIfNotSimilar(std::ostream& err, const std::string& path, const std::string& reference,
                             const SunWcs& a, const SunWcs& b);

}  // namespace spoca
