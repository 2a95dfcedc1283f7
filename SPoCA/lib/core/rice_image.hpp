// Reading the pixels of a RICE_1 tile-compressed integer image with this library's decoder (core/rice_decoder.hpp)
// instead of cfitsio's: the same values, about 1.8x faster to decode.
//
// Only the layout that SDO/JSOC files and the maps of section 7 have is taken: a 2-D image of 16- or 32-bit
// integers (ZBITPIX 16 or 32, BYTEPIX its width), tiles of whole rows, a table whose only column is
// COMPRESSED_DATA (no ZBLANK, ZSCALE, ZZERO or GZIP_COMPRESSED_DATA column). Any other layout is left to cfitsio.
// A tile that cannot be decoded is an error, reported here: cfitsio's decoder reads past the end of a damaged tile
// and can crash on one (a segmentation fault on random bytes, seen in tests/test_spoca_rice_decoder.py).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <fitsio.h>

namespace spoca {

/// The environment variable that, set to "cfitsio", makes every image be read by cfitsio alone (to compare the two
/// decoders; the tests do).
inline constexpr const char* riceDecoderVariable = "SPOCA_RICE_DECODER";

/// What the decoder needs of a compressed image HDU, and how cfitsio turns its stored integers into values.
struct RiceLayout {
    int width = 0;
    int height = 0;
    int tileRows = 1;         // ZTILE2: image rows per tile (ZTILE1 is the width)
    unsigned blockSize = 32;  // BLOCKSIZE
    unsigned bytes = 2;       // BYTEPIX: 2 (ZBITPIX 16) or 4 (ZBITPIX 32)
    double scale = 1.0;       // BSCALE
    double zero = 0.0;        // BZERO
    bool hasNull = false;     // a ZBLANK keyword, else a BLANK keyword (cfitsio's order)
    long long null = 0;
};

/// The layout of the current HDU when it is a compressed image this decoder takes, else nothing (also when the
/// environment asks for cfitsio alone). Reads header keywords only.
std::optional<RiceLayout> riceLayout(fitsfile* fptr);

/// Decodes image rows [firstRow, endRow) into `out` ((endRow - firstRow) * width stored integers). Returns nothing
/// on success, else what is wrong (e.g. "tile 12 ends before its last pixel"), `out` then being partly written.
std::optional<std::string> readRiceRows(fitsfile* fptr, const RiceLayout& layout, int firstRow, int endRow,
                                        std::int32_t* out);

}  // namespace spoca
