// The image preprocessing steps of the `imagePreprocessing` / `statsPreprocessing` parameters (compat 3).
#pragma once

#include <string>
#include <vector>

#include "core/sun_image.hpp"

namespace spoca {

/// One step of a preprocessing list as written (compat 3.1): "NAME" or "NAME=PARAMETER".
struct PreprocessingStep {
    std::string text;           ///< the step as written, for messages
    std::string name;           ///< the text before '=', without its leading spaces and tabs
    bool hasEquals = false;     ///< whether the step has a '='
    std::string parameterText;  ///< the text after '=' ("" without one)

    /// Whether the step has a parameter: a '=' followed by at least one character.
    bool hasParameter() const { return !parameterText.empty(); }
    /// The parameter read with C++ stream extraction of a double (0 when unparsable), as the original.
    double parameter() const;
};

/// Splits a comma-separated list of steps (the value of `imagePreprocessing` or `statsPreprocessing`) into its
/// steps, in order; "" gives no step. The one reading of a preprocessing list: preprocess() and the
/// pixel-wise path of get_STAFF_stats (RegisteredImage) both use it.
std::vector<PreprocessingStep> parsePreprocessingSteps(const std::string& steps);

/// Runs the comma-separated steps on the image's non-null pixels, in order (compat 3.1). The sun centre
/// and radius come from image.wcs and the exposure time from image.exposureTime, so a caller that has
/// aligned the image can set them. Implemented: NAR, DivExpTime, ALC, DivMedian, ThrMaxPer, TakeSqrt,
/// ThrMin, ThrMax, ThrMinPer, TakeLog, TakeAbs; the other steps of the original are "not supported".
/// Throws spoca::Error naming the file on an unknown step, a division by 0 or an empty image.
void preprocess(EuvImage& image, const std::string& steps);

/// Reads an image (readEuvImage), checks that it has a usable pixel (checkHasUsablePixel), then preprocesses it
/// with `steps` (the classification programs' compat 4.1 step 3).
EuvImage readPreprocessedImage(const std::string& path, ImageType type, const std::string& steps,
                               const MemoryBound& bound);

}  // namespace spoca
