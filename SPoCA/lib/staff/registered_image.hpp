// An EUV image registered onto a reference grid and preprocessed, as get_STAFF_stats uses it (compat 8.6).
#pragma once

#include <algorithm>
#include <cmath>
#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/fits_file.hpp"
#include "core/sun_image.hpp"
#include "staff/registration.hpp"

namespace spoca {

/// The image of compat 8.6 steps 3 to 6: read (compat 2), bilinearly aligned onto a reference WCS (always,
/// quirk Q11), then preprocessed with the aligned WCS (centre of the reference, R_img * |s|).
///
/// When every preprocessing step is pixel-wise (NAR and DivExpTime, as in the pipeline's
/// `NAR=3,DivExpTime`) the values are computed block of rows by block of rows, straight from the rows of
/// the file that the block needs, with the same operations in the same order as on a whole image: the
/// image is never held whole, and the next block is read while the current one is computed. Other steps
/// need the whole image (medians, percentiles): the image is then read whole, aligned and handed to
/// preprocess().
class RegisteredImage {
public:
    /// Opens `path` and reads its header. Throws spoca::Error naming the file when it cannot be read or
    /// its header lacks what compat 2.4 requires, when it is larger than `bound` (before any pixel is read), or
    /// for a bad step.
    RegisteredImage(const std::string& path, ImageType type, const SunWcs& reference, const std::string& steps,
                    const MemoryBound& bound);

    int width() const { return width_; }
    int height() const { return height_; }
    const std::string& channel() const { return channel_; }
    std::time_t observationTime() const { return observationTime_; }
    /// The image's WCS after the alignment.
    const SunWcs& wcs() const { return wcs_; }

    /// Calls visit(first, end, rowValues) for consecutive blocks of rows [first, end) covering the rows
    /// [firstRow, endRow) of the image, in order, where rowValues(j, column, count, out) sets out[k], for
    /// k < count, to the preprocessed, aligned intensity (+infinity for null) of pixel (column + k, j) of the
    /// block. A row's pixels are evaluated together so that the divisions by the exposure time run as one loop,
    /// which the compiler vectorises (the same IEEE divisions, so the same values). The file is read through the
    /// image's own handle when firstRow is 0, through a handle of its own otherwise, so that two threads may
    /// visit two parts of the image at once. Throws spoca::Error naming the file when its pixels cannot be read.
    template <typename Visit>
    void forEachBlock(int firstRow, int endRow, Visit visit) const;

private:
    struct Description;
    RegisteredImage(Description description, const SunWcs& reference, const std::string& steps);

    /// Source rows [first, first + rows) of the file, as doubles with +infinity for null pixels, and scratch
    /// space for the sample positions of a row.
    struct Window {
        int first = 0;
        int rows = 0;
        std::vector<double> pixels;
        std::vector<SamplePosition> positions;
    };

    /// Reads `steps` into nullThreshold_ and divisions_; false when a step is not pixel-wise or not plainly
    /// written.
    bool parsePixelwise(const std::string& steps);
    /// Reads from `file` the source rows the output rows [first, end) need into `window` (its buffer is reused).
    void readWindow(const FitsFile& file, int first, int end, Window& window) const;
    /// Throws: the interpolation would read row iy or iy + 1 outside the window (cannot happen).
    [[noreturn]] void outsideWindow(int iy, const Window& window) const;

    /// The aligned, preprocessed values of the pixels (column + k, j), reading from `window`: the aligned
    /// values with the NAR steps applied, then the DivExpTime divisions. The exposure time is a positive finite
    /// number (checkedExposureTime), so dividing a null (+infinity) gives +infinity again: the divisions need no
    /// test, as in the original, where DivExpTime leaves null pixels alone.
    void rowValues(Window& window, int j, int column, std::size_t count, double* out) const;

    /// The columns of [first, end) on row j whose aligned value is interpolated: those the NAR steps keep and
    /// whose source position falls inside the image (Alignment::sourcePosition). The NAR steps null the pixels
    /// beyond the smallest of their radii whatever the value, and DivExpTime leaves null pixels alone, so the
    /// steps give this in any order. Each test compares a value that is monotone along the row (every operation
    /// rounds monotonically), so the columns form an interval (core/row_intervals.hpp).
    std::pair<int, int> interpolatedColumns(int j, int first, int end) const;

    std::string path_;
    FitsFile file_;
    int width_ = 0;
    int height_ = 0;
    std::string channel_;
    std::time_t observationTime_ = 0;
    double exposureTime_ = 1.0;
    SunWcs wcs_;
    Alignment alignment_;
    float maxX_ = 0.0f;
    float maxY_ = 0.0f;
    bool pixelwise_ = false;
    double nullThreshold_ = HUGE_VAL;  ///< smallest ((r*r)*R)*R of the NAR steps applied
    int divisions_ = 0;                ///< number of DivExpTime steps
    Image<double> preprocessed_;  ///< the whole aligned and preprocessed image, when not pixel-wise
};

template <typename Visit>
void RegisteredImage::forEachBlock(int firstRow, int endRow, Visit visit) const {
    if (firstRow >= endRow) return;
    if (!pixelwise_) {
        visit(firstRow, endRow, [this](int j, int column, std::size_t count, double* out) {
            for (std::size_t k = 0; k < count; ++k) out[k] = preprocessed_(column + static_cast<int>(k), j);
        });
        return;
    }
    std::optional<FitsFile> own;
    const FitsFile& file = firstRow == 0 ? file_ : own.emplace(FitsFile::openImage(path_));
    constexpr int blockRows = 128;
    Window window;
    window.positions.resize(static_cast<std::size_t>(width_));
    for (int first = firstRow; first < endRow; first += blockRows) {
        const int end = std::min(endRow, first + blockRows);
        readWindow(file, first, end, window);
        visit(first, end, [this, &window](int j, int column, std::size_t count, double* out) {
            rowValues(window, j, column, count, out);
        });
    }
}

}  // namespace spoca
