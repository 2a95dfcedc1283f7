#include "staff/regions.hpp"

#include <atomic>

#include "core/constants.hpp"
#include "core/error.hpp"
#include "core/input_checks.hpp"
#include "core/parallel.hpp"
#include "staff/heliographic.hpp"
#include "staff/registration.hpp"

namespace spoca {

namespace {

/// AR_total's WCS (compat 8.4 step 3): the AR map's after its alignment onto CH, or CH's own.
SunWcs arTotalWcs(const SegmentationMap& ch, const SegmentationMap* ar) {
    if (ar == nullptr) return ch.wcs;
    return Alignment(ar->wcs, ch.wcs).alignedWcs(ar->wcs);
}

/// The NAR=1 rule of compat 3.2 on a map: is pixel (i, j) beyond 1.0 R of the WCS's centre?
bool beyondDisc(const SunWcs& wcs, int i, int j) {
    const double x = i - wcs.centerX;
    const double y = j - wcs.centerY;
    return x * x + y * y > 1.0 * 1.0 * wcs.sunRadius * wcs.sunRadius;
}

std::string sizeText(const Image<std::int32_t>& image) {
    return std::to_string(image.width()) + "x" + std::to_string(image.height());
}

/// Reads a map and checks that its WCS can place its pixels on the Sun (issue 12).
SegmentationMap readUsableMap(const std::string& path, const MemoryBound& bound) {
    SegmentationMap map = readSegmentationMap(path, bound);
    checkUsableMapWcs(map.header, map.wcs);
    return map;
}

}  // namespace

StaffMaps readStaffMaps(const std::string& chPath, const std::string& arPath, const MemoryBound& bound) {
    StaffMaps maps;
    runTasks(arPath == chPath ? 1u : 2u, [&](unsigned task) {
        if (task == 0) {
            maps.ch = readUsableMap(chPath, bound);
        } else {
            maps.ar = readUsableMap(arPath, bound);
        }
    });
    return maps;
}

StaffRegions::StaffRegions(const SegmentationMap& ch, const SegmentationMap* ar, std::uint32_t chClass,
                           std::uint32_t arClass)
    : width_(ch.pixels.width()),
      height_(ch.pixels.height()),
      chWcs_(ch.wcs),
      arWcs_(arTotalWcs(ch, ar)) {
    if (ar != nullptr) {
        if (ar->pixels.width() != width_ || ar->pixels.height() != height_) {
            throw Error(ar->path + ": the AR map is " + sizeText(ar->pixels) + " pixels but the CH map " + ch.path +
                        " is " + sizeText(ch.pixels));
        }
        if (width_ < 2 || height_ < 2) throw Error(ar->path + ": map too small to be aligned (" + sizeText(ar->pixels) + ")");
    }
    codes_.assign(static_cast<std::size_t>(width_) * height_, 0);
    const Alignment alignment = ar ? Alignment(ar->wcs, ch.wcs) : Alignment(ch.wcs, ch.wcs);
    const AlignedView<std::int32_t> arView(ar ? ar->pixels : ch.pixels, alignment, 0);
    const CentralMeridianStrip strip(chWcs_, 15 * pi / 180);
    const auto majority = [](const std::int32_t* p, std::size_t w, const SamplePosition& s) {
        return majorityAt(p, w, s);
    };
    std::atomic<std::size_t> arNonZero{0};
    std::atomic<std::size_t> centralMeridianNonZero{0};
    std::array<std::atomic<std::size_t>, rowCount> fed{};

    forEachRowBlock(
        height_,
        [&](int first, int end) {
            std::size_t arCount = 0;
            std::size_t limitedCount = 0;
            std::array<std::size_t, rowCount> fedCount{};
            for (int j = first; j < end; ++j) {
                std::uint8_t* code = codes_.data() + static_cast<std::size_t>(j) * width_;
                const std::int32_t* chRow = ch.pixels.data() + static_cast<std::size_t>(j) * width_;
                for (int i = 0; i < width_; ++i) {
                    const auto arTotal = static_cast<std::uint32_t>(
                        ar ? arView.value(i, j, majority) : chRow[i]);
                    const std::uint32_t arOnDisc = beyondDisc(arWcs_, i, j) ? 0 : arTotal;
                    const std::uint32_t chOnDisc = beyondDisc(chWcs_, i, j) ? 0 : static_cast<std::uint32_t>(chRow[i]);
                    const std::uint32_t chLimited =
                        chOnDisc != 0 && strip.contains(i, j) ? chOnDisc : 0;
                    std::uint8_t c = 0;
                    if (arTotal == arClass) c |= arAllBit;
                    if (chLimited == chClass) c |= centralMeridianBit;
                    if (chOnDisc == chClass) {
                        c |= 1 << categoryShift;
                    } else if (arOnDisc == arClass) {
                        c |= 2 << categoryShift;
                    } else if (arOnDisc != 0 || chOnDisc != 0) {
                        c |= 3 << categoryShift;
                    }
                    code[i] = c;
                    arCount += arTotal != 0;
                    limitedCount += chLimited != 0;
                    fedCount[0] += c & arAllBit;
                    fedCount[1] += (c & centralMeridianBit) != 0;
                    const int category = c >> categoryShift;
                    if (category) ++fedCount[static_cast<std::size_t>(1 + category)];
                }
            }
            arNonZero += arCount;
            centralMeridianNonZero += limitedCount;
            for (std::size_t r = 0; r < rowCount; ++r) fed[r] += fedCount[r];
        },
        std::min(2u, defaultThreads()));

    for (std::size_t r = 0; r < rowCount; ++r) pixels_[r] = fed[r];
    summary_ = startTask([this, arNonZero = arNonZero.load(), centralMeridianNonZero = centralMeridianNonZero.load()] {
                   return summarize(arNonZero, centralMeridianNonZero);
               }).share();
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

std::array<std::vector<double>, StaffRegions::rowCount> StaffRegions::emptyValues() const {
    std::array<std::vector<double>, rowCount> values;
    for (std::size_t r = 0; r < rowCount; ++r) values[r].reserve(pixels_[r]);
    return values;
}

std::size_t StaffRegions::valueCapacity() const {
    std::size_t total = 0;
    for (const std::size_t n : pixels_) total += n;
    return total;
}

}  // namespace spoca
