#include "classification/map_header.hpp"

#include <cstdio>

#include "core/constants.hpp"
#include "core/file_paths.hpp"

namespace spoca {

namespace {

/// "(" components with `decimals` fixed decimals joined by "," ")".
std::string joinComponents(const std::vector<double>& values, int decimals) {
    std::string text = "(";
    for (std::size_t p = 0; p < values.size(); ++p) {
        char number[512];
        std::snprintf(number, sizeof number, "%.*f", decimals, values[p]);
        text += (p ? "," : "") + std::string(number);
    }
    return text + ")";
}

/// k with `digits` digits, zero padded.
std::string counter(std::size_t k, std::size_t digits) {
    const std::string text = std::to_string(k);
    return std::string(text.size() < digits ? digits - text.size() : 0, '0') + text;
}

}  // namespace

std::vector<HeaderValue> mapKeywords(const MapDescription& d, const SunWcs& wcs) {
    std::vector<HeaderValue> k;
    k.push_back({"CBINSIZE", joinComponents(d.binSize, 6), "Histogram bin size"});
    const char* cdNames[4] = {"CD1_1", "CD1_2", "CD2_1", "CD2_2"};
    for (std::size_t c = 0; c < 4; ++c) k.push_back({cdNames[c], fixed17(wcs.cd[c]), ""});
    k.push_back({"CDELT1", fixed17(wcs.cdelt1), ""});
    k.push_back({"CDELT2", fixed17(wcs.cdelt2), ""});
    if (d.possibilistic) {
        for (std::size_t i = 0; i < d.eta.size(); ++i) {
            k.push_back({"CETA" + counter(i + 1, 2), defaultFormat(d.eta[i]), "Classification eta " + counter(i + 1, 2)});
        }
        k.push_back({"CFCMFUZ", fixed17(d.fcmFuzzifier), "FCM Fuzzifier"});
    }
    k.push_back({"CFUZFIER", fixed17(d.fuzzifier), "Classifier Fuzzifier"});
    std::string channels = "[";
    for (std::size_t c = 0; c < d.channels.size(); ++c) channels += (c ? "," : "") + d.channels[c];
    k.push_back({"CHANNELS", channels + "]", "Classification Channels"});
    k.push_back({"CLASTYPE", d.classifierType, "Classifier Type"});
    for (std::size_t i = 0; i < d.centres.size(); ++i) {
        k.push_back({"CLSCTR" + counter(i + 1, 2), joinComponents(d.centres[i], 4),
                     "Classification class center " + counter(i + 1, 2)});
    }
    k.push_back({"CMAXITER", std::to_string(d.maxIterations), "Maximum Number of Iteration"});
    k.push_back({"CNBRBINS", std::to_string(d.bins), "Histogram number of bin"});
    k.push_back({"CNBRCLAS", std::to_string(d.centres.size()), "Number Classes"});
    k.push_back({"CPRECIS", fixed17(d.precision), "Classifier Precision"});
    k.push_back({"CPREPROC", d.preprocessing, "Classification Image preprocessing"});
    k.push_back({"CRLN_OBS", fixed17(wcs.carringtonL0 * 180 / pi), "[deg]"});
    k.push_back({"CRPIX1", fixed17(wcs.centerX + 1), ""});
    k.push_back({"CRPIX2", fixed17(wcs.centerY + 1), ""});
    k.push_back({"CTYPE1", wcs.ctype1, ""});
    k.push_back({"CTYPE2", wcs.ctype2, ""});
    k.push_back({"CUNIT1", "arcsec", ""});
    k.push_back({"CUNIT2", "arcsec", ""});
    k.push_back({"DATE_OBS", wcs.dateObs, ""});
    k.push_back({"DSUN_OBS", fixed17(wcs.distanceSunMm * 1000000.), "[m]"});
    k.push_back({"HGLN_OBS", fixed17(wcs.l0 * 180 / pi), "[deg]"});
    k.push_back({"HGLT_OBS", fixed17(wcs.b0 * 180 / pi), "[deg]"});
    for (std::size_t p = 0; p < d.imagePaths.size(); ++p) {
        k.push_back({"IMAGE" + counter(p + 1, 3), baseName(d.imagePaths[p]), ""});
    }
    k.push_back({"INSTRUME", "Segmentation Map", "SPoCA segmentation map"});
    k.push_back({"RSUN_OBS", fixed17(wcs.sunRadius * wcs.cdelt1), "[arcsec]"});
    k.push_back({"RSUN_REF", fixed17(wcs.sunRadiusMm * 1000000.), "[m]"});
    k.push_back({"SEGMTYPE", d.segmentationType, "Segmentation type"});
    k.push_back({"TELESCOP", "SPoCA", "This map was computed with SPoCA"});
    return k;
}

}  // namespace spoca
