// The SPoCA classification program (compat 1 to 7): reads N AIA images, preprocesses them,
// classifies their pixels with HFCM or HPCM2 on the feature-vector histogram, keeps the class centres
// history in the centres file and writes the segmentation map. Built as ch_segmentation.x (N = 1) and
// ar_segmentation.x (N = 2) with -DNUMBERCHANNELS=N.
#include <algorithm>
#include <array>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "classification/centers_file.hpp"
#include "classification/centers_history.hpp"
#include "classification/channel_stack.hpp"
#include "classification/classified_map.hpp"
#include "classification/classifier_start.hpp"
#include "classification/hfcm.hpp"
#include "classification/histogram.hpp"
#include "classification/hpcm2.hpp"
#include "classification/initial_centers.hpp"
#include "classification/map_file_name.hpp"
#include "classification/map_header.hpp"
#include "core/arguments.hpp"
#include "core/error.hpp"
#include "core/input_checks.hpp"
#include "core/memory_bound.hpp"
#include "core/parallel.hpp"
#include "core/preprocessing.hpp"
#include "core/sun_image.hpp"

#ifndef NUMBERCHANNELS
#error "NUMBERCHANNELS must be defined (1 for ch_segmentation, 2 for ar_segmentation)"
#endif

namespace {

using namespace spoca;

constexpr std::size_t N = NUMBERCHANNELS;
static_assert(N == 1 || N == 2, "the classification program is built for 1 or 2 channels");

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

std::vector<std::string> description() {
    return {"This Program does classification and segmentation.", "Version: 3.0",
            "Author: Benjamin Mampaey, benjamin.mampaey@sidc.be (original SPoCA); this is the spoca4staff re-implementation",
            std::string("Compiled on ") + __DATE__ + " with options :", "NUMBERCHANNELS: " + std::to_string(N),
            "EUVPixelType: d", "Real: d", MemoryBound::helpText()};
}

/// Reads and preprocesses the images (one thread per image), checks their sizes and warns about
/// dissimilar ones (compat 4.1 steps 3-4).
std::vector<EuvImage> loadImages(const Settings& s, const MemoryBound& bound) {
    std::vector<EuvImage> images(N);
    runTasks(static_cast<unsigned>(N), [&](unsigned p) {
        images[p] = readPreprocessedImage(s.files[p], s.imageType, s.preprocessing, bound);
    });
    for (std::size_t p = 1; p < N; ++p) {
        checkSameSize(images[0], images[p]);
        const std::string problem =
            warnIfNotSimilar(std::cerr, images[p].path, images[0].path, images[p].wcs, images[0].wcs);
        if (!problem.empty() && s.registerImages) {
            throw Error("registerImages (aligning " + images[p].path + ") is not supported");
        }
    }
    return images;
}

/// Everything the end of the run needs about the data.
struct RunData {
    const Settings& settings;
    const std::vector<EuvImage>& images;
    const ClassifierStart<N>& init;
    const ChannelStack<N>& stack;
    const Histogram<N>& histogram;
    std::string outputPath;
};

/// Writes the segmentation map of the classifier's final centres (compat 7).
template <typename Classifier>
void writeMap(const Classifier& classifier, const RunData& d) {
    const Settings& s = d.settings;
    MapDescription description;
    description.classifierType = s.type;
    description.preprocessing = s.preprocessing;
    description.segmentationType = s.segmentationType;
    description.binSize.assign(s.binSize.begin(), s.binSize.end());
    description.maxIterations = s.classifier.maxIterations;
    description.precision = s.classifier.precision;
    description.channels = d.init.channels;
    description.fcmFuzzifier = s.fcmFuzzifier;
    description.bins = d.histogram.size();
    description.imagePaths = s.files;
    writeClassifiedMap(d.outputPath, classifier, std::move(description), d.images[d.init.order[0]].wcs, d.stack,
                       !s.uncompressed);
}

/// Classifies, updates the centres history, writes the map, then the centres file (and unlocks it) (compat 4.1
/// steps 8-11). The original writes the centres file first; writing it last means that a run whose map
/// cannot be written leaves the history untouched, and a centres file that cannot be written gives exit 1.
/// `Classifier` is Hfcm<N> or Hpcm2<N>; the possibilistic one also keeps eta.
template <typename Classifier>
void classifyAndWrite(Classifier& classifier, const RunData& d, std::optional<CentersFile>& centersFile) {
    constexpr bool possibilistic = std::is_same_v<Classifier, Hpcm2<N>>;
    const Settings& s = d.settings;
    classifier.classify(d.histogram, d.init.centres.empty() ? initialCentres(d.histogram, s.numberClasses)
                                                            : d.init.centres);
    std::vector<double> eta;
    if constexpr (possibilistic) eta = classifier.eta();
    if (!allFinite(classifier.centres(), eta)) {
        throw Error("the classification of " + s.files[0] + " gave non-finite class centres (check the parameters)");
    }
    std::string centresText;
    if (centersFile) {
        MedianCentres<N> median = updateCentresHistory(*centersFile, s.numberPreviousCenters, d.init.channels,
                                                       classifier.centres(), eta, possibilistic, std::cerr);
        centresText = std::move(median.fileText);
        if constexpr (possibilistic) {
            classifier.setCentres(std::move(median.centres), std::move(median.eta));
        } else {
            classifier.setCentres(std::move(median.centres));
        }
    }
    if (s.map) writeMap(classifier, d);
    if (centersFile) {
        centersFile->write(centresText);
        centersFile.reset();  // unlock
    }
}


int run(int argc, char** argv) {
    Arguments arguments(argc > 0 ? argv[0] : "classification", description());
    declareParameters(arguments);
    if (const auto status = arguments.parse(argc, argv, std::cout, std::cerr)) return *status;
    defaultThreads();  // a bad SPOCA_THREADS stops the run before any work
    const Settings s = readSettings(arguments);
    const bool directoryMode = outputIsDirectory(s.output);
    const std::vector<EuvImage> images =
        loadImages(s, MemoryBound::fromEnvironment(classificationBytesPerImagePixel(N)));

    std::optional<CentersFile> centersFile;
    if (s.centersFile) centersFile.emplace(*s.centersFile);
    const ClassifierStart<N> init = classifierStart<N>(centersFile ? &*centersFile : nullptr, images, s.numberClasses,
                                                       s.type == "HPCM2", s.numberPreviousCenters);
    std::array<const Image<double>*, N> ordered;
    for (std::size_t p = 0; p < N; ++p) ordered[p] = &images[init.order[p]].pixels;
    const ChannelStack<N> stack(ordered);
    // Without centres to start from, the initialisation needs the bins' first-occurrence order (compat 5.5).
    const Histogram<N> histogram = buildHistogram(stack, s.binSize, init.centres.empty());
    if (histogram.size() == 0) throw Error(s.files[0] + ": no valid pixel to classify after preprocessing");

    const RunData data{s, images, init, stack, histogram, directoryMode ? directoryModeMapPath(s.output, s.type, images) : s.output};
    if (s.type == "HFCM") {
        Hfcm<N> classifier(s.fcmFuzzifier, s.classifier);
        classifyAndWrite(classifier, data, centersFile);
    } else {
        Hpcm2<N> classifier(s.fcmFuzzifier, s.pcmFuzzifier, s.classifier);
        classifyAndWrite(classifier, data, centersFile);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return spoca::runReportingErrors(run, argc, argv, "Error : ");
}
