#include "core/fits_file.hpp"

#include <fitsio.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/file_paths.hpp"
#include "core/parallel.hpp"

namespace spoca {

namespace {

std::string cfitsioMessage(int status) {
    char text[FLEN_STATUS] = {0};
    fits_get_errstatus(status, text);
    // Drop cfitsio's queued detail messages so they do not leak into a later error.
    fits_clear_errmsg();
    return text;
}

/// True when the current HDU holds an image: an image HDU with NAXIS > 0 or a tile-compressed image.
bool holdsImage(fitsfile* fptr, int& status) {
    int hduType = 0;
    if (fits_get_hdu_type(fptr, &hduType, &status)) return false;
    if (hduType == IMAGE_HDU) {
        if (fits_is_compressed_image(fptr, &status)) return true;
        int naxis = 0;
        fits_get_img_dim(fptr, &naxis, &status);
        return naxis > 0;
    }
    return hduType == BINARY_TBL && fits_is_compressed_image(fptr, &status);
}

}  // namespace

FitsFile FitsFile::openImage(const std::string& path) {
    if (!isRegularFile(path)) throw Error("Cannot find file " + path);
    fitsfile* fptr = nullptr;
    int status = 0;
    // fits_open_diskfile takes the name literally (no extended file name syntax), then we select the
    // image HDU exactly as fits_open_image does without an explicit extension.
    if (fits_open_diskfile(&fptr, path.c_str(), READONLY, &status)) {
        throw Error(path + ": cannot be read as a FITS file (" + cfitsioMessage(status) + ")");
    }
    FitsFile file(fptr, path);
    while (!holdsImage(fptr, status)) {
        if (status) file.check(status, "cannot read header");
        int hduType = 0;
        if (fits_movrel_hdu(fptr, 1, &hduType, &status)) {
            if (status == END_OF_FILE) throw Error(path + ": no HDU contains an image");
            file.check(status, "cannot read header");
        }
    }
    file.rice_ = riceLayout(fptr);
    return file;
}

FitsFile FitsFile::create(const std::string& path, const std::string& shownAs) {
    const std::string& name = shownAs.empty() ? path : shownAs;
    fitsfile* fptr = nullptr;
    int status = 0;
    if (fits_create_diskfile(&fptr, path.c_str(), &status)) {
        throw Error(name + ": cannot create FITS file (" + cfitsioMessage(status) + ")");
    }
    return FitsFile(fptr, name);
}

FitsFile::FitsFile(FitsFile&& other) noexcept
    : fptr_(other.fptr_), path_(std::move(other.path_)), rice_(other.rice_) {
    other.fptr_ = nullptr;
}

FitsFile& FitsFile::operator=(FitsFile&& other) noexcept {
    if (this != &other) {
        if (fptr_) {
            int status = 0;
            fits_close_file(fptr_, &status);
        }
        fptr_ = other.fptr_;
        path_ = std::move(other.path_);
        rice_ = other.rice_;
        other.fptr_ = nullptr;
    }
    return *this;
}

FitsFile::~FitsFile() {
    if (fptr_) {
        int status = 0;
        fits_close_file(fptr_, &status);
        if (status) fits_clear_errmsg();
    }
}

void FitsFile::close() {
    if (!fptr_) return;
    int status = 0;
    fits_close_file(fptr_, &status);
    fptr_ = nullptr;
    check(status, "cannot close file");
}

void FitsFile::check(int status, const std::string& what) const {
    if (status) throw Error(path_ + ": " + what + " (" + cfitsioMessage(status) + ")");
}

std::pair<int, int> FitsFile::imageSize() const {
    int status = 0;
    int naxis = 0;
    fits_get_img_dim(fptr_, &naxis, &status);
    check(status, "cannot read image dimensions");
    if (naxis != 2) throw Error(path_ + ": image is not 2D (NAXIS = " + std::to_string(naxis) + ")");
    long naxes[2] = {0, 0};
    fits_get_img_size(fptr_, 2, naxes, &status);
    check(status, "cannot read image dimensions");
    if (naxes[0] <= 0 || naxes[1] <= 0) throw Error(path_ + ": image is empty");
    if (naxes[0] > std::numeric_limits<int>::max() / naxes[1]) {
        throw Error(path_ + ": image of " + std::to_string(naxes[0]) + "x" + std::to_string(naxes[1]) +
                    " pixels is too large");
    }
    return {static_cast<int>(naxes[0]), static_cast<int>(naxes[1])};
}

FitsHeader FitsFile::readHeader() const {
    FitsHeader header(path_);
    int status = 0;
    int count = 0;
    fits_get_hdrspace(fptr_, &count, nullptr, &status);
    check(status, "cannot read header");
    for (int k = 1; k <= count; ++k) {
        char card[FLEN_CARD] = {0};
        fits_read_record(fptr_, k, card, &status);
        check(status, "cannot read header");
        switch (fits_get_keyclass(card)) {
            case TYP_STRUC_KEY: case TYP_CMPRS_KEY: case TYP_SCAL_KEY: case TYP_HDUID_KEY:
            case TYP_CKSUM_KEY: case TYP_COMM_KEY: case TYP_CONT_KEY:
                continue;
            default:
                break;
        }
        char name[FLEN_KEYWORD] = {0};
        char value[FLEN_VALUE] = {0};
        char comment[FLEN_COMMENT] = {0};
        int length = 0;
        fits_get_keyname(card, name, &length, &status);
        fits_parse_value(card, value, comment, &status);
        if (status) {  // a malformed card is skipped, as a header reader that ignores it would
            status = 0;
            fits_clear_errmsg();
            continue;
        }
        header.set(name, value);
    }
    return header;
}

std::string FitsFile::extensionName() const {
    char value[FLEN_VALUE] = "";
    int status = 0;
    if (fits_read_key(fptr_, TSTRING, "EXTNAME", value, nullptr, &status)) {
        fits_clear_errmsg();
        return "";
    }
    return cleanKeywordValue(value);
}

void FitsFile::readDoubleRows(int firstRow, int endRow, double* out) const {
    if (rice_) {
        readRiceDoubleRows(firstRow, endRow, out);
        return;
    }
    const int width = imageSize().first;
    int status = 0;
    double nullValue = std::numeric_limits<double>::infinity();
    int anyNull = 0;
    fits_read_img(fptr_, TDOUBLE, static_cast<LONGLONG>(firstRow) * width + 1,
                  static_cast<LONGLONG>(endRow - firstRow) * width, &nullValue, out, &anyNull, &status);
    check(status, "cannot read image pixels (file truncated or corrupt?)");
}

void FitsFile::readRiceDoubleRows(int firstRow, int endRow, double* out) const {
    // A few tiles at a time through a small buffer of stored integers, converted as cfitsio's fits_read_img does
    // for TDOUBLE with a null value of +infinity (compat 2.2): BLANK (ZBLANK) pixels become +infinity, the others
    // stored * BSCALE + BZERO.
    const RiceLayout& layout = *rice_;
    const std::size_t width = static_cast<std::size_t>(layout.width);
    const int chunkRows = std::max(layout.tileRows, 64);
    // A BLANK that no stored integer can equal marks no pixel. The loops below compute every pixel's value and
    // then pick +infinity for the null ones, which the compiler vectorises (the same operations, so the same values;
    // without scaling, v * 1.0 + 0.0 is the integer's double exactly).
    const bool hasNull = layout.hasNull && layout.null >= std::numeric_limits<std::int32_t>::min() &&
                         layout.null <= std::numeric_limits<std::int32_t>::max();
    const std::int32_t null = hasNull ? static_cast<std::int32_t>(layout.null) : 0;
    const double scale = layout.scale;
    const double zero = layout.zero;
    const double infinity = std::numeric_limits<double>::infinity();
    std::vector<std::int32_t> stored;
    for (int first = firstRow; first < endRow; first += chunkRows) {
        const int end = std::min(endRow, first + chunkRows);
        stored.resize(static_cast<std::size_t>(end - first) * width);
        checkRice(readRiceRows(fptr_, layout, first, end, stored.data()));
        double* target = out + static_cast<std::size_t>(first - firstRow) * width;
        const std::int32_t* values = stored.data();
        const std::size_t count = stored.size();
        if (hasNull) {
            for (std::size_t k = 0; k < count; ++k) {
                const double v = values[k] * scale + zero;
                target[k] = values[k] == null ? infinity : v;
            }
        } else {
            for (std::size_t k = 0; k < count; ++k) target[k] = values[k] * scale + zero;
        }
    }
}

void FitsFile::checkRice(const std::optional<std::string>& problem) const {
    if (problem) throw Error(path_ + ": cannot read image pixels (file truncated or corrupt?): " + *problem);
}

Image<double> FitsFile::readDoubleImage(unsigned threads) const {
    const auto [width, height] = imageSize();
    Image<double> image(width, height, UnsetPixels{});  // every row is read by one of the threads below
    auto readBlock = [this, &image, width = width](int first, int end) {
        double* out = image.data() + static_cast<std::size_t>(first) * width;
        if (first == 0) {
            readDoubleRows(first, end, out);  // the first block on the calling thread, through this handle
        } else {
            openImage(path_).readDoubleRows(first, end, out);
        }
    };
    forEachRowBlock(height, readBlock, std::max(1u, threads));
    return image;
}

void FitsFile::readIntRows(int firstRow, int endRow, std::int32_t* out) const {
    // Without scaling the stored integers are the values cfitsio gives for TINT without null substitution.
    if (rice_ && rice_->scale == 1.0 && rice_->zero == 0.0) {
        checkRice(readRiceRows(fptr_, *rice_, firstRow, endRow, out));
        return;
    }
    static_assert(sizeof(int) == sizeof(std::int32_t), "TINT must be 32 bits");
    const int width = imageSize().first;
    int status = 0;
    int anyNull = 0;
    fits_read_img(fptr_, TINT, static_cast<LONGLONG>(firstRow) * width + 1,
                  static_cast<LONGLONG>(endRow - firstRow) * width, nullptr, out, &anyNull, &status);
    check(status, "cannot read image pixels (file truncated or corrupt?)");
}

}  // namespace spoca
