// Writing a text file atomically: readers see the old file or the complete new one, never a partial one.
#pragma once

#include <string>

namespace spoca {

/// Writes `text` to a temporary file in the folder of `path`, then renames it to `path`. The file gets
/// the permissions 0666 less `umask` (pass the process umask, read once at start-up: reading it is not
/// thread-safe). Throws spoca::Error "cannot write <path>: <reason>" and leaves no temporary file behind.
void writeTextFileAtomically(const std::string& path, const std::string& text, unsigned umask);

/// The process umask, for writeTextFileAtomically. Call it before starting threads.
unsigned currentUmask();

}  // namespace spoca
