// The single exception type of the SPoCA library: every error that stops a program.
#pragma once

#include <stdexcept>
#include <string>

namespace spoca {

/// Thrown for every error that must stop a program; `what()` is the one-line message shown to the user
/// (it names the file concerned, when there is one). Programs catch it in main and exit with status 1.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace spoca
