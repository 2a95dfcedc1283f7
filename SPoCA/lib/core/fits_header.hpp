// The keyword values of one FITS header unit, cleaned as the original SPoCA reads them (compat 2.3).
#pragma once

#include <map>
#include <string>

namespace spoca {

/// Keyword values of one HDU as text. Values are stored cleaned: cfitsio's value text with leading and
/// trailing spaces, tabs and single quotes removed. A keyword with an empty cleaned value is absent.
class FitsHeader {
public:
    FitsHeader() = default;
    /// `source` names the file the header comes from; it is used in error messages.
    explicit FitsHeader(std::string source) : source_(std::move(source)) {}

    /// Stores a keyword value after cleaning it; an empty cleaned value removes the keyword.
    void set(const std::string& key, const std::string& rawValue);

    bool has(const std::string& key) const { return values_.count(key) != 0; }
    /// The cleaned text, or "" when the keyword is absent.
    std::string text(const std::string& key) const;
    /// The value read with C++ stream extraction of a double; unparsable text gives 0.
    /// Throws spoca::Error naming the keyword and the file when the keyword is absent.
    double number(const std::string& key) const;

    const std::string& source() const { return source_; }

private:
    std::string source_;
    std::map<std::string, std::string> values_;
};

/// Removes leading and trailing spaces, tabs and single quotes.
std::string cleanKeywordValue(const std::string& raw);

}  // namespace spoca
