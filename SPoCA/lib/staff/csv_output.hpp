// The STAFF CSV of one image: its name, its text and its atomic write (compat 8.6, 8.8).
#pragma once

#include <ctime>
#include <iosfwd>
#include <string>

#include "staff/regions.hpp"

namespace spoca {

/// The CSV file of the image `imagePath` (compat 8.6 step 7): in directory mode
/// OUTPUT/S(CH)_and_S(AR)_on_S(image).csv, else OUTPUT_on_S(image).csv, S being the stem of a path.
std::string staffCsvPath(const std::string& output, bool outputIsDirectory, const std::string& chPath,
                         const std::string& arPath, const std::string& imagePath);

/// The CSV text of one image (compat 8.7, 8.8): the header line and the five rows, whose statistics are
/// computed from `values` (the rows' value lists of the image, reordered by the selections) in two threads,
/// the largest row alone.
std::string staffCsvText(const StaffRegions& regions, StaffRegions::ImageValues& values,
                         const std::string& channel, std::time_t observationTime, const std::string& separator);

/// Writes the CSV text of an image atomically. Quirk Q10, deliberately changed (issue 12): a failure is reported
/// on `err` ("Error: <message>") and gives false, and no partial CSV is left.
bool writeStaffCsv(const std::string& path, const std::string& text, std::ostream& err);

}  // namespace spoca
