// Writing a segmentation map file (spec 7.2), atomically.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "header_values.hpp"

namespace spoca {

/// Produces the map rows [firstRow, endRow) into `out` (width * (endRow - firstRow) values).
using MapRowProducer = std::function<void(int firstRow, int endRow, std::int32_t* out)>;

/// Writes a width x height map of 32-bit integers to `path`: RICE-compressed in HDU 1 after an empty
/// primary HDU (row tiles, cfitsio defaults), or uncompressed in the primary HDU when `compressed` is
/// false; EXTNAME = 'SegmentedMap' followed by `keywords` (spec 7.3, 7.4). The rows are produced and
/// written a block at a time, so the whole map is never held in memory. The file is written to a
/// temporary file in the same folder and renamed to `path` once complete.
void writeSegmentationMap(const std::string& path, int width, int height, const std::vector<HeaderValue>& keywords,
                          bool compressed, const MapRowProducer& produceRows);

}  // namespace spoca
