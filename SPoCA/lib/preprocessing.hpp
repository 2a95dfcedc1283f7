// The image preprocessing steps of the `imagePreprocessing` / `statsPreprocessing` parameters (spec 3).
#pragma once

#include <string>

#include "sun_image.hpp"

namespace spoca {

/// Runs the comma-separated steps on the image's non-null pixels, in order (spec 3.1). The sun centre
/// and radius come from image.wcs and the exposure time from image.exposureTime, so a caller that has
/// aligned the image can set them. Implemented: NAR, DivExpTime, ALC, DivMedian, ThrMaxPer, TakeSqrt,
/// ThrMin, ThrMax, ThrMinPer, TakeLog, TakeAbs; the other steps of the original are "not supported".
/// Throws spoca::Error naming the file on an unknown step, a division by 0 or an empty image.
void preprocess(EuvImage& image, const std::string& steps);

}  // namespace spoca
