#include "core/temporary_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "core/error.hpp"
#include "core/file_paths.hpp"

namespace spoca {

TemporaryFile::TemporaryFile(const std::string& finalPath) : finalPath_(finalPath) {
    path_ = folderOf(finalPath) + "." + baseName(finalPath) + ".XXXXXX.tmp";
    fd_ = ::mkstemps(&path_[0], 4);
    if (fd_ < 0) throw Error(finalPath + ": cannot create a file in its folder: " + std::strerror(errno));
}

TemporaryFile::~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
}

void TemporaryFile::write(const std::string& text) {
    if (fd_ < 0) throw Error(finalPath_ + ": cannot write: the temporary file is already closed");
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n == 0 || errno != EINTR) {
            throw Error(finalPath_ + ": cannot write: " + (n == 0 ? "nothing written" : std::strerror(errno)));
        }
    }
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

/// Flushes the file `path` to disk through a descriptor of its own (for a file another library wrote by
/// name, e.g. cfitsio): a full disk or an I/O error that only shows at write-back is reported here.
bool syncByName(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool synced = ::fsync(fd) == 0;
    const int error = errno;
    ::close(fd);
    errno = error;
    return synced;
}

}  // namespace

void TemporaryFile::commit() {
    const mode_t mask = processUmask();
    const bool synced = fd_ >= 0 ? ::fsync(fd_) == 0 : syncByName(path_);
    const bool ok = synced && ::chmod(path_.c_str(), 0666 & ~mask) == 0;
    if (!ok) throw Error(finalPath_ + ": cannot write: " + std::strerror(errno));
    close();
    if (::rename(path_.c_str(), finalPath_.c_str()) != 0) {
        throw Error(finalPath_ + ": cannot rename the written file into place: " + std::strerror(errno));
    }
    committed_ = true;
}

void writeFileAtomically(const std::string& path, const std::string& text) {
    TemporaryFile temporary(path);
    temporary.write(text);
    temporary.commit();
}

}  // namespace spoca
