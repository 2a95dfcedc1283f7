// A window of consecutive rows of an image, kept in a ring of rows so that it can slide without moving pixels.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace spoca {

/// Rows [first(), end()) of an image of `width` columns, read on demand by `read(firstRow, endRow, out)`, which
/// must write (endRow - firstRow) * width values. The window holds at most `capacity` rows: row r is kept in
/// slot r % capacity, so when the window slides (either way) the rows it keeps stay where they are and only the
/// rows it gains are read. Used to stream an image whose rows are needed a block at a time, each block's rows
/// overlapping the previous block's (the source rows of an alignment).
template <typename T>
class RowWindow {
public:
    RowWindow(int width, int capacity)
        : width_(static_cast<std::size_t>(width)), capacity_(std::max(1, capacity)),
          pixels_(width_ * static_cast<std::size_t>(capacity_)) {}

    int first() const { return first_; }
    int end() const { return end_; }

    /// Makes the window hold rows [first, end) (end - first <= capacity), reading only those it did not hold.
    template <typename Read>
    void hold(int first, int end, Read read) {
        const int keepFirst = std::max(first, first_);
        const int keepEnd = std::min(end, end_);
        if (keepFirst >= keepEnd) {
            readInto(first, end, read);
        } else {
            readInto(first, keepFirst, read);
            readInto(keepEnd, end, read);
        }
        first_ = first;
        end_ = end;
    }

    /// Row r of the window (first() <= r < end()).
    const T* row(int r) const { return pixels_.data() + slot(r) * width_; }

private:
    std::size_t slot(int r) const { return static_cast<std::size_t>(r % capacity_); }

    /// Reads rows [first, end) into their slots, in at most two runs of consecutive slots.
    template <typename Read>
    void readInto(int first, int end, Read read) {
        while (first < end) {
            const int run = std::min(end - first, capacity_ - static_cast<int>(slot(first)));
            read(first, first + run, pixels_.data() + slot(first) * width_);
            first += run;
        }
    }

    std::size_t width_;
    int capacity_;
    std::vector<T> pixels_;
    int first_ = 0;
    int end_ = 0;
};

}  // namespace spoca
