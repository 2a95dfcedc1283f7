// Writing the segmentation map of a finished classification: its header and its class map (compat 7).
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include "classification/channel_stack.hpp"
#include "classification/hpcm2.hpp"
#include "classification/map_header.hpp"
#include "classification/segmentation_map_writer.hpp"
#include "core/sun_wcs.hpp"

namespace spoca {

/// Writes the map of `classifier` (Hfcm<N> or Hpcm2<N>, classified) on the grid of `stack` to `path`:
/// `description`, which says how the classification was run, gets the classifier's final centres and
/// fuzzifier (Hpcm2<N>: also eta, and the map is marked possibilistic) and becomes the header keywords of
/// compat 7.3 with the WCS `wcs` of the classifier's first channel image; the pixels are the classifier's
/// colours (compat 5.9). RICE-compressed unless `compressed` is false. Throws spoca::Error naming `path`.
template <std::size_t N, typename Classifier>
void writeClassifiedMap(const std::string& path, const Classifier& classifier, MapDescription description,
                        const SunWcs& wcs, const ChannelStack<N>& stack, bool compressed) {
    constexpr bool possibilistic = std::is_same_v<Classifier, Hpcm2<N>>;
    description.possibilistic = possibilistic;
    description.centres.clear();
    for (const auto& b : classifier.centres()) description.centres.emplace_back(b.begin(), b.end());
    if constexpr (possibilistic) {
        description.eta = classifier.eta();
        description.fuzzifier = classifier.pcmFuzzifier();
    } else {
        description.fuzzifier = classifier.fuzzifier();
    }
    writeClassMap(path, stack, classifier, mapKeywords(description, wcs), compressed);
}

}  // namespace spoca
