// The class centres file: its line format, its history and its locked, atomic rewrite (compat 6).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace spoca {

/// One line of a centres file: channel names, C centres of N components, and (possibilistic
/// classifiers) C eta values.
struct CentersLine {
    std::vector<std::string> channels;
    std::vector<std::vector<double>> centres;
    std::vector<double> eta;
};

/// Formats a line as the original (compat 6.1): "[ch0,ch1]\t[(b00,b01),...]" then "\t[eta0,...]" when
/// `withEta`, and "\n". Numbers are printed with %.6f.
std::string formatCentersLine(const CentersLine& line, bool withEta);

/// Reads up to `maxLines` entries of the content `text` of the centres file `path`, strictly (issue 12, a
/// deliberate difference from compat 6.2 and 6.3, where a line that cannot be read ends the history (with only
/// a message) and the rewrite drops it and every older line): every entry must be complete, hold only finite numbers
/// (and eta when `withEta`) and have as many classes as the first. Throws spoca::Error
/// "<path>: line <L>: <problem>" otherwise; L counts the file's lines from 1.
std::vector<CentersLine> readCentersLines(const std::string& path, const std::string& text, bool withEta,
                                          std::size_t maxLines);

/// The centres file of a run, held under an exclusive flock from construction to destruction, so that
/// runs sharing the file read and rewrite it one after the other and no update is lost. The file is
/// rewritten atomically (temporary file in the same folder, then rename); the lock follows the renamed
/// file because a waiting run re-checks that the path still names the file it locked.
class CentersFile {
public:
    /// Opens (creating it if needed) and locks `path`. Throws spoca::Error when `path` exists but is not
    /// a regular file. When the file cannot be created (e.g. its folder is missing) the object is still
    /// usable: it reads as empty and write() reports the failure.
    explicit CentersFile(std::string path);
    ~CentersFile();
    CentersFile(const CentersFile&) = delete;
    CentersFile& operator=(const CentersFile&) = delete;

    const std::string& path() const { return path_; }
    /// The content of the file when it was locked ("" for a missing or empty file).
    const std::string& content() const { return content_; }
    /// Replaces the file by `text`, atomically. Throws spoca::Error when it cannot be written.
    void write(const std::string& text);

private:
    std::string path_;
    std::string content_;
    int fd_ = -1;
    bool created_ = false;
    bool written_ = false;
};

}  // namespace spoca
