// The feature-vector histogram the classifiers iterate on (compat 5.2).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "classification/channel_stack.hpp"
#include "classification/feature.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"

namespace spoca {

/// The distinct bin centres h_p = floor(v_p/b_p)*b_p + b_p/2 of the valid pixels, in lexicographic order,
/// with the number of pixels in each and the scan index (j * W' + i) of the first pixel of each, which gives the
/// bins' first-occurrence order (compat 5.2, needed by the "random" initialisation of 5.5).
template <std::size_t N>
struct Histogram {
    Feature<N> binSize{};
    std::vector<Feature<N>> bins;
    std::vector<double> counts;             ///< pixel count of each bin, as double (compat 10.1)
    std::vector<std::uint64_t> firstScan;   ///< scan index of the first pixel of each bin, when recorded
    std::size_t size() const { return bins.size(); }
};

namespace detail {

/// Bin indices floor(v_p / b_p) of a feature vector, as integers. Two pixels share a bin centre exactly
/// when they share these indices, as long as the indices are below 2^40 in magnitude (then consecutive
/// bin centres f*b + b/2 are many ulps apart); other values (huge, infinite or NaN) are counted by
/// their exact bin centre instead.
constexpr double maxIndex = 1099511627776.0;  // 2^40

/// An open-addressing table counting keys of K 64-bit words, with the smallest scan index seen for each.
template <std::size_t K>
class KeyCounter {
public:
    using Key = std::array<std::uint64_t, K>;
    KeyCounter() : keys_(1024), counts_(1024, 0), firsts_(1024, 0) {}

    void add(const Key& key, std::uint64_t first, std::uint64_t count = 1) {
        const std::size_t mask = counts_.size() - 1;
        std::size_t slot = hash(key) & mask;
        while (counts_[slot] != 0 && !equal(keys_[slot], key)) slot = (slot + 1) & mask;
        if (counts_[slot] == 0) {
            keys_[slot] = key;
            counts_[slot] = count;
            firsts_[slot] = first;
            if (++used_ * 2 > counts_.size()) grow();
            return;
        }
        counts_[slot] += count;
        firsts_[slot] = std::min(firsts_[slot], first);
    }

    bool empty() const { return used_ == 0; }

    /// Calls f(key, count, first scan index) for every key.
    template <typename F>
    void forEach(F f) const {
        for (std::size_t s = 0; s < counts_.size(); ++s) {
            if (counts_[s]) f(keys_[s], counts_[s], firsts_[s]);
        }
    }

private:
    static bool equal(const Key& a, const Key& b) {
        for (std::size_t k = 0; k < K; ++k) {
            if (a[k] != b[k]) return false;
        }
        return true;
    }

    static std::size_t hash(const Key& key) {
        std::uint64_t h = 0;
        for (const std::uint64_t word : key) h = (h ^ word) * 0x9e3779b97f4a7c15ull;
        return static_cast<std::size_t>(h ^ (h >> 29) ^ (h >> 41));
    }

    void grow() {
        std::vector<Key> keys(keys_.size() * 2);
        std::vector<std::uint64_t> counts(counts_.size() * 2, 0);
        std::vector<std::uint64_t> firsts(firsts_.size() * 2, 0);
        std::swap(keys, keys_);
        std::swap(counts, counts_);
        std::swap(firsts, firsts_);
        used_ = 0;
        for (std::size_t s = 0; s < counts.size(); ++s) {
            if (counts[s]) add(keys[s], firsts[s], counts[s]);
        }
    }

    std::vector<Key> keys_;
    std::vector<std::uint64_t> counts_;
    std::vector<std::uint64_t> firsts_;
    std::size_t used_ = 0;
};

/// Counts of bin indices in a dense window of 2^(bits*N) bins (2^17 for one channel, 2^20 for two)
/// placed around the first indices seen; indices outside the window are refused (the caller hashes them).
/// When `recordFirst`, it also keeps the scan index of the first pixel of each bin, as an offset from
/// `firstScan`, the scan index where this counter starts (pixels must then be added in scan order).
template <std::size_t N>
class DenseCounter {
public:
    static constexpr unsigned bits = N == 1 ? 17 : 20 / static_cast<unsigned>(N);
    static constexpr std::int64_t side = std::int64_t{1} << bits;

    DenseCounter(bool recordFirst = false, std::uint64_t firstScan = 0) : record_(recordFirst), start_(firstScan) {}

    bool add(const std::array<std::int64_t, N>& index, std::uint64_t scan) {
        if (counts_.empty()) {
            counts_.assign(std::size_t{1} << (bits * N), 0);
            if (record_) firsts_.assign(counts_.size(), 0);
            for (std::size_t p = 0; p < N; ++p) base_[p] = index[p] - side / 4;
        }
        std::uint64_t cell = 0;
        for (std::size_t p = 0; p < N; ++p) {
            const auto offset = static_cast<std::uint64_t>(index[p] - base_[p]);
            if (offset >= static_cast<std::uint64_t>(side)) return false;
            cell = (cell << bits) | offset;
        }
        if (counts_[cell]++ == 0 && record_) firsts_[cell] = static_cast<std::uint32_t>(scan - start_);
        return true;
    }

    /// Calls f(index, count, first scan index) for every non-empty bin.
    template <typename F>
    void forEach(F f) const {
        for (std::size_t cell = 0; cell < counts_.size(); ++cell) {
            if (!counts_[cell]) continue;
            std::array<std::int64_t, N> index;
            for (std::size_t p = 0; p < N; ++p) {
                const std::size_t shift = bits * (N - 1 - p);
                index[p] = base_[p] + static_cast<std::int64_t>((cell >> shift) & (static_cast<std::size_t>(side) - 1));
            }
            f(index, counts_[cell], record_ ? start_ + firsts_[cell] : std::uint64_t{0});
        }
    }

private:
    bool record_;
    std::uint64_t start_;
    std::array<std::int64_t, N> base_{};
    std::vector<std::uint32_t> counts_;
    std::vector<std::uint32_t> firsts_;  // 32-bit offsets: a block of rows holds fewer than 2^32 pixels
};

/// Counts of bin indices (ordinary values) and of exact bin centres (the rest), for one block of rows.
template <std::size_t N>
struct BinCounts {
    DenseCounter<N> dense;
    KeyCounter<N> indices;
    KeyCounter<N> centres;
};

/// The largest number of pixels in a block of rows when first scan indices are recorded (32-bit offsets).
constexpr std::uint64_t maxBlockPixels = 0xFFFFFFFFull;

/// A bin of the histogram being built: its centre, pixel count and first scan index.
template <std::size_t N>
struct BinEntry {
    Feature<N> centre;
    std::uint64_t count;
    std::uint64_t firstScan;
};

/// The exact bin centre index * b + b/2 of bin indices (int64 values, or the 64-bit words of a KeyCounter key).
template <std::size_t N, typename Index>
Feature<N> indexCentre(const Index& index, const Feature<N>& binSize) {
    Feature<N> h;
    for (std::size_t p = 0; p < N; ++p) {
        h[p] = static_cast<double>(static_cast<std::int64_t>(index[p])) * binSize[p] + binSize[p] / 2;
    }
    return h;
}

/// Orders bins by centre (lexicographic).
template <std::size_t N>
bool byCentre(const BinEntry<N>& a, const BinEntry<N>& b) {
    return a.centre < b.centre;
}

/// Whether a bin centre can be merged by value: no component NaN (no total order) or 0 (+0 and -0 are distinct
/// bins, merged by bit pattern).
template <std::size_t N>
bool orderable(const Feature<N>& h) {
    for (const double v : h) {
        if (!(v == v) || v == 0) return false;
    }
    return true;
}

/// Merges two lists sorted by centre (rising strictly) into one, adding the counts of equal centres and keeping
/// the smaller first scan index.
template <std::size_t N>
std::vector<BinEntry<N>> mergeByCentre(const std::vector<BinEntry<N>>& x, const std::vector<BinEntry<N>>& y) {
    std::vector<BinEntry<N>> merged;
    merged.reserve(x.size() + y.size());
    std::size_t a = 0, b = 0;
    while (a < x.size() || b < y.size()) {
        if (b == y.size() || (a < x.size() && x[a].centre < y[b].centre)) {
            merged.push_back(x[a++]);
        } else if (a == x.size() || y[b].centre < x[a].centre) {
            merged.push_back(y[b++]);
        } else {
            merged.push_back({x[a].centre, x[a].count + y[b].count, std::min(x[a].firstScan, y[b].firstScan)});
            ++a;
            ++b;
        }
    }
    return merged;
}

/// The bins of one block's counts as a list sorted by centre, without hashing: the dense counter lists its bins
/// in index order, which is the order of their centres when those rise strictly (positive bin sizes); the bins
/// outside the dense window are sorted (there are few), then both are merged. False when a pixel was binned by
/// its exact centre (huge, infinite or NaN values), or a centre is not orderable() or out of order.
template <std::size_t N>
bool sortedBins(const BinCounts<N>& c, const Feature<N>& binSize, std::vector<BinEntry<N>>& list) {
    list.clear();
    if (!c.centres.empty()) return false;
    bool ordered = true;
    c.dense.forEach([&](const std::array<std::int64_t, N>& index, std::uint64_t n, std::uint64_t scan) {
        const Feature<N> h = indexCentre(index, binSize);
        ordered = ordered && orderable(h) && (list.empty() || list.back().centre < h);
        list.push_back({h, n, scan});
    });
    if (!ordered) return false;
    std::vector<BinEntry<N>> others;
    c.indices.forEach([&](const auto& index, std::uint64_t n, std::uint64_t scan) {
        const Feature<N> h = indexCentre(index, binSize);
        ordered = ordered && orderable(h);
        others.push_back({h, n, scan});
    });
    if (!ordered) return false;
    std::sort(others.begin(), others.end(), byCentre<N>);
    // Distinct indices may round to one centre: one bin, as the merge by bit pattern makes it.
    std::size_t kept = 0;
    for (std::size_t k = 0; k < others.size(); ++k) {
        if (kept > 0 && !(others[kept - 1].centre < others[k].centre)) {
            others[kept - 1].count += others[k].count;
            others[kept - 1].firstScan = std::min(others[kept - 1].firstScan, others[k].firstScan);
        } else {
            others[kept++] = others[k];
        }
    }
    others.resize(kept);
    if (!others.empty()) list = mergeByCentre(list, others);
    return true;
}

/// The bins of `counts` sorted by centre, merged without hashing: each block's sortedBins() (on the blocks'
/// threads), then the lists merged. Returns false, leaving `entries` empty, when a block's sortedBins() is false;
/// otherwise every centre is orderable, so the result is the one the merge by bit pattern and the sort give.
template <std::size_t N>
bool mergeInOrder(const std::vector<BinCounts<N>>& counts, const Feature<N>& binSize,
                  std::vector<BinEntry<N>>& entries) {
    entries.clear();
    std::vector<std::vector<BinEntry<N>>> lists(counts.size());
    std::vector<char> ok(counts.size(), 0);
    runTasks(static_cast<unsigned>(counts.size()),
             [&](unsigned t) { ok[t] = sortedBins(counts[t], binSize, lists[t]) ? 1 : 0; });
    for (const char good : ok) {
        if (!good) return false;
    }
    for (const auto& list : lists) entries = entries.empty() ? list : mergeByCentre(entries, list);
    return true;
}

}  // namespace detail

/// The bin centre of a feature vector (compat 5.2).
template <std::size_t N>
inline Feature<N> binCentre(const Feature<N>& x, const Feature<N>& binSize) {
    Feature<N> h;
    for (std::size_t p = 0; p < N; ++p) h[p] = std::floor(x[p] / binSize[p]) * binSize[p] + binSize[p] / 2;
    return h;
}

/// Counts the valid pixels of `stack` into bins of size `binSize` (rows split between threads; the counts
/// are exact integers, so the result does not depend on the split). With `recordFirstScan`, also records the
/// scan index of each bin's first pixel (Histogram::firstScan), which only the "random" initialisation needs.
/// Throws when a bin size is 0.
template <std::size_t N>
Histogram<N> buildHistogram(const ChannelStack<N>& stack, const Feature<N>& binSize, bool recordFirstScan = false,
                            unsigned threads = 0) {
    for (const double b : binSize) {
        if (b == 0) throw Error("binSize cannot be 0.");
    }
    const unsigned tasks = threads ? threads : defaultThreads();
    const int rowsPerTask = (stack.height() + static_cast<int>(tasks) - 1) / static_cast<int>(tasks);
    const auto width = static_cast<std::uint64_t>(stack.width());
    if (recordFirstScan && width * static_cast<std::uint64_t>(rowsPerTask) > detail::maxBlockPixels) {
        throw Error("the image is too large to record the histogram's first-occurrence order");
    }
    std::vector<detail::BinCounts<N>> counts;
    counts.reserve(tasks);
    for (unsigned t = 0; t < tasks; ++t) {
        counts.push_back({detail::DenseCounter<N>(recordFirstScan, width * t * static_cast<std::uint64_t>(rowsPerTask)),
                          {}, {}});
    }
    runTasks(tasks, [&](unsigned t) {
        const int first = static_cast<int>(t) * rowsPerTask;
        const int end = std::min(stack.height(), first + rowsPerTask);
        // The quotients x / b of a whole row, in one loop the compiler vectorises (the same IEEE divisions,
        // two at a time): the divisions were the slowest part of the count.
        std::array<std::vector<double>, N> quotients;
        for (auto& row : quotients) row.resize(static_cast<std::size_t>(stack.width()));
        auto count = [&](int j, int i, const Feature<N>& x) {
            const std::uint64_t scan = static_cast<std::uint64_t>(j) * width + static_cast<std::uint64_t>(i);
            typename detail::KeyCounter<N>::Key key;
            std::array<std::int64_t, N> index;
            bool ordinary = true;
            for (std::size_t p = 0; p < N; ++p) {
                // floor(q) by truncation (exact below 2^40; faster than a libm call without SSE4.1)
                const double q = quotients[p][static_cast<std::size_t>(i)];
                ordinary = ordinary && std::fabs(q) < detail::maxIndex;
                std::int64_t f = static_cast<std::int64_t>(ordinary ? q : 0);
                if (static_cast<double>(f) > q) --f;
                index[p] = f;
                key[p] = static_cast<std::uint64_t>(f);
            }
            if (ordinary) {
                if (!counts[t].dense.add(index, scan)) counts[t].indices.add(key, scan);
            } else {
                const Feature<N> h = binCentre(x, binSize);
                std::memcpy(key.data(), h.data(), sizeof key);
                counts[t].centres.add(key, scan);
            }
        };
        for (int j = first; j < end; ++j) {
            for (std::size_t p = 0; p < N; ++p) {
                const double* values = stack.row(p, j);
                double* q = quotients[p].data();
                const double b = binSize[p];
                for (int k = 0; k < stack.width(); ++k) q[k] = values[k] / b;
            }
            stack.forEachValid(j, j + 1, count);
        }
    });
    std::vector<detail::BinEntry<N>> entries;
    if (!detail::mergeInOrder(counts, binSize, entries)) {
        // Merge: ordinary indices become their exact centres; centres are then merged by exact bit pattern.
        detail::KeyCounter<N> total;
        for (const auto& c : counts) {
            auto addCentre = [&](const auto& index, std::uint64_t n, std::uint64_t scan) {
                typename detail::KeyCounter<N>::Key key;
                const Feature<N> h = detail::indexCentre(index, binSize);
                std::memcpy(key.data(), h.data(), sizeof key);
                total.add(key, scan, n);
            };
            c.dense.forEach(addCentre);
            c.indices.forEach(addCentre);
            c.centres.forEach([&](const auto& key, std::uint64_t n, std::uint64_t scan) { total.add(key, scan, n); });
        }
        total.forEach([&](const auto& key, std::uint64_t n, std::uint64_t scan) {
            Feature<N> h;
            std::memcpy(h.data(), key.data(), sizeof key);
            entries.push_back({h, n, scan});
        });
        std::sort(entries.begin(), entries.end(), detail::byCentre<N>);
    }
    Histogram<N> histogram;
    histogram.binSize = binSize;
    histogram.bins.reserve(entries.size());
    histogram.counts.reserve(entries.size());
    histogram.firstScan.reserve(entries.size());
    for (const detail::BinEntry<N>& e : entries) {
        histogram.bins.push_back(e.centre);
        histogram.counts.push_back(static_cast<double>(e.count));
        if (recordFirstScan) histogram.firstScan.push_back(e.firstScan);
    }
    return histogram;
}

}  // namespace spoca
