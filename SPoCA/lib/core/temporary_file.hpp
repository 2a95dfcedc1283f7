// Atomic file replacement: a temporary file next to an output file, renamed onto it once complete.
#pragma once

#include <string>

namespace spoca {

/// Creates an empty file ".<name>.XXXXXX.tmp" (hidden, unique) in the folder of `finalPath`. commit()
/// renames it to `finalPath`, atomically replacing any existing file, so readers see the old file or the
/// complete new one, never a partial one; if commit() is never reached (error, exception) the destructor
/// removes it. Throws spoca::Error "<finalPath>: <problem>" on failure.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& finalPath);
    ~TemporaryFile();
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    const std::string& path() const { return path_; }
    /// Appends all of `text` to the file through its open descriptor.
    void write(const std::string& text);
    /// Closes the descriptor, e.g. before another library writes the file by name.
    void close();
    /// Removes the empty file so that a library refusing to overwrite can create it again.
    void removeForRecreation();
    /// Gives the file the mode 0666 less the process umask, flushes it to disk (fsync, through its descriptor
    /// or, once closed, by name) and renames it to the final path; any failure throws before the rename.
    void commit();

private:
    std::string finalPath_;
    std::string path_;
    int fd_ = -1;
    bool committed_ = false;
};

/// Replaces the file `path` by `text` atomically (a TemporaryFile written, then committed).
void writeFileAtomically(const std::string& path, const std::string& text);

}  // namespace spoca
