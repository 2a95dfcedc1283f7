#include "core/header_values.hpp"

#include <fitsio.h>

#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "core/error.hpp"

namespace spoca {

std::string fixed17(double value) {
    std::ostringstream text;
    text << std::fixed << std::showpoint << std::setprecision(17) << value;
    return text.str();
}

std::string defaultFormat(double value) {
    std::ostringstream text;
    text << value;
    return text.str();
}

std::string fixed6(double value) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(6) << value;
    return text.str();
}

void writeHeaderValues(fitsfile* fptr, std::vector<HeaderValue> values, const std::string& path) {
    std::stable_sort(values.begin(), values.end(),
                     [](const HeaderValue& a, const HeaderValue& b) { return a.key < b.key; });
    int status = 0;
    for (const HeaderValue& v : values) {
        char* comment = v.comment.empty() ? nullptr : const_cast<char*>(v.comment.c_str());
        char* key = const_cast<char*>(v.key.c_str());
        const bool blank = v.text.find_first_not_of(" \t") == std::string::npos;
        const bool isString = v.text.find_first_not_of(" \t0123456789.-") != std::string::npos;
        if (blank) {
            fits_write_key_null(fptr, key, comment, &status);
        } else if (isString) {
            fits_write_key_str(fptr, key, v.text.c_str(), comment, &status);
        } else if (v.text.find('.') == std::string::npos) {
            std::istringstream stream(v.text);
            long long integer = 0;
            stream >> integer;
            fits_write_key(fptr, TLONGLONG, key, &integer, comment, &status);
        } else {
            double number = std::strtod(v.text.c_str(), nullptr);
            fits_write_key(fptr, TDOUBLE, key, &number, comment, &status);
        }
        if (status) {
            char message[FLEN_STATUS] = {0};
            fits_get_errstatus(status, message);
            fits_clear_errmsg();
            throw Error(path + ": cannot write keyword " + v.key + " (" + message + ")");
        }
    }
}

}  // namespace spoca
