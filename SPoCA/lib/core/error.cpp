#include "core/error.hpp"

#include <iostream>
#include <new>

namespace spoca {

int runReportingErrors(int (*run)(int, char**), int argc, char** argv, const std::string& prefix) {
    try {
        return run(argc, argv);
    } catch (const Error& e) {
        std::cerr << prefix << e.what() << "\n";
    } catch (const std::bad_alloc&) {
        std::cerr << prefix << "out of memory\n";
    } catch (const std::exception& e) {
        std::cerr << prefix << "unexpected failure: " << e.what() << "\n";
    }
    return 1;
}

}  // namespace spoca
