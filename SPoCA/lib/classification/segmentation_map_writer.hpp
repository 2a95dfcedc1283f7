// Writing a segmentation map file (compat 7.2), atomically.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "classification/channel_stack.hpp"
#include "core/header_values.hpp"

namespace spoca {

/// Produces the map rows [firstRow, endRow) into `out` (width * (endRow - firstRow) values). Called on several
/// threads at once, for different blocks of rows.
using MapRowProducer = std::function<void(int firstRow, int endRow, std::int32_t* out)>;

/// Where the Rice compression of a compressed map's row tiles runs: on the threads producing the rows (the
/// programs), or inside cfitsio's fits_write_img on the writing thread (the reference the tests compare the bytes
/// with). Both give the same file.
enum class RiceTiles { onWorkerThreads, insideCfitsio };

/// Writes a width x height map of 32-bit integers to `path`: RICE-compressed in HDU 1 after an empty
/// primary HDU (row tiles, cfitsio defaults), or uncompressed in the primary HDU when `compressed` is
/// false; EXTNAME = 'SegmentedMap' followed by `keywords` (compat 7.3, 7.4). The rows are produced (a block per
/// thread) and written a block at a time, so the whole map is never held in memory. Every HDU gets FITS CHECKSUM and
/// DATASUM cards (in HDU 1 before EXTNAME, so the cards from EXTNAME on are the original's), so that a map can
/// be verified without decompressing it. The file is written to a temporary file in the same folder, flushed
/// to disk and renamed to `path` once complete; any cfitsio or file-system failure throws spoca::Error naming
/// `path`, and no file is left. `riceTiles` says where the row tiles are compressed.
void writeSegmentationMap(const std::string& path, int width, int height, const std::vector<HeaderValue>& keywords,
                          bool compressed, const MapRowProducer& produceRows,
                          RiceTiles riceTiles = RiceTiles::onWorkerThreads);

/// Writes the class map of `stack`: each valid pixel of the common grid gets classifier.colour(x)
/// (compat 5.9), every other pixel 0 (classifier.colourRow). The colours are computed a block of rows at a
/// time, blocks on several threads (each pixel on its own, so the map does not depend on the split).
template <std::size_t N, typename Classifier>
void writeClassMap(const std::string& path, const ChannelStack<N>& stack, const Classifier& classifier,
                   const std::vector<HeaderValue>& keywords, bool compressed) {
    const int width = stack.width();
    writeSegmentationMap(path, width, stack.height(), keywords, compressed, [&](int first, int end, std::int32_t* out) {
        for (int j = first; j < end; ++j) {
            classifier.colourRow(stack.rows(j), width, out + static_cast<std::size_t>(j - first) * width);
        }
    });
}

}  // namespace spoca
