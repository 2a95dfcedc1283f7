// The history of class centres kept in the centres file, and its per-component median (compat 6.2).
#pragma once

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "classification/centers_file.hpp"
#include "classification/feature.hpp"
#include "core/error.hpp"

namespace spoca {

/// Converts parsed centres (each with N components, as checked by the parser) to feature vectors.
template <std::size_t N>
std::vector<Feature<N>> toFeatures(const std::vector<std::vector<double>>& centres) {
    std::vector<Feature<N>> B(centres.size());
    for (std::size_t i = 0; i < centres.size(); ++i) {
        std::copy_n(centres[i].begin(), std::min(N, centres[i].size()), B[i].begin());
    }
    return B;
}

/// True when every centre component and every eta is finite (NaN centres are never written).
template <std::size_t N>
bool allFinite(const std::vector<Feature<N>>& B, const std::vector<double>& eta) {
    for (const auto& b : B) {
        if (!std::all_of(b.begin(), b.end(), [](double v) { return std::isfinite(v); })) return false;
    }
    return std::all_of(eta.begin(), eta.end(), [](double v) { return std::isfinite(v); });
}

/// Sorts each column and takes the element at size/2: the upper middle for even sizes (compat 6.2, 10.3).
inline std::vector<double> upperMedians(std::vector<std::vector<double>> columns) {
    std::vector<double> result;
    for (auto& values : columns) {
        std::sort(values.begin(), values.end());
        result.push_back(values[values.size() / 2]);
    }
    return result;
}

/// The median centres and eta that the attribution uses after a centres-file update.
/// `fileText` is the centres file's new content, which the caller writes once the map is written.
template <std::size_t N>
struct MedianCentres {
    std::vector<Feature<N>> centres;
    std::vector<double> eta;
    std::string fileText;
};

/// Compat 6.2 step 3: reads up to `previous` lines of history from the file's content (a damaged line, or one
/// with another class count than this run's, throws spoca::Error naming the file and the line, issue 12; a
/// line with other channels ends the history, with a message on `messages`, quirk Q9), puts this run's
/// raw centres (and eta, for a possibilistic classifier: `withEta`) in front, and returns the per-component
/// upper medians with the file's new content: at most previous+1 lines, newest first. The caller writes it
/// (CentersFile::write) after the map, so that a map that cannot be written leaves the file as it was;
/// a file that cannot be written then stops the program (issue 12; the original went on silently, quirk Q10).
template <std::size_t N>
MedianCentres<N> updateCentresHistory(CentersFile& file, unsigned previous, const std::vector<std::string>& channels,
                                      const std::vector<Feature<N>>& B, const std::vector<double>& eta,
                                      bool withEta, std::ostream& messages) {
    std::vector<CentersLine> history;
    if (!file.content().empty()) {
        history = readCentersLines(file.path(), file.content(), withEta, previous);
        for (std::size_t k = 0; k < history.size(); ++k) {
            if (history[k].centres.size() != B.size()) {
                throw Error(file.path() + ": line " + std::to_string(k + 1) + ": " +
                            std::to_string(history[k].centres.size()) + " classes, but this run has " +
                            std::to_string(B.size()));
            }
            if (history[k].channels != channels) {
                messages << "Error : channels mismatch on line " << k + 1 << " of class centers file "
                         << file.path() << "; it and the older lines are dropped\n";
                history.resize(k);
                break;
            }
        }
    }
    CentersLine newest{channels, {}, eta};
    for (const auto& b : B) newest.centres.emplace_back(b.begin(), b.end());
    history.insert(history.begin(), std::move(newest));
    std::vector<std::vector<double>> centreColumns(B.size() * N), etaColumns(eta.size());
    for (const auto& line : history) {
        for (std::size_t i = 0; i < B.size(); ++i) {
            for (std::size_t p = 0; p < N; ++p) centreColumns[i * N + p].push_back(line.centres[i][p]);
        }
        for (std::size_t i = 0; i < eta.size(); ++i) etaColumns[i].push_back(line.eta[i]);
    }
    const std::vector<double> centreMedians = upperMedians(std::move(centreColumns));
    MedianCentres<N> median{std::vector<Feature<N>>(B.size()), upperMedians(std::move(etaColumns)), {}};
    for (std::size_t i = 0; i < B.size(); ++i) {
        for (std::size_t p = 0; p < N; ++p) median.centres[i][p] = centreMedians[i * N + p];
    }
    for (std::size_t k = 0; k < history.size() && k <= previous; ++k) {
        median.fileText += formatCentersLine(history[k], withEta);
    }
    return median;
}

}  // namespace spoca
