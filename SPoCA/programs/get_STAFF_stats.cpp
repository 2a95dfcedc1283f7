// get_STAFF_stats.x: STAFF statistics of coronal holes, active regions and quiet Sun in EUV images,
// from a CH and an AR segmentation map (spec section 8).
//
// Usage: get_STAFF_stats.x [options] CHSegmentedMap ARSegmentedMap fitsFile [fitsFile ...]
// One CSV per image. Exit status 0 on success, 1 when the run cannot start, an image could not be used or a
// CSV could not be written.

#include <array>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "../lib/arguments.hpp"
#include "../lib/error.hpp"
#include "../lib/file_paths.hpp"
#include "../lib/header_template.hpp"
#include "../lib/input_checks.hpp"
#include "../lib/memory_bound.hpp"
#include "../lib/parallel.hpp"
#include "../lib/registered_image.hpp"
#include "../lib/staff_regions.hpp"
#include "../lib/staff_statistics.hpp"
#include "../lib/sun_image.hpp"
#include "../lib/temporary_file.hpp"

namespace {

using namespace spoca;

/// Memory per pixel of the maps' grid, for the memory bound: the peak at 4096x4096 is about 12 bytes per
/// pixel (make bench), rounded up.
constexpr double bytesPerMapPixel = 14.0;

/// Reads a map and checks that its WCS can place its pixels on the Sun (issue 12).
SegmentationMap readUsableMap(const std::string& path, const MemoryBound& bound) {
    SegmentationMap map = readSegmentationMap(path, bound);
    checkUsableMapWcs(map.header, map.wcs);
    return map;
}

/// The CH map and, unless its path is the same, the AR map, read at the same time (spec 8.4).
/// The CH map's error is reported first when both fail.
std::pair<SegmentationMap, std::optional<SegmentationMap>> readMaps(const std::string& chPath,
                                                                    const std::string& arPath,
                                                                    const MemoryBound& bound) {
    SegmentationMap ch;
    std::optional<SegmentationMap> ar;
    runTasks(arPath == chPath ? 1u : 2u, [&](unsigned task) {
        if (task == 0) {
            ch = readUsableMap(chPath, bound);
        } else {
            ar = readUsableMap(arPath, bound);
        }
    });
    return {std::move(ch), std::move(ar)};
}

/// The statistics of the five rows for one image, computed in two threads (the largest row alone).
std::array<RegionStatistics, StaffRegions::rowCount> computeRows(const StaffRegions& regions,
                                                                  std::array<std::vector<double>, StaffRegions::rowCount>& values) {
    std::array<RegionStatistics, StaffRegions::rowCount> rows{};
    std::size_t largest = 0;
    for (std::size_t r = 1; r < values.size(); ++r) {
        if (values[r].size() > values[largest].size()) largest = r;
    }
    runTasks(2, [&](unsigned task) {
        for (std::size_t r = 0; r < values.size(); ++r) {
            if ((r == largest) == (task == 1)) {
                rows[r] = regionStatistics(values[r], regions.areas(r), regions.fillingFactor(r));
            }
        }
    });
    return rows;
}

struct Settings {
    ImageType imageType;
    std::string preprocessing;
    std::string separator;
    std::string chPath;
    std::string arPath;
    std::string output;
    bool outputIsDirectory;
    MemoryBound memoryBound;
};

/// The CSV of an image whose statistics are computed in the background while the next image is read.
struct PendingCsv {
    std::string name;
    std::future<std::string> text;
};

/// Writes the pending CSV, if any, once its statistics are done; false when it could not be written.
/// Quirk Q10, deliberately changed (issue 12): the failure is reported on stderr and makes the exit
/// status 1, the other images are still done; no partial CSV is left.
bool writePending(std::optional<PendingCsv>& pending) {
    if (!pending) return true;
    const std::string text = pending->text.get();
    const std::string name = pending->name;
    pending.reset();
    try {
        writeFileAtomically(name, text);
        return true;
    } catch (const Error& e) {
        std::cerr << "Error: " << e.what() << "\n";
        return false;
    }
}

/// Spec 8.6 steps 3 to 7 for one existing image file: reads and aligns the image, collects the values
/// of the five rows, writes the previous image's CSV, then starts computing this image's statistics
/// (left in `pending`). Throws spoca::Error when the image cannot be used.
/// Returns false when the previous image's CSV could not be written.
bool processImage(const std::string& path, const StaffRegions& regions, const Settings& settings,
                  std::optional<PendingCsv>& pending) {
    RegisteredImage image(path, settings.imageType, regions.chWcs(), settings.preprocessing, settings.memoryBound);
    if (image.width() != regions.width() || image.height() != regions.height()) {
        throw Error(path + ": the image is " + std::to_string(image.width()) + "x" + std::to_string(image.height()) +
                    " pixels but the maps are " + std::to_string(regions.width()) + "x" +
                    std::to_string(regions.height()));
    }
    const std::string mismatch = similarityProblem(regions.chWcs(), image.wcs());
    if (!mismatch.empty()) {
        std::cerr << "Warning: image " << path << " and the CHSegmentedMap " << settings.chPath
                  << " are not similar: " << mismatch << "\n";
    }

    // The statistics of the previous image run while this one is read, so both images' values are held
    // for a while; when that would take too much memory, the previous CSV is finished first.
    constexpr std::size_t overlapBudget = std::size_t{190} << 20;
    bool written = true;
    if (2 * regions.valueCapacity() * sizeof(double) > overlapBudget) written = writePending(pending);
    auto values = regions.emptyValues();
    image.forEachBlock(
        [&regions, &values](int first, int end, const auto& rowValues) {
            regions.collect(first, end, rowValues, values);
        });
    written = writePending(pending) && written;
    const std::string name = settings.outputIsDirectory
                                 ? settings.output + "/" + stem(settings.chPath) + "_and_" +
                                       stem(settings.arPath) + "_on_" + stem(path) + ".csv"
                                 : settings.output + "_on_" + stem(path) + ".csv";
    auto text = [&regions, values = std::move(values), channel = image.channel(),
                 observation = image.observationTime(), separator = settings.separator]() mutable {
        const auto rows = computeRows(regions, values);
        std::string csv = staffCsvHeader(separator);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            csv += staffCsvRow(channel, staffRowTypes[r], observation, rows[r], separator);
        }
        return csv;
    };
    pending = PendingCsv{name, std::async(std::launch::async, std::move(text))};
    return written;
}

int run(int argc, char** argv) {
    Arguments arguments("get_STAFF_stats.x",
                        {"This Program computes STAFF stats for EUV images.", "Version: 3.0",
                         "Author: Benjamin Mampaey, benjamin.mampaey@sidc.be",
                         "Compiled on " __DATE__ " with options :", "EUVPixelType: d", "Real: d",
                         MemoryBound::helpText()});
    arguments.add("global", "imageType", 'I', std::string("Unknown"),
                  "The type of the images.\nPossible values: AIA, Unknown (AIA when INSTRUME contains AIA)");
    arguments.add("global", "statsPreprocessing", 'P', std::string("NAR=3"),
                  "The steps of preprocessing to apply to the sun images, after their alignment on the "
                  "CHSegmentedMap.\nPossible values: NAR (Nullify above radius), DivExpTime (Division by "
                  "Exposure Time), and the other steps of imagePreprocessing");
    arguments.add("global", "separator", 's', std::string(","), "The separator to put between columns.");
    arguments.add("global", "CHClass", 'c', std::nullopt, "The color corresponding to the CH class.");
    arguments.add("global", "ARClass", 'a', std::nullopt, "The color corresponding to the AR class.");
    arguments.add("global", "output", 'O', std::string("."),
                  "The name for the output file(s): an existing directory, or a prefix whose directory exists.");
    arguments.addPositional("CHSegmentedMap", "The segmentation map of the coronal holes (CH class: CHClass).");
    arguments.addPositional("ARSegmentedMap", "The segmentation map of the active regions (AR class: ARClass).");
    arguments.setRemaining("fitsFile", "Path to a fits file (names may contain {KEYWORD} of the CH map header).",
                           1, 0);
    if (const auto status = arguments.parse(argc, argv, std::cout, std::cerr)) return *status;

    if (!arguments.isSet("global", "CHClass")) {
        std::cerr << "Error: You need to specify the Coronal Hole class!\n";
        return 1;
    }
    if (!arguments.isSet("global", "ARClass")) {
        std::cerr << "Error: You need to specify the Active Region class!\n";
        return 1;
    }
    Settings settings{parseImageType(arguments.text("global", "imageType")),
                      arguments.text("global", "statsPreprocessing"),
                      arguments.text("global", "separator"),
                      arguments.positional("CHSegmentedMap"),
                      arguments.positional("ARSegmentedMap"),
                      arguments.text("global", "output"),
                      false,
                      MemoryBound::fromEnvironment(bytesPerMapPixel)};
    const unsigned chClass = arguments.natural("global", "CHClass");
    const unsigned arClass = arguments.natural("global", "ARClass");
    settings.outputIsDirectory = isDirectory(settings.output);
    if (!settings.outputIsDirectory) {
        const std::string directory = folderOf(settings.output);
        if (!directory.empty() && !isDirectory(directory)) {
            std::cerr << "Error : " << directory << " is not a directory!\n";
            return 1;
        }
    }

    // Spec 8.4: the CH map, and the AR map unless it is the same path. Only the CH header is kept
    // after the regions are built.
    FitsHeader chHeader;
    std::optional<StaffRegions> regions;
    {
        const auto [ch, ar] = readMaps(settings.chPath, settings.arPath, settings.memoryBound);
        regions.emplace(ch, ar ? &*ar : nullptr, chClass, arClass);
        chHeader = ch.header;
    }

    int status = 0;
    std::optional<PendingCsv> pending;
    for (const std::string& argument : arguments.remaining()) {
        const ExpandedTemplate expanded = expandHeaderTemplate(argument, chHeader);
        for (const std::string& warning : expanded.warnings) std::cerr << warning << "\n";
        if (!isRegularFile(expanded.text)) {
            std::cerr << "Error : Could not find " << expanded.text << "!\n";
            status = 1;
            continue;
        }
        try {
            if (!processImage(expanded.text, *regions, settings, pending)) status = 1;
        } catch (const Error& e) {
            std::cerr << "Error: " << e.what() << "\n";
            status = 1;
        }
    }
    if (!writePending(pending)) status = 1;
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    return spoca::runReportingErrors(run, argc, argv, "Error: ");
}
