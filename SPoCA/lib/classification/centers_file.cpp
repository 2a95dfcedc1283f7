#include "classification/centers_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.hpp"
#include "core/header_values.hpp"
#include "core/temporary_file.hpp"

namespace spoca {

std::string formatCentersLine(const CentersLine& line, bool withEta) {
    std::string text = "[";
    for (std::size_t c = 0; c < line.channels.size(); ++c) text += (c ? "," : "") + line.channels[c];
    text += "]\t[";
    for (std::size_t i = 0; i < line.centres.size(); ++i) {
        text += i ? ",(" : "(";
        for (std::size_t p = 0; p < line.centres[i].size(); ++p) text += (p ? "," : "") + fixed6(line.centres[i][p]);
        text += ")";
    }
    text += "]";
    if (withEta) {
        text += "\t[";
        for (std::size_t i = 0; i < line.eta.size(); ++i) text += (i ? "," : "") + fixed6(line.eta[i]);
        text += "]";
    }
    return text + "\n";
}

namespace {

bool expect(std::istream& in, char c) {
    in >> std::ws;
    if (in.peek() != c) return false;
    in.get();
    return true;
}

bool readNumbers(std::istream& in, char open, char close, std::vector<double>& values) {
    if (!expect(in, open)) return false;
    while (true) {
        double v = 0;
        if (!(in >> v)) return false;
        values.push_back(v);
        in >> std::ws;
        const int c = in.get();
        if (c == close) return true;
        if (c != ',') return false;
    }
}

bool readLine(std::istream& in, bool withEta, CentersLine& line) {
    if (!expect(in, '[')) return false;
    std::string channels;
    for (int c = in.get(); c != ']'; c = in.get()) {
        if (c == std::char_traits<char>::eof() || c == '\n') return false;
        channels += static_cast<char>(c);
    }
    std::istringstream split(channels);
    for (std::string name; std::getline(split, name, ',');) line.channels.push_back(name);
    if (line.channels.empty() || !expect(in, '[')) return false;
    while (true) {
        std::vector<double> centre;
        if (!readNumbers(in, '(', ')', centre)) return false;
        if (centre.size() != line.channels.size()) return false;
        line.centres.push_back(std::move(centre));
        in >> std::ws;
        const int c = in.get();
        if (c == ']') break;
        if (c != ',') return false;
    }
    return !withEta || readNumbers(in, '[', ']', line.eta);
}

}  // namespace

namespace {

bool allFiniteNumbers(const CentersLine& line) {
    auto finite = [](double v) { return std::isfinite(v); };
    for (const auto& centre : line.centres) {
        if (!std::all_of(centre.begin(), centre.end(), finite)) return false;
    }
    return std::all_of(line.eta.begin(), line.eta.end(), finite);
}

}  // namespace

std::vector<CentersLine> readCentersLines(const std::string& path, const std::string& text, bool withEta,
                                          std::size_t maxLines) {
    std::vector<CentersLine> lines;
    std::istringstream in(text);
    while (lines.size() < maxLines) {
        in >> std::ws;
        if (in.peek() == std::char_traits<char>::eof()) break;
        const auto start = static_cast<std::size_t>(in.tellg());
        const std::string lineNumber =
            std::to_string(1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(start), '\n'));
        CentersLine line;
        if (!readLine(in, withEta, line) || (withEta && line.eta.size() != line.centres.size())) {
            throw Error(path + ": line " + lineNumber + ": damaged class centers line (truncated or not of the form "
                        "[channels]\t[(centre),...]" + (withEta ? "\t[eta,...]" : "") + ")");
        }
        if (!allFiniteNumbers(line)) throw Error(path + ": line " + lineNumber + ": class centers that are not finite");
        if (!lines.empty() && line.centres.size() != lines[0].centres.size()) {
            throw Error(path + ": line " + lineNumber + ": " + std::to_string(line.centres.size()) +
                        " classes, but line 1 has " + std::to_string(lines[0].centres.size()));
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

CentersFile::CentersFile(std::string path) : path_(std::move(path)) {
    struct stat info {};
    if (::stat(path_.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
        throw Error(path_ + ": centers file is not a regular file");
    }
    // Lock, then make sure the path still names the locked file: a run that held the lock before us may
    // have replaced it by rename, in which case we lock the new file instead.
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const bool existed = ::access(path_.c_str(), F_OK) == 0;
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd_ < 0) return;  // cannot create (missing folder, read-only): behaves as a missing file
        if (::flock(fd_, LOCK_EX) != 0) throw Error(path_ + ": cannot lock centers file: " + std::strerror(errno));
        struct stat locked {}, named {};
        if (::fstat(fd_, &locked) == 0 && ::stat(path_.c_str(), &named) == 0 && locked.st_ino == named.st_ino &&
            locked.st_dev == named.st_dev) {
            created_ = !existed && locked.st_size == 0;
            std::string content(static_cast<std::size_t>(locked.st_size), '\0');
            std::size_t done = 0;
            while (done < content.size()) {
                const ssize_t n = ::pread(fd_, &content[done], content.size() - done, static_cast<off_t>(done));
                if (n < 0) throw Error(path_ + ": cannot read centers file: " + std::strerror(errno));
                if (n == 0) break;
                done += static_cast<std::size_t>(n);
            }
            content.resize(done);
            content_ = std::move(content);
            return;
        }
        ::close(fd_);
        fd_ = -1;
    }
    throw Error(path_ + ": cannot lock centers file (it keeps being replaced)");
}

CentersFile::~CentersFile() {
    if (fd_ < 0) return;
    // A file we created for locking but never wrote would be left empty: remove it.
    if (created_ && !written_) {
        struct stat locked {}, named {};
        if (::fstat(fd_, &locked) == 0 && locked.st_size == 0 && ::stat(path_.c_str(), &named) == 0 &&
            locked.st_ino == named.st_ino) {
            ::unlink(path_.c_str());
        }
    }
    ::close(fd_);  // releases the lock
}

void CentersFile::write(const std::string& text) {
    writeFileAtomically(path_, text);
    written_ = true;
}

}  // namespace spoca
