#include "core/fits_header.hpp"

#include <sstream>

#include "core/error.hpp"

namespace spoca {

std::string cleanKeywordValue(const std::string& raw) {
    const char* blanks = " \t'";
    const auto first = raw.find_first_not_of(blanks);
    if (first == std::string::npos) return "";
    const auto last = raw.find_last_not_of(blanks);
    return raw.substr(first, last - first + 1);
}

void FitsHeader::set(const std::string& key, const std::string& rawValue) {
    std::string value = cleanKeywordValue(rawValue);
    if (value.empty()) {
        values_.erase(key);
    } else {
        values_[key] = std::move(value);
    }
}

std::string FitsHeader::text(const std::string& key) const {
    const auto it = values_.find(key);
    return it == values_.end() ? std::string() : it->second;
}

double FitsHeader::number(const std::string& key) const {
    const auto it = values_.find(key);
    if (it == values_.end()) throw Error(source_ + ": header has no keyword " + key);
    std::istringstream stream(it->second);
    double value = 0.0;
    stream >> value;  // like the original: 0 when unparsable, +-DBL_MAX on overflow
    return value;
}

}  // namespace spoca
