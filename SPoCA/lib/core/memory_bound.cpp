#include "core/memory_bound.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.hpp"

namespace spoca {

MemoryBound MemoryBound::fromEnvironment(double bytesPerPixel) {
    const char* text = std::getenv(environmentVariable);
    if (text == nullptr || *text == '\0') return MemoryBound(defaultMiB, bytesPerPixel);
    char* end = nullptr;
    errno = 0;
    const unsigned long long mib = std::strtoull(text, &end, 10);
    if (*text == '-' || end == text || *end != '\0' || errno != 0 || mib == 0) {
        throw Error(std::string(environmentVariable) + " = '" + text + "' is not a positive whole number of MiB");
    }
    return MemoryBound(static_cast<std::size_t>(mib), bytesPerPixel);
}

void MemoryBound::checkImage(const std::string& path, long long width, long long height) const {
    const double needed = static_cast<double>(width) * static_cast<double>(height) * bytesPerPixel_;
    const double bound = static_cast<double>(mib_) * 1024 * 1024;
    if (needed <= bound) return;
    throw Error(path + ": image of " + std::to_string(width) + "x" + std::to_string(height) +
                " pixels would need about " + std::to_string(static_cast<long long>(std::ceil(needed / (1 << 20)))) +
                " MiB, more than the memory bound of " + std::to_string(mib_) + " MiB (" + environmentVariable + ")");
}

std::string MemoryBound::helpText() {
    return std::string("Environment: ") + environmentVariable + "=MiB bounds the memory planned for the images (default " +
           std::to_string(defaultMiB) + "); a larger image is refused before it is read.";
}

}  // namespace spoca
