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

/// The body of a program's main(): returns run(argc, argv), or, when it throws, writes one line on stderr,
/// `prefix` then the message ("out of memory" for std::bad_alloc, "unexpected failure: ..." for an
/// exception other than spoca::Error), and returns the exit status 1.
int runReportingErrors(int (*run)(int, char**), int argc, char** argv, const std::string& prefix);

}  // namespace spoca
