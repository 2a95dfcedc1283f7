// The memory bound of a run: images whose size would need more are refused before anything is allocated.
#pragma once

#include <cstddef>
#include <string>

namespace spoca {

/// The cost per pixel of one image that the classification programs plan for, with `channels` images: the
/// peak at 4096x4096 is about 9 bytes per pixel for one channel and 18 for two (make bench), rounded up.
constexpr double classificationBytesPerImagePixel(std::size_t channels) { return 10.0 * static_cast<double>(channels); }

/// The cost per pixel of the maps' grid that get_STAFF_stats plans for: the peak at 4096x4096 is about 7 bytes
/// per pixel (make bench: the region codes and one image's value lists; the maps and images are read a block of
/// rows at a time), rounded up.
constexpr double staffBytesPerMapPixel = 8.0;

/// How much memory a program may plan for its images, and what one pixel of an image costs it. The bound is
/// decided here: SPOCA_MEMORY_LIMIT_MIB in the environment (a positive whole number of MiB), else
/// defaultMiB. Each program states its own cost per image pixel (measured peak at 4096x4096, rounded up).
class MemoryBound {
public:
    /// The environment variable that sets the bound, in MiB.
    static constexpr const char* environmentVariable = "SPOCA_MEMORY_LIMIT_MIB";
    /// The default bound: 4 GiB, which lets every program take images well beyond 4096x4096 (at 20 bytes
    /// per pixel, up to about 14000x14000) while a corrupt header announcing a huge image is refused.
    static constexpr std::size_t defaultMiB = 4096;

    /// The bound from the environment (or the default) for a program needing `bytesPerPixel` bytes per
    /// pixel of one image. Throws spoca::Error when the variable is set but is not a positive whole number.
    static MemoryBound fromEnvironment(double bytesPerPixel);
    MemoryBound(std::size_t mib, double bytesPerPixel) : mib_(mib), bytesPerPixel_(bytesPerPixel) {}

    std::size_t mib() const { return mib_; }
    /// Throws spoca::Error "<path>: image of WxH pixels would need about M MiB, more than the memory bound of
    /// B MiB (SPOCA_MEMORY_LIMIT_MIB)" when the image would need more than the bound.
    void checkImage(const std::string& path, long long width, long long height) const;

    /// The line --help shows about the bound.
    static std::string helpText();

private:
    std::size_t mib_;
    double bytesPerPixel_;
};

}  // namespace spoca
