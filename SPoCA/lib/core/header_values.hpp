// Header keyword values written into segmentation maps, formatted as the original does (compat 7.4).
#pragma once

#include <string>
#include <vector>

#include <fitsio.h>

namespace spoca {

/// One keyword to write: its value is text, and the text decides the FITS type (compat 7.4).
struct HeaderValue {
    std::string key;
    std::string text;
    std::string comment;  ///< empty for no comment
};

/// C++ `fixed`, `showpoint`, 17 digits after the point, e.g. 2.4 -> "2.39999999999999991118", NaN -> "nan".
std::string fixed17(double value);
/// C++ default stream formatting of a double (6 significant digits), e.g. "0.0119248".
std::string defaultFormat(double value);
/// printf("%.6f").
std::string fixed6(double value);

/// Writes the values in ASCII order of their keys at the end of the current HDU of `fptr`, each with the
/// type its text implies: null (blank text), string (any character other than space, tab, digit, '.', '-'),
/// integer (no '.'), or double written with cfitsio's TDOUBLE writer (%.15G). `path` is for error messages.
void writeHeaderValues(fitsfile* fptr, std::vector<HeaderValue> values, const std::string& path);

}  // namespace spoca
