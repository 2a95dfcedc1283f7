// The five STAFF regions of get_STAFF_stats, built once from the CH and AR maps (compat 8.4 and 8.7).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/memory_bound.hpp"
#include "core/parallel.hpp"
#include "core/row_window.hpp"
#include "core/uninitialized_allocator.hpp"
#include "core/sun_image.hpp"
#include "staff/heliographic.hpp"
#include "staff/registration.hpp"
#include "staff/statistics.hpp"

namespace spoca {

/// The maps get_STAFF_stats reads (compat 8.4): the CH map and, unless its path is the CH map's, the AR map.
struct StaffMaps {
    SegmentationMap ch;
    std::optional<SegmentationMap> ar;  ///< empty when the AR path is the CH path
};

/// Opens the CH map and, unless `arPath` is `chPath`, the AR map, and checks that the WCS of each can place its
/// pixels on the Sun (checkUsableMapWcs, issue 12); their pixels are read by StaffRegions. Throws spoca::Error
/// naming the file, the CH map first.
StaffMaps openStaffMaps(const std::string& chPath, const std::string& arPath, const MemoryBound& bound);

/// Which pixels feed which CSV row (compat 8.7), computed from the maps of compat 8.4:
/// row 0 AR_all (AR_total == ARClass), row 1 CH_central_meridian (CH_limited == CHClass), and one of
/// rows 2 to 4 (CH_ondisc, AR_ondisc, QS_ondisc) from the single pass over the CH grid. Everything that
/// does not depend on the image is computed here once: pixel counts, areas and filling-factor
/// denominators. Only one byte per pixel is kept: the maps are read a chunk of rows at a time, never whole. The areas,
/// sums in scan order that cannot be split between threads, are summed in the background while the first
/// image is read; areas() and fillingFactor() wait for them.
class StaffRegions {
public:
    static constexpr std::size_t rowCount = 5;

    /// Builds the regions, reading the maps' pixels. `ar` is nullptr when the AR path equals the CH path (AR is
    /// then CH itself); otherwise the AR map is aligned onto the CH map with the majority interpolation (compat 9).
    /// Throws spoca::Error when the AR map's size differs from the CH map's, or naming the map whose pixels cannot
    /// be read (the CH map's first when both cannot).
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

    /// The value lists of the five rows of an image: list r holds counts[r] values, and room for every pixel
    /// of row r.
    struct ImageValues {
        std::array<std::vector<double, UninitializedAllocator<double>>, rowCount> lists;
        std::array<std::size_t, rowCount> counts{};
    };

    /// Sets `values` to the lists V of compat 8.7 of an image: for each row, the finite values of its pixels in
    /// scan order. The lists of a previous image are overwritten, so that a run touches their memory once.
    /// forRows(first, end, visit) must call visit(blockFirst, blockEnd, rowValues) for consecutive blocks of rows
    /// covering the image rows [first, end), in order, where rowValues(j, column, count, out) sets out[k] to the
    /// value of pixel (column + k, j) (RegisteredImage::forEachBlock). Unless on a single thread (SPOCA_THREADS=1),
    /// the two halves of the rows are visited at once, on two threads: the second half's values are written
    /// where they go when the first half has no non-finite value (else moved down after), so that the lists are
    /// the same, in the same order.
    template <typename ForRows>
    void collect(ForRows forRows, ImageValues& values) const;

private:
    /// The first row of the second half of the rows for collect(), balancing the pixels read and evaluated.
    int collectSplit() const;
    /// Appends the values of the image rows [first, end) to the lists at `lists`, whose counts are `counts`.
    template <typename RowValues>
    void collectRows(int first, int end, const RowValues& rowValues, const std::array<double*, rowCount>& lists,
                     std::array<std::size_t, rowCount>& counts) const;
    static std::array<double*, rowCount> listsOf(ImageValues& values) {
        std::array<double*, rowCount> lists;
        for (std::size_t r = 0; r < rowCount; ++r) lists[r] = values.lists[r].data();
        return lists;
    }

    /// Bits of a pixel's code: AR_all, CH_central_meridian, then the category of rows 2 to 4 (1 to 3).
    static constexpr std::uint8_t arAllBit = 1;
    static constexpr std::uint8_t centralMeridianBit = 2;
    static constexpr int categoryShift = 2;

    /// The areas and filling factors of the rows.
    struct Summary {
        std::array<RegionAreas, rowCount> areas;
        std::array<double, rowCount> fillingFactors;
    };
    struct Inputs;
    struct Counts;
    /// Reads the rows [first, end) of the maps and sets their codes, counting into `counts`; an error reading a
    /// map is left in `counts` (chError or arError) and ends the work.
    void buildCodes(const Inputs& inputs, int first, int end, Counts& counts);
    /// AR_total on row j of the CH grid: the AR map, whose rows the alignment reads are in `rows`, aligned with
    /// the majority interpolation (0 where the alignment falls outside the map). `positions` is scratch space
    /// for a row's sample positions.
    void alignedArRow(const Alignment& alignment, const RowWindow<std::int32_t>& rows, int j,
                      SamplePosition* positions, std::int32_t* out) const;
    /// What rowCodes() counts on a row.
    struct RowCodeCounts {
        std::size_t arNonZero;  ///< pixels with AR_total != 0
        std::size_t arAll;      ///< pixels of AR_all
        std::size_t chOnDisc;   ///< pixels of the categories CH_ondisc, AR_ondisc and QS_ondisc (compat 8.7)
        std::size_t arOnDisc;
        std::size_t qsOnDisc;
    };
    /// The codes of a row of the CH grid (the central-meridian bit is set afterwards) from its CH map row and its
    /// AR_total row, AR_ondisc and CH_ondisc being those rows within the disc columns `arDisc` and `chDisc` (0
    /// elsewhere). Each pixel goes to the first category that matches (compat 8.7). Written with selects and
    /// counts, no branch, so that the compiler vectorises it.
    static RowCodeCounts rowCodes(const std::int32_t* chRow, const std::int32_t* arTotal, int width,
                                  std::pair<int, int> arDisc, std::pair<int, int> chDisc, std::uint32_t chClass,
                                  std::uint32_t arClass, std::uint8_t* code);
    /// Sets the codes of row j from its CH map row and its AR_total row; `decisions` is room for a row of the
    /// strip's decisions.
    void buildRow(const Inputs& inputs, int j, const std::int32_t* chRow, const std::int32_t* arTotal,
                  CentralMeridianStrip::Decision* decisions, Counts& counts);

    /// Sums the areas in scan order (compat 10.5) and computes the filling factors.
    Summary summarize(std::size_t arNonZero, std::size_t centralMeridianNonZero) const;

    int width_ = 0;
    int height_ = 0;
    SunWcs chWcs_;
    SunWcs arWcs_;  ///< AR_total's WCS: the AR map's, as updated by its alignment onto CH
    std::vector<std::uint8_t> codes_;
    std::vector<std::pair<int, int>> columns_;  ///< per image row, the columns [first, end) of its non-zero codes
    std::array<std::vector<std::size_t>, rowCount> fedBefore_;  ///< per CSV row, pixels fed by the image rows < j
    std::array<std::size_t, rowCount> pixels_{};  ///< pixels fed to each row
    std::shared_future<Summary> summary_;
};

template <typename RowValues>
void StaffRegions::collectRows(int first, int end, const RowValues& rowValues, const std::array<double*, rowCount>& lists,
                               std::array<std::size_t, rowCount>& n) const {
    std::vector<double> rowValue(static_cast<std::size_t>(width_));
    double sink = 0.0;  // where a value that joins no list is written, so that the appends need no branch
    for (int j = first; j < end; ++j) {
        const auto [column, columnEnd] = columns_[static_cast<std::size_t>(j)];
        if (columnEnd <= column) continue;
        const std::size_t count = static_cast<std::size_t>(columnEnd - column);
        const std::uint8_t* code = codes_.data() + static_cast<std::size_t>(j) * width_ + column;
        rowValues(j, column, count, rowValue.data());
        // A row that feeds neither AR_all nor CH_central_meridian (most rows; fedBefore_ says) appends to one list.
        const auto row = static_cast<std::size_t>(j);
        const bool allLists =
            fedBefore_[0][row + 1] != fedBefore_[0][row] || fedBefore_[1][row + 1] != fedBefore_[1][row];
        const auto append = [&](auto all) {
            for (std::size_t k = 0; k < count; ++k) {
                const double v = rowValue[k];
                const unsigned c = std::isfinite(v) ? code[k] : 0u;
                if constexpr (decltype(all)::value) {
                    const bool arAll = c & arAllBit;
                    const bool centralMeridian = c & centralMeridianBit;
                    *(arAll ? lists[0] + n[0] : &sink) = v;
                    n[0] += arAll;
                    *(centralMeridian ? lists[1] + n[1] : &sink) = v;
                    n[1] += centralMeridian;
                }
                const unsigned category = c >> categoryShift;  // the list of row 1 + category; none for 0
                const bool categorized = category != 0;
                const std::size_t list = categorized ? 1 + category : 2;
                *(categorized ? lists[list] + n[list] : &sink) = v;
                n[list] += categorized;
            }
        };
        if (allLists) {
            append(std::true_type{});
        } else {
            append(std::false_type{});
        }
    }
}

template <typename ForRows>
void StaffRegions::collect(ForRows forRows, ImageValues& values) const {
    for (std::size_t r = 0; r < rowCount; ++r) values.lists[r].resize(pixels_[r]);
    values.counts = {};
    const std::array<double*, rowCount> lists = listsOf(values);
    const auto into = [this, &lists](std::array<std::size_t, rowCount>& counts) {
        return [this, &lists, &counts](int first, int end, const auto& rowValues) {
            collectRows(first, end, rowValues, lists, counts);
        };
    };
    const int mid = collectSplit();
    if (!multithreaded() || mid <= 0 || mid >= height_) {
        forRows(0, height_, into(values.counts));
        return;
    }
    // The second half starts where the first half's pixels end, when all their values are finite.
    std::array<std::size_t, rowCount> secondStart;
    for (std::size_t r = 0; r < rowCount; ++r) secondStart[r] = fedBefore_[r][static_cast<std::size_t>(mid)];
    std::array<std::size_t, rowCount> secondEnd = secondStart;
    runTasks(2, [&](unsigned task) {
        if (task == 0) {
            forRows(0, mid, into(values.counts));
        } else {
            forRows(mid, height_, into(secondEnd));
        }
    });
    for (std::size_t r = 0; r < rowCount; ++r) {
        if (values.counts[r] != secondStart[r]) {  // the first half skipped non-finite values: close the gap
            std::copy(lists[r] + secondStart[r], lists[r] + secondEnd[r], lists[r] + values.counts[r]);
        }
        values.counts[r] += secondEnd[r] - secondStart[r];
    }
}

}  // namespace spoca
