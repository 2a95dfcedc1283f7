// The STAFF CSV of one image: its name, its text, and its write while the next image is read (compat 8.6, 8.8).
#pragma once

#include <array>
#include <cstddef>
#include <ctime>
#include <future>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "staff/regions.hpp"

namespace spoca {

/// How much memory the value lists of two images may take together for the statistics of one image to be
/// computed while the next one is read: 190 MiB. With the rest of the run at 4096x4096 (region codes, one byte
/// per pixel, the rows being read and the program itself: about 45 MiB) that stays below get_STAFF_stats'
/// 240 MiB target (make bench). The lists of one 4096x4096 AIA image hold about 8.8 million values (67 MiB),
/// so the pipeline's images do overlap; larger images finish the previous CSV first.
constexpr std::size_t overlappedValuesBudgetBytes = std::size_t{190} << 20;

/// Whether the statistics of the previous image may still be running while the values of the next are
/// collected (both images' value lists held at once) within overlappedValuesBudgetBytes.
bool valuesOfTwoImagesFit(const StaffRegions& regions);

/// The CSV file of the image `imagePath` (compat 8.6 step 7): in directory mode
/// OUTPUT/S(CH)_and_S(AR)_on_S(image).csv, else OUTPUT_on_S(image).csv, S being the stem of a path.
std::string staffCsvPath(const std::string& output, bool outputIsDirectory, const std::string& chPath,
                         const std::string& arPath, const std::string& imagePath);

/// The CSV text of one image (compat 8.7, 8.8): the header line and the five rows, whose statistics are
/// computed from `values` (the rows' value lists of the image, reordered by the selections) in two threads,
/// the largest row alone.
std::string staffCsvText(const StaffRegions& regions, StaffRegions::ImageValues& values,
                         const std::string& channel, std::time_t observationTime, const std::string& separator);

/// The CSV of an image whose text is computed in the background while the next image is read.
class PendingCsv {
public:
    PendingCsv(std::string path, std::future<std::string> text) : path_(std::move(path)), text_(std::move(text)) {}

    /// Waits for the text and writes it atomically. Quirk Q10, deliberately changed (issue 12): a failure is
    /// reported on `err` ("Error: <message>") and gives false, and no partial CSV is left.
    bool write(std::ostream& err);

private:
    std::string path_;
    std::future<std::string> text_;
};

/// Writes the pending CSV, if any, and leaves `pending` empty; true when there was none or it was written.
bool writePending(std::optional<PendingCsv>& pending, std::ostream& err);

}  // namespace spoca
