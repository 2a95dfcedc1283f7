#include "core/input_checks.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <ostream>

#include "core/error.hpp"
#include "core/file_paths.hpp"

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

bool outputIsDirectory(const std::string& output) {
    if (isDirectory(output)) return true;
    const std::string folder = folderOf(output);
    if (!folder.empty() && !isDirectory(folder)) throw Error(folder + " is not a directory!");
    return false;
}

void checkHasUsablePixel(const EuvImage& image) {
    for (const double v : image.pixels.pixels()) {
        if (v != 0 && v != std::numeric_limits<double>::infinity() && !std::isnan(v)) return;
    }
    throw Error(image.path + ": image has no valid non-zero pixel");
}

namespace {
std::string sizeText(int width, int height) { return std::to_string(width) + "x" + std::to_string(height); }
}  // namespace

void checkSameSize(const EuvImage& a, const EuvImage& b) {
    const auto& p = a.pixels;
    const auto& q = b.pixels;
    if (p.width() == q.width() && p.height() == q.height()) return;
    throw Error("images of different sizes: " + a.path + " is " + sizeText(p.width(), p.height()) + ", " + b.path +
                " is " + sizeText(q.width(), q.height()));
}

void checkImageFitsMaps(const std::string& path, int width, int height, int mapsWidth, int mapsHeight) {
    if (width == mapsWidth && height == mapsHeight) return;
    throw Error(path + ": the image is " + sizeText(width, height) + " pixels but the maps are " +
                sizeText(mapsWidth, mapsHeight));
}

std::string warnIfNotSimilar(std::ostream& err, const std::string& path, const std::string& reference,
                             const SunWcs& a, const SunWcs& b) {
    std::string problem = similarityProblem(a, b);
    if (!problem.empty()) {
        err << "Warning: image " << path << " and " << reference << " are not similar: " << problem << "\n";
    }
    return problem;
}

}  // namespace spoca
