// Questions about file system paths the programs ask: what a path names, and the parts of a path.
#pragma once

#include <string>

namespace spoca {

/// True when `path` names an existing directory (links followed).
bool isDirectory(const std::string& path);
/// True when `path` names an existing regular file (links followed).
bool isRegularFile(const std::string& path);
/// The folder part of `path`, up to and including its last '/'; "" when it has none.
std::string folderOf(const std::string& path);
/// The part of `path` after its last '/' (all of it when it has none).
std::string baseName(const std::string& path);
/// The base name without its last suffix ("a/b.c.fits" gives "b.c"), S(path) of compat 8.2.
std::string stem(const std::string& path);

}  // namespace spoca
