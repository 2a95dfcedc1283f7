// The five STAFF regions of get_STAFF_stats, built once from the CH and AR maps (compat 8.4 and 8.7).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "core/memory_bound.hpp"
#include "core/parallel.hpp"
#include "core/sun_image.hpp"
#include "staff/statistics.hpp"

namespace spoca {

/// The maps get_STAFF_stats reads (compat 8.4): the CH map and, unless its path is the CH map's, the AR map.
struct StaffMaps {
    SegmentationMap ch;
    std::optional<SegmentationMap> ar;  ///< empty when the AR path is the CH path
};

/// Reads the CH map and, unless `arPath` is `chPath`, the AR map, at the same time, and checks that the WCS of
/// each can place its pixels on the Sun (checkUsableMapWcs, issue 12). Throws spoca::Error naming the file;
/// the CH map's error is reported first when both fail.
StaffMaps readStaffMaps(const std::string& chPath, const std::string& arPath, const MemoryBound& bound);

/// Which pixels feed which CSV row (compat 8.7), computed from the maps of compat 8.4:
/// row 0 AR_all (AR_total == ARClass), row 1 CH_central_meridian (CH_limited == CHClass), and one of
/// rows 2 to 4 (CH_ondisc, AR_ondisc, QS_ondisc) from the single pass over the CH grid. Everything that
/// does not depend on the image is computed here once: pixel counts, areas and filling-factor
/// denominators. Only one byte per pixel is kept, so the maps themselves can be released. The areas,
/// sums in scan order that cannot be split between threads, are summed in the background while the first
/// image is read; areas() and fillingFactor() wait for them.
class StaffRegions {
public:
    static constexpr std::size_t rowCount = 5;

    /// Builds the regions. `ar` is nullptr when the AR path equals the CH path (AR is then CH itself);
    /// otherwise the AR map is aligned onto the CH map with the majority interpolation (compat 9).
    /// Throws spoca::Error when the AR map's size differs from the CH map's.
    StaffRegions(const SegmentationMap& ch, const SegmentationMap* ar, std::uint32_t chClass, std::uint32_t arClass);
    StaffRegions(const StaffRegions&) = delete;  // the background task refers to this object
    StaffRegions& operator=(const StaffRegions&) = delete;
    ~StaffRegions();

    int width() const { return width_; }
    int height() const { return height_; }
    const SunWcs& chWcs() const { return chWcs_; }

    /// The pixel counts and areas of row r.
    const RegionAreas& areas(std::size_t r) const { return summary_.get().areas[r]; }
    /// The FillingFactor column of row r.
    double fillingFactor(std::size_t r) const { return summary_.get().fillingFactors[r]; }

    /// The value lists of the five rows, with room for every pixel they hold.
    std::array<std::vector<double>, rowCount> emptyValues() const;
    /// The number of values the five lists of an image can hold together.
    std::size_t valueCapacity() const;

    /// Appends to each row's list the finite values of its pixels in the image rows [first, end), in scan
    /// order: called for consecutive blocks, this builds the list V of compat 8.7. rowValues(j, columns, count,
    /// out) must set out[k] to the value of pixel (columns[k], j) (RegisteredImage::forEachBlock).
    template <typename RowValues>
    void collect(int first, int end, const RowValues& rowValues,
                 std::array<std::vector<double>, rowCount>& values) const;

    /// collect() on two threads: the rows [first, mid) into `values` and [mid, end) into `spare`, which is then
    /// appended to `values`, giving the same lists in the same order. `spare` is scratch space kept between
    /// calls (its content is not used). On a single thread (SPOCA_THREADS=1) this is collect().
    template <typename RowValues>
    void collectInTwo(int first, int end, const RowValues& rowValues, std::array<std::vector<double>, rowCount>& values,
                      std::array<std::vector<double>, rowCount>& spare) const;

private:
    /// Bits of a pixel's code: AR_all, CH_central_meridian, then the category of rows 2 to 4 (1 to 3).
    static constexpr std::uint8_t arAllBit = 1;
    static constexpr std::uint8_t centralMeridianBit = 2;
    static constexpr int categoryShift = 2;

    /// The areas and filling factors of the rows.
    struct Summary {
        std::array<RegionAreas, rowCount> areas;
        std::array<double, rowCount> fillingFactors;
    };
    /// Sums the areas in scan order (compat 10.5) and computes the filling factors.
    Summary summarize(std::size_t arNonZero, std::size_t centralMeridianNonZero) const;

    int width_ = 0;
    int height_ = 0;
    SunWcs chWcs_;
    SunWcs arWcs_;  ///< AR_total's WCS: the AR map's, as updated by its alignment onto CH
    std::vector<std::uint8_t> codes_;
    std::array<std::size_t, rowCount> pixels_{};  ///< pixels fed to each row
    std::shared_future<Summary> summary_;
};

template <typename RowValues>
void StaffRegions::collect(int first, int end, const RowValues& rowValues,
                           std::array<std::vector<double>, rowCount>& values) const {
    std::vector<int> columns(static_cast<std::size_t>(width_));
    std::vector<double> rowValue(static_cast<std::size_t>(width_));
    for (int j = first; j < end; ++j) {
        const std::uint8_t* code = codes_.data() + static_cast<std::size_t>(j) * width_;
        std::size_t count = 0;
        for (int i = 0; i < width_; ++i) {
            if (code[i] != 0) columns[count++] = i;
        }
        if (count == 0) continue;
        rowValues(j, columns.data(), count, rowValue.data());
        for (std::size_t k = 0; k < count; ++k) {
            const std::uint8_t c = code[columns[k]];
            const double v = rowValue[k];
            if (!std::isfinite(v)) continue;
            if (c & arAllBit) values[0].push_back(v);
            if (c & centralMeridianBit) values[1].push_back(v);
            const int category = c >> categoryShift;
            if (category) values[static_cast<std::size_t>(1 + category)].push_back(v);
        }
    }
}

template <typename RowValues>
void StaffRegions::collectInTwo(int first, int end, const RowValues& rowValues,
                                std::array<std::vector<double>, rowCount>& values,
                                std::array<std::vector<double>, rowCount>& spare) const {
    const int mid = first + (end - first) / 2;
    if (mid == first || !multithreaded()) {
        collect(first, end, rowValues, values);
        return;
    }
    for (auto& list : spare) list.clear();
    runTasks(2, [&](unsigned task) {
        if (task == 0) {
            collect(first, mid, rowValues, values);
        } else {
            collect(mid, end, rowValues, spare);
        }
    });
    for (std::size_t r = 0; r < rowCount; ++r) values[r].insert(values[r].end(), spare[r].begin(), spare[r].end());
}

}  // namespace spoca
