// Mathematical constants shared by the library: one definition each, so that every computation uses the
// same double value.
#pragma once

namespace spoca {

/// pi rounded to the nearest double (the value of the literal below, which every angle conversion of the
/// library and the original uses: keep it, results depend on it bit for bit).
constexpr double pi = 3.14159265358979323846;

}  // namespace spoca
