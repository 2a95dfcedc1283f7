#include "staff/file_name_template.hpp"

namespace spoca {

ExpandedTemplate expandFileNameTemplate(const std::string& text, const FitsHeader& header) {
    ExpandedTemplate result;
    std::string expanded;
    std::size_t position = 0;
    while (position < text.size()) {
        const std::size_t open = text.find('{', position);
        if (open == std::string::npos) break;
        const std::size_t close = text.find('}', open + 1);
        if (close == std::string::npos) {
            result.warnings.push_back("Warning: malformed string, no closing } after position " +
                                      std::to_string(open) + " in " + text);
            break;
        }
        expanded.append(text, position, open - position);
        const std::string key = text.substr(open + 1, close - open - 1);
        if (header.has(key)) {
            expanded += header.text(key);
        } else {
            result.warnings.push_back("Warning: key_name " + key + " requested in " + text +
                                      " not found in header.");
        }
        position = close + 1;
    }
    if (position < text.size()) expanded.append(text, position, std::string::npos);

    result.text.reserve(expanded.size());
    for (std::size_t k = 0; k < expanded.size(); ++k) {
        if (expanded[k] == '\\' && k + 1 < expanded.size() && expanded[k + 1] == 'n') {
            result.text += '\n';
            ++k;
        } else {
            result.text += expanded[k];
        }
    }
    return result;
}

}  // namespace spoca
