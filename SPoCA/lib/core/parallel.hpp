// Splitting independent work between threads. Only for work whose result does not depend on how it is
// split (each row computed on its own), so results stay bit-identical to a sequential run; SPOCA_THREADS=1
// runs everything on the calling thread.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace spoca {

/// The environment variable that sets how many threads a program may use at once: a positive whole number.
/// 1 runs every program on a single thread (the Dask backfill runs one program per worker); unset, the
/// programs use the hardware concurrency (the number of cores).
inline constexpr const char* threadsVariable = "SPOCA_THREADS";

/// The number of threads to use: SPOCA_THREADS when set, else the hardware concurrency, at least 1. Throws
/// spoca::Error when SPOCA_THREADS is set but is not a positive whole number (each program checks it first).
inline unsigned defaultThreads() {
    const char* text = std::getenv(threadsVariable);
    if (text == nullptr || *text == '\0') return std::max(1u, std::thread::hardware_concurrency());
    char* end = nullptr;
    errno = 0;
    const unsigned long value = std::strtoul(text, &end, 10);
    if (*text == '-' || end == text || *end != '\0' || errno != 0 || value == 0 || value > 1024) {
        throw Error(std::string(threadsVariable) + " = '" + text + "' is not a positive whole number of threads");
    }
    return static_cast<unsigned>(value);
}

/// Whether the program may run work on threads other than the calling one (SPOCA_THREADS is not 1).
inline bool multithreaded() { return defaultThreads() > 1; }

/// Starts f() on a thread of its own, or, on a single thread (SPOCA_THREADS=1), defers it to the first
/// get() or wait() of the returned future, on the calling thread.
template <typename F>
auto startTask(F&& f) {
    return std::async(multithreaded() ? std::launch::async : std::launch::deferred, std::forward<F>(f));
}

/// Calls task(k) for k in [0, tasks), each on its own thread (on a single thread: one after the other, in
/// order, on the calling thread). Rethrows the first exception (lowest k) a task threw.
template <typename Task>
void runTasks(unsigned tasks, Task task) {
    std::vector<std::exception_ptr> errors(tasks);
    if (tasks > 1 && !multithreaded()) {
        for (unsigned k = 0; k < tasks; ++k) {
            try {
                task(k);
            } catch (...) {
                errors[k] = std::current_exception();
            }
        }
        for (auto& error : errors) {
            if (error) std::rethrow_exception(error);
        }
        return;
    }
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

/// Calls work(firstRow, endRow) on contiguous blocks covering [0, rows), on up to `maxThreads` threads
/// (default: defaultThreads(); never more than it). Rethrows the first exception a block threw.
template <typename Work>
void forEachRowBlock(int rows, Work work, unsigned maxThreads = 0) {
    unsigned threads = maxThreads ? std::min(maxThreads, defaultThreads()) : defaultThreads();
    threads = std::min<unsigned>(threads, static_cast<unsigned>(std::max(1, rows / 64)));
    const int block = (rows + static_cast<int>(threads) - 1) / static_cast<int>(threads);
    runTasks(threads, [&](unsigned t) {
        const int first = static_cast<int>(t) * block;
        const int end = std::min(rows, first + block);
        if (first < end) work(first, end);
    });
}

}  // namespace spoca
