// Splitting independent per-row work between threads. Only for work whose result does not depend on
// how it is split (each row computed on its own), so results stay bit-identical to a sequential run.
#pragma once

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace spoca {

/// Calls task(k) for k in [0, tasks), each on its own thread. Rethrows the first exception a task threw.
template <typename Task>
void runTasks(unsigned tasks, Task task) {
    std::vector<std::exception_ptr> errors(tasks);
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < tasks; ++k) {
        pool.emplace_back([&, k] {
            try {
                task(k);
            } catch (...) {
                errors[k] = std::current_exception();
            }
        });
    }
    if (tasks > 0) {
        try {
            task(0u);
        } catch (...) {
            errors[0] = std::current_exception();
        }
    }
    for (auto& thread : pool) thread.join();
    for (auto& error : errors) {
        if (error) std::rethrow_exception(error);
    }
}

/// The number of threads to use by default: the hardware concurrency, at least 1.
inline unsigned defaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

/// Calls work(firstRow, endRow) on contiguous blocks covering [0, rows), on up to `maxThreads` threads
/// (default: the hardware concurrency). Rethrows the first exception a block threw.
template <typename Work>
void forEachRowBlock(int rows, Work work, unsigned maxThreads = 0) {
    unsigned threads = maxThreads ? maxThreads : defaultThreads();
    threads = std::min<unsigned>(threads, static_cast<unsigned>(std::max(1, rows / 64)));
    const int block = (rows + static_cast<int>(threads) - 1) / static_cast<int>(threads);
    runTasks(threads, [&](unsigned t) {
        const int first = static_cast<int>(t) * block;
        const int end = std::min(rows, first + block);
        if (first < end) work(first, end);
    });
}

}  // namespace spoca
