// get_STAFF_stats.x: STAFF statistics of coronal holes, active regions and quiet Sun in EUV images,
// from a CH and an AR segmentation map (compat 8).
//
// Usage: get_STAFF_stats.x [options] CHSegmentedMap ARSegmentedMap fitsFile [fitsFile ...]
// One CSV per image. Exit status 0 on success, 1 when the run cannot start, an image could not be used or a
// CSV could not be written.

#include <array>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "core/arguments.hpp"
#include "core/error.hpp"
#include "core/file_paths.hpp"
#include "core/input_checks.hpp"
#include "core/memory_bound.hpp"
#include "core/parallel.hpp"
#include "core/sun_image.hpp"
#include "staff/csv_output.hpp"
#include "staff/file_name_template.hpp"
#include "staff/registered_image.hpp"
#include "staff/regions.hpp"

namespace {

using namespace spoca;

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

/// Compat 8.6 steps 3 to 7 for one existing image file: reads and aligns the image, collects the values of the
/// five rows into `values` (kept from image to image, so that their memory is touched once in a run), computes
/// the statistics and writes the CSV. Throws spoca::Error when the image cannot be used. Returns false when the
/// CSV could not be written.
bool processImage(const std::string& path, const StaffRegions& regions, const Settings& settings,
                  StaffRegions::ImageValues& values) {
    const RegisteredImage image(path, settings.imageType, regions.chWcs(), settings.preprocessing,
                                settings.memoryBound);
    checkImageFitsMaps(path, image.width(), image.height(), regions.width(), regions.height());
    warnIfNotSimilar(std::cerr, path, "the CHSegmentedMap " + settings.chPath, regions.chWcs(), image.wcs());
    regions.collect([&image](int first, int end, const auto& visit) { image.forEachBlock(first, end, visit); },
                    values);
    const std::string text =
        staffCsvText(regions, values, image.channel(), image.observationTime(), settings.separator);
    return writeStaffCsv(staffCsvPath(settings.output, settings.outputIsDirectory, settings.chPath, settings.arPath, path),
                         text, std::cerr);
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
    defaultThreads();  // a bad SPOCA_THREADS stops the run before any work

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
                      MemoryBound::fromEnvironment(staffBytesPerMapPixel)};
    const unsigned chClass = arguments.natural("global", "CHClass");
    const unsigned arClass = arguments.natural("global", "ARClass");
    try {
        settings.outputIsDirectory = outputIsDirectory(settings.output);
    } catch (const Error& e) {
        std::cerr << "Error : " << e.what() << "\n";
        return 1;
    }

    // Compat 8.4: the CH map, and the AR map unless it is the same path. Only the CH header is kept
    // after the regions are built.
    FitsHeader chHeader;
    std::optional<StaffRegions> regions;
    {
        const StaffMaps maps = openStaffMaps(settings.chPath, settings.arPath, settings.memoryBound);
        regions.emplace(maps.ch, maps.ar ? &*maps.ar : nullptr, chClass, arClass);
        chHeader = maps.ch.header;
    }

    int status = 0;
    StaffRegions::ImageValues values;
    for (const std::string& argument : arguments.remaining()) {
        const ExpandedTemplate expanded = expandFileNameTemplate(argument, chHeader);
        for (const std::string& warning : expanded.warnings) std::cerr << warning << "\n";
        if (!isRegularFile(expanded.text)) {
            std::cerr << "Error : Could not find " << expanded.text << "!\n";
            status = 1;
            continue;
        }
        try {
            if (!processImage(expanded.text, *regions, settings, values)) status = 1;
        } catch (const Error& e) {
            std::cerr << "Error: " << e.what() << "\n";
            status = 1;
        }
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    return spoca::runReportingErrors(run, argc, argv, "Error: ");
}
