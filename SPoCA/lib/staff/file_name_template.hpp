// Expansion of {KEYWORD} placeholders in file names with header values (compat 8.6 step 1).
#pragma once

#include <string>
#include <vector>

#include "core/fits_header.hpp"

namespace spoca {

/// The result of expanding a template: the text, and the warnings the original prints for it.
struct ExpandedTemplate {
    std::string text;
    std::vector<std::string> warnings;
};

/// Replaces every {NAME} in `text` by the cleaned value of keyword NAME of `header`. An absent keyword
/// becomes "" with the warning "Warning: key_name NAME requested in <text> not found in header."; a '{'
/// without a closing '}' gives "Warning: malformed string, no closing } after position P in <text>" and
/// stops the expansion, leaving the rest as it is. Finally every two-character sequence "\n" becomes a
/// newline. A text without braces or "\n" comes back unchanged.
ExpandedTemplate expandFileNameTemplate(const std::string& text, const FitsHeader& header);

}  // namespace spoca
