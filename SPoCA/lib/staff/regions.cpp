#include "staff/regions.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "core/constants.hpp"
#include "core/error.hpp"
#include "core/fits_file.hpp"
#include "core/input_checks.hpp"
#include "core/parallel.hpp"
#include "core/row_intervals.hpp"

namespace spoca {

namespace {

/// AR_total's WCS (compat 8.4 step 3): the AR map's after its alignment onto CH, or CH's own.
SunWcs arTotalWcs(const SegmentationMap& ch, const SegmentationMap* ar) {
    if (ar == nullptr) return ch.wcs;
    return Alignment(ar->wcs, ch.wcs).alignedWcs(ar->wcs);
}

/// The columns of row j within 1.0 R of the WCS's centre: those that the NAR=1 rule of compat 3.2 keeps on a map.
std::pair<int, int> discColumns(const SunWcs& wcs, int j, int width) {
    return columnsWithinRadius(wcs.centerX, wcs.centerY, 1.0 * 1.0 * wcs.sunRadius * wcs.sunRadius, j, 0, width);
}

std::string sizeText(const SegmentationMap& map) {
    return std::to_string(map.width) + "x" + std::to_string(map.height);
}

/// Opens a map and checks that its WCS can place its pixels on the Sun (issue 12).
SegmentationMap openUsableMap(const std::string& path, const MemoryBound& bound) {
    SegmentationMap map = openSegmentationMap(path, bound);
    checkUsableMapWcs(map.header, map.wcs);
    return map;
}

/// Map rows read at a time by each thread building the codes.
constexpr int chunkRows = 64;

}  // namespace

StaffMaps openStaffMaps(const std::string& chPath, const std::string& arPath, const MemoryBound& bound) {
    StaffMaps maps{openUsableMap(chPath, bound), std::nullopt};
    if (arPath != chPath) maps.ar = openUsableMap(arPath, bound);
    return maps;
}

/// What the threads building the codes share: the maps, AR's alignment onto CH and the strip of CH_limited.
struct StaffRegions::Inputs {
    const SegmentationMap& ch;
    const SegmentationMap* ar;
    Alignment alignment;  ///< of AR onto CH
    CentralMeridianStrip strip;
    std::uint32_t chClass;
    std::uint32_t arClass;
};

/// What one thread counts while building the codes of its rows.
struct StaffRegions::Counts {
    std::size_t arNonZero = 0;
    std::size_t centralMeridianNonZero = 0;
    std::array<std::size_t, rowCount> fed{};
    std::exception_ptr chError;  ///< the CH map's rows could not be read
    std::exception_ptr arError;  ///< the AR map's rows could not be read
};

StaffRegions::StaffRegions(const SegmentationMap& ch, const SegmentationMap* ar, std::uint32_t chClass,
                           std::uint32_t arClass)
    : width_(ch.width),
      height_(ch.height),
      chWcs_(ch.wcs),
      arWcs_(arTotalWcs(ch, ar)) {
    if (ar != nullptr) {
        if (ar->width != width_ || ar->height != height_) {
            throw Error(ar->path + ": the AR map is " + sizeText(*ar) + " pixels but the CH map " + ch.path + " is " +
                        sizeText(ch));
        }
        if (width_ < 2 || height_ < 2) throw Error(ar->path + ": map too small to be aligned (" + sizeText(*ar) + ")");
    }
    codes_.assign(static_cast<std::size_t>(width_) * height_, 0);
    columns_.assign(static_cast<std::size_t>(height_), {0, 0});
    for (auto& fed : fedBefore_) fed.assign(static_cast<std::size_t>(height_) + 1, 0);
    const Inputs inputs{ch, ar, ar ? Alignment(ar->wcs, ch.wcs) : Alignment(ch.wcs, ch.wcs),
                        CentralMeridianStrip(chWcs_, 15 * pi / 180), chClass, arClass};

    // The rows are split between (at most) two threads, each reading its rows of both maps through handles of
    // its own, a chunk at a time: the maps are never held whole.
    const unsigned threads =
        std::min({2u, defaultThreads(), static_cast<unsigned>(std::max(1, height_ / chunkRows))});
    const int block = (height_ + static_cast<int>(threads) - 1) / static_cast<int>(threads);
    std::vector<Counts> counts(threads);
    runTasks(threads, [&](unsigned task) {
        const int first = static_cast<int>(task) * block;
        buildCodes(inputs, first, std::min(height_, first + block), counts[task]);
    });
    // A map that cannot be read: the CH map's error first, as when the maps were read whole.
    for (const Counts& c : counts) {
        if (c.chError) std::rethrow_exception(c.chError);
    }
    for (const Counts& c : counts) {
        if (c.arError) std::rethrow_exception(c.arError);
    }
    for (auto& fed : fedBefore_) {  // per-row counts to counts of the rows before
        for (std::size_t j = 1; j < fed.size(); ++j) fed[j] += fed[j - 1];
    }
    std::size_t arNonZero = 0;
    std::size_t centralMeridianNonZero = 0;
    for (const Counts& c : counts) {
        arNonZero += c.arNonZero;
        centralMeridianNonZero += c.centralMeridianNonZero;
        for (std::size_t r = 0; r < rowCount; ++r) pixels_[r] += c.fed[r];
    }
    summary_ = startTask([this, arNonZero, centralMeridianNonZero] {
                   return summarize(arNonZero, centralMeridianNonZero);
               }).share();
}

void StaffRegions::buildCodes(const Inputs& in, int first, int end, Counts& counts) {
    if (first >= end) return;
    // The first thread reads through the maps' own handles, the other through handles of its own (cfitsio is
    // built reentrant, one handle per thread).
    std::optional<FitsFile> chOwn;
    std::optional<FitsFile> arOwn;
    const FitsFile* chFile = &in.ch.file;
    const FitsFile* arFile = in.ar ? &in.ar->file : nullptr;
    try {
        if (first != 0) chFile = &chOwn.emplace(FitsFile::openImage(in.ch.path));
    } catch (...) {
        counts.chError = std::current_exception();
        return;
    }
    try {
        if (first != 0 && in.ar) arFile = &arOwn.emplace(FitsFile::openImage(in.ar->path));
    } catch (...) {
        counts.arError = std::current_exception();
        return;
    }
    // The AR rows a chunk's alignment reads: a window sliding down the AR map, as large as the largest chunk needs.
    int capacity = 0;
    for (int c = first; c < end && in.ar; c += chunkRows) {
        const auto [sourceFirst, sourceEnd] = sourceRowRange(in.alignment, width_, height_, c, std::min(end, c + chunkRows));
        capacity = std::max(capacity, sourceEnd - sourceFirst);
    }
    RowWindow<std::int32_t> arRows(width_, in.ar ? capacity : 0);
    std::vector<std::int32_t> chRows(static_cast<std::size_t>(chunkRows) * width_);
    std::vector<std::int32_t> arTotalRow(static_cast<std::size_t>(width_));
    std::vector<SamplePosition> positions(static_cast<std::size_t>(width_));
    std::vector<CentralMeridianStrip::Decision> decisions(static_cast<std::size_t>(width_));
    for (int c = first; c < end; c += chunkRows) {
        const int chunkEnd = std::min(end, c + chunkRows);
        try {
            chFile->readIntRows(c, chunkEnd, chRows.data());
        } catch (...) {
            counts.chError = std::current_exception();
            return;
        }
        if (in.ar) {
            const auto [sourceFirst, sourceEnd] = sourceRowRange(in.alignment, width_, height_, c, chunkEnd);
            try {
                arRows.hold(sourceFirst, sourceEnd, [arFile](int r, int rEnd, std::int32_t* out) {
                    arFile->readIntRows(r, rEnd, out);
                });
            } catch (...) {
                counts.arError = std::current_exception();
                return;
            }
        }
        for (int j = c; j < chunkEnd; ++j) {
            const std::int32_t* chRow = chRows.data() + static_cast<std::size_t>(j - c) * width_;
            const std::int32_t* arTotal = chRow;
            if (in.ar) {
                alignedArRow(in.alignment, arRows, j, positions.data(), arTotalRow.data());
                arTotal = arTotalRow.data();
            }
            buildRow(in, j, chRow, arTotal, decisions.data(), counts);
        }
    }
}

void StaffRegions::alignedArRow(const Alignment& alignment, const RowWindow<std::int32_t>& rows, int j,
                                SamplePosition* positions, std::int32_t* out) const {
    const auto [first, end] = sourceColumns(alignment, j, width_, height_, 0, width_);
    std::fill(out, out + first, 0);
    std::fill(out + end, out + width_, 0);
    if (first >= end) return;
    const float maxX = static_cast<float>(width_ - 1.001);
    const float maxY = static_cast<float>(height_ - 1.001);
    // The source row is monotone along the row: the window holds the rows of every column if it holds those of
    // the first and the last.
    for (const int i : {first, end - 1}) {
        const int iy = samplePosition(alignment, i, j, maxX, maxY).iy;
        if (iy < rows.first() || iy + 1 >= rows.end()) {
            throw Error("internal error: AR map row " + std::to_string(iy) + " outside the rows read [" +
                        std::to_string(rows.first()) + ", " + std::to_string(rows.end()) + ")");
        }
    }
    // The positions first, in a vectorised loop, then the interpolations.
    samplePositions(alignment, j, first, end, maxX, maxY, positions);
    int iy = positions[first].iy;  // the source row changes rarely along a row
    const std::int32_t* row = rows.row(iy);
    const std::int32_t* next = rows.row(iy + 1);
    for (int i = first; i < end; ++i) {
        const SamplePosition& p = positions[i];
        if (p.iy != iy) {
            iy = p.iy;
            row = rows.row(iy);
            next = rows.row(iy + 1);
        }
        out[i] = majorityAt(row, next, p);
    }
}

// With AVX2 where the processor has it (target_clones).
__attribute__((target_clones("avx2", "default"))) StaffRegions::RowCodeCounts StaffRegions::rowCodes(
    const std::int32_t* chRow, const std::int32_t* arTotal, int width, std::pair<int, int> arDisc,
    std::pair<int, int> chDisc, std::uint32_t chClass, std::uint32_t arClass, std::uint8_t* code) {
    std::uint32_t arNonZero = 0;  // a row has fewer than 2^32 pixels
    std::uint32_t arAll = 0;
    std::uint32_t ch = 0;
    std::uint32_t ar = 0;
    std::uint32_t qs = 0;
    for (int i = 0; i < width; ++i) {
        const auto total = static_cast<std::uint32_t>(arTotal[i]);
        const bool inArDisc = (i >= arDisc.first) & (i < arDisc.second);
        const bool inChDisc = (i >= chDisc.first) & (i < chDisc.second);
        const std::uint32_t arOnDisc = inArDisc ? total : 0;
        const std::uint32_t chOnDisc = inChDisc ? static_cast<std::uint32_t>(chRow[i]) : 0;
        const bool isCh = chOnDisc == chClass;
        const bool isAr = !isCh & (arOnDisc == arClass);
        const bool isQs = !isCh & !isAr & ((arOnDisc != 0) | (chOnDisc != 0));
        const bool isArAll = total == arClass;
        const std::uint32_t category = isCh ? 1u : isAr ? 2u : isQs ? 3u : 0u;
        code[i] = static_cast<std::uint8_t>((isArAll ? arAllBit : 0u) | category << categoryShift);
        arNonZero += total != 0;
        arAll += isArAll;
        ch += isCh;
        ar += isAr;
        qs += isQs;
    }
    return {arNonZero, arAll, ch, ar, qs};
}

void StaffRegions::buildRow(const Inputs& in, int j, const std::int32_t* chRow, const std::int32_t* arTotal,
                            CentralMeridianStrip::Decision* decisions, Counts& counts) {
    std::uint8_t* code = codes_.data() + static_cast<std::size_t>(j) * width_;
    // Off the discs AR_ondisc and CH_ondisc are 0 (NAR=1): only the columns within are tested.
    const auto [arFirst, arEnd] = discColumns(arWcs_, j, width_);
    const auto [chFirst, chEnd] = discColumns(chWcs_, j, width_);
    const RowCodeCounts row = rowCodes(chRow, arTotal, width_, {arFirst, arEnd}, {chFirst, chEnd}, in.chClass,
                                       in.arClass, code);
    std::array<std::size_t, rowCount> fed{row.arAll, 0, row.chOnDisc, row.arOnDisc, row.qsOnDisc};
    counts.arNonZero += row.arNonZero;
    // CH_limited: CH_ondisc where the strip keeps the pixel (the strip's cheap decisions for the row first).
    const auto [stripFirst, stripEnd] = in.strip.columnsToTest(j, chFirst, chEnd);
    in.strip.decideRow(j, stripFirst, stripEnd, decisions);
    for (int i = stripFirst; i < stripEnd; ++i) {
        const auto chOnDisc = static_cast<std::uint32_t>(chRow[i]);
        if (chOnDisc == 0 || !in.strip.decided(decisions[i - stripFirst], i, j)) continue;
        ++counts.centralMeridianNonZero;
        if (chOnDisc == in.chClass) {
            code[i] |= centralMeridianBit;
            ++fed[1];
        }
    }
    for (std::size_t r = 0; r < rowCount; ++r) {
        counts.fed[r] += fed[r];
        fedBefore_[r][static_cast<std::size_t>(j) + 1] = fed[r];
    }
    // The columns collect() visits: from the first to the last non-zero code.
    int first = 0;
    int end = width_;
    while (first < end && code[first] == 0) ++first;
    while (end > first && code[end - 1] == 0) --end;
    columns_[static_cast<std::size_t>(j)] = {first, end};
}

StaffRegions::~StaffRegions() {
    if (summary_.valid()) summary_.wait();
}

StaffRegions::Summary StaffRegions::summarize(std::size_t arNonZero, std::size_t centralMeridianNonZero) const {
    const PixelArea arArea(arWcs_.centerX, arWcs_.centerY, arWcs_.sunRadius);
    const PixelArea chArea(chWcs_.centerX, chWcs_.centerY, chWcs_.sunRadius);
    Summary summary{{RegionAreas(arArea), RegionAreas(chArea), RegionAreas(chArea), RegionAreas(chArea),
                     RegionAreas(chArea)},
                    {}};
    auto& areas = summary.areas;
    for (int j = 0; j < height_; ++j) {
        const std::uint8_t* code = codes_.data() + static_cast<std::size_t>(j) * width_;
        for (int i = 0; i < width_; ++i) {
            const std::uint8_t c = code[i];
            if (c == 0) continue;
            if (c & arAllBit) areas[0].add(i, j);
            if (c & centralMeridianBit) areas[1].add(i, j);
            const int category = c >> categoryShift;
            if (category) areas[static_cast<std::size_t>(1 + category)].add(i, j);
        }
    }
    auto& factors = summary.fillingFactors;
    factors[0] = spoca::fillingFactor(static_cast<double>(areas[0].pixels()), static_cast<double>(arNonZero));
    factors[1] = spoca::fillingFactor(static_cast<double>(areas[1].pixels()), static_cast<double>(centralMeridianNonZero));
    const double discArea = areas[2].areaRaw() + areas[3].areaRaw() + areas[4].areaRaw();
    for (std::size_t r = 2; r < rowCount; ++r) factors[r] = spoca::fillingFactor(areas[r].areaRaw(), discArea);
    return summary;
}

int StaffRegions::collectSplit() const {
    // Every row is read (decoding costs about half as much per pixel as evaluating one); only the columns of
    // non-zero codes are evaluated.
    const auto cost = [this](int j) {
        const auto [first, end] = columns_[static_cast<std::size_t>(j)];
        return static_cast<double>(width_) / 2 + std::max(0, end - first);
    };
    double total = 0;
    for (int j = 0; j < height_; ++j) total += cost(j);
    double before = 0;
    int mid = 0;
    while (mid < height_ && before + cost(mid) <= total / 2) before += cost(mid++);
    return mid;
}

}  // namespace spoca
