// A rectangular grid of pixels in FITS storage order.
#pragma once

#include <cstddef>
#include <vector>

namespace spoca {

/// Pixel (i, j) is column i, row j; its linear index is i + j * width (FITS order, compat 0).
template <typename T>
class Image {
public:
    Image() = default;
    Image(int width, int height, T fill = T{})
        : width_(width), height_(height), pixels_(static_cast<std::size_t>(width) * height, fill) {}

    int width() const { return width_; }
    int height() const { return height_; }
    std::size_t size() const { return pixels_.size(); }

    T& operator()(int i, int j) { return pixels_[index(i, j)]; }
    const T& operator()(int i, int j) const { return pixels_[index(i, j)]; }
    T* data() { return pixels_.data(); }
    const T* data() const { return pixels_.data(); }
    std::vector<T>& pixels() { return pixels_; }
    const std::vector<T>& pixels() const { return pixels_; }

private:
    std::size_t index(int i, int j) const {
        return static_cast<std::size_t>(i) + static_cast<std::size_t>(j) * static_cast<std::size_t>(width_);
    }

    int width_ = 0;
    int height_ = 0;
    std::vector<T> pixels_;
};

}  // namespace spoca
