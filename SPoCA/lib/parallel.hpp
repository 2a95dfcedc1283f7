// Splitting independent per-row work between threads. Only for work whose result does not depend on
// how it is split (each row computed on its own), so results stay bit-identical to a sequential run.
#pragma once

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace spoca {

/// Calls work(firstRow, endRow) on contiguous blocks covering [0, rows), on up to `maxThreads` threads
/// (default: the hardware concurrency). Rethrows the first exception a block threw.
template <typename Work>
void forEachRowBlock(int rows, Work work, unsigned maxThreads = 0) {
    unsigned threads = maxThreads ? maxThreads : std::max(1u, std::thread::hardware_concurrency());
    threads = std::min<unsigned>(threads, static_cast<unsigned>(std::max(1, rows / 64)));
    if (threads <= 1) {
        work(0, rows);
        return;
    }
    std::vector<std::exception_ptr> errors(threads);
    std::vector<std::thread> pool;
    const int block = (rows + static_cast<int>(threads) - 1) / static_cast<int>(threads);
    for (unsigned t = 0; t < threads; ++t) {
        const int first = static_cast<int>(t) * block;
        const int end = std::min(rows, first + block);
        pool.emplace_back([&, t, first, end] {
            try {
                if (first < end) work(first, end);
            } catch (...) {
                errors[t] = std::current_exception();
            }
        });
    }
    for (auto& thread : pool) thread.join();
    for (auto& error : errors) {
        if (error) std::rethrow_exception(error);
    }
}

}  // namespace spoca
