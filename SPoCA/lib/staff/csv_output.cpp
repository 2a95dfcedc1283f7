#include "staff/csv_output.hpp"

#include <algorithm>
#include <ostream>

#include "core/error.hpp"
#include "core/file_paths.hpp"
#include "core/parallel.hpp"
#include "core/temporary_file.hpp"
#include "staff/statistics.hpp"

namespace spoca {

std::string staffCsvPath(const std::string& output, bool outputIsDirectory, const std::string& chPath,
                         const std::string& arPath, const std::string& imagePath) {
    if (outputIsDirectory) return output + "/" + stem(chPath) + "_and_" + stem(arPath) + "_on_" + stem(imagePath) + ".csv";
    return output + "_on_" + stem(imagePath) + ".csv";
}

std::string staffCsvText(const StaffRegions& regions, StaffRegions::ImageValues& values,
                         const std::string& channel, std::time_t observationTime, const std::string& separator) {
    std::array<RegionStatistics, StaffRegions::rowCount> rows{};
    const auto& counts = values.counts;
    const std::size_t largest = static_cast<std::size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    const unsigned tasks = std::min(2u, defaultThreads());
    runTasks(tasks, [&](unsigned task) {
        for (std::size_t r = 0; r < StaffRegions::rowCount; ++r) {
            if (tasks == 1 || (r == largest) == (task == 1)) {
                rows[r] = regionStatistics(values.lists[r].data(), counts[r], regions.areas(r), regions.fillingFactor(r));
            }
        }
    });
    std::string csv = staffCsvHeader(separator);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        csv += staffCsvRow(channel, staffRowTypes[r], observationTime, rows[r], separator);
    }
    return csv;
}

bool writeStaffCsv(const std::string& path, const std::string& text, std::ostream& err) {
    try {
        writeFileAtomically(path, text);
        return true;
    } catch (const Error& e) {
        err << "Error: " << e.what() << "\n";
        return false;
    }
}

}  // namespace spoca
