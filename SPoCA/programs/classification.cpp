// The SPoCA classification program (spec sections 1 to 7): reads N AIA images, preprocesses them,
// classifies their pixels with HFCM or HPCM2 on the feature-vector histogram, keeps the class centres
// history in the centres file and writes the segmentation map. Built as ch_segmentation.x (N = 1) and
// ar_segmentation.x (N = 2) with -DNUMBERCHANNELS=N.
#include <array>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "../lib/arguments.hpp"
#include "../lib/centers_file.hpp"
#include "../lib/channel_stack.hpp"
#include "../lib/error.hpp"
#include "../lib/hfcm.hpp"
#include "../lib/histogram.hpp"
#include "../lib/hpcm2.hpp"
#include "../lib/parallel.hpp"
#include "../lib/preprocessing.hpp"
#include "../lib/segmentation_map.hpp"
#include "../lib/sun_image.hpp"

#ifndef NUMBERCHANNELS
#error "NUMBERCHANNELS must be defined (1 for ch_segmentation, 2 for ar_segmentation)"
#endif

namespace {

using namespace spoca;

constexpr std::size_t N = NUMBERCHANNELS;
static_assert(N == 1 || N == 2, "the classification program is built for 1 or 2 channels");
constexpr double pi = 3.14159265358979323846;

void declareParameters(Arguments& a) {
    a.add("global", "type", 'T', "SPoCA2", "The type of classifier to use for the classification.\n"
          "Possible values: FCM, PCM, PFCM, PCM2, SPoCA, SPoCA2, HFCM, HPCM, HPCM2 (implemented: HFCM, HPCM2)");
    a.add("global", "imageType", 'I', "Unknown", "The type of the images.\n"
          "Possible values: EIT, EUVI, AIA, SWAP, HMI, Unknown (implemented: AIA, Unknown)");
    a.add("global", "imagePreprocessing", 'P', "ALC", "The steps of preprocessing to apply to the sun images.\n"
          "Possible values: NAR (Nullify above radius), ALC (Annulus Limb Correction), DivMedian (Division by the\n"
          "median), TakeSqrt (Take the square root), TakeLog, TakeAbs, DivExpTime (Division by the Exposure Time),\n"
          "ThrMin, ThrMax, ThrMinPer, ThrMaxPer (thresholds, absolute or in percentile)");
    a.add("global", "registerImages", 'r', "false", "Set to register/align the images when running multi channel classification.");
    a.add("global", "centersFile", 'c', "", "The name of the file containing the centers.\n"
          "If it it not provided the centers will be initialized randomly.");
    a.add("global", "numberPreviousCenters", 'n', "0", "The number of previous saved centers to take into account for the final attribution.");
    a.add("global", "map", 'M', "true", "Set to false if you don't want the segmentation map.");
    a.add("global", "stats", 's', "false", "Set to compute stats about the generated maps (not supported).");
    a.add("global", "statsPreprocessing", 'P', "NAR=0.95", "The steps of preprocessing to apply to the sun images for the stats.");
    a.add("global", "output", 'O', ".", "The name for the output file or of a directory.");
    a.add("global", "uncompressed", 'u', "false", "Set this flag if you want results maps to be uncompressed.");
    a.add("classification", "maxNumberIteration", 'i', "100", "The maximal number of iteration for the classification.");
    a.add("classification", "precision", 'p', "0.0015", "The precision to be reached to stop the classification.");
    a.add("classification", "fuzzifier", 'f', "2", "The fuzzifier (m).");
    a.add("classification", "FCMfuzzifier", 0, "2", "The FCM fuzzifier (m), used only when set.");
    a.add("classification", "PCMfuzzifier", 0, "2", "The PCM fuzzifier (m), used only when set.");
    a.add("classification", "FCMweight", 0, "2", "The FCM weight (PFCM only, not supported).");
    a.add("classification", "PCMweight", 0, "2", "The PCM weight (PFCM only, not supported).");
    a.add("classification", "numberClasses", 'C', "4", "The number of classes to classify the sun images into.");
    a.add("classification", "neighborhoodRadius", 'N', "1", "The neighborhoodRadius is for SPoCA only (not supported).");
    a.add("classification", "binSize", 'z', N == 1 ? "(1.000000)" : "(1.000000,1.000000)",
          "The width of the bins of the histogram. It must be of the form (x,y,...) with as many numbers as channels.");
    a.add("segmentation", "type", 'T', "max", "The segmentation type.\nPossible values: max, closest, threshold, limits, fix (implemented: max)");
    a.add("segmentation", "limits", 'L', "", "Only for limits segmentation (not supported).");
    a.add("segmentation", "CH", 'c', "", "Only for fix segmentation (not supported).");
    a.add("segmentation", "AR", 'a', "", "Only for fix segmentation (not supported).");
    a.add("segmentation", "QS", 'q', "", "Only for fix segmentation (not supported).");
    a.add("segmentation", "thresholds", 't', "", "Only for threshold segmentation (not supported).");
    a.setRemaining("fitsFile", "Path to a fits file", N, N);
}

/// Everything the run needs from the parameters, converted and checked.
struct Settings {
    std::string type;
    ImageType imageType = ImageType::AIA;
    std::string preprocessing;
    bool registerImages = false;
    std::optional<std::string> centersFile;
    unsigned numberPreviousCenters = 0;
    bool map = true;
    std::string output;
    bool uncompressed = false;
    ClassifierSettings classifier;
    double fcmFuzzifier = 2;
    double pcmFuzzifier = 2;
    unsigned numberClasses = 4;
    Feature<N> binSize{};
    std::string segmentationType;
    std::vector<std::string> files;
};

Settings readSettings(const Arguments& a) {
    Settings s;
    s.type = a.text("global", "type");
    if (s.type != "HFCM" && s.type != "HPCM2") {
        for (const char* known : {"FCM", "PCM", "PFCM", "PCM2", "SPoCA", "SPoCA2", "HPCM"}) {
            if (s.type == known) throw Error("classifier type " + s.type + " is not supported (only HFCM and HPCM2)");
        }
        throw Error(s.type + " is not a known classifier!");
    }
    s.imageType = parseImageType(a.text("global", "imageType"));
    s.preprocessing = a.text("global", "imagePreprocessing");
    s.registerImages = a.boolean("global", "registerImages");
    if (a.isSet("global", "centersFile")) s.centersFile = a.text("global", "centersFile");
    s.numberPreviousCenters = a.natural("global", "numberPreviousCenters");
    s.map = a.boolean("global", "map");
    if (a.boolean("global", "stats")) throw Error("the stats option is not supported by this implementation");
    s.output = a.text("global", "output");
    s.uncompressed = a.boolean("global", "uncompressed");
    s.classifier.maxIterations = a.natural("classification", "maxNumberIteration");
    s.classifier.precision = a.real("classification", "precision");
    s.fcmFuzzifier = a.real("classification", "fuzzifier");
    if (a.isSet("classification", "FCMfuzzifier")) s.fcmFuzzifier = a.real("classification", "FCMfuzzifier");
    s.pcmFuzzifier = s.fcmFuzzifier;
    if (a.isSet("classification", "PCMfuzzifier")) s.pcmFuzzifier = a.real("classification", "PCMfuzzifier");
    s.numberClasses = a.natural("classification", "numberClasses");
    const std::vector<double> binSize = a.features("classification", "binSize", N);
    std::copy(binSize.begin(), binSize.end(), s.binSize.begin());
    s.segmentationType = a.text("segmentation", "type");
    if (s.segmentationType != "max") {
        for (const char* known : {"closest", "threshold", "limits", "fix"}) {
            if (s.segmentationType == known) {
                throw Error("segmentation type " + s.segmentationType + " is not supported (only max)");
            }
        }
        throw Error(s.segmentationType + " is not a known segmentation type!");
    }
    if (s.centersFile && s.centersFile->empty()) s.centersFile.reset();
    if (!s.centersFile && s.numberPreviousCenters > 0) {
        throw Error("To use previous centers you must specify a centers file!");
    }
    s.files = a.remaining();
    return s;
}

bool isDirectory(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string baseName(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string timeText(std::time_t time) {
    std::tm parts{};
    gmtime_r(&time, &parts);
    char text[32] = {0};
    std::strftime(text, sizeof text, "%Y%m%d_%H%M%S", &parts);
    return text;
}

std::string counter(std::size_t k, int digits) {
    std::string text = std::to_string(k);
    return std::string(text.size() < static_cast<std::size_t>(digits) ? digits - text.size() : 0, '0') + text;
}

/// Reads and preprocesses one image; rejects an image without any usable pixel.
EuvImage loadImage(const std::string& path, const Settings& s) {
    EuvImage image = readEuvImage(path, s.imageType);
    bool usable = false;
    for (const double v : image.pixels.pixels()) {
        if (v != 0 && v != std::numeric_limits<double>::infinity() && !std::isnan(v)) {
            usable = true;
            break;
        }
    }
    if (!usable) throw Error(path + ": image has no valid non-zero pixel");
    preprocess(image, s.preprocessing);
    return image;
}

std::string similarityProblem(const SunWcs& a, const SunWcs& b) {
    const double dx = a.centerX - b.centerX, dy = a.centerY - b.centerY;
    if (dx * dx + dy * dy > 1) return "Sun center mismatch";
    if (std::fabs(1 - a.sunRadius / b.sunRadius) > 0.01) return "Sun radius mismatch";
    return "";
}

/// The "random" initialisation of spec 5.5: deterministic, with a cumulative position k that walks past
/// the end of the histogram as in the original (quirk Q4), whose past-the-end reads are reproduced:
/// * N = 2 (spec 5.5): k >= nb gives (0, b_0) when k - nb is even and the last bin when it is odd;
/// * N = 1: the spec's rule (0) does not reproduce the original's section-12 results; the out-of-range
///   centres take the last bins instead, the last out-of-range centre the last bin, the one before it
///   the bin before, and so on. This reproduces section 12 exactly.
std::vector<Feature<N>> initialCentres(const Histogram<N>& h, unsigned C) {
    std::vector<Feature<N>> B(C);
    const std::size_t nb = h.size();
    std::vector<std::size_t> positions(C);
    std::size_t k = 0;
    std::size_t outside = 0;
    for (unsigned i = 0; i < C; ++i) {
        k += static_cast<unsigned>((i + 0.5) * (static_cast<double>(nb) / C));
        positions[i] = k;
        if (k >= nb) ++outside;
    }
    std::size_t outsideSeen = 0;
    for (unsigned i = 0; i < C; ++i) {
        const std::size_t position = positions[i];
        if (position < nb) {
            B[i] = h.bins[position];
        } else if constexpr (N == 1) {
            const std::size_t fromEnd = outside - 1 - outsideSeen++;
            B[i] = h.bins[fromEnd < nb ? nb - 1 - fromEnd : 0];
        } else {
            Feature<N> end{};
            end[1] = h.binSize[0];
            B[i] = (position - nb) % 2 == 0 ? end : h.bins[nb - 1];
        }
    }
    sortCentres(B);
    return B;
}

std::vector<Feature<N>> toFeatures(const std::vector<std::vector<double>>& centres) {
    std::vector<Feature<N>> B(centres.size());
    for (std::size_t i = 0; i < centres.size(); ++i) std::copy(centres[i].begin(), centres[i].end(), B[i].begin());
    return B;
}

CentersLine toLine(const std::vector<std::string>& channels, const std::vector<Feature<N>>& B,
                   const std::vector<double>& eta) {
    CentersLine line{channels, {}, eta};
    for (const auto& b : B) line.centres.emplace_back(b.begin(), b.end());
    return line;
}

bool allFinite(const std::vector<Feature<N>>& B, const std::vector<double>& eta) {
    for (const auto& b : B) {
        for (const double v : b) {
            if (!std::isfinite(v)) return false;
        }
    }
    for (const double v : eta) {
        if (!std::isfinite(v)) return false;
    }
    return true;
}

/// The per-component median of the history, upper middle for even sizes (spec 6.2).
std::vector<double> medianOf(std::vector<std::vector<double>> columns) {
    std::vector<double> result;
    for (auto& values : columns) {
        std::sort(values.begin(), values.end());
        result.push_back(values[values.size() / 2]);
    }
    return result;
}

/// Step 3 of spec 6.2: history, median, rewrite. Returns the median centres and eta.
std::pair<std::vector<Feature<N>>, std::vector<double>> updateCentersFile(
    CentersFile& file, const Settings& s, const std::vector<std::string>& channels, const std::vector<Feature<N>>& B,
    const std::vector<double>& eta, bool withEta) {
    std::vector<CentersLine> history;
    if (!file.content().empty()) {
        std::string problem;
        history = parseCentersLines(file.content(), withEta, s.numberPreviousCenters, &problem);
        if (!problem.empty()) std::cerr << "Error : " << problem << " in class centers file " << file.path() << "\n";
        for (std::size_t k = 0; k < history.size(); ++k) {
            if (history[k].channels != channels || history[k].centres.size() < B.size()) {
                std::cerr << "Error : channels or classes mismatch on line " << k + 1 << " of class centers file "
                          << file.path() << "; older lines are dropped\n";
                history.resize(k);
                break;
            }
        }
    }
    history.insert(history.begin(), toLine(channels, B, eta));
    std::vector<std::vector<double>> centreColumns(B.size() * N), etaColumns(eta.size());
    for (const auto& line : history) {
        for (std::size_t i = 0; i < B.size(); ++i) {
            for (std::size_t p = 0; p < N; ++p) centreColumns[i * N + p].push_back(line.centres[i][p]);
        }
        for (std::size_t i = 0; i < eta.size(); ++i) etaColumns[i].push_back(line.eta[i]);
    }
    const std::vector<double> centreMedians = medianOf(std::move(centreColumns));
    std::vector<Feature<N>> medianB(B.size());
    for (std::size_t i = 0; i < B.size(); ++i) {
        for (std::size_t p = 0; p < N; ++p) medianB[i][p] = centreMedians[i * N + p];
    }
    std::string text;
    for (std::size_t k = 0; k < history.size() && k <= s.numberPreviousCenters; ++k) {
        text += formatCentersLine(history[k], withEta);
    }
    try {
        file.write(text);
    } catch (const Error& e) {
        std::cerr << "Warning: " << e.what() << "\n";  // Q10: reported, but the run goes on
    }
    return {medianB, medianOf(std::move(etaColumns))};
}

std::string joinFeature(const Feature<N>& f, int decimals) {
    std::string text = "(";
    for (std::size_t p = 0; p < N; ++p) {
        char number[64];
        std::snprintf(number, sizeof number, "%.*f", decimals, f[p]);
        text += (p ? "," : "") + std::string(number);
    }
    return text + ")";
}

std::vector<HeaderValue> mapKeywords(const Settings& s, const std::vector<EuvImage>& images, const SunWcs& wcs,
                                     const std::vector<std::string>& channels, const std::vector<Feature<N>>& B,
                                     const std::vector<double>* eta, std::size_t bins, double fuzzifier) {
    std::vector<HeaderValue> k;
    k.push_back({"CBINSIZE", joinFeature(s.binSize, 6), "Histogram bin size"});
    const char* cdNames[4] = {"CD1_1", "CD1_2", "CD2_1", "CD2_2"};
    for (int c = 0; c < 4; ++c) k.push_back({cdNames[c], fixed17(wcs.cd[static_cast<std::size_t>(c)]), ""});
    k.push_back({"CDELT1", fixed17(wcs.cdelt1), ""});
    k.push_back({"CDELT2", fixed17(wcs.cdelt2), ""});
    if (eta) {
        for (std::size_t i = 0; i < eta->size(); ++i) {
            k.push_back({"CETA" + counter(i + 1, 2), defaultFormat((*eta)[i]), "Classification eta " + counter(i + 1, 2)});
        }
        k.push_back({"CFCMFUZ", fixed17(s.fcmFuzzifier), "FCM Fuzzifier"});
    }
    k.push_back({"CFUZFIER", fixed17(fuzzifier), "Classifier Fuzzifier"});
    std::string channelList = "[";
    for (std::size_t c = 0; c < channels.size(); ++c) channelList += (c ? "," : "") + channels[c];
    k.push_back({"CHANNELS", channelList + "]", "Classification Channels"});
    k.push_back({"CLASTYPE", s.type, "Classifier Type"});
    for (std::size_t i = 0; i < B.size(); ++i) {
        k.push_back({"CLSCTR" + counter(i + 1, 2), joinFeature(B[i], 4), "Classification class center " + counter(i + 1, 2)});
    }
    k.push_back({"CMAXITER", std::to_string(s.classifier.maxIterations), "Maximum Number of Iteration"});
    k.push_back({"CNBRBINS", std::to_string(bins), "Histogram number of bin"});
    k.push_back({"CNBRCLAS", std::to_string(B.size()), "Number Classes"});
    k.push_back({"CPRECIS", fixed17(s.classifier.precision), "Classifier Precision"});
    k.push_back({"CPREPROC", s.preprocessing, "Classification Image preprocessing"});
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
    for (std::size_t p = 0; p < images.size(); ++p) k.push_back({"IMAGE" + counter(p + 1, 3), baseName(images[p].path), ""});
    k.push_back({"INSTRUME", "Segmentation Map", "SPoCA segmentation map"});
    k.push_back({"RSUN_OBS", fixed17(wcs.sunRadius * wcs.cdelt1), "[arcsec]"});
    k.push_back({"RSUN_REF", fixed17(wcs.sunRadiusMm * 1000000.), "[m]"});
    k.push_back({"SEGMTYPE", s.segmentationType, "Segmentation type"});
    k.push_back({"TELESCOP", "SPoCA", "This map was computed with SPoCA"});
    return k;
}

/// Writes the map: each valid pixel of the common grid gets classifier.colour(x), the others 0.
template <typename Classifier>
void writeMap(const std::string& path, const ChannelStack<N>& stack, const Classifier& classifier,
              const std::vector<HeaderValue>& keywords, bool compressed) {
    const int width = stack.width();
    writeSegmentationMap(path, width, stack.height(), keywords, compressed, [&](int first, int end, std::int32_t* out) {
        forEachRowBlock(end - first, [&](int a, int b) {
            std::fill(out + static_cast<std::size_t>(a) * width, out + static_cast<std::size_t>(b) * width, 0);
            stack.forEachValid(first + a, first + b, [&](int j, int i, const Feature<N>& x) {
                out[static_cast<std::size_t>(j - first) * width + i] = static_cast<std::int32_t>(classifier.colour(x));
            });
        });
    });
}

std::vector<std::string> description() {
    return {"This Program does classification and segmentation.", "Version: 3.0",
            "Author: Benjamin Mampaey, benjamin.mampaey@sidc.be (original SPoCA); this is the spoca4staff re-implementation",
            std::string("Compiled on ") + __DATE__ + " with options :", "NUMBERCHANNELS: " + std::to_string(N),
            "EUVPixelType: d", "Real: d"};
}

int run(int argc, char** argv) {
    Arguments arguments(argc > 0 ? argv[0] : "classification", description());
    declareParameters(arguments);
    if (const auto status = arguments.parse(argc, argv, std::cout, std::cerr)) return *status;
    const Settings s = readSettings(arguments);

    // Output location (spec 4.1 step 2).
    const bool directoryMode = isDirectory(s.output);
    if (!directoryMode) {
        const auto slash = s.output.rfind('/');
        const std::string folder = slash == std::string::npos ? "./" : s.output.substr(0, slash + 1);
        if (!isDirectory(folder)) throw Error(folder + " is not a directory! (output " + s.output + ")");
    }

    // Read and preprocess the images, one thread per image.
    std::vector<EuvImage> images(N);
    runTasks(static_cast<unsigned>(N), [&](unsigned p) { images[p] = loadImage(s.files[p], s); });
    for (std::size_t p = 1; p < N; ++p) {
        const auto& a = images[0].pixels;
        const auto& b = images[p].pixels;
        if (a.width() != b.width() || a.height() != b.height()) {
            throw Error("images of different sizes: " + images[0].path + " is " + std::to_string(a.width()) + "x" +
                        std::to_string(a.height()) + ", " + images[p].path + " is " + std::to_string(b.width()) + "x" +
                        std::to_string(b.height()));
        }
    }
    for (std::size_t p = 1; p < N; ++p) {
        const std::string problem = similarityProblem(images[p].wcs, images[0].wcs);
        if (problem.empty()) continue;
        if (s.registerImages) throw Error("registerImages (aligning " + images[p].path + ") is not supported");
        std::cerr << "Warning: image " << images[p].path << " and " << images[0].path
                  << " are not similar: " << problem << "\n";
    }
    std::string outputPath = s.output;
    if (directoryMode) {
        outputPath = s.output + (s.output.back() == '/' ? "" : "/") + s.type;
        for (const auto& image : images) outputPath += "." + image.channel + "." + timeText(image.wcs.observationTime);
        outputPath += ".SegmentedMap.fits";
    }

    // Centres initialisation (spec 4.1 step 7, 4.3, 6.2 step 1).
    std::optional<CentersFile> centersFile;
    if (s.centersFile) centersFile.emplace(*s.centersFile);
    std::array<std::size_t, N> order;
    for (std::size_t p = 0; p < N; ++p) order[p] = p;
    std::vector<std::string> channels;
    std::vector<Feature<N>> initial;
    const bool usable = centersFile && !centersFile->content().empty();
    if (usable) {
        std::string problem;
        const auto lines = parseCentersLines(centersFile->content(), false, 1, &problem);
        if (lines.empty()) throw Error(centersFile->path() + ": could not read class centers from the first line");
        channels = lines[0].channels;
        std::vector<std::string> imageChannels;
        for (const auto& image : images) imageChannels.push_back(image.channel);
        bool match = channels.size() == N;
        for (std::size_t p = 0; match && p < N; ++p) {
            match = std::find(imageChannels.begin(), imageChannels.end(), channels[p]) != imageChannels.end();
        }
        if (!match) {
            throw Error(centersFile->path() + ": The images channels do not correspond to centers channels.");
        }
        for (std::size_t p = 0; p < N; ++p) {
            if (images[order[p]].channel == channels[p]) continue;
            for (std::size_t q = p + 1; q < N; ++q) {
                if (images[order[q]].channel == channels[p]) {
                    std::swap(order[p], order[q]);
                    break;
                }
            }
        }
        initial = toFeatures(lines[0].centres);
        if (initial.empty() || !allFinite(initial, {})) {
            throw Error(centersFile->path() + ": could not read class centers from the first line");
        }
    } else {
        if (s.numberClasses == 0) {
            throw Error("You must either specify the number classes or a non empty class centers file!");
        }
        for (std::size_t p = 0; p < N; ++p) channels.push_back(images[order[p]].channel);
    }
    std::array<const Image<double>*, N> ordered;
    for (std::size_t p = 0; p < N; ++p) ordered[p] = &images[order[p]].pixels;
    const ChannelStack<N> stack(ordered);
    const Histogram<N> histogram = buildHistogram(stack, s.binSize);
    if (histogram.size() == 0) throw Error(s.files[0] + ": no valid pixel to classify after preprocessing");
    if (!usable) initial = initialCentres(histogram, s.numberClasses);

    const SunWcs& wcs = images[order[0]].wcs;
    auto finish = [&](auto& classifier, const std::vector<double>* eta, double fuzzifier) {
        if (s.map) {
            const auto keywords = mapKeywords(s, images, wcs, channels, classifier.centres(), eta, histogram.size(), fuzzifier);
            writeMap(outputPath, stack, classifier, keywords, !s.uncompressed);
        }
    };
    const std::string failed = "the classification gave non-finite class centres (too few valid pixels in " + s.files[0] + "?)";
    if (s.type == "HFCM") {
        Hfcm<N> classifier(s.fcmFuzzifier, s.classifier);
        classifier.classify(histogram, initial);
        if (!allFinite(classifier.centres(), {})) throw Error(failed);
        if (centersFile) {
            classifier.setCentres(updateCentersFile(*centersFile, s, channels, classifier.centres(), {}, false).first);
            centersFile.reset();  // unlock: the map does not need the file
        }
        finish(classifier, nullptr, classifier.fuzzifier());
    } else {
        Hpcm2<N> classifier(s.fcmFuzzifier, s.pcmFuzzifier, s.classifier);
        classifier.classify(histogram, initial);
        if (!allFinite(classifier.centres(), classifier.eta())) throw Error(failed);
        if (centersFile) {
            auto [B, eta] = updateCentersFile(*centersFile, s, channels, classifier.centres(), classifier.eta(), true);
            classifier.setCentres(std::move(B), std::move(eta));
            centersFile.reset();
        }
        finish(classifier, &classifier.eta(), classifier.pcmFuzzifier());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const spoca::Error& e) {
        std::cerr << "Error : " << e.what() << "\n";
    } catch (const std::exception& e) {
        std::cerr << "Error : unexpected failure: " << e.what() << "\n";
    }
    return 1;
}
