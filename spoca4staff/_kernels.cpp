// spoca4staff._kernels: the SPoCA programs' Rice decoder (SPoCA/lib/core/rice_decoder.hpp) for the image statistics,
// and the histograms of the solar disk and of the rest of an integer image.
//
// astropy decodes a 4096x4096 AIA file in about 0.25 s, most of it Python work per tile; this decodes all the tiles
// in one call, without the GIL, in about 0.07 s. spoca4staff/rice_image.py finds the tiles and checks the layout.
// The two histograms take one pass over the pixels in place (about 0.02 s), where numpy needs the disk pixels
// gathered first and a widening copy of each chunk for bincount (about 0.07 s).

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <string>

#include "core/rice_decoder.hpp"

namespace {

/// A buffer of the Python buffer protocol, released when it goes out of scope.
class Buffer {
public:
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() {
        if (held_) PyBuffer_Release(&view_);
    }

    /// Gets the C-contiguous buffer of `object`, writable when asked; false with a Python error set otherwise.
    bool get(PyObject* object, bool writable) {
        int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
        held_ = PyObject_GetBuffer(object, &view_, flags) == 0;
        return held_;
    }

    const Py_buffer& view() const { return view_; }
    std::string format() const { return view_.format ? view_.format : "B"; }

private:
    Py_buffer view_{};
    bool held_ = false;
};

/// Whether the buffer holds native signed integers of `bytes` bytes (struct format codes, any byte-order prefix
/// that means native on this little-endian machine).
bool isSignedInteger(const Buffer& buffer, Py_ssize_t bytes) {
    std::string format = buffer.format();
    if (!format.empty() && (format[0] == '=' || format[0] == '<' || format[0] == '@')) format.erase(0, 1);
    if (buffer.view().itemsize != bytes || format.size() != 1) return false;
    switch (format[0]) {
        case 'h': return bytes == 2;
        case 'i': return bytes == 4;
        case 'l': case 'q': return bytes == 8;
        default: return false;
    }
}

bool isInt64(const Buffer& buffer) { return isSignedInteger(buffer, 8); }

/// The pixels of the tiles, one after the other in `out`; the tile that fails, or -1.
template <typename T>
Py_ssize_t decodeAll(const unsigned char* heap, Py_ssize_t heapSize, const std::int64_t* lengths,
                     const std::int64_t* offsets, Py_ssize_t tiles, T* out, Py_ssize_t pixels, Py_ssize_t tilePixels,
                     unsigned blockSize, unsigned bytes) {
    const bool fast = spoca::riceFastInstructions();
    for (Py_ssize_t t = 0; t < tiles; ++t) {
        const Py_ssize_t first = t * tilePixels;
        const Py_ssize_t count = first + tilePixels <= pixels ? tilePixels : pixels - first;
        if (count <= 0 || lengths[t] <= 0 || offsets[t] < 0 || offsets[t] > heapSize ||
            lengths[t] > heapSize - offsets[t]) {
            return t;
        }
        if (!spoca::riceDecode(heap + offsets[t], static_cast<std::size_t>(lengths[t]), out + first,
                               static_cast<std::size_t>(count), blockSize, bytes, fast)) {
            return t;
        }
    }
    return -1;
}

PyObject* decodeTiles(PyObject*, PyObject* args) {
    PyObject *heapObject, *lengthsObject, *offsetsObject, *outObject;
    Py_ssize_t tilePixels = 0;
    unsigned blockSize = 0, bytes = 0;
    if (!PyArg_ParseTuple(args, "OOOOnII", &heapObject, &lengthsObject, &offsetsObject, &outObject, &tilePixels,
                          &blockSize, &bytes)) {
        return nullptr;
    }
    Buffer heap, lengths, offsets, out;
    if (!heap.get(heapObject, false) || !lengths.get(lengthsObject, false) || !offsets.get(offsetsObject, false) ||
        !out.get(outObject, true)) {
        return nullptr;
    }
    if (!isInt64(lengths) || !isInt64(offsets) || lengths.view().len != offsets.view().len) {
        PyErr_SetString(PyExc_TypeError, "lengths and offsets must be int64 arrays of the same size");
        return nullptr;
    }
    const Py_ssize_t itemsize = out.view().itemsize;
    const bool int16 = isSignedInteger(out, 2);
    const bool int32 = isSignedInteger(out, 4);
    if (!(int16 && bytes == 2) && !(int32 && bytes == 4)) {
        PyErr_SetString(PyExc_TypeError, "out must be a native int16 array for 2-byte pixels, int32 for 4-byte ones");
        return nullptr;
    }
    if (tilePixels <= 0) {
        PyErr_SetString(PyExc_ValueError, "tile_pixels must be positive");
        return nullptr;
    }
    const Py_ssize_t tiles = lengths.view().len / 8;
    const Py_ssize_t pixels = out.view().len / itemsize;
    if (tiles * tilePixels < pixels || (tiles - 1) * tilePixels >= pixels) {
        PyErr_SetString(PyExc_ValueError, "the tiles do not cover the image exactly");
        return nullptr;
    }
    const auto* heapBytes = static_cast<const unsigned char*>(heap.view().buf);
    const auto* lengthValues = static_cast<const std::int64_t*>(lengths.view().buf);
    const auto* offsetValues = static_cast<const std::int64_t*>(offsets.view().buf);
    Py_ssize_t failed = -1;
    Py_BEGIN_ALLOW_THREADS
    if (int16) {
        failed = decodeAll(heapBytes, heap.view().len, lengthValues, offsetValues, tiles,
                           static_cast<std::int16_t*>(out.view().buf), pixels, tilePixels, blockSize, bytes);
    } else {
        failed = decodeAll(heapBytes, heap.view().len, lengthValues, offsetValues, tiles,
                           static_cast<std::int32_t*>(out.view().buf), pixels, tilePixels, blockSize, bytes);
    }
    Py_END_ALLOW_THREADS
    if (failed >= 0) {
        PyErr_Format(PyExc_ValueError, "tile %zd of the compressed image cannot be decoded (it ends before its last "
                     "pixel, or lies outside the heap)", failed + 1);
        return nullptr;
    }
    Py_RETURN_NONE;
}

/// Counts of the values low ... low + bins - 1 (BLANK left out) of the columns [first[j], end[j]) of each row j
/// (the disk) into `disk`, of the other columns into `rest`. The row that holds a value outside them, or -1.
template <typename T>
Py_ssize_t countAll(const T* pixels, Py_ssize_t rows, Py_ssize_t width, const std::int64_t* first,
                    const std::int64_t* end, std::int64_t low, std::int64_t bins, bool hasBlank, std::int64_t blank,
                    std::int64_t* disk, std::int64_t* rest) {
    // Each row is counted in three runs (before, on and after the disk), so no pixel asks which histogram it goes to.
    auto count = [&](const T* from, const T* to, std::int64_t* counts) {
        for (const T* p = from; p < to; ++p) {
            const std::int64_t value = *p;
            if (hasBlank && value == blank) continue;
            const auto bin = static_cast<std::uint64_t>(value - low);
            if (bin >= static_cast<std::uint64_t>(bins)) return false;
            ++counts[bin];
        }
        return true;
    };
    for (Py_ssize_t j = 0; j < rows; ++j) {
        const T* row = pixels + j * width;
        const Py_ssize_t a = first[j] < 0 ? 0 : first[j] > width ? width : static_cast<Py_ssize_t>(first[j]);
        const Py_ssize_t b = end[j] < a ? a : end[j] > width ? width : static_cast<Py_ssize_t>(end[j]);
        if (!count(row, row + a, rest) || !count(row + a, row + b, disk) || !count(row + b, row + width, rest)) {
            return j;
        }
    }
    return -1;
}

PyObject* diskHistograms(PyObject*, PyObject* args) {
    PyObject *pixelsObject, *firstObject, *endObject, *diskObject, *restObject, *blankObject;
    long long low = 0;
    if (!PyArg_ParseTuple(args, "OOOLOOO", &pixelsObject, &firstObject, &endObject, &low, &blankObject,
                          &diskObject, &restObject)) {
        return nullptr;
    }
    Buffer pixels, first, end, disk, rest;
    if (!pixels.get(pixelsObject, false) || !first.get(firstObject, false) || !end.get(endObject, false) ||
        !disk.get(diskObject, true) || !rest.get(restObject, true)) {
        return nullptr;
    }
    if (!isInt64(first) || !isInt64(end) || !isInt64(disk) || !isInt64(rest) || first.view().len != end.view().len ||
        disk.view().len != rest.view().len || disk.view().len == 0) {
        PyErr_SetString(PyExc_TypeError, "first, end, disk and rest must be int64 arrays (first and end, disk and "
                        "rest of the same sizes)");
        return nullptr;
    }
    const Py_buffer& view = pixels.view();
    const bool int16 = isSignedInteger(pixels, 2);
    const bool int32 = isSignedInteger(pixels, 4);
    if (!(int16 || int32) || view.ndim != 2) {
        PyErr_SetString(PyExc_TypeError, "pixels must be a 2-D native int16 or int32 array");
        return nullptr;
    }
    const Py_ssize_t rows = view.shape[0];
    const Py_ssize_t width = view.shape[1];
    if (first.view().len / 8 != rows) {
        PyErr_SetString(PyExc_ValueError, "first and end must give one interval per row");
        return nullptr;
    }
    const bool hasBlank = blankObject != Py_None;
    const long long blank = hasBlank ? PyLong_AsLongLong(blankObject) : 0;
    if (hasBlank && blank == -1 && PyErr_Occurred()) return nullptr;
    const auto bins = static_cast<std::int64_t>(disk.view().len / 8);
    const auto* firstValues = static_cast<const std::int64_t*>(first.view().buf);
    const auto* endValues = static_cast<const std::int64_t*>(end.view().buf);
    auto* diskCounts = static_cast<std::int64_t*>(disk.view().buf);
    auto* restCounts = static_cast<std::int64_t*>(rest.view().buf);
    Py_ssize_t outside = -1;
    Py_BEGIN_ALLOW_THREADS
    if (int16) {
        outside = countAll(static_cast<const std::int16_t*>(view.buf), rows, width, firstValues, endValues, low, bins,
                           hasBlank, blank, diskCounts, restCounts);
    } else {
        outside = countAll(static_cast<const std::int32_t*>(view.buf), rows, width, firstValues, endValues, low, bins,
                           hasBlank, blank, diskCounts, restCounts);
    }
    Py_END_ALLOW_THREADS
    if (outside >= 0) {
        PyErr_Format(PyExc_ValueError, "row %zd holds a value outside the %lld bins from %lld", outside,
                     static_cast<long long>(bins), low);
        return nullptr;
    }
    Py_RETURN_NONE;
}

PyMethodDef methods[] = {
    {"decode_tiles", decodeTiles, METH_VARARGS,
     "decode_tiles(heap, lengths, offsets, out, tile_pixels, block_size, bytepix)\n\n"
     "Decode the RICE_1 tiles (lengths[k] bytes at heap[offsets[k]:], int64 arrays) into out, a C-contiguous\n"
     "native int16 (bytepix 2) or int32 (bytepix 4) array, tile_pixels pixels per tile (fewer in the last one).\n"
     "Raises ValueError naming the first tile that cannot be decoded."},
    {"disk_histograms", diskHistograms, METH_VARARGS,
     "disk_histograms(pixels, first, end, low, blank, disk, rest)\n\n"
     "Add to disk (int64, one bin per value from low) the counts of the values of columns first[j] <= i < end[j]\n"
     "of each row j of pixels (2-D native int16 or int32), to rest those of the other columns; pixels equal to\n"
     "blank (None: none) are not counted. Raises ValueError when a value falls outside the bins."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "spoca4staff._kernels",
                      "The SPoCA programs' Rice decoder and the disk histograms, for the image statistics.", -1, methods,
                      nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__kernels() { return PyModule_Create(&module); }
