// RAII ownership of a cfitsio file handle, with the reading and writing operations the programs need.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/fits_header.hpp"
#include "core/image.hpp"
#include "core/rice_image.hpp"

#include <fitsio.h>

namespace spoca {

/// An open FITS file. Opening for reading selects the image HDU the way cfitsio's fits_open_image
/// does (compat 2.1): the primary HDU when its NAXIS > 0, otherwise the first image extension,
/// including tile-compressed images. Every cfitsio failure becomes a spoca::Error naming the file.
class FitsFile {
public:
    /// Opens `path` read-only and moves to its image HDU. Errors: "Cannot find file <path>" when the
    /// path is not a regular file, "<path>: not a FITS file ..." when cfitsio cannot read it, and an
    /// error when no HDU holds an image.
    static FitsFile openImage(const std::string& path);
    /// Creates a new, empty file at `path`, which must not exist (use a fresh temporary name). Error messages
    /// name `shownAs` (e.g. the final name of a temporary file) when it is not empty, else `path`.
    static FitsFile create(const std::string& path, const std::string& shownAs = "");

    FitsFile(FitsFile&& other) noexcept;
    FitsFile& operator=(FitsFile&& other) noexcept;
    FitsFile(const FitsFile&) = delete;
    FitsFile& operator=(const FitsFile&) = delete;
    ~FitsFile();

    /// Closes the file and reports a failure to flush it (the destructor closes silently).
    void close();

    /// Width and height of the current HDU's image; throws unless it is a non-empty 2-D image.
    std::pair<int, int> imageSize() const;
    /// The keyword values of the current HDU only (compat 2.3).
    FitsHeader readHeader() const;
    /// The EXTNAME of the current HDU, cleaned as header values are (compat 2.3); "" when it has none.
    /// readHeader() leaves it out, as the original's header reader does.
    std::string extensionName() const;
    /// Pixels as double, scaled by BSCALE/BZERO, with BLANK and NaN pixels set to +infinity (compat 2.2).
    /// With threads > 1 the rows are split between up to that many threads (forEachRowBlock), each
    /// reading through its own handle on the file (cfitsio is built reentrant; the values do not depend on
    /// the split).
    Image<double> readDoubleImage(unsigned threads = 1) const;
    /// The rows [firstRow, endRow) of the image as readDoubleImage() reads them, into `out`, which must
    /// hold (endRow - firstRow) * width values.
    void readDoubleRows(int firstRow, int endRow, double* out) const;
    /// The rows [firstRow, endRow) of the image as 32-bit integers without null substitution (maps, compat 8.3),
    /// into `out`, which must hold (endRow - firstRow) * width values.
    void readIntRows(int firstRow, int endRow, std::int32_t* out) const;

    /// The raw cfitsio handle, for the writers that need cfitsio calls of their own.
    fitsfile* handle() const { return fptr_; }
    const std::string& path() const { return path_; }

    /// Throws spoca::Error "<path>: <what>: <cfitsio message>" when `status` is non-zero.
    void check(int status, const std::string& what) const;

private:
    /// readDoubleRows() through this library's Rice decoder (core/rice_image.hpp).
    void readRiceDoubleRows(int firstRow, int endRow, double* out) const;
    /// Throws spoca::Error "<path>: cannot read image pixels (file truncated or corrupt?): <problem>" for a problem.
    void checkRice(const std::optional<std::string>& problem) const;

    FitsFile(fitsfile* fptr, std::string path) : fptr_(fptr), path_(std::move(path)) {}

    fitsfile* fptr_ = nullptr;
    std::string path_;
    /// The layout of the image HDU when this library's Rice decoder reads it (found once, by openImage()).
    std::optional<RiceLayout> rice_;
};

}  // namespace spoca
