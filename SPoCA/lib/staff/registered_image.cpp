#include "staff/registered_image.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/error.hpp"
#include "core/input_checks.hpp"
#include "core/preprocessing.hpp"
#include "core/row_intervals.hpp"

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

void RegisteredImage::readWindow(const FitsFile& file, int first, int end, Window& window) const {
    const auto [sourceFirst, sourceEnd] = sourceRowRange(alignment_, width_, height_, first, end);
    window.first = sourceFirst;
    window.rows = sourceEnd - sourceFirst;
    if (window.rows <= 0) return;
    window.pixels.resize(static_cast<std::size_t>(window.rows) * width_);
    file.readDoubleRows(window.first, sourceEnd, window.pixels.data());
}

std::pair<int, int> RegisteredImage::interpolatedColumns(int j, int first, int end) const {
    return intersectColumns(columnsWithinRadius(wcs_.centerX, wcs_.centerY, nullThreshold_, j, first, end),
                            sourceColumns(alignment_, j, width_, height_, first, end));
}

void RegisteredImage::rowValues(Window& window, int j, int column, std::size_t count, double* out) const {
    const int end = column + static_cast<int>(count);
    const auto [first, last] = interpolatedColumns(j, column, end);
    std::fill(out, out + (first - column), HUGE_VAL);
    std::fill(out + (last - column), out + count, HUGE_VAL);
    if (first < last) {
        // The source row is monotone along the row too: the window holds the rows of every column if it holds
        // those of the first and the last.
        for (const int i : {first, last - 1}) {
            const int iy = samplePosition(alignment_, i, j, maxX_, maxY_).iy;
            if (iy < window.first || iy + 1 >= window.first + window.rows) outsideWindow(iy, window);
        }
        const double* rows = window.pixels.data();
        const int windowFirst = window.first;
        const auto width = static_cast<std::size_t>(width_);
        // The positions first, in a vectorised loop, then the interpolations.
        SamplePosition* positions = window.positions.data();
        samplePositions(alignment_, j, first, last, maxX_, maxY_, positions);
        for (int i = first; i < last; ++i) {
            const SamplePosition& p = positions[i];
            out[i - column] = bilinearAt(rows, width, SamplePosition{p.ix, p.iy - windowFirst, p.dx, p.dy});
        }
    }
    const double exposureTime = exposureTime_;
    for (int d = 0; d < divisions_; ++d) {
        for (std::size_t k = 0; k < count; ++k) out[k] = out[k] / exposureTime;
    }
}

void RegisteredImage::outsideWindow(int iy, const Window& window) const {
    throw Error(path_ + ": internal error: row " + std::to_string(iy) + " outside the rows read [" +
                std::to_string(window.first) + ", " + std::to_string(window.first + window.rows) + ")");
}

}  // namespace spoca
