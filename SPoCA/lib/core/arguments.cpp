#include "core/arguments.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <ostream>
#include <sstream>

#include "core/error.hpp"

namespace spoca {

namespace {

bool isIdentifier(const std::string& s) {
    if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// Length of the identifier starting at `pos` (0 if none).
std::size_t identifierLength(const std::string& s, std::size_t pos) {
    if (pos >= s.size() || !std::isalpha(static_cast<unsigned char>(s[pos]))) return 0;
    std::size_t end = pos + 1;
    while (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_')) ++end;
    return end - pos;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> result;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) result.push_back(line);
    return result;
}

bool isCommentOrEmpty(const std::string& rest) {
    const auto p = rest.find_first_not_of(" \t\r");
    return p == std::string::npos || rest[p] == '#' || rest[p] == ';';
}

/// Thrown for the errors of sections 1.2 to 1.7, which are reported with the help message.
struct ParseError : Error {
    using Error::Error;
};

}  // namespace

Arguments::Arguments(std::string programName, std::vector<std::string> description)
    : programName_(std::move(programName)), description_(std::move(description)) {
    addSection("global");
    add("global", "help", 'h', std::nullopt,
        "Print a help message and exit.\nIf you pass the value config, it prints a configuration file template.\n"
        "If you pass the value doxygen, it prints the help in doxygen format.");
    add("global", "config", 'C', std::string(), "Program option configuration file.");
}

void Arguments::addSection(const std::string& section) {
    if (!hasSection(section)) sections_.push_back(section);
}

void Arguments::add(const std::string& section, const std::string& name, char shortName,
                    std::optional<std::string> defaultValue, const std::string& description) {
    addSection(section);
    parameters_.push_back({section, name, shortName, std::move(defaultValue), description, false, ""});
}

void Arguments::addPositional(const std::string& name, const std::string& description) {
    positionals_.push_back({name, description, ""});
}

void Arguments::setRemaining(const std::string& name, const std::string& description, unsigned min, unsigned max) {
    remainingName_ = name;
    remainingDescription_ = description;
    remainingMin_ = min;
    remainingMax_ = max;
}

bool Arguments::hasSection(const std::string& section) const {
    return std::find(sections_.begin(), sections_.end(), section) != sections_.end();
}

Arguments::Parameter* Arguments::find(const std::string& section, const std::string& name) {
    for (auto& p : parameters_) {
        if (p.section == section && p.name == name) return &p;
    }
    return nullptr;
}

const Arguments::Parameter& Arguments::get(const std::string& section, const std::string& name) const {
    for (const auto& p : parameters_) {
        if (p.section == section && p.name == name) return p;
    }
    throw Error("internal error: undeclared parameter " + section + "." + name);
}

Arguments::Parameter& Arguments::findShort(const std::string& section, char letter) {
    Parameter* best = nullptr;
    for (auto& p : parameters_) {
        if (p.section == section && p.shortName == letter && (!best || p.name < best->name)) best = &p;
    }
    if (!best) throw ParseError(std::string("Unknown short parameter ") + letter + " for " + section + " section");
    return *best;
}

std::optional<int> Arguments::parse(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
    try {
        parseCommandLine(argc, argv, err);
        Parameter& helpParameter = *find("global", "help");
        if (helpParameter.set) {
            if (helpParameter.value.empty()) {
                out << help();
            } else if (helpParameter.value == "config") {
                out << configTemplate();
            } else if (helpParameter.value == "doxygen") {
                out << "/**\n@page " << programName_ << " " << programName_ << "\n\n@verbatim\n"
                    << help() << "@endverbatim\n*/\n";
            } else {
                throw ParseError("Unknow help type " + helpParameter.value + " requested");
            }
            return 0;
        }
        assignPositionals();
        const Parameter& config = get("global", "config");
        if (config.set && !config.value.empty()) readConfigFile(config.value, err);
    } catch (const ParseError& e) {
        err << "Error : " << e.what() << "\n" << help() << "\n";
        return 1;
    }
    return std::nullopt;
}

void Arguments::parseCommandLine(int argc, const char* const* argv, std::ostream& err) {
    std::string section = "global";
    Parameter* last = nullptr;
    bool lastHasValue = true;
    bool onlyPositionals = false;
    std::vector<Parameter*> repeated;
    for (int a = 1; a < argc; ++a) {
        const std::string token = argv[a];
        if (onlyPositionals) {
            rawPositionals_.push_back(token);
            continue;
        }
        if (token == "--") {
            onlyPositionals = true;
            continue;
        }
        Parameter* option = nullptr;
        if (token.size() > 2 && token.compare(0, 2, "--") == 0) {
            const std::string body = token.substr(2);
            const auto dot = body.find('.');
            if (body.back() == ':' && isIdentifier(body.substr(0, body.size() - 1))) {
                const std::string name = body.substr(0, body.size() - 1);
                if (!hasSection(name)) throw ParseError("Unknown section " + name);
                section = name;
                last = nullptr;
                continue;
            }
            if (dot == std::string::npos ? isIdentifier(body)
                                         : isIdentifier(body.substr(0, dot)) && isIdentifier(body.substr(dot + 1))) {
                const std::string optionSection = dot == std::string::npos ? section : body.substr(0, dot);
                const std::string name = dot == std::string::npos ? body : body.substr(dot + 1);
                if (!hasSection(optionSection)) throw ParseError("Unknown section " + optionSection);
                option = find(optionSection, name);
                if (!option) throw ParseError("Unknown parameter " + name + " for " + optionSection + " section");
            }
        } else if (token.size() >= 2 && token[0] == '-' && token[1] != '-') {
            const std::string body = token.substr(1);
            const auto dot = body.find('.');
            const bool plain = body.size() == 1 && std::isalpha(static_cast<unsigned char>(body[0]));
            const bool qualified = dot != std::string::npos && isIdentifier(body.substr(0, dot)) &&
                                   body.size() == dot + 2 && std::isalpha(static_cast<unsigned char>(body.back()));
            if (plain || qualified) {
                const std::string optionSection = plain ? section : body.substr(0, dot);
                if (!hasSection(optionSection)) throw ParseError("Unknown section " + optionSection);
                option = &findShort(optionSection, body.back());
            }
        }
        if (option) {
            if (option->set && std::find(repeated.begin(), repeated.end(), option) == repeated.end()) {
                repeated.push_back(option);
            }
            option->set = true;
            option->value.clear();
            last = option;
            lastHasValue = false;
        } else if (last && !lastHasValue) {
            last->value = token;
            lastHasValue = true;
        } else {
            rawPositionals_.push_back(token);
        }
    }
    for (const Parameter* p : repeated) {
        err << "WARN: Argument " << p->section << "." << p->name << " was set more than once, final value is "
            << p->value << "\n";
    }
}

void Arguments::assignPositionals() {
    std::size_t next = 0;
    for (auto& positional : positionals_) {
        if (next >= rawPositionals_.size()) {
            throw ParseError("You must specify at least " + std::to_string(remainingMin_) + " " + remainingName_);
        }
        positional.value = rawPositionals_[next++];
    }
    remaining_.assign(rawPositionals_.begin() + static_cast<std::ptrdiff_t>(next), rawPositionals_.end());
    if (remaining_.size() < remainingMin_) {
        throw ParseError("You must specify at least " + std::to_string(remainingMin_) + " " + remainingName_);
    }
    if (remainingMax_ > 0 && remaining_.size() > remainingMax_) {
        throw ParseError("You must specify at most " + std::to_string(remainingMax_) + " " + remainingName_);
    }
}

void Arguments::readConfigFile(const std::string& path, std::ostream& err) {
    std::ifstream file(path);
    if (!file) throw ParseError("Cannot open file " + path);
    std::string section = "global";
    std::string line;
    for (int number = 1; std::getline(file, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        line.erase(0, std::min(line.size(), line.find_first_not_of(" \t")));
        const std::string invalid = "Invalid line number " + std::to_string(number) + " in file " + path;
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        if (line[0] == '[') {
            const auto close = line.find(']');
            if (close == std::string::npos || !isCommentOrEmpty(line.substr(close + 1))) throw ParseError(invalid);
            std::string name = line.substr(1, close - 1);
            name.erase(0, std::min(name.size(), name.find_first_not_of(" \t")));
            name.erase(name.find_last_not_of(" \t") + 1);
            if (!hasSection(name)) throw ParseError("Unknown section " + name + " on line " + std::to_string(number));
            section = name;
            continue;
        }
        const std::size_t nameLength = identifierLength(line, 0);
        {
            std::size_t p = nameLength;
            while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
            if (p < line.size() && line[p] == ':' && isCommentOrEmpty(line.substr(p + 1))) {
                const std::string name = nameLength ? line.substr(0, nameLength) : "global";
                if (!hasSection(name)) {
                    throw ParseError("Unknown section " + name + " on line " + std::to_string(number));
                }
                section = name;
                continue;
            }
        }
        if (nameLength == 0) throw ParseError(invalid);
        std::string optionSection = section;
        std::string name = line.substr(0, nameLength);
        std::size_t p = nameLength;
        if (p < line.size() && line[p] == '.') {
            const std::size_t second = identifierLength(line, p + 1);
            if (second == 0) throw ParseError(invalid);
            optionSection = name;
            name = line.substr(p + 1, second);
            p += 1 + second;
        }
        while (p < line.size() && (line[p] == '=' || line[p] == ' ' || line[p] == '\t')) ++p;
        std::string value;
        if (p < line.size() && (line[p] == '"' || line[p] == '\'')) {
            const char quote = line[p++];
            bool closed = false;
            while (p < line.size()) {
                if (line[p] == '\\' && p + 1 < line.size() && line[p + 1] == quote) {
                    value += quote;
                    p += 2;
                } else if (line[p] == quote) {
                    closed = true;
                    ++p;
                    break;
                } else {
                    value += line[p++];
                }
            }
            if (!closed || !isCommentOrEmpty(line.substr(p))) throw ParseError(invalid);
        } else {
            const auto end = line.find_first_of("#;", p);
            value = line.substr(p, end == std::string::npos ? std::string::npos : end - p);
            value.erase(value.find_last_not_of(" \t") + 1);
        }
        if (value.empty()) throw ParseError(invalid);
        if (!hasSection(optionSection)) {
            throw ParseError("Unknown section " + optionSection + " on line " + std::to_string(number));
        }
        if (optionSection == "global" && name == "config") {
            readConfigFile(value, err);
            continue;
        }
        Parameter* parameter = find(optionSection, name);
        if (!parameter) {
            throw ParseError("Unknown parameter " + name + " for " + optionSection + " section on line " +
                             std::to_string(number) + " in file " + path);
        }
        if (parameter->set) {
            err << "WARN: Argument " << optionSection << "." << name << " was set more than once, final value is "
                << parameter->value << "\n";
        } else {
            parameter->set = true;
            parameter->value = value;
        }
    }
}

bool Arguments::isSet(const std::string& section, const std::string& name) const { return get(section, name).set; }

std::string Arguments::text(const std::string& section, const std::string& name) const {
    const Parameter& p = get(section, name);
    if (p.set && !p.value.empty()) return p.value;
    if (p.defaultValue) return *p.defaultValue;
    return p.value;
}

std::string Arguments::numericText(const Parameter& p) const {
    return p.set ? p.value : p.defaultValue.value_or("");
}

void Arguments::conversionError(const Parameter& p, const std::string& type) const {
    throw Error("Cannot convert value " + numericText(p) + " to type " + type + " (parameter " + p.section + "." +
                p.name + ": " + p.description + ")");
}

bool Arguments::boolean(const std::string& section, const std::string& name) const {
    const Parameter& p = get(section, name);
    const std::string value = lower(numericText(p));
    if (value.empty()) return p.set;
    if (value == "true" || value == "t" || value == "yes" || value == "y") return true;
    if (value == "false" || value == "f" || value == "no" || value == "n") return false;
    throw Error("Cannot convert " + numericText(p) + " to bool (parameter " + section + "." + name + ": " +
                p.description + ")");
}

namespace {
template <typename T>
bool extract(const std::string& text, T& value) {
    std::istringstream stream(text);
    return static_cast<bool>(stream >> value);
}
}  // namespace

double Arguments::real(const std::string& section, const std::string& name) const {
    const Parameter& p = get(section, name);
    double value = 0;
    if (!extract(numericText(p), value)) conversionError(p, "double");
    return value;
}

unsigned Arguments::natural(const std::string& section, const std::string& name) const {
    const Parameter& p = get(section, name);
    unsigned value = 0;
    const std::string text = numericText(p);
    if (!extract(text, value) || text.find('-') != std::string::npos) conversionError(p, "unsigned");
    return value;
}

std::vector<double> Arguments::features(const std::string& section, const std::string& name, std::size_t size) const {
    const Parameter& p = get(section, name);
    std::istringstream stream(numericText(p));
    std::vector<double> values(size, 0.0);
    stream >> std::ws;
    if (stream.peek() == '(') stream.get();
    for (std::size_t k = 0; k < size; ++k) {
        if (k > 0 && stream.get() == std::char_traits<char>::eof()) conversionError(p, "RealFeature");
        if (!(stream >> values[k])) conversionError(p, "RealFeature");
    }
    return values;
}

const std::string& Arguments::positional(const std::string& name) const {
    for (const auto& p : positionals_) {
        if (p.name == name) return p.value;
    }
    throw Error("internal error: undeclared positional " + name);
}

std::string Arguments::help() const {
    std::ostringstream text;
    for (const auto& line : description_) text << line << "\n";
    text << "Usage: " << programName_ << " [-option optionvalue ...] ";
    for (const auto& p : positionals_) text << " " << p.name;
    for (unsigned k = 0; k < std::max(1u, remainingMin_); ++k) text << " " << remainingName_;
    if (remainingMax_ == 0) text << " [ " << remainingName_ << " ... ]";
    text << "\nwhere:\n";
    for (const auto& p : positionals_) text << p.name << "\t" << p.description << "\n";
    text << remainingName_ << "\t" << remainingDescription_ << "\n\n";
    for (const auto& section : sections_) {
        text << section << " parameters:\n\n";
        std::vector<const Parameter*> list;
        for (const auto& p : parameters_) {
            if (p.section == section) list.push_back(&p);
        }
        std::stable_sort(list.begin(), list.end(), [&](const Parameter* a, const Parameter* b) {
            const auto rank = [](const Parameter* p) { return p->name == "help" ? 0 : p->name == "config" ? 1 : 2; };
            if (section == "global" && rank(a) != rank(b)) return rank(a) < rank(b);
            return a->name < b->name;
        });
        const std::string prefix = section == "global" ? "" : section + ".";
        for (const Parameter* p : list) {
            text << "--" << prefix << p->name;
            if (p->shortName) text << " | -" << prefix << p->shortName;
            if (p->defaultValue) text << "\tdefault: " << *p->defaultValue;
            text << "\n";
            for (const auto& line : lines(p->description)) text << "\t" << line << "\n";
            text << "\n";
        }
    }
    return text.str();
}

std::string Arguments::configTemplate() const {
    std::ostringstream text;
    for (const auto& section : sections_) {
        text << "[" << section << "]\n";
        for (const auto& p : parameters_) {
            if (p.section != section || p.name == "help" || p.name == "config") continue;
            for (const auto& line : lines(p.description)) text << "# " << line << "\n";
            text << "#" << p.name << " = " << p.defaultValue.value_or("") << "\n";
        }
        text << "\n";
    }
    return text.str();
}

}  // namespace spoca
