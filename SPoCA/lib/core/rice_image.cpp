#include "core/rice_image.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/rice_decoder.hpp"

namespace spoca {

namespace {

/// A keyword of the current HDU read by cfitsio as `type` into `value`; false (and cfitsio's error stack cleared)
/// when it is absent or not of that type.
bool readKey(fitsfile* fptr, int type, const char* name, void* value) {
    int status = 0;
    if (fits_read_key(fptr, type, name, value, nullptr, &status)) {
        fits_clear_errmsg();
        return false;
    }
    return true;
}

bool integerKey(fitsfile* fptr, const char* name, long long& value) { return readKey(fptr, TLONGLONG, name, &value); }

bool doubleKey(fitsfile* fptr, const char* name, double& value) { return readKey(fptr, TDOUBLE, name, &value); }

bool stringKey(fitsfile* fptr, const char* name, std::string& value) {
    char text[FLEN_VALUE] = "";
    if (!readKey(fptr, TSTRING, name, text)) return false;
    value = text;
    return true;
}

/// The compression parameters ZNAMEi/ZVALi: BLOCKSIZE and BYTEPIX, with cfitsio's defaults when absent.
bool riceParameters(fitsfile* fptr, RiceLayout& layout) {
    layout.blockSize = 32;
    for (int k = 1; k < 100; ++k) {
        std::string name;
        if (!stringKey(fptr, ("ZNAME" + std::to_string(k)).c_str(), name)) break;
        long long value = 0;
        if (!integerKey(fptr, ("ZVAL" + std::to_string(k)).c_str(), value)) return false;
        if (name == "BLOCKSIZE") {
            if (value != 16 && value != 32) return false;
            layout.blockSize = static_cast<unsigned>(value);
        } else if (name == "BYTEPIX") {
            if (value != layout.bytes) return false;  // integers stored narrower than ZBITPIX: cfitsio's case
        } else {
            return false;
        }
    }
    return true;
}

/// cfitsio's text for `status`, its queued messages dropped.
std::string cfitsioProblem(int status) {
    char text[FLEN_STATUS] = {0};
    fits_get_errstatus(status, text);
    fits_clear_errmsg();
    return text;
}

bool disabledByEnvironment() {
    const char* choice = std::getenv(riceDecoderVariable);
    return choice != nullptr && std::strcmp(choice, "cfitsio") == 0;
}

}  // namespace

std::optional<RiceLayout> riceLayout(fitsfile* fptr) {
    if (disabledByEnvironment()) return std::nullopt;
    int status = 0;
    if (!fits_is_compressed_image(fptr, &status) || status) {
        fits_clear_errmsg();
        return std::nullopt;
    }
    std::string type;
    long long zbitpix = 0, naxis = 0, width = 0, height = 0, fields = 0, tile1 = 0, tile2 = 1;
    if (!stringKey(fptr, "ZCMPTYPE", type) || type != "RICE_1") return std::nullopt;
    if (!integerKey(fptr, "ZBITPIX", zbitpix) || (zbitpix != 16 && zbitpix != 32)) return std::nullopt;
    if (!integerKey(fptr, "ZNAXIS", naxis) || naxis != 2) return std::nullopt;
    if (!integerKey(fptr, "ZNAXIS1", width) || !integerKey(fptr, "ZNAXIS2", height)) return std::nullopt;
    if (width <= 0 || height <= 0 || width > (1 << 24) || height > (1 << 24)) return std::nullopt;
    if (!integerKey(fptr, "TFIELDS", fields) || fields != 1) return std::nullopt;
    std::string column;
    if (!stringKey(fptr, "TTYPE1", column) || column != "COMPRESSED_DATA") return std::nullopt;
    if (!integerKey(fptr, "ZTILE1", tile1)) tile1 = width;
    if (!integerKey(fptr, "ZTILE2", tile2)) tile2 = 1;
    if (tile1 != width || tile2 < 1) return std::nullopt;

    RiceLayout layout;
    layout.width = static_cast<int>(width);
    layout.height = static_cast<int>(height);
    layout.tileRows = static_cast<int>(std::min(tile2, height));
    layout.bytes = static_cast<unsigned>(zbitpix / 8);
    if (!riceParameters(fptr, layout)) return std::nullopt;
    if (!doubleKey(fptr, "BSCALE", layout.scale)) layout.scale = 1.0;
    if (!doubleKey(fptr, "BZERO", layout.zero)) layout.zero = 0.0;
    layout.hasNull = integerKey(fptr, "ZBLANK", layout.null) || integerKey(fptr, "BLANK", layout.null);
    long long rows = 0;
    if (!integerKey(fptr, "NAXIS2", rows) || rows != (height + layout.tileRows - 1) / layout.tileRows) {
        return std::nullopt;
    }
    return layout;
}

std::optional<std::string> readRiceRows(fitsfile* fptr, const RiceLayout& layout, int firstRow, int endRow,
                                        std::int32_t* out) {
    if (firstRow < 0 || endRow > layout.height || firstRow >= endRow) return "rows out of the image";
    const int firstTile = firstRow / layout.tileRows;
    const int endTile = (endRow - 1) / layout.tileRows + 1;
    const int tiles = endTile - firstTile;
    std::vector<LONGLONG> lengths(tiles), offsets(tiles);
    int status = 0;
    if (fits_read_descriptsll(fptr, 1, firstTile + 1, tiles, lengths.data(), offsets.data(), &status)) {
        return "the table of tiles cannot be read (" + cfitsioProblem(status) + ")";
    }
    const bool fast = riceFastInstructions();
    const std::size_t width = static_cast<std::size_t>(layout.width);
    std::vector<unsigned char> bytes;
    std::vector<std::int32_t> tile;  // a tile that reaches outside [firstRow, endRow)
    for (int t = 0; t < tiles; ++t) {
        const std::string name = "tile " + std::to_string(firstTile + t + 1);
        const int tileFirst = (firstTile + t) * layout.tileRows;
        const int tileEnd = std::min(tileFirst + layout.tileRows, layout.height);
        const std::size_t pixels = static_cast<std::size_t>(tileEnd - tileFirst) * width;
        // A Rice tile never needs more than a raw block's bits per pixel plus its codes.
        if (lengths[t] <= 0 || lengths[t] > static_cast<LONGLONG>((layout.bytes + 1) * pixels + 8)) {
            return name + " has " + std::to_string(lengths[t]) + " bytes, not a Rice tile of " +
                   std::to_string(pixels) + " pixels";
        }
        bytes.resize(static_cast<std::size_t>(lengths[t]));
        int anyNull = 0;
        if (fits_read_col(fptr, TBYTE, 1, firstTile + t + 1, 1, lengths[t], nullptr, bytes.data(), &anyNull,
                          &status)) {
            return name + " cannot be read (" + cfitsioProblem(status) + ")";
        }
        const bool whole = tileFirst >= firstRow && tileEnd <= endRow;
        std::int32_t* target = out + static_cast<std::size_t>(tileFirst - firstRow) * width;
        if (!whole) {
            tile.resize(pixels);
            target = tile.data();
        }
        if (!riceDecode(bytes.data(), bytes.size(), target, pixels, layout.blockSize, layout.bytes, fast)) {
            return name + " ends before its last pixel";
        }
        if (!whole) {
            const int from = std::max(tileFirst, firstRow);
            const int to = std::min(tileEnd, endRow);
            std::copy(tile.begin() + static_cast<std::ptrdiff_t>((from - tileFirst) * width),
                      tile.begin() + static_cast<std::ptrdiff_t>((to - tileFirst) * width),
                      out + static_cast<std::size_t>(from - firstRow) * width);
        }
    }
    return std::nullopt;
}

}  // namespace spoca
