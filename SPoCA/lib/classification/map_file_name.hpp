// The name of a segmentation map written into a directory (compat 7.1).
#pragma once

#include <string>
#include <vector>

#include "core/sun_image.hpp"

namespace spoca {

/// The map's path in directory mode: `directory`/TYPE.CHANNEL.YYYYMMDD_HHMMSS....SegmentedMap.fits, one
/// channel and observation time (UTC) per image, in the command-line order of `images` (compat 7.1).
std::string directoryModeMapPath(const std::string& directory, const std::string& classifierType,
                                 const std::vector<EuvImage>& images);

}  // namespace spoca
