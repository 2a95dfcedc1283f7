#include "core/sun_image.hpp"

#include <fitsio.h>

#include <cctype>
#include <cmath>

#include "core/constants.hpp"
#include "core/error.hpp"
#include "core/fits_file.hpp"
#include "core/input_checks.hpp"
#include "core/parallel.hpp"

namespace spoca {

namespace {

/// The first of `keys` present in the header, or "" when none is.
std::string firstPresent(const FitsHeader& header, std::initializer_list<const char*> keys) {
    for (const char* key : keys) {
        if (header.has(key)) return key;
    }
    return "";
}

/// The CD matrix from CD*_*, else PC*_* with the CDELTs, else CROTA2 (compat 2.4 and 9), else NaN.
std::array<double, 4> readCdMatrix(const FitsHeader& h, double cdelt1, double cdelt2) {
    if (h.has("CD1_1") && h.has("CD1_2") && h.has("CD2_1") && h.has("CD2_2")) {
        return {h.number("CD1_1"), h.number("CD1_2"), h.number("CD2_1"), h.number("CD2_2")};
    }
    if (h.has("PC1_1") && h.has("PC1_2") && h.has("PC2_1") && h.has("PC2_2")) {
        return {cdelt1 * h.number("PC1_1"), cdelt2 * h.number("PC1_2"), cdelt1 * h.number("PC2_1"),
                cdelt2 * h.number("PC2_2")};
    }
    if (h.has("CROTA2")) {
        const double theta = h.number("CROTA2");
        const double s = std::sin(theta * pi / 180.);
        const double c = std::cos(theta * pi / 180.);
        const double ratio = cdelt2 / cdelt1;
        return {cdelt1 * c, cdelt2 * (-s * ratio), cdelt1 * (s * ratio), cdelt2 * c};
    }
    return {SunWcs::nan, SunWcs::nan, SunWcs::nan, SunWcs::nan};
}

std::string observationDate(const FitsHeader& header) {
    const std::string key = firstPresent(header, {"T_OBS", "DATE_OBS", "DATE-OBS"});
    if (key.empty()) return "";
    std::string date = header.text(key);
    const auto z = date.find_first_of("Zz");
    if (z != std::string::npos) date.erase(z);
    return date;
}

}  // namespace

ImageType parseImageType(const std::string& text) {
    if (text == "AIA") return ImageType::AIA;
    if (text == "Unknown") return ImageType::Unknown;
    if (text == "EIT" || text == "EUVI" || text == "SWAP" || text == "HMI") {
        throw Error("imageType " + text + " is not supported by this implementation (only AIA and Unknown)");
    }
    throw Error(text + " is not a known image type!");
}

std::time_t parseObservationTime(const std::string& date) {
    if (date.empty()) return 0;
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, status = 0;
    double second = 0.0;
    if (fits_str2time(const_cast<char*>(date.c_str()), &year, &month, &day, &hour, &minute, &second, &status)) {
        fits_clear_errmsg();
        return 0;
    }
    std::tm t{};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = hour;
    t.tm_min = minute;
    t.tm_sec = static_cast<int>(second);
    return timegm(&t);
}

SunWcs readSunWcs(const FitsHeader& h) {
    const std::string& file = h.source();
    SunWcs wcs;
    if (!h.has("CRPIX1") || !h.has("CRPIX2")) {
        throw Error(file + ": Fits header not conform: No CRPIX1 or CRPIX2 keyword");
    }
    wcs.centerX = h.number("CRPIX1") - 1;
    wcs.centerY = h.number("CRPIX2") - 1;
    if (h.has("CTYPE1") && h.has("CTYPE2")) {
        wcs.ctype1 = h.text("CTYPE1");
        wcs.ctype2 = h.text("CTYPE2");
    }
    if (!h.has("CDELT1") || !h.has("CDELT2")) {
        throw Error(file + ": Fits header not conform: No CDELT1 or CDELT2 keyword");
    }
    wcs.cdelt1 = h.number("CDELT1");
    wcs.cdelt2 = h.number("CDELT2");
    wcs.dateObs = observationDate(h);
    wcs.observationTime = parseObservationTime(wcs.dateObs);
    const std::string b0Key = firstPresent(h, {"HGLT_OBS", "CRLT_OBS", "SOLAR_B0"});
    if (!b0Key.empty()) wcs.b0 = h.number(b0Key) * pi / 180.;
    if (h.has("HGLN_OBS")) wcs.l0 = h.number("HGLN_OBS") * pi / 180.;
    if (h.has("CRLN_OBS")) wcs.carringtonL0 = h.number("CRLN_OBS") * pi / 180.;
    if (h.has("DSUN_OBS")) wcs.distanceSunMm = h.number("DSUN_OBS") / 1000000.;
    wcs.cd = readCdMatrix(h, wcs.cdelt1, wcs.cdelt2);
    if (h.has("RSUN_OBS")) {
        wcs.sunRadius = h.number("RSUN_OBS") / wcs.cdelt1;
    } else if (h.has("R_SUN")) {
        wcs.sunRadius = h.number("R_SUN");
    } else {
        throw Error(file + ": No sun radius found in header (RSUN_OBS or R_SUN)");
    }
    if (!(wcs.sunRadius > 0) || !std::isfinite(wcs.sunRadius)) {
        throw Error(file + ": invalid sun radius in header (" + std::to_string(wcs.sunRadius) + " pixels)");
    }
    if (h.has("RSUN_REF")) wcs.sunRadiusMm = h.number("RSUN_REF") / 1000000.;
    return wcs;
}

std::string similarityProblem(const SunWcs& a, const SunWcs& b) {
    const double dx = a.centerX - b.centerX, dy = a.centerY - b.centerY;
    if (dx * dx + dy * dy > 1) return "Sun center mismatch";
    if (std::fabs(1 - a.sunRadius / b.sunRadius) > 0.01) return "Sun radius mismatch";
    return "";
}

EuvImage readEuvImageHeader(const FitsFile& file, ImageType type) {
    const std::string& path = file.path();
    EuvImage image;
    image.path = path;
    image.header = file.readHeader();
    if (type == ImageType::Unknown) {
        const std::string instrument = image.header.text("INSTRUME");
        if (instrument.find("EIT") != std::string::npos ||
            image.header.text("DETECTOR").find("EUVI") != std::string::npos) {
            throw Error(path + ": instrument " + instrument + " is not supported (only AIA)");
        }
        if (instrument.find("AIA") == std::string::npos) {
            throw Error("Unknown instrument for " + path + " (INSTRUME = '" + instrument + "'); use imageType AIA");
        }
    }
    if (!image.header.has("WAVELNTH")) throw Error(path + ": header has no WAVELNTH keyword");
    image.wavelength = image.header.number("WAVELNTH");
    image.exposureTime = checkedExposureTime(image.header);
    image.channel = "AIA_" + std::to_string(static_cast<int>(image.wavelength));
    image.wcs = readSunWcs(image.header);
    return image;
}

EuvImage readEuvImage(const std::string& path, ImageType type, const MemoryBound& bound) {
    const FitsFile file = FitsFile::openImage(path);
    const auto [width, height] = file.imageSize();
    bound.checkImage(path, width, height);
    EuvImage image = readEuvImageHeader(file, type);
    image.pixels = file.readDoubleImage(defaultThreads());
    return image;
}

SegmentationMap openSegmentationMap(const std::string& path, const MemoryBound& bound) {
    FitsFile file = FitsFile::openImage(path);
    const auto [width, height] = file.imageSize();
    bound.checkImage(path, width, height);
    std::string name = file.extensionName();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name != "segmentedmap") {
        throw Error(path + ": not a segmentation map (its image HDU has no EXTNAME = 'SegmentedMap')");
    }
    FitsHeader header = file.readHeader();
    SunWcs wcs = readSunWcs(header);
    return SegmentationMap{std::move(file), width, height, wcs, std::move(header), path};
}

}  // namespace spoca
