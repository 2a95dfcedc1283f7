// The feature-vector histogram the classifiers iterate on (spec 5.2).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "channel_stack.hpp"
#include "error.hpp"
#include "feature.hpp"
#include "parallel.hpp"

namespace spoca {

/// The distinct bin centres h_p = floor(v_p/b_p)*b_p + b_p/2 of the valid pixels, in lexicographic order,
/// with the number of pixels in each.
template <std::size_t N>
struct Histogram {
    Feature<N> binSize{};
    std::vector<Feature<N>> bins;
    std::vector<double> counts;  ///< pixel count of each bin, as double (spec 10.1)
    std::size_t size() const { return bins.size(); }
};

namespace detail {

/// Bin indices floor(v_p / b_p) of a feature vector, as integers. Two pixels share a bin centre exactly
/// when they share these indices, as long as the indices are below 2^40 in magnitude (then consecutive
/// bin centres f*b + b/2 are many ulps apart); other values (huge, infinite or NaN) are counted by
/// their exact bin centre instead.
constexpr double maxIndex = 1099511627776.0;  // 2^40

/// An open-addressing table counting keys of K 64-bit words.
template <std::size_t K>
class KeyCounter {
public:
    using Key = std::array<std::uint64_t, K>;
    KeyCounter() : keys_(1024), counts_(1024, 0) {}

    void add(const Key& key, std::uint64_t count = 1) {
        const std::size_t mask = counts_.size() - 1;
        std::size_t slot = hash(key) & mask;
        while (counts_[slot] != 0 && !equal(keys_[slot], key)) slot = (slot + 1) & mask;
        if (counts_[slot] == 0) {
            keys_[slot] = key;
            counts_[slot] = count;
            if (++used_ * 2 > counts_.size()) grow();
            return;
        }
        counts_[slot] += count;
    }

    template <typename F>
    void forEach(F f) const {
        for (std::size_t s = 0; s < counts_.size(); ++s) {
            if (counts_[s]) f(keys_[s], counts_[s]);
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
        std::swap(keys, keys_);
        std::swap(counts, counts_);
        used_ = 0;
        for (std::size_t s = 0; s < counts.size(); ++s) {
            if (counts[s]) add(keys[s], counts[s]);
        }
    }

    std::vector<Key> keys_;
    std::vector<std::uint64_t> counts_;
    std::size_t used_ = 0;
};

/// Counts of bin indices in a dense window of 2^(bits*N) bins (2^17 for one channel, 2^20 for two)
/// placed around the first indices seen; indices outside the window are refused (the caller hashes them).
template <std::size_t N>
class DenseCounter {
public:
    static constexpr unsigned bits = N == 1 ? 17 : 20 / static_cast<unsigned>(N);
    static constexpr std::int64_t side = std::int64_t{1} << bits;

    bool add(const std::array<std::int64_t, N>& index) {
        if (counts_.empty()) {
            counts_.assign(std::size_t{1} << (bits * N), 0);
            for (std::size_t p = 0; p < N; ++p) base_[p] = index[p] - side / 4;
        }
        std::uint64_t cell = 0;
        for (std::size_t p = 0; p < N; ++p) {
            const auto offset = static_cast<std::uint64_t>(index[p] - base_[p]);
            if (offset >= static_cast<std::uint64_t>(side)) return false;
            cell = (cell << bits) | offset;
        }
        ++counts_[cell];
        return true;
    }

    /// Calls f(index, count) for every non-empty bin.
    template <typename F>
    void forEach(F f) const {
        for (std::size_t cell = 0; cell < counts_.size(); ++cell) {
            if (!counts_[cell]) continue;
            std::array<std::int64_t, N> index;
            for (std::size_t p = 0; p < N; ++p) {
                const std::size_t shift = bits * (N - 1 - p);
                index[p] = base_[p] + static_cast<std::int64_t>((cell >> shift) & (static_cast<std::size_t>(side) - 1));
            }
            f(index, counts_[cell]);
        }
    }

private:
    std::array<std::int64_t, N> base_{};
    std::vector<std::uint32_t> counts_;
};

/// Counts of bin indices (ordinary values) and of exact bin centres (the rest), for one block of rows.
template <std::size_t N>
struct BinCounts {
    DenseCounter<N> dense;
    KeyCounter<N> indices;
    KeyCounter<N> centres;
};

}  // namespace detail

/// The bin centre of a feature vector (spec 5.2).
template <std::size_t N>
inline Feature<N> binCentre(const Feature<N>& x, const Feature<N>& binSize) {
    Feature<N> h;
    for (std::size_t p = 0; p < N; ++p) h[p] = std::floor(x[p] / binSize[p]) * binSize[p] + binSize[p] / 2;
    return h;
}

/// Counts the valid pixels of `stack` into bins of size `binSize` (rows split between threads; the counts
/// are exact integers, so the result does not depend on the split). Throws when a bin size is 0.
template <std::size_t N>
Histogram<N> buildHistogram(const ChannelStack<N>& stack, const Feature<N>& binSize, unsigned threads = 0) {
    for (const double b : binSize) {
        if (b == 0) throw Error("binSize cannot be 0.");
    }
    const unsigned tasks = threads ? threads : defaultThreads();
    std::vector<detail::BinCounts<N>> counts(tasks);
    const int rowsPerTask = (stack.height() + static_cast<int>(tasks) - 1) / static_cast<int>(tasks);
    runTasks(tasks, [&](unsigned t) {
        const int first = static_cast<int>(t) * rowsPerTask;
        const int end = std::min(stack.height(), first + rowsPerTask);
        stack.forEachValid(first, end, [&](int, int, const Feature<N>& x) {
            typename detail::KeyCounter<N>::Key key;
            std::array<std::int64_t, N> index;
            bool ordinary = true;
            for (std::size_t p = 0; p < N; ++p) {
                // floor(q) by truncation (exact below 2^40; faster than a libm call without SSE4.1)
                const double q = x[p] / binSize[p];
                ordinary = ordinary && std::fabs(q) < detail::maxIndex;
                std::int64_t f = static_cast<std::int64_t>(ordinary ? q : 0);
                if (static_cast<double>(f) > q) --f;
                index[p] = f;
                key[p] = static_cast<std::uint64_t>(f);
            }
            if (ordinary) {
                if (!counts[t].dense.add(index)) counts[t].indices.add(key);
            } else {
                const Feature<N> h = binCentre(x, binSize);
                std::memcpy(key.data(), h.data(), sizeof key);
                counts[t].centres.add(key);
            }
        });
    });
    // Merge: ordinary indices become their exact centres; centres are then merged by exact bit pattern.
    detail::KeyCounter<N> total;
    for (const auto& c : counts) {
        c.dense.forEach([&](const std::array<std::int64_t, N>& index, std::uint64_t n) {
            typename detail::KeyCounter<N>::Key key;
            Feature<N> h;
            for (std::size_t p = 0; p < N; ++p) h[p] = static_cast<double>(index[p]) * binSize[p] + binSize[p] / 2;
            std::memcpy(key.data(), h.data(), sizeof key);
            total.add(key, n);
        });
        c.indices.forEach([&](const auto& index, std::uint64_t n) {
            typename detail::KeyCounter<N>::Key key;
            Feature<N> h;
            for (std::size_t p = 0; p < N; ++p) {
                h[p] = static_cast<double>(static_cast<std::int64_t>(index[p])) * binSize[p] + binSize[p] / 2;
            }
            std::memcpy(key.data(), h.data(), sizeof key);
            total.add(key, n);
        });
        c.centres.forEach([&](const auto& key, std::uint64_t n) { total.add(key, n); });
    }
    std::vector<std::pair<Feature<N>, std::uint64_t>> entries;
    total.forEach([&](const auto& key, std::uint64_t n) {
        Feature<N> h;
        std::memcpy(h.data(), key.data(), sizeof key);
        entries.emplace_back(h, n);
    });
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Histogram<N> histogram;
    histogram.binSize = binSize;
    for (const auto& [key, n] : entries) {
        histogram.bins.push_back(key);
        histogram.counts.push_back(static_cast<double>(n));
    }
    return histogram;
}

}  // namespace spoca
