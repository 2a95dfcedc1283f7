// The keywords of a segmentation map header (compat 7.3), as text values formatted like the original.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/header_values.hpp"
#include "core/sun_wcs.hpp"

namespace spoca {

/// What the map header describes: the classification and the images it was run on.
struct MapDescription {
    std::string classifierType;                ///< CLASTYPE
    std::string preprocessing;                 ///< CPREPROC
    std::string segmentationType;              ///< SEGMTYPE
    std::vector<double> binSize;               ///< CBINSIZE
    unsigned maxIterations = 0;                ///< CMAXITER
    double precision = 0;                      ///< CPRECIS
    double fuzzifier = 0;                      ///< CFUZFIER (HFCM: mF, HPCM2: mP)
    std::vector<std::string> channels;         ///< CHANNELS, classifier order
    std::vector<std::vector<double>> centres;  ///< CLSCTRnn, final (median, sorted) centres
    bool possibilistic = false;                ///< HPCM2: adds CETAnn and CFCMFUZ
    std::vector<double> eta;                   ///< CETAnn
    double fcmFuzzifier = 0;                   ///< CFCMFUZ
    std::size_t bins = 0;                      ///< CNBRBINS
    std::vector<std::string> imagePaths;       ///< IMAGEnnn (base names), command-line order
};

/// The keywords of compat 7.3 for a map of the classification `d`, with the WCS of image 0 `wcs`; the
/// values are text to be typed and written by writeHeaderValues (compat 7.4).
std::vector<HeaderValue> mapKeywords(const MapDescription& d, const SunWcs& wcs);

}  // namespace spoca
