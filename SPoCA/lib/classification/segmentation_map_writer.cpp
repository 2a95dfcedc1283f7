#include "classification/segmentation_map_writer.hpp"

#include <fitsio.h>

#include <algorithm>
#include <functional>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/fits_file.hpp"
#include "core/parallel.hpp"
#include "core/temporary_file.hpp"

// cfitsio's Rice compressor, the one fits_write_img uses for each tile: exported by the library, declared in its
// internal fitsio2.h, which has no C++ linkage block.
extern "C" int fits_rcomp(int a[], int nx, unsigned char* c, int clen, int nblock);

namespace spoca {

namespace {

/// cfitsio's default Rice block size (pixels a block), which the maps use.
constexpr int riceBlockSize = 32;

/// Writes placeholder CHECKSUM and DATASUM cards in the current HDU, before EXTNAME, so that the cards from
/// EXTNAME on stay exactly the original's (compat 7.3); writeChecksum() fills them in place.
void reserveChecksumCards(const FitsFile& file) {
    int status = 0;
    fits_write_key_str(file.handle(), const_cast<char*>("CHECKSUM"), "0000000000000000",
                       const_cast<char*>("HDU checksum"), &status);
    fits_write_key_str(file.handle(), const_cast<char*>("DATASUM"), "0", const_cast<char*>("data unit checksum"),
                       &status);
    file.check(status, "cannot write the checksum keywords");
}

/// DATASUM and CHECKSUM of the current HDU, as the FITS checksum convention defines them (DATASUM: the
/// data's 32-bit ones'-complement sum; CHECKSUM: the complement of the HDU's sum, computed with CHECKSUM =
/// '0000000000000000', ASCII-encoded). Written by hand with fixed comments because fits_write_chksum stamps
/// the current date into them, and the maps of two runs on the same inputs must be byte-identical.
void writeChecksum(const FitsFile& file, const std::string& hdu) {
    fitsfile* fptr = file.handle();
    int status = 0;
    fits_update_key_str(fptr, const_cast<char*>("CHECKSUM"), "0000000000000000", const_cast<char*>("HDU checksum"),
                        &status);
    fits_update_key_str(fptr, const_cast<char*>("DATASUM"), "0", const_cast<char*>("data unit checksum"), &status);
    fits_set_hdustruc(fptr, &status);  // header and data as they will stay
    unsigned long datasum = 0, hdusum = 0;
    fits_get_chksum(fptr, &datasum, &hdusum, &status);
    fits_update_key_str(fptr, const_cast<char*>("DATASUM"), std::to_string(datasum).c_str(),
                        const_cast<char*>("data unit checksum"), &status);
    fits_set_hdustruc(fptr, &status);
    fits_get_chksum(fptr, &datasum, &hdusum, &status);
    char encoded[17] = {};
    fits_encode_chksum(hdusum, TRUE, encoded);
    fits_update_key_str(fptr, const_cast<char*>("CHECKSUM"), encoded, const_cast<char*>("HDU checksum"), &status);
    file.check(status, "cannot write the checksum of the " + hdu);
}

/// FITS checksums (DATASUM, CHECKSUM) of every HDU, so that a reader can verify a map without
/// decompressing it. With a compressed map the primary HDU is visited first: leaving HDU 2 finalises the
/// compressed table (its heap size), whose checksum is then computed on the bytes as they will stay.
void writeChecksums(const FitsFile& file, bool compressed) {
    fitsfile* fptr = file.handle();
    int status = 0;
    if (compressed) {
        fits_movabs_hdu(fptr, 1, nullptr, &status);
        file.check(status, "cannot move to the primary HDU");
        writeChecksum(file, "primary HDU");
        fits_movabs_hdu(fptr, 2, nullptr, &status);
        file.check(status, "cannot move to the map HDU");
    }
    writeChecksum(file, "map HDU");
}

/// The compressed-data column of a RICE_1 map HDU that cfitsio has just created, when its tiles are the rows
/// (ZTILE1 = width, ZTILE2 = 1) with Rice blocks of 32 pixels and 4 bytes a pixel (cfitsio's defaults), so that
/// the rows can be compressed outside cfitsio exactly as it compresses them; 0 otherwise.
int riceRowColumn(fitsfile* fptr, int width) {
    int status = 0;
    long tile1 = 0, tile2 = 0;
    char name1[FLEN_VALUE] = {}, name2[FLEN_VALUE] = {}, type[FLEN_VALUE] = {};
    long value1 = 0, value2 = 0;
    fits_read_key(fptr, TLONG, "ZTILE1", &tile1, nullptr, &status);
    fits_read_key(fptr, TLONG, "ZTILE2", &tile2, nullptr, &status);
    fits_read_key(fptr, TSTRING, "ZCMPTYPE", type, nullptr, &status);
    fits_read_key(fptr, TSTRING, "ZNAME1", name1, nullptr, &status);
    fits_read_key(fptr, TLONG, "ZVAL1", &value1, nullptr, &status);
    fits_read_key(fptr, TSTRING, "ZNAME2", name2, nullptr, &status);
    fits_read_key(fptr, TLONG, "ZVAL2", &value2, nullptr, &status);
    int column = 0;
    fits_get_colnum(fptr, CASEINSEN, const_cast<char*>("COMPRESSED_DATA"), &column, &status);
    const bool rows = status == 0 && tile1 == width && tile2 == 1 && std::string(type) == "RICE_1" &&
                      std::string(name1) == "BLOCKSIZE" && value1 == riceBlockSize &&
                      std::string(name2) == "BYTEPIX" && value2 == 4;
    return rows ? column : 0;
}

/// A block of map rows and, when compressed outside cfitsio, each row's Rice bytes.
struct MapBlock {
    std::vector<std::int32_t> pixels;
    std::vector<unsigned char> bytes;      ///< the compressed rows one after the other
    std::vector<std::size_t> ends;         ///< where each compressed row ends in `bytes`
};

}  // namespace

void writeSegmentationMap(const std::string& path, int width, int height, const std::vector<HeaderValue>& keywords,
                          bool compressed, const MapRowProducer& produceRows, RiceTiles riceTiles) {
    TemporaryFile temporary(path);
    temporary.removeForRecreation();  // cfitsio creates the file itself and refuses an existing one
    {
        FitsFile file = FitsFile::create(temporary.path(), path);
        fitsfile* fptr = file.handle();
        int status = 0;
        if (compressed) fits_set_compression_type(fptr, RICE_1, &status);
        long naxes[2] = {width, height};
        fits_create_img(fptr, LONG_IMG, 2, naxes, &status);
        file.check(status, "cannot create the map image");
        reserveChecksumCards(file);
        fits_update_key_str(fptr, const_cast<char*>("EXTNAME"), "SegmentedMap", nullptr, &status);
        file.check(status, "cannot write EXTNAME");
        writeHeaderValues(fptr, keywords, path);
        // With row tiles, the rows are Rice-compressed on the producing threads by cfitsio's own fits_rcomp and
        // the main thread only appends each row's bytes to the table (fits_write_col), as fits_write_img does
        // after compressing each tile itself: the same bytes, without the compression on one thread.
        const int column = compressed && riceTiles == RiceTiles::onWorkerThreads ? riceRowColumn(fptr, width) : 0;
        const std::size_t rowCapacity = static_cast<std::size_t>(width) * 4 + static_cast<std::size_t>(width) / 8 + 64;
        // The blocks of rows are produced a batch at a time, one block per thread, while this thread writes the
        // previous batch's blocks in order: each core has a whole block to work on.
        const int blockRows = std::max(1, std::min(height, (1 << 19) / std::max(1, width)));
        const std::size_t blockSize = static_cast<std::size_t>(blockRows) * static_cast<std::size_t>(width);
        const int blocks = (height + blockRows - 1) / blockRows;
        const int batchSize = static_cast<int>(std::max(1u, defaultThreads()));
        std::vector<MapBlock> buffers(2 * static_cast<std::size_t>(batchSize));
        for (MapBlock& block : buffers) block.pixels.resize(blockSize);
        auto bufferOf = [&](int block) -> MapBlock& {
            return buffers[static_cast<std::size_t>(block % (2 * batchSize))];
        };
        auto produce = [&](int block) {
            MapBlock& buffer = bufferOf(block);
            const int first = block * blockRows;
            const int end = std::min(height, first + blockRows);
            produceRows(first, end, buffer.pixels.data());
            if (column == 0) return;
            buffer.bytes.resize(static_cast<std::size_t>(end - first) * rowCapacity);
            buffer.ends.clear();
            std::size_t used = 0;
            for (int j = first; j < end; ++j) {
                const int n = fits_rcomp(buffer.pixels.data() + static_cast<std::size_t>(j - first) * width, width,
                                         buffer.bytes.data() + used, static_cast<int>(rowCapacity), riceBlockSize);
                if (n < 0) throw Error(path + ": cannot Rice-compress map row " + std::to_string(j + 1));
                used += static_cast<std::size_t>(n);
                buffer.ends.push_back(used);
            }
        };
        auto produceBatch = [&](int batch) {
            std::vector<std::future<void>> tasks;
            for (int block = batch * batchSize; block < std::min(blocks, (batch + 1) * batchSize); ++block) {
                tasks.push_back(startTask([&produce, block] { produce(block); }));
            }
            return tasks;
        };
        std::vector<std::future<void>> current = produceBatch(0);
        for (int batch = 0; batch * batchSize < blocks; ++batch) {
            for (auto& task : current) task.get();
            std::vector<std::future<void>> next = produceBatch(batch + 1);
            for (int block = batch * batchSize; block < std::min(blocks, (batch + 1) * batchSize); ++block) {
                MapBlock& buffer = bufferOf(block);
                const int first = block * blockRows;
                const int end = std::min(height, first + blockRows);
                if (column == 0) {
                    fits_write_img(fptr, TINT, static_cast<LONGLONG>(first) * width + 1,
                                   static_cast<LONGLONG>(end - first) * width, buffer.pixels.data(), &status);
                } else {
                    std::size_t start = 0;
                    for (int j = first; j < end && status == 0; ++j) {
                        const std::size_t stop = buffer.ends[static_cast<std::size_t>(j - first)];
                        fits_write_col(fptr, TBYTE, column, j + 1, 1, static_cast<LONGLONG>(stop - start),
                                       buffer.bytes.data() + start, &status);
                        start = stop;
                    }
                }
                file.check(status, "cannot write the map pixels");
            }
            current = std::move(next);
        }
        writeChecksums(file, compressed);
        file.close();
    }
    temporary.commit();
}

}  // namespace spoca
