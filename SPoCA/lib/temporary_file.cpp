#include "temporary_file.hpp"

#include <cerrno>
#include <fstream>
#include <string>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.hpp"

namespace spoca {

TemporaryFile::TemporaryFile(const std::string& finalPath) : finalPath_(finalPath) {
    const auto slash = finalPath.rfind('/');
    const std::string folder = slash == std::string::npos ? "" : finalPath.substr(0, slash + 1);
    const std::string name = slash == std::string::npos ? finalPath : finalPath.substr(slash + 1);
    path_ = folder + "." + name + ".XXXXXX.tmp";
    fd_ = ::mkstemps(&path_[0], 4);
    if (fd_ < 0) throw Error(finalPath + ": cannot create a file in its folder: " + std::strerror(errno));
}

TemporaryFile::~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
}

void TemporaryFile::close() {
    if (fd_ >= 0 && ::close(fd_) != 0) {
        fd_ = -1;
        throw Error(finalPath_ + ": cannot write: " + std::strerror(errno));
    }
    fd_ = -1;
}

void TemporaryFile::removeForRecreation() {
    close();
    ::unlink(path_.c_str());
}

namespace {

/// The process umask, read from /proc/self/status (thread-safe, unlike umask()); 022 if unavailable.
mode_t processUmask() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.compare(0, 6, "Umask:") == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
    }
    return 022;
}

}  // namespace

void TemporaryFile::commit() {
    const mode_t mask = processUmask();
    const bool ok = (fd_ < 0 || ::fsync(fd_) == 0) && ::chmod(path_.c_str(), 0666 & ~mask) == 0;
    if (!ok) throw Error(finalPath_ + ": cannot write: " + std::strerror(errno));
    close();
    if (::rename(path_.c_str(), finalPath_.c_str()) != 0) {
        throw Error(finalPath_ + ": cannot rename the written file into place: " + std::strerror(errno));
    }
    committed_ = true;
}

}  // namespace spoca
