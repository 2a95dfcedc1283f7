#include "staff/registered_image.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "core/error.hpp"
#include "core/input_checks.hpp"
#include "core/preprocessing.hpp"

namespace spoca {

/// What compat 2.1 to 2.6 read from an image file, without the pixels; the file stays open.
struct RegisteredImage::Description {
    FitsFile file;
    EuvImage image;  ///< without pixels
    int width;
    int height;
};

RegisteredImage::RegisteredImage(const std::string& path, ImageType type, const SunWcs& reference,
                                 const std::string& steps, const MemoryBound& bound)
    : RegisteredImage(
          [&path, type, &bound] {
              FitsFile file = FitsFile::openImage(path);
              const auto [width, height] = file.imageSize();
              bound.checkImage(path, width, height);
              EuvImage image = readEuvImageHeader(file, type);
              return Description{std::move(file), std::move(image), width, height};
          }(),
          reference, steps) {}

RegisteredImage::RegisteredImage(Description d, const SunWcs& reference, const std::string& steps)
    : path_(d.image.path),
      file_(std::move(d.file)),
      width_(d.width),
      height_(d.height),
      channel_(d.image.channel),
      observationTime_(d.image.wcs.observationTime),
      exposureTime_(d.image.exposureTime),
      alignment_(d.image.wcs, reference),
      maxX_(static_cast<float>(d.width - 1.001)),
      maxY_(static_cast<float>(d.height - 1.001)) {
    if (width_ < 2 || height_ < 2) {
        throw Error(path_ + ": image too small to be aligned (" + std::to_string(width_) + "x" +
                    std::to_string(height_) + ")");
    }
    wcs_ = alignment_.alignedWcs(d.image.wcs);
    pixelwise_ = parsePixelwise(steps);
    if (pixelwise_) return;
    EuvImage& image = d.image;
    image.wcs = wcs_;
    image.pixels = alignBilinear(file_.readDoubleImage(), alignment_);
    preprocess(image, steps);
    preprocessed_ = std::move(image.pixels);
}

bool RegisteredImage::parsePixelwise(const std::string& steps) {
    nullThreshold_ = HUGE_VAL;
    divisions_ = 0;
    double maxRadius = std::numeric_limits<double>::infinity();  // compat 3.1
    for (const PreprocessingStep& step : parsePreprocessingSteps(steps)) {
        if (step.name == "DivExpTime" && !step.hasEquals) {
            if (exposureTime_ == 0) throw Error(path_ + ": Trying to divide pixels by 0 (EXPTIME is 0)");
            ++divisions_;
        } else if (step.name == "NAR" && !step.hasEquals) {
            nullThreshold_ = std::min(nullThreshold_, wcs_.sunRadius * wcs_.sunRadius);
            maxRadius = 1;
        } else if (step.name == "NAR") {
            // Only a plainly written finite radius (no trailing text) is taken here; any other is left to
            // preprocess(), which reads it as the original does.
            if (!isFiniteNumber(step.parameterText)) return false;
            const double r = std::strtod(step.parameterText.c_str(), nullptr);
            if (r < maxRadius) {
                nullThreshold_ = std::min(nullThreshold_, r * r * wcs_.sunRadius * wcs_.sunRadius);
                maxRadius = r;
            }
        } else {
            return false;
        }
    }
    return true;
}

void RegisteredImage::sourceRows(int first, int end, int& sourceFirst, int& sourceEnd) const {
    sourceFirst = sourceEnd = 0;
    if (alignment_.scale() == 0.0) return;  // every pixel is null
    // The map is affine, so the rows it reaches lie between those of the block's corners. Rounding to
    // float and the clamp move a position by far less than the margin of two rows.
    double low = std::numeric_limits<double>::infinity();
    double high = -low;
    for (const int j : {first, end - 1}) {
        for (const int i : {0, width_ - 1}) {
            double xo;
            double yo;
            alignment_.map(i, j, xo, yo);
            if (!std::isfinite(yo)) {  // NaN parameters: no pixel is read; infinite ones: read all
                sourceEnd = std::isnan(yo) ? 0 : height_;
                return;
            }
            low = std::min(low, yo);
            high = std::max(high, yo);
        }
    }
    const double lastRow = height_ - 1;
    sourceFirst = static_cast<int>(std::floor(std::clamp(low, 0.0, lastRow))) - 2;
    sourceEnd = static_cast<int>(std::floor(std::clamp(high, 0.0, lastRow))) + 3;
    sourceFirst = std::max(0, sourceFirst);
    sourceEnd = std::min(height_, sourceEnd);
}

void RegisteredImage::readWindow(int first, int end, Window& window) const {
    int sourceEnd;
    sourceRows(first, end, window.first, sourceEnd);
    window.rows = sourceEnd - window.first;
    if (window.rows <= 0) return;
    window.pixels.resize(static_cast<std::size_t>(window.rows) * width_);
    file_.readDoubleRows(window.first, sourceEnd, window.pixels.data());
}

void RegisteredImage::outsideWindow(int iy, const Window& window) const {
    throw Error(path_ + ": internal error: row " + std::to_string(iy) + " outside the rows read [" +
                std::to_string(window.first) + ", " + std::to_string(window.first + window.rows) + ")");
}

}  // namespace spoca
