#include "classification/map_file_name.hpp"

#include <ctime>

namespace spoca {

namespace {

/// YYYYMMDD_HHMMSS of a time in UTC.
std::string timeText(std::time_t time) {
    std::tm parts{};
    gmtime_r(&time, &parts);
    char text[32] = {0};
    std::strftime(text, sizeof text, "%Y%m%d_%H%M%S", &parts);
    return text;
}

}  // namespace

std::string directoryModeMapPath(const std::string& directory, const std::string& classifierType,
                                 const std::vector<EuvImage>& images) {
    std::string path = directory + (directory.back() == '/' ? "" : "/") + classifierType;
    for (const auto& image : images) path += "." + image.channel + "." + timeText(image.wcs.observationTime);
    return path + ".SegmentedMap.fits";
}

}  // namespace spoca
