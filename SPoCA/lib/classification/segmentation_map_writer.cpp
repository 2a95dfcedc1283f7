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

namespace spoca {

namespace {

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

}  // namespace

void writeSegmentationMap(const std::string& path, int width, int height, const std::vector<HeaderValue>& keywords,
                          bool compressed, const MapRowProducer& produceRows) {
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
        // The blocks of rows are produced a batch at a time, one block per thread, while this thread compresses
        // and writes the previous batch's blocks in order: each core has a whole block to work on.
        const int blockRows = std::max(1, std::min(height, (1 << 19) / std::max(1, width)));
        const std::size_t blockSize = static_cast<std::size_t>(blockRows) * static_cast<std::size_t>(width);
        const int blocks = (height + blockRows - 1) / blockRows;
        const int batchSize = static_cast<int>(std::max(1u, defaultThreads()));
        std::vector<std::vector<std::int32_t>> buffers(2 * static_cast<std::size_t>(batchSize),
                                                       std::vector<std::int32_t>(blockSize));
        auto bufferOf = [&](int block) -> std::vector<std::int32_t>& {
            return buffers[static_cast<std::size_t>(block % (2 * batchSize))];
        };
        auto produceBatch = [&](int batch) {
            std::vector<std::future<void>> tasks;
            for (int block = batch * batchSize; block < std::min(blocks, (batch + 1) * batchSize); ++block) {
                tasks.push_back(startTask([&produceRows, &bufferOf, block, blockRows, height] {
                    const int first = block * blockRows;
                    produceRows(first, std::min(height, first + blockRows), bufferOf(block).data());
                }));
            }
            return tasks;
        };
        std::vector<std::future<void>> current = produceBatch(0);
        for (int batch = 0; batch * batchSize < blocks; ++batch) {
            for (auto& task : current) task.get();
            std::vector<std::future<void>> next = produceBatch(batch + 1);
            for (int block = batch * batchSize; block < std::min(blocks, (batch + 1) * batchSize); ++block) {
                const int first = block * blockRows;
                const int end = std::min(height, first + blockRows);
                fits_write_img(fptr, TINT, static_cast<LONGLONG>(first) * width + 1,
                               static_cast<LONGLONG>(end - first) * width, bufferOf(block).data(), &status);
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
