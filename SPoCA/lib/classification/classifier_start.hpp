// Where a classification starts from: the classifier's channel order and its initial centres, from the centres
// file when it has any (compat 4.1 step 7, 4.3, 6.2 step 1).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "classification/centers_file.hpp"
#include "classification/centers_history.hpp"
#include "classification/feature.hpp"
#include "core/error.hpp"
#include "core/sun_image.hpp"

namespace spoca {

/// The classifier's channel order and initial centres.
template <std::size_t N>
struct ClassifierStart {
    std::array<std::size_t, N> order{};  ///< order[p] = index of the image of classifier channel p
    std::vector<std::string> channels;   ///< the classifier's channels, in its order
    std::vector<Feature<N>> centres;     ///< empty: use the "random" initialisation (compat 5.5)
};

/// The start of a classification of `images` (command-line order). Without a centres file (`file` nullptr) or
/// with an empty one, the channels are the images' and the centres are left to the initialisation, which
/// needs `numberClasses` > 0. Otherwise the first line of the file gives the channels, which must be the
/// images', and the initial centres. The lines the centres history will read (`numberPreviousCenters`, at least
/// one; with eta when `withEta`) are checked now, before any work (issue 12): a damaged one stops the run.
/// Throws spoca::Error naming the centres file.
template <std::size_t N>
ClassifierStart<N> classifierStart(const CentersFile* file, const std::vector<EuvImage>& images,
                                   unsigned numberClasses, bool withEta, unsigned numberPreviousCenters) {
    ClassifierStart<N> start;
    for (std::size_t p = 0; p < N; ++p) start.order[p] = p;
    if (!file || file->content().empty()) {
        if (numberClasses == 0) {
            throw Error("You must either specify the number classes or a non empty class centers file!");
        }
        for (const auto& image : images) start.channels.push_back(image.channel);
        return start;
    }
    const auto lines = readCentersLines(file->path(), file->content(), withEta, std::max(1u, numberPreviousCenters));
    if (lines.empty()) throw Error(file->path() + ": could not read class centers from the first line");
    start.channels = lines[0].channels;
    bool match = start.channels.size() == N;
    for (std::size_t p = 0; match && p < N; ++p) {
        match = std::any_of(images.begin(), images.end(),
                            [&](const EuvImage& image) { return image.channel == start.channels[p]; });
    }
    if (!match) throw Error(file->path() + ": The images channels do not correspond to centers channels.");
    for (std::size_t p = 0; p < N; ++p) {
        for (std::size_t q = p + 1; q < N && images[start.order[p]].channel != start.channels[p]; ++q) {
            if (images[start.order[q]].channel == start.channels[p]) std::swap(start.order[p], start.order[q]);
        }
    }
    start.centres = toFeatures<N>(lines[0].centres);
    if (start.centres.empty() || !allFinite(start.centres, {})) {
        throw Error(file->path() + ": could not read class centers from the first line");
    }
    return start;
}

}  // namespace spoca
