// Reading EUV images and segmentation maps with their solar WCS (compat 2.1 to 2.6 and 8.3).
#pragma once

#include <cstdint>
#include <string>

#include "core/fits_file.hpp"
#include "core/fits_header.hpp"
#include "core/image.hpp"
#include "core/memory_bound.hpp"
#include "core/sun_wcs.hpp"

namespace spoca {

/// How the keywords of an image are interpreted (parameter `imageType`, compat 2.5). Only AIA is
/// implemented; Unknown resolves to AIA when INSTRUME contains "AIA" and is an error otherwise.
enum class ImageType { AIA, Unknown };

/// Parses the `imageType` parameter value; the other instruments of the original are rejected as
/// "not supported", anything else as unknown.
ImageType parseImageType(const std::string& text);

/// An EUV intensity image: pixels (null = +infinity), its solar WCS and what the programs need from
/// its header.
struct EuvImage {
    Image<double> pixels;
    SunWcs wcs;
    FitsHeader header;
    double wavelength = 0.0;
    double exposureTime = 1.0;
    std::string channel;  ///< "AIA_" + int(WAVELNTH), compat 2.6
    std::string path;
};

/// Reads an AIA image (compat 2.1 to 2.6): readEuvImageHeader() and the pixels. Throws spoca::Error naming
/// the file for a missing file, a file cfitsio cannot read, an image that is not 2-D, a header without
/// WAVELNTH, CRPIX, CDELT or sun radius, and, before reading its pixels, an image larger than `bound`.
EuvImage readEuvImage(const std::string& path, ImageType type, const MemoryBound& bound);

/// Everything readEuvImage() reads but the pixels (left empty), from the image HDU of an open file: the
/// header, the instrument check of `type`, the wavelength, exposure time, channel and solar WCS. For a
/// caller that reads the pixels itself, e.g. block by block. Throws as readEuvImage() does, and when EXPTIME
/// is present but not a positive finite number.
EuvImage readEuvImageHeader(const FitsFile& file, ImageType type);

/// A segmentation map opened for reading (compat 8.3): its size, the solar WCS read from its header, and the
/// open file, from which its class numbers (null = 0) are read a block of rows at a time (readIntRows), so that
/// the map is never held whole.
struct SegmentationMap {
    FitsFile file;
    int width;
    int height;
    SunWcs wcs;
    FitsHeader header;
    std::string path;
};

/// Opens a segmentation map and reads its header and WCS (compat 8.3). Throws spoca::Error naming the file when
/// its image HDU is not named 'SegmentedMap' (EXTNAME, compared regardless of case, compat 7.2), and when the
/// map is larger than `bound`.
SegmentationMap openSegmentationMap(const std::string& path, const MemoryBound& bound);

/// The solar WCS from header keywords with the AIA rules of compat 2.4 (also used for maps, compat 8.3).
/// Throws spoca::Error naming the header's file when CRPIX1/2, CDELT1/2 or the sun radius is missing
/// (the original continued with zeros, which only produces garbage) or the radius is not positive.
SunWcs readSunWcs(const FitsHeader& header);

/// The reason why the images of WCS `a` and `b` are not similar (compat 4.2): "Sun center mismatch" when
/// their centres are more than one pixel apart, else "Sun radius mismatch" when |1 - R_a / R_b| > 0.01;
/// "" when they are similar.
std::string similarityProblem(const SunWcs& a, const SunWcs& b);

/// The observation time in seconds since 1970 (UTC, seconds truncated) of a date text such as
/// "2011-03-19T10:54:01.34"; 0 when the text is empty or cannot be parsed.
std::time_t parseObservationTime(const std::string& date);

}  // namespace spoca
