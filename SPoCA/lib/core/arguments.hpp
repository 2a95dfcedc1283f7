// The parameter model of the SPoCA programs: command line, configuration files and help (compat 1).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace spoca {

/// The parameters a program declares, and the values given to them on the command line and in
/// configuration files. Every program has the section "global" with `help` (-h) and `config` (-C).
///
/// Usage: declare sections, parameters and positionals, call parse(); if it returns an exit status the
/// program stops with it (help printed: 0; parse error printed with the help: 1). Then read typed values;
/// a value that does not convert throws spoca::Error "Cannot convert value X to type T(description)".
class Arguments {
public:
    /// `description` is the program description printed at the top of the help (one line per entry).
    Arguments(std::string programName, std::vector<std::string> description);

    void addSection(const std::string& section);
    /// Declares SECTION.NAME. `shortName` is 0 for none; `defaultValue` empty optional for none.
    void add(const std::string& section, const std::string& name, char shortName,
             std::optional<std::string> defaultValue, const std::string& description);
    /// Declares a named positional; named positionals take the first positional arguments in declaration order.
    void addPositional(const std::string& name, const std::string& description);
    /// Declares the remaining positionals: at least `min`, at most `max` (0 for no maximum).
    void setRemaining(const std::string& name, const std::string& description, unsigned min, unsigned max);

    /// Parses argv, then the config files (compat 1.2 to 1.8). Warnings go to `err`, help to `out`.
    /// Returns the exit status when the program must stop now, nothing when it must go on.
    std::optional<int> parse(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

    bool isSet(const std::string& section, const std::string& name) const;
    /// The text value rule of 1.3 for string parameters.
    std::string text(const std::string& section, const std::string& name) const;
    bool boolean(const std::string& section, const std::string& name) const;
    double real(const std::string& section, const std::string& name) const;
    unsigned natural(const std::string& section, const std::string& name) const;
    /// A feature vector of exactly `size` numbers in the text form `(a,b)` of compat 1.3.
    std::vector<double> features(const std::string& section, const std::string& name, std::size_t size) const;

    const std::string& positional(const std::string& name) const;
    const std::vector<std::string>& remaining() const { return remaining_; }

    /// The help message (compat 1.7), ending with a newline.
    std::string help() const;

private:
    struct Parameter {
        std::string section;
        std::string name;
        char shortName = 0;
        std::optional<std::string> defaultValue;
        std::string description;
        bool set = false;
        std::string value;
    };
    struct Positional {
        std::string name;
        std::string description;
        std::string value;
    };

    Parameter* find(const std::string& section, const std::string& name);
    const Parameter& get(const std::string& section, const std::string& name) const;
    Parameter& findShort(const std::string& section, char letter);
    bool hasSection(const std::string& section) const;
    void parseCommandLine(int argc, const char* const* argv, std::ostream& err);
    void assignPositionals();
    void readConfigFile(const std::string& path, std::ostream& err);
    std::string configTemplate() const;
    std::string numericText(const Parameter& p) const;
    [[noreturn]] void conversionError(const Parameter& p, const std::string& type) const;

    std::string programName_;
    std::vector<std::string> description_;
    std::vector<std::string> sections_;
    std::vector<Parameter> parameters_;
    std::vector<Positional> positionals_;
    std::vector<std::string> rawPositionals_;
    std::string remainingName_ = "fitsFile";
    std::string remainingDescription_;
    unsigned remainingMin_ = 0;
    unsigned remainingMax_ = 0;
    std::vector<std::string> remaining_;
};

}  // namespace spoca
