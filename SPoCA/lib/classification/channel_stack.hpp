// The N preprocessed images seen as one grid of feature vectors (compat 4.4), without copying them.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>

#include "classification/feature.hpp"
#include "core/image.hpp"

namespace spoca {

/// Feature vector (v_0(i,j), ..., v_{N-1}(i,j)) of every pixel of the common grid W' x H' (the smallest
/// width and height); each image is indexed with its own width. A pixel is valid when no value is null
/// (+infinity); NaN counts as valid.
template <std::size_t N>
class ChannelStack {
public:
    /// `images` in classifier channel order; the images must outlive the stack.
    explicit ChannelStack(const std::array<const Image<double>*, N>& images) : images_(images) {
        width_ = images[0]->width();
        height_ = images[0]->height();
        for (const auto* image : images) {
            width_ = std::min(width_, image->width());
            height_ = std::min(height_, image->height());
        }
    }

    int width() const { return width_; }
    int height() const { return height_; }

    /// Row j of channel p.
    const double* row(std::size_t p, int j) const {
        return images_[p]->data() + static_cast<std::size_t>(j) * static_cast<std::size_t>(images_[p]->width());
    }

    /// Row j of every channel.
    std::array<const double*, N> rows(int j) const {
        std::array<const double*, N> r;
        for (std::size_t p = 0; p < N; ++p) r[p] = row(p, j);
        return r;
    }

    /// Calls f(i, feature) for every valid pixel of rows [firstRow, endRow), in scan order.
    template <typename F>
    void forEachValid(int firstRow, int endRow, F f) const {
        constexpr double null = std::numeric_limits<double>::infinity();
        std::array<const double*, N> rows;
        for (int j = firstRow; j < endRow; ++j) {
            for (std::size_t p = 0; p < N; ++p) rows[p] = row(p, j);
            for (int i = 0; i < width_; ++i) {
                Feature<N> x;
                bool valid = true;
                for (std::size_t p = 0; p < N; ++p) {
                    x[p] = rows[p][i];
                    valid = valid && x[p] != null;
                }
                if (valid) f(j, i, x);
            }
        }
    }

private:
    std::array<const Image<double>*, N> images_;
    int width_ = 0;
    int height_ = 0;
};

}  // namespace spoca
